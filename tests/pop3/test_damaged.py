"""RETR and TOP of a message whose content is damaged or missing (issue 12): -ERR [SYS/PERM] for that
message alone, never "+OK N octets" and fewer; the session goes on."""

from __future__ import annotations

import os
import poplib
import sqlite3
from pathlib import Path
from typing import cast

import pytest
from structlog.testing import capture_logs

from polyport.store.blobs import LocalBlobStore
from tests.pop3.conftest import PASSWORD, Pop3Node
from tests.pop3.test_session import Raw, message

LARGE = 100_000  # over the 64 KiB kept in the record store: a blob file


def large(number: int) -> bytes:
    return message(number, os.urandom(LARGE // 2).hex().encode() + b"\r\n")


def blob_of(pop3_node: Pop3Node, address: str, uid: int) -> str:
    async def lookup() -> str:
        account = await pop3_node.running.runtime.directory.account(address)
        inbox = await pop3_node.mailstore.mailbox(account.id, "INBOX")
        return (await pop3_node.mailstore.blob_ids(inbox.id, uid, uid))[uid]

    return pop3_node.running.call(lookup())


def blob_file(pop3_node: Pop3Node, blob: str) -> Path:
    return cast(LocalBlobStore, pop3_node.running.runtime.blobs).path_of(blob)


def test_damaged_and_missing_messages_are_refused_alone(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    messages = [message(1), large(2), large(3), large(4), message(5)]
    pop3_node.deliver(address, *messages)
    truncated, overwritten, missing = (blob_file(pop3_node, blob_of(pop3_node, address, uid)) for uid in (2, 3, 4))
    truncated.write_bytes(truncated.read_bytes()[:1000])
    data = overwritten.read_bytes()
    overwritten.write_bytes(data[:500] + b"X" * 10 + data[510:])
    missing.unlink()

    raw = Raw(pop3_node.port)
    raw.login(address)
    assert raw.ask("LIST 2") == b"+OK 2 %d" % len(messages[1])  # the recorded size: the listing reads no body
    damaged = b"-ERR [SYS/PERM] message %d cannot be read: it is damaged in the server's store; please tell " \
              b"the administrator"
    assert raw.ask("RETR 2") == damaged % 2
    assert raw.ask("RETR 3") == damaged % 3
    assert raw.ask("TOP 3 0") == damaged % 3
    assert raw.ask("RETR 4") == (b"-ERR [SYS/PERM] message 4 cannot be read: it is missing from the server's "
                                 b"store; please tell the administrator")
    assert raw.ask("RETR 1") == b"+OK %d octets" % len(messages[0])
    assert b"Subject: message 1" in raw.lines()
    assert raw.ask("RETR 5").startswith(b"+OK")
    assert b"Subject: message 5" in raw.lines()
    assert raw.ask("STAT") == b"+OK 5 %d" % sum(map(len, messages))
    assert raw.ask("QUIT").startswith(b"+OK")
    raw.close()

    client = poplib.POP3("127.0.0.1", pop3_node.port, timeout=10)
    client.user(address)
    client.pass_(PASSWORD)
    with pytest.raises(poplib.error_proto, match=r"SYS/PERM"):
        client.retr(2)
    assert client.retr(5)[1][2] == b"Subject: message 5"  # retrieved and marked \Seen at QUIT: 1 and 5 only
    client.quit()


@pytest.mark.one_process
def test_a_damaged_blob_is_logged_once(pop3_node: Pop3Node) -> None:
    address = pop3_node.account()
    pop3_node.deliver(address, large(1), large(2))
    blobs = [blob_of(pop3_node, address, uid) for uid in (1, 2)]
    damaged = blob_file(pop3_node, blobs[0])
    damaged.write_bytes(damaged.read_bytes()[:1000])
    blob_file(pop3_node, blobs[1]).unlink()
    raw = Raw(pop3_node.port)
    raw.login(address)
    with capture_logs() as logs:
        for _ in range(3):
            assert raw.ask("RETR 1").startswith(b"-ERR [SYS/PERM]")
            assert raw.ask("RETR 2").startswith(b"-ERR [SYS/PERM]")
        assert raw.ask("NOOP") == b"+OK"
    found = [(e["event"], e["blob"]) for e in logs if e["event"].startswith("blobs.")]
    assert found == [("blobs.damaged", blobs[0]), ("blobs.missing", blobs[1])]
    raw.close()


def test_a_small_body_of_the_wrong_size_is_refused_too(pop3_node: Pop3Node) -> None:
    """Bodies up to 64 KiB live in the record store: cut one short there (content of its own: bodies are
    shared by every message with the same bytes)."""
    address = pop3_node.account()
    pop3_node.deliver(address, message(1, b"only here %s\r\n" % os.urandom(8).hex().encode()), message(2))
    blob = blob_of(pop3_node, address, 1)
    with sqlite3.connect(Path(pop3_node.running.config.node.data) / "polyport.db", timeout=10) as db:
        db.execute("UPDATE bodies SET data = substr(data, 1, 20) WHERE blob = ?", (blob,))
    db.close()
    raw = Raw(pop3_node.port)
    raw.login(address)
    assert raw.ask("RETR 1").startswith(b"-ERR [SYS/PERM] message 1 cannot be read: it is damaged")
    assert raw.ask("RETR 2").startswith(b"+OK")
    assert b"Subject: message 2" in raw.lines()
    raw.close()
