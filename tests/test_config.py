"""The config schema: defaults, the example, and errors that name file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport import config as c
from polyport.service_table import SERVICES


def test_defaults_resolve_from_the_service_table() -> None:
    config = c.Config()
    smtp = config.service("smtp")
    assert smtp.enabled and smtp.ports == (25,) and not smtp.trusted_only
    assert config.service("cliapi").trusted_only
    assert not config.service("xmpp-s2s").enabled
    assert smtp.listening and smtp.idle_timeout == 300  # RFC 5321's five minutes
    assert config.service("xmpp").listening
    assert not config.service("ldap").listening  # not built yet
    assert not config.service("lmtp").enabled  # off unless asked for


def test_port_offset_moves_only_low_ports() -> None:
    config = c.parse("[node]\nport_offset = 10000\n")
    assert config.service("smtp").ports == (10025,)
    assert config.service("xmpp").ports == (5222,)
    assert config.service("ftp").ports == (10021, 8021)


def test_service_overrides() -> None:
    config = c.parse('[node]\nbind = "10.0.0.1"\n[services.imap]\nports = [1143]\nenabled = false\n'
                     '[services.ldap]\ntrusted_only = false\nbind = "::1"\n')
    imap = config.service("imap")
    assert imap.ports == (1143,) and not imap.enabled and imap.bind == "10.0.0.1"
    ldap = config.service("ldap")
    assert not ldap.trusted_only and ldap.bind == "::1"


def test_the_example_lists_every_setting_and_service() -> None:
    example = c.example()
    for spec in SERVICES:
        assert f"[services.{spec.name}]" in example
    for section in ("node", "store", "blobs", "tls", "network", "cluster", "auth", "log", "firewall"):
        assert f"[{section}]" in example
    assert "# argon2_memory_kib = 19456" in example
    parsed, default = c.parse(example, "example"), c.Config()
    assert (parsed.node, parsed.store, parsed.auth, parsed.firewall) == (
        default.node, default.store, default.auth, default.firewall)
    for spec in SERVICES:  # the example's empty sections change nothing
        got, want = parsed.service(spec.name), default.service(spec.name)
        assert (got.enabled, got.ports, got.trusted_only, got.bind) == (
            want.enabled, want.ports, want.trusted_only, want.bind)


@pytest.mark.parametrize(("text", "message"), [
    ("[node]\nport_offset = -1", "key node.port_offset: Expected `int` >= 0"),
    ("[node]\ncolour = 1", "key node.colour: unknown setting"),
    ("colour = 1", "key colour: unknown setting"),
    ("[services.smtpx]\nenabled = true", "key services.smtpx: no such service"),
    ("[services.smtp]\nports = [70000]", "key services.smtp.ports[0]: Expected `int` <= 65535"),
    ("[services.smtp]\nmax_line = 10", "key services.smtp.max_line: Expected `int` >= 256"),
    ("[network]\ntrusted = ['10.0.0.0/33']", "key network.trusted: `10.0.0.0/33` is not a network"),
    ("[cluster]\npeers = ['nope']", "key cluster.peers: `nope` is not an IP address"),
    ("[tls]\ncert_file = 'x'", "key tls: cert_file and key_file go together"),
    ("[tls]\nmin_version = '1.1'", "key tls.min_version: Invalid enum value '1.1'"),
    ("[store]\nurl = 'mysql://x'", "key store.url: `mysql://x` is not a PostgreSQL URL"),
    ("[log]\nlevel = 'loud'", "key log.level: Invalid enum value 'loud'"),
    ("[node\n", "not valid TOML"),
    ("services = 1", "key services: expected a table"),
    ("node = 1", "key node: Expected `object`, got `int`"),
])
def test_errors_name_the_file_key_and_reason(text: str, message: str) -> None:
    with pytest.raises(c.ConfigError) as raised:
        c.parse(text, "/etc/polyport.toml")
    assert str(raised.value).startswith("/etc/polyport.toml: ")
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_load_reports_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(c.ConfigError, match="cannot read the config file"):
        c.load(tmp_path / "missing.toml")


def test_load_for_finds_the_file_in_the_data_folder(tmp_path: Path) -> None:
    (tmp_path / "polyport.toml").write_text('[node]\nmain_domain = "in.data"\n')
    config = c.load_for(None, tmp_path)
    assert config.main_domain == "in.data" and config.data_dir == tmp_path
    assert c.load_for(None, tmp_path / "empty").main_domain != "in.data"


def test_flags_win_and_are_validated() -> None:
    config = c.with_overrides(c.Config(), domain="Flag.Example", bind="127.0.0.2", port_offset=5)
    assert config.main_domain == "flag.example" and config.node.bind == "127.0.0.2"
    with pytest.raises(c.ConfigError, match="not an IP address"):
        c.with_overrides(c.Config(), bind="nonsense")


@settings(max_examples=200)
@given(st.text(max_size=300))
def test_any_text_parses_or_fails_with_a_config_error(text: str) -> None:
    try:
        c.parse(text, "fuzz.toml")
    except c.ConfigError as err:
        assert str(err).startswith("fuzz.toml: ")


@pytest.mark.parametrize(("text", "endpoint"), [
    ('relay_host = "smtp.example.net"', ("smtp.example.net", 587)),
    ('relay_host = "smtp.example.net"\nrelay_tls = "implicit"', ("smtp.example.net", 465)),
    ('relay_host = "smtp.example.net:2525"', ("smtp.example.net", 2525)),
    ('relay_host = "[2001:db8::1]:26"', ("2001:db8::1", 26)),
    ('relay_host = "2001:db8::1"', ("2001:db8::1", 587)),
    ("", None),
])
def test_the_relay_host_is_read_once_at_load(text: str, endpoint: tuple[str, int] | None) -> None:
    assert c.parse(f"[queue]\n{text}\n", "t.toml").queue.relay_endpoint() == endpoint


@pytest.mark.parametrize("value", ["smtp.example.net:port", "smtp.example.net:0", ":25", "[2001:db8::1]x"])
def test_a_bad_relay_host_stops_the_start_with_the_key(value: str) -> None:
    with pytest.raises(c.ConfigError, match="relay_host"):
        c.parse(f'[queue]\nrelay_host = "{value}"\n', "t.toml")
