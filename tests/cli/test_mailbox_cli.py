"""`polyport mailbox ...` on a data folder and against a running node (--server), and `polyport export` /
`polyport import`: what admins type, what they see, one-line errors."""

from __future__ import annotations

import io
import json
import mailbox as pymailbox
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from polyport.cli import mailbox_commands
from polyport.cli.main import cli
from tests.cli.conftest import Run, polyport
from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode

MBOX = (b"From alice@example.com Thu Jan  1 00:00:00 2026\nFrom: alice@example.com\nSubject: one\nStatus: RO\n\n"
        b"From the start\n\n"
        b"From alice@example.com Thu Jan  1 00:01:00 2026\nFrom: alice@example.com\nSubject: two\n\nsecond\n")


@pytest.fixture
def bob(run: Run) -> Run:
    assert run("init").exit_code == 0
    assert run("account", "add", "bob", "--password", "pw").exit_code == 0
    return run


def table(output: str) -> dict[str, list[str]]:
    rows = [line.split() for line in output.splitlines()]
    assert rows[0] == ["MAILBOX", "MESSAGES", "SIZE", "UNSEEN", "CLASS"]
    return {row[0]: row[1:] for row in rows[1:]}


def test_mailbox_commands_on_a_data_folder(bob: Run) -> None:
    run = bob
    listed = table(run("mailbox", "list", "bob").output)
    assert sorted(listed) == ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    assert listed["INBOX"] == ["0", "0B", "0"]
    assert run("mailbox", "create", "bob", "Projects/2026").output == "created mailbox Projects/2026 of bob\n"
    assert run("mailbox", "create", "bob@example.com", "Calendar", "--class", "IPF.Appointment").exit_code == 0
    listed = table(run("mailbox", "list", "bob", "--filter", "*a*").output)
    assert listed == {"Calendar": ["0", "0B", "0", "IPF.Appointment"], "Drafts": ["0", "0B", "0"],
                      "Trash": ["0", "0B", "0"]}  # names are matched with their case, as IMAP's LIST does
    as_json = json.loads(run("mailbox", "list", "bob", "--json", "--filter", "Projects*").output)
    assert as_json["Projects"][0]["Messages"] == 0 and as_json["Projects/2026"]["UIDNEXT"] == 1
    info = json.loads(run("mailbox", "info", "bob", "Calendar", "--json").output)
    assert info["Class"] == "IPF.Appointment" and info["Created"].endswith("+00:00")
    assert "UIDVALIDITY" in run("mailbox", "info", "bob", "INBOX").output
    assert run("mailbox", "rename", "bob", "Projects", "Work").exit_code == 0
    assert {"Work", "Work/2026"} <= set(table(run("mailbox", "list", "bob").output))
    assert run("mailbox", "rename", "bob", "Work", "Job", "--only").exit_code == 0
    assert table(run("mailbox", "list", "bob", "--filter", "Work*").output) == {
        "Work": ["-", "-", "-", "(folder)"], "Work/2026": ["0", "0B", "0"]}
    assert run("mailbox", "delete", "bob", "Work", "-r").output == "deleted mailbox Work and the mailboxes under it\n"
    assert run("mailbox", "delete", "bob", "Job").exit_code == 0
    assert "Job" not in table(run("mailbox", "list", "bob").output)
    assert run("mailbox", "subscribe", "bob", "Lists/python", "Calendar").exit_code == 0
    assert run("mailbox", "unsubscribe", "bob", "Junk", "Trash").exit_code == 0
    assert run("mailbox", "list", "bob", "--subscribed").output.split() == [
        "Archive", "Calendar", "Drafts", "INBOX", "Lists/python", "Sent"]


def test_mailbox_errors_are_one_line(bob: Run) -> None:
    run = bob
    for args, text in ((("delete", "bob", "INBOX"), "error: INBOX cannot be deleted"),
                       (("create", "bob", "Sent"), "error: mailbox Sent already exists"),
                       (("create", "bob", "a//b"), "empty level"),
                       (("create", "bob", "X", "--class", "no such"), "is not a mailbox class"),
                       (("info", "bob", "Nowhere"), "error: no mailbox Nowhere"),
                       (("list", "nobody"), "error: "),
                       (("unsubscribe", "bob", "a%b"), "error: ")):
        result = run("mailbox", *args)
        assert result.exit_code == 1 and text in result.output and len(result.output.splitlines()) == 1, result.output


@pytest.fixture(scope="module")
def running(cli_node: ThreadedNode) -> ThreadedNode:
    cli_node.call(cli_node.runtime.directory.create_account("rita@example.com", password="rita-pw"))
    return cli_node


def remote(node: ThreadedNode, *args: str) -> Result:
    server = f"127.0.0.1:{node.config.service('cliapi').ports[0]}"
    return CliRunner().invoke(cli, [*args, "--server", server], env={"POLYPORT_PASSWORD": POSTMASTER_PASSWORD},
                              catch_exceptions=False)


