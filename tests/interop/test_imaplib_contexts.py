"""Python's imaplib with CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 section 4) through its generic command
path: `uid("SEARCH", ...)` takes RETURN (UPDATE), the ESEARCH responses with ADDTO and REMOVEFROM land in
`untagged_responses` at the next command, and CANCELUPDATE goes by `_simple_command`."""

from __future__ import annotations

import imaplib

import pytest

from tests.imap.support import message
from tests.interop.conftest import MailNode

pytestmark = pytest.mark.interop


def esearch(client: imaplib.IMAP4) -> list[bytes]:
    return [r for r in client.untagged_responses.pop("ESEARCH", []) if isinstance(r, bytes)]


def test_search_update_and_cancelupdate(mail_node: MailNode, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(imaplib.Commands, "CANCELUPDATE", ("SELECTED",))
    address = mail_node.account()
    mail_node.seed(address, "INBOX", [message("one"), message("two")])
    watcher = mail_node.imap(address)
    other = mail_node.imap(address)
    assert {"CONTEXT=SEARCH", "CONTEXT=SORT"} <= set(watcher.capability()[1][-1].decode().split())  # logged in
    watcher.select("INBOX")
    other.select("INBOX")
    tag = watcher._new_tag().decode()  # imaplib's tags are its own: learn the next one to name the context
    watcher.tagnum -= 1
    typ, _ = watcher.uid("SEARCH", "RETURN", "(UPDATE", "COUNT)", "UNSEEN")
    assert typ == "OK"
    assert esearch(watcher) == [f'(TAG "{tag}") UID COUNT 2'.encode()]
    other.uid("STORE", "1", "+FLAGS.SILENT", r"(\Seen)")
    assert watcher.noop()[0] == "OK"
    assert esearch(watcher) == [f'(TAG "{tag}") UID REMOVEFROM (0 1)'.encode()]
    assert watcher._simple_command("CANCELUPDATE", f'"{tag}"')[0] == "OK"
    other.uid("STORE", "2", "+FLAGS.SILENT", r"(\Seen)")
    watcher.noop()
    assert esearch(watcher) == []
    watcher.logout()
    other.logout()
