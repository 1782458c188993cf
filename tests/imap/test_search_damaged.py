"""A message whose bytes are damaged or missing does not fail a search (issue 12): SEARCH, SORT and THREAD
over a mailbox with message 2 truncated, overwritten or gone search the others, leave 2 out of the result
(whatever the query: NOT BODY too), warn with an untagged `* NO [CORRUPTION]`, end OK, and log the failure
once with the mailbox and UID. A query that needs no message bytes (flags, the stored fields) is answered
as for any other mailbox."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests.imap.conftest import ImapNode
from tests.imap.support import account_id, deliver, logged_in
from tests.imap.test_fetch_damaged import DAMAGES, SIZES, blob_file, message, three_with_the_second_damaged

WARNING = b"* NO [CORRUPTION] 1 message could not be read from the store and was not searched"


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_body_search_leaves_a_damaged_message_out(imap_node: ImapNode, damage: Callable[[Path], None],
                                                    size: int) -> None:
    w, messages, _ = three_with_the_second_damaged(imap_node, size, damage)
    wanted = messages[2][-40:-2].decode()  # in message 3 only
    assert w.ok(f"SEARCH BODY {wanted}") == [b"* SEARCH 3", WARNING]
    assert w.ok("SEARCH NOT BODY nothing-like-this") == [b"* SEARCH 1 3", WARNING]
    assert w.ok("UID SEARCH RETURN (COUNT ALL) TEXT message") == [b'* ESEARCH (TAG "t5") UID COUNT 2 ALL 1,3',
                                                                  WARNING]
    # What needs no message bytes is answered for every message, without a warning.
    assert w.ok("SEARCH SUBJECT message") == [b"* SEARCH 1 2 3"]
    assert w.ok("SEARCH ALL") == [b"* SEARCH 1 2 3"]
    assert w.ok("NOOP") == []
    w.close()


def test_sort_and_thread_leave_a_damaged_message_out(imap_node: ImapNode) -> None:
    w, _, _ = three_with_the_second_damaged(imap_node, SIZES["read-whole"], DAMAGES["missing"])
    assert w.ok("SORT (REVERSE SUBJECT) UTF-8 TEXT message") == [b"* SORT 3 1", WARNING]
    assert w.ok("THREAD ORDEREDSUBJECT UTF-8 TEXT message") == [b"* THREAD (1)(3)", WARNING]
    assert w.ok("SORT (ARRIVAL) UTF-8 ALL") == [b"* SORT 1 2 3"]
    w.close()


def test_two_damaged_messages_are_counted(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    messages = [message(n, SIZES["read-whole"]) for n in (1, 2, 3)]
    for data in messages:
        deliver(imap_node, address, data)
    for data in messages[:2]:
        DAMAGES["truncated"](blob_file(imap_node, data))
    w.ok("SELECT INBOX")
    assert w.ok("SEARCH NOT BODY nothing-like-this") == [
        b"* SEARCH 3", b"* NO [CORRUPTION] 2 messages could not be read from the store and were not searched"]
    w.close()


def test_a_small_body_of_the_wrong_size_in_the_record_store(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    messages = [message(n, 200) for n in (1, 2, 3)]
    for data in messages:
        deliver(imap_node, address, data)
    blob = hashlib.sha256(messages[1]).hexdigest()
    with sqlite3.connect(Path(imap_node.running.config.node.data) / "polyport.db", timeout=10) as db:
        db.execute("UPDATE bodies SET data = substr(data, 1, 20) WHERE blob = ?", (blob,))
    db.close()
    w.ok("SELECT INBOX")
    assert w.ok("SEARCH NOT BODY nothing-like-this") == [b"* SEARCH 1 3", WARNING]
    w.close()


@pytest.mark.one_process
def test_damage_is_logged_once_with_the_mailbox_and_uid_never_the_content(imap_node: ImapNode) -> None:
    w, messages, address = three_with_the_second_damaged(imap_node, SIZES["read-whole"], DAMAGES["truncated"])
    inbox = imap_node.running.call(imap_node.mailstore.mailbox(account_id(imap_node, address), "INBOX")).id
    with capture_logs() as logs:
        for _ in range(3):
            assert w.ok("SEARCH TEXT message") == [b"* SEARCH 1 3", WARNING]
    (event,) = [e for e in logs if e["event"] == "imap.search_unreadable"]
    assert (event["mailbox"], event["uid"], event["error"], event["log_level"]) == (inbox, 2, "BlobDamaged", "error")
    assert "1000 bytes where" in event["reason"]
    assert not any(messages[1][40:60].decode() in str(value) for e in logs for value in e.values())
    w.close()
