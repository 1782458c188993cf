"""The settings schema: normalizing values to CommuniGate's forms, layering, typed readers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.directory import settings as s
from polyport.directory.errors import InvalidSetting

A = s.ACCOUNT_SETTINGS


@pytest.mark.parametrize(("key", "raw", "stored"), [
    ("MaxAccountSize", "100m", "100M"), ("MaxAccountSize", "Unlimited", "unlimited"),
    ("MaxAccountSize", 1024, "1024"), ("MaxMailboxes", "010", "10"), ("PWDAllowed", "yes", "YES"),
    ("PWDAllowed", False, "NO"), ("RulesAllowed", "filter only", "Filter Only"),
    ("AccessModes", "all", "All"), ("AccessModes", "(mail, imap)", ["Mail", "IMAP"]),
    ("AccessModes", ["POP", "pop", "SIP"], ["POP", "SIP"]), ("realname", "Zoë", "Zoë"),
])
def test_values_are_stored_in_canonical_form(key: str, raw: object, stored: object) -> None:
    assert s.normalize(A, key, raw) == stored


def test_settings_polyport_does_not_use_are_kept() -> None:
    """CommuniGate has well over a hundred settings; one Polyport does not use is kept as given (strings,
    arrays, dictionaries), so an integration's defaults apply whole; a case variant of a known name is the
    known setting; `default` removes either; only server administrators may set an unused one."""
    assert s.normalize(A, "MailOutFlow", ["10", "60"]) == ["10", "60"]
    assert s.normalize(A, "PasswordEncryption", "A-crpt") == "A-crpt"
    assert s.normalize(A, "X", {"a": ["b", 3], "c": True}) == {"a": ["b", "3"], "c": "YES"}
    assert s.canonical_key(A, "maxaccountsize") == "MaxAccountSize"
    merged = s.merge(A, {"MailOutFlow": "x", "RealName": "R"}, {"MailOutFlow": "default", "MailInpFlow": "5"})
    assert merged == {"RealName": "R", "MailInpFlow": "5"}
    assert s.unused(A, merged) == ["MailInpFlow"]
    assert s.layered(A, [{"MailInpFlow": "5"}, {}])["MailInpFlow"] == "5"  # inherited like any other
    assert s.server_only(s.DOMAIN_SETTINGS, ["MailToUnknown", "MailToAll"]) == ["MailToAll"]
    # CommuniGate's names are case-insensitive: one key, whatever the spelling of the change or the layer.
    assert s.merge(A, {"MailOutFlow": "1"}, {"mailoutflow": "2"}) == {"mailoutflow": "2"}
    assert s.merge(A, {"MailOutFlow": "1"}, {"MAILOUTFLOW": "default"}) == {}
    assert s.validate(A, {"X": "1", "x": "2"}) == {"x": "2"}
    effective = s.layered(A, [{"MailOutFlow": "server"}, {"mailoutflow": "account"}])
    assert [v for k, v in effective.items() if k.lower() == "mailoutflow"] == ["account"]
    # Bounded: no control characters but line ends and tabs, 64 KiB together.
    assert s.normalize(A, "Note", "two\r\nlines\tand a tab") == "two\r\nlines\tand a tab"
    with pytest.raises(InvalidSetting, match="control characters"):
        s.normalize(A, "Note", "bell\x07")
    with pytest.raises(InvalidSetting, match="64 KiB"):
        s.merge(A, {"A1": "x" * 40_000}, {"A2": "y" * 40_000})
    # Names that travel with settings but are not settings are never stored as one.
    for reserved in ("Password", "password", "Members"):
        with pytest.raises(InvalidSetting, match="not a setting"):
            s.merge(A, {}, {reserved: "secret"})


@pytest.mark.parametrize(("key", "raw", "why"), [
    ("MaxAccountSize", "lots", "size"), ("MaxMailboxes", "1K", "number"), ("PWDAllowed", "maybe", "YES or NO"),
    ("RulesAllowed", "some", "one of"), ("AccessModes", "Mail, Telepathy", "not an access mode"),
    ("No Such Setting", "1", "not a setting name"), ("RealName", 3.5, "expected"),
    ("PSTNGatewayDomain", 3.5, "does not use"), ("Deep", [[[[["x"]]]]], "4 deep"),
])
def test_bad_values_are_refused_with_the_reason(key: str, raw: object, why: str) -> None:
    with pytest.raises(InvalidSetting, match=why):
        s.normalize(A, key, raw)


@pytest.mark.parametrize("value", [
    "Alice\r\nBcc: spy@evil.test", "Alice\nBcc: spy@evil.test", "Alice\rX", "A\x00B", "A\tB", "A\x7fB",
    "A\x85B", "A\u2028B", "A\u2029B",
])
@pytest.mark.parametrize(("schema", "key"), [
    (A, "RealName"), (A, "RecoverPassword"), (A, "ServiceClass"), (s.GROUP_SETTINGS, "RealName"),
    (s.DOMAIN_SETTINGS, "MailRerouteAddress"),
])
def test_string_settings_are_one_line_without_control_characters(schema: dict[str, s.Spec], key: str,
                                                                 value: str) -> None:
    """Issue 12 item 6: a RealName with CR LF was stored, then broke the webmail's From line. Every string
    setting is a name or an address that may end up in a header field: one line, no control characters."""
    with pytest.raises(InvalidSetting, match="control character") as refused:
        s.normalize(schema, key, value)
    assert "\r" not in str(refused.value) and "\n" not in str(refused.value)  # the reason is one line too


@pytest.mark.parametrize("rule", [
    ["1", "evil\r\nname", [], [["Discard"]]],
    ["1", "flag", [], [["Mark", "Seen\r\n* BYE"]]],
    ["1", "redirect", [], [["Redirect to", "a@example.com\r\nb@example.com"]]],
    ["1", "store", [], [["Store in", "INBOX\x00"]]],
    ["1", "cond", [["Subject", "is", "x\ny"]], [["Discard"]]],
])
def test_rules_are_one_line_except_their_texts(rule: list[object]) -> None:
    with pytest.raises(InvalidSetting, match="control character"):
        s.normalize(A, "Rules", [rule])


def test_the_texts_of_rules_may_have_lines() -> None:
    reply = ["1", "away", [], [["Reply with", "Away.\r\n\tBack soon.\n"]]]
    reject = ["2", "no", [], [["Reject with", "Not here.\nGo away."]]]
    assert s.normalize(A, "Rules", [reply, reject]) == [reply, reject]
    with pytest.raises(InvalidSetting, match="control character"):
        s.normalize(A, "Rules", [["1", "away", [], [["Reply with", "Away\x1b[2J"]]]])


def test_merge_updates_and_default_removes() -> None:
    current = {"RealName": "A", "MaxAccountSize": "1M"}
    merged = s.merge(A, current, {"maxaccountsize": "default", "PWDAllowed": "no"})
    assert merged == {"RealName": "A", "PWDAllowed": "NO"}
    assert current == {"RealName": "A", "MaxAccountSize": "1M"}  # not modified in place


def test_validate_replaces() -> None:
    assert s.validate(A, {"RealName": "B", "MaxWebSize": "default"}) == {"RealName": "B"}


def test_layers_apply_most_general_first() -> None:
    effective = s.layered(A, [{"MaxAccountSize": "1G"}, {"MaxAccountSize": "2G", "RealName": "d"},
                              {"RealName": "own"}])
    assert effective["MaxAccountSize"] == "2G"
    assert effective["RealName"] == "own"
    assert effective["PWDAllowed"] == "YES"  # the schema's default
    assert set(effective) == set(A)


def test_typed_readers() -> None:
    assert s.size_limit("100M") == 100 * 1024 * 1024
    assert s.size_limit("unlimited") is None
    assert s.size_limit("512") == 512
    assert s.count_limit("12") == 12
    assert s.count_limit("unlimited") is None
    assert s.is_yes("YES") and not s.is_yes("NO")
    assert s.access_allowed("All", "IMAP") and not s.access_allowed("None", "IMAP")
    assert s.access_allowed(["Mail", "IMAP"], "IMAP") and not s.access_allowed(["Mail"], "POP")


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["", "K", "M", "G", "T"]))
def test_sizes_round_trip(number: int, unit: str) -> None:
    stored = s.normalize(A, "MaxAccountSize", f"{number}{unit.lower()}")
    assert stored == f"{number}{unit}"
    assert s.size_limit(stored) == number * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}[unit]


@given(st.text(max_size=40))
def test_any_text_is_normalized_or_refused(text: str) -> None:
    for key in A:
        try:
            value = s.normalize(A, key, text)
        except InvalidSetting:
            continue
        assert s.normalize(A, key, value) == value  # canonical forms are fixed points