def test_mailbox_commands_against_a_running_node(running: ThreadedNode) -> None:
    assert sorted(table(remote(running, "mailbox", "list", "rita").output)) == [
        "Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    assert remote(running, "mailbox", "create", "rita", "Tasks", "--class", "IPF.Task").exit_code == 0
    assert remote(running, "mailbox", "create", "rita", "A/B/C").exit_code == 0
    account = running.call(running.runtime.directory.account("rita@example.com")).id
    mailstore = running.runtime.mailstore
    running.call(mailstore.append(account, "Tasks", b"Subject: t\r\n\r\nx\r\n", ["\\Seen"]))
    listed = table(remote(running, "mailbox", "list", "rita", "--filter", "Tasks").output)
    assert listed == {"Tasks": ["1", "17B", "0", "IPF.Task"]}
    info = json.loads(remote(running, "mailbox", "info", "rita", "Tasks", "--json").output)
    assert info["Messages"] == 1 and info["Class"] == "IPF.Task"
    assert remote(running, "mailbox", "rename", "rita", "A", "Z").exit_code == 0
    assert remote(running, "mailbox", "rename", "rita", "Z/B", "Y", "--only").exit_code == 0
    assert {"Z", "Y", "Z/B/C"} <= set(table(remote(running, "mailbox", "list", "rita").output))
    assert remote(running, "mailbox", "delete", "rita", "Z", "--recursive").exit_code == 0
    assert remote(running, "mailbox", "subscribe", "rita", "Tasks").exit_code == 0
    assert "Tasks" in remote(running, "mailbox", "list", "rita", "--subscribed").output.split()
    assert remote(running, "mailbox", "unsubscribe", "rita", "Tasks").exit_code == 0
    assert running.call(mailstore.subscriptions(account)) == ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    result = remote(running, "mailbox", "create", "rita", "Tasks")
    assert result.exit_code == 1 and result.output == "error: Mailbox Tasks already exists (CLI/API 532)\n"
    result = remote(running, "mailbox", "delete", "rita", "INBOX")
    assert result.exit_code == 1 and "(CLI/API 501)" in result.output
    result = remote(running, "mailbox", "list", "nobody")
    assert result.exit_code == 1 and "(CLI/API 513)" in result.output


def test_export_and_import_on_a_data_folder(bob: Run, tmp_path: Path) -> None:
    run = bob
    (tmp_path / "in.mbox").write_bytes(MBOX)
    result = run("import", "bob", str(tmp_path / "in.mbox"), "--format", "mbox", "--mailbox", "Old")
    assert result.exit_code == 0, result.output
    assert result.output == "imported 2 messages, 1 mailboxes, bob\n"  # no progress bar off a terminal
    assert table(run("mailbox", "list", "bob", "--filter", "Old").output)["Old"][:3] == ["2", "106B", "1"]
    for fmt in ("mbox", "maildir"):
        result = run("export", "bob", str(tmp_path / fmt), "--format", fmt)
        assert result.exit_code == 0 and result.output == "exported 2 messages, 7 mailboxes, bob\n", result.output
    assert [m["Subject"] for m in pymailbox.mbox(tmp_path / "mbox" / "Old.mbox")] == ["one", "two"]
    assert [m["Subject"] for m in pymailbox.Maildir(tmp_path / "maildir").get_folder("Old")] in (
        ["one", "two"], ["two", "one"])
    assert run("account", "add", "carol", "--password", "pw").exit_code == 0
    result = run("import", "carol", str(tmp_path / "maildir"), "--format", "maildir")
    assert result.exit_code == 0 and result.output == "imported 2 messages, 7 mailboxes, carol\n", result.output
    assert table(run("mailbox", "list", "carol", "--filter", "Old").output)["Old"][:3] == ["2", "106B", "1"]
    result = run("export", "bob", str(tmp_path / "mbox"), "--format", "mbox")
    assert result.exit_code == 1 and "exists and is not an empty folder" in result.output
    result = run("import", "bob", str(tmp_path / "in.mbox"), "--format", "maildir")
    assert result.exit_code == 1 and "is not a Maildir folder" in result.output
    result = run("import", "nobody", str(tmp_path / "in.mbox"), "--format", "mbox")
    assert result.exit_code == 1 and result.output.startswith("error: ")
    result = run("import", "bob", str(tmp_path / "missing"), "--format", "mbox")
    assert result.exit_code == 2 and "does not exist" in result.output


def test_the_progress_bar_shows_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr("sys.stderr", screen)
    with mailbox_commands.progress_bar(10, "importing") as advance:
        assert advance is not None
        advance(4)
        advance(6)
    assert "importing" in screen.getvalue() and "100%" in screen.getvalue()
    monkeypatch.setattr("sys.stderr", io.StringIO())
    with mailbox_commands.progress_bar(10, "importing") as advance:
        assert advance is None


def test_import_beside_a_running_node(running: ThreadedNode, tmp_path: Path) -> None:
    """SQLite in WAL with a busy timeout: the admin command and the node share the store safely."""
    (tmp_path / "in.mbox").write_bytes(MBOX)
    result = CliRunner().invoke(cli, ["import", "rita", str(tmp_path / "in.mbox"), "--format", "mbox",
                                      "--mailbox", "Imported", "--data", str(running.config.data_dir)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    account = running.call(running.runtime.directory.account("rita@example.com")).id
    imported = running.call(running.runtime.mailstore.mailbox(account, "Imported"))
    assert imported.messages == 2 and imported.unseen == 1
    assert remote(running, "mailbox", "info", "rita", "Imported").exit_code == 0


def test_the_real_command_is_quiet_off_a_terminal(data: Path, tmp_path: Path) -> None:
    assert polyport("init", "--data", str(data)).returncode == 0
    assert polyport("account", "add", "dan", "--password", "pw", "--data", str(data)).returncode == 0
    (tmp_path / "in.mbox").write_bytes(MBOX)
    done = polyport("import", "dan", str(tmp_path / "in.mbox"), "--format", "mbox", "--data", str(data))
    assert done.returncode == 0 and done.stderr == "" and done.stdout == "imported 2 messages, 1 mailboxes, dan\n"
