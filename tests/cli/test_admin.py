"""The admin commands on a data folder: what admins type, what they see, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.conftest import Run, polyport


def test_commands_refuse_an_uninitialized_data_folder(run: Run) -> None:
    result = run("domain", "list")
    assert result.exit_code == 1
    assert "holds no Polyport data yet" in result.output and "polyport init" in result.output


def test_init_then_domains(run: Run) -> None:
    result = run("init", input=None)
    assert result.exit_code == 0, result.output
    assert "Created postmaster@example.com with password:" in result.output
    assert run("init").output.strip().endswith("main domain example.com")  # idempotent
    assert run("domain", "add", "Shop.Example.ORG", "--alias", "shop.example.net").exit_code == 0
    assert run("domain", "list").output.split() == ["example.com", "shop.example.org"]
    shown = json.loads(run("domain", "show", "shop.example.net", "--json").output)
    assert shown["name"] == "shop.example.org" and shown["aliases"] == ["shop.example.net"]
    assert run("domain", "set", "shop.example.org", "MaxAccounts=5").exit_code == 0
    assert "MaxAccounts  5" in run("domain", "show", "shop.example.org").output.replace("setting ", "")
    assert run("domain", "alias", "add", "shop.example.org", "shop.example.info").exit_code == 0
    assert run("domain", "alias", "remove", "shop.example.org", "shop.example.net").exit_code == 0
    assert json.loads(run("domain", "show", "shop.example.org", "--json").output)["aliases"] == ["shop.example.info"]
    assert run("domain", "rename", "shop.example.org", "store.example.org").exit_code == 0
    assert run("domain", "remove", "store.example.org").exit_code == 0
    assert run("domain", "list").output.split() == ["example.com"]


def test_accounts(run: Run) -> None:
    run("init")
    result = run("account", "add", "alice@example.com", "--password", "s3cret", "--real-name", "Alice A",
                 "--set", "MaxAccountSize=100m")
    assert result.exit_code == 0, result.output
    assert run("account", "add", "bob", "--password-stdin", input="builder\n").exit_code == 0
    assert run("account", "list").output.split() == ["alice", "bob", "postmaster"]
    shown = json.loads(run("account", "show", "alice", "--json").output)
    assert shown["settings"] == {"MaxAccountSize": "100M", "RealName": "Alice A"}
    assert shown["password"] is True
    effective = json.loads(run("account", "show", "alice", "--effective", "--json").output)["settings"]
    assert effective["PWDAllowed"] == "YES"
    assert run("account", "set", "alice", "MaxAccountSize=default", "RealName=Al").exit_code == 0
    assert json.loads(run("account", "show", "alice", "--json").output)["settings"] == {"RealName": "Al"}
    # A CommuniGate setting Polyport does not use is kept, and `show` says it is not used.
    assert run("account", "set", "alice", "MailOutFlow=10").exit_code == 0
    assert "setting MailOutFlow (not used by Polyport)" in run("account", "show", "alice").output
    assert run("account", "set", "alice", "MailOutFlow=default").exit_code == 0
    assert run("account", "set", "alice", "Password=plain").exit_code == 1  # never stored as a setting
    assert run("account", "passwd", "bob", "--password", "new-one").exit_code == 0
    assert run("account", "rename", "bob", "robert").output.strip() == "renamed to robert@example.com"
    assert run("account", "remove", "robert").exit_code == 0
    assert run("account", "list").output.split() == ["alice", "postmaster"]


def test_aliases_forwarders_groups(run: Run) -> None:
    run("init")
    run("account", "add", "carol", "--password", "pw")
    assert run("alias", "add", "caro", "carol").exit_code == 0
    assert json.loads(run("alias", "list", "--json").output) == {"caro": "carol"}
    assert run("alias", "remove", "caro").exit_code == 0
    assert run("forwarder", "add", "info", "info@elsewhere.org").exit_code == 0
    assert run("forwarder", "show", "info").output.strip() == "info@elsewhere.org"
    assert run("forwarder", "set", "info", "desk@elsewhere.org").exit_code == 0
    assert json.loads(run("forwarder", "list", "--json").output) == {"info": "desk@elsewhere.org"}
    assert run("forwarder", "remove", "info").exit_code == 0
    assert run("group", "add", "team", "--member", "carol", "--member", "x@y.org",
               "--set", "RealName=The Team").exit_code == 0
    assert run("group", "set", "team", "--add", "dave", "--remove", "x@y.org").exit_code == 0
    shown = json.loads(run("group", "show", "team", "--json").output)
    assert shown["members"] == ["carol@example.com", "dave@example.com"]
    assert shown["settings"] == {"RealName": "The Team"}
    assert run("group", "list").output.split() == ["team"]
    assert run("group", "remove", "team").exit_code == 0


def test_errors_are_one_clear_line(run: Run) -> None:
    run("init")
    run("account", "add", "erin", "--password", "pw")
    cases = [
        (("account", "add", "erin", "--password", "pw"), "already exists"),
        (("account", "add", "bad name", "--password", "pw"), "may use only letters"),
        (("account", "add", "x" * 129, "--password", "pw"), "longer than 128"),
        (("account", "show", "nobody"), "unknown account"),
        (("account", "add", "z@nowhere.org", "--password", "pw"), "unknown domain nowhere.org"),
        (("account", "set", "erin", "Bad Key=blue"), "not a setting name"),
        (("account", "set", "erin", "MaxAccountSize=huge"), "is not a size"),
        (("domain", "add", "example.com"), "already exists"),
        (("domain", "remove", "example.com"), "main domain"),
        (("domain", "show", "nowhere.org"), "unknown domain"),
        (("account", "remove", "postmaster"), "cannot be removed"),
        (("forwarder", "add", "f", "not an address"), "is not a mail address"),
        (("alias", "remove", "erin"), "unknown alias"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 1, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, result.output)


def test_passwords_are_never_asked_without_a_terminal(run: Run) -> None:
    run("init")
    result = run("account", "add", "frank")  # stdin is not a terminal under the test runner
    assert result.exit_code == 1 and "--password-stdin" in result.output


def test_the_real_command_prints_no_traceback(data: Path) -> None:
    result = polyport("account", "list", "--data", str(data))
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr
    result = polyport("account", "list", "--data", str(data), "--config", str(data / "missing.toml"))
    assert result.returncode == 1 and "cannot read the config file" in result.stderr


def test_show_writes_nested_values_in_the_data_syntax(capsys: pytest.CaptureFixture[str]) -> None:
    """Mail rules or an unused setting's arrays (set through the CLI/API) show as the CLI/API writes them,
    not as a crash or a Python repr; a flat list of names stays joined."""
    from polyport.cli.common import show

    show({"setting Rules": [["1", "keep", [], [["Mark", "Flagged"]]]], "aliases": ["a", "b"],
          "setting X": {"k": ["v"]}}, False)
    printed = capsys.readouterr().out
    assert "((1,keep,(),((Mark,Flagged))))" in printed
    assert "a, b" in printed and "{k=(v);}" in printed
