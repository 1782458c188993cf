"""Python's imaplib with NOTIFY (RFC 5465) and UNAUTHENTICATE (RFC 8437) through its generic command path:
imaplib has no NOTIFY, but sends it with `_simple_command` and collects the untagged STATUS and LIST that
arrive while it waits, with no command of its own, in `_get_response`."""

from __future__ import annotations

import imaplib
import time

import pytest

from tests.imap.support import message
from tests.interop.conftest import PASSWORD, MailNode

pytestmark = pytest.mark.interop


def read_untagged(client: imaplib.IMAP4, name: str, timeout: float = 2.0) -> list[bytes]:
    """Wait for the server's untagged `name` responses, sent while the client issues no command."""
    deadline = time.monotonic() + timeout
    client.sock.settimeout(timeout)
    while name not in client.untagged_responses:
        assert time.monotonic() < deadline, f"no {name} within {timeout} s"
        client._get_response()  # reads one response into untagged_responses
    client.sock.settimeout(30)
    return [r for r in client.untagged_responses.pop(name) if isinstance(r, bytes)]


def test_notify_and_unauthenticate(mail_node: MailNode, monkeypatch: pytest.MonkeyPatch) -> None:
    # imaplib sends only commands it has heard of, with the states they are allowed in.
    monkeypatch.setitem(imaplib.Commands, "NOTIFY", ("AUTH", "SELECTED"))
    monkeypatch.setitem(imaplib.Commands, "UNAUTHENTICATE", ("AUTH", "SELECTED"))
    address = mail_node.account()
    watcher = mail_node.imap(address)
    other = mail_node.imap(address)
    assert "NOTIFY" in watcher.capabilities or "NOTIFY" in watcher.capability()[1][-1].decode()
    typ, _ = watcher._simple_command("NOTIFY", "SET", "(personal", "(MessageNew", "MessageExpunge", "MailboxName))")
    assert typ == "OK"
    other.create("Reports")
    assert read_untagged(watcher, "LIST") == [b'() "/" Reports']
    mail_node.seed(address, "Reports", [message("report")])
    (status,) = read_untagged(watcher, "STATUS")
    assert status.startswith(b"Reports (MESSAGES 1 UIDNEXT 2 ")
    assert watcher._simple_command("NOTIFY", "NONE")[0] == "OK"
    typ, _ = watcher._simple_command("UNAUTHENTICATE")
    assert typ == "OK"
    watcher.state = "NONAUTH"  # imaplib does not know the command: tell it where the session is now
    watcher.login(address, PASSWORD)
    assert watcher.select("Reports")[0] == "OK"
    watcher.logout()
    other.logout()
