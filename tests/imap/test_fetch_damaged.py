"""A message whose bytes are damaged or missing fails alone (issue 12): in `FETCH 1:3 BODY[]` with message
2 truncated, overwritten or gone, 1 and 3 are answered, nothing of 2 is sent, the command ends
NO [CORRUPTION] (RFC 5530) saying so, the failure is logged once with the mailbox and UID (never the
content), and the session goes on. For bodies in the record store (up to 64 KiB), in blob files read
whole (up to fetch.STREAM_AT) and in blob files sent in pieces."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import cast

import pytest
from structlog.testing import capture_logs

from polyport.imap import fetch
from polyport.mailstore.service import StoredBody
from polyport.store.blobs import BlobDamaged, LocalBlobStore
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import account_id, deliver, logged_in

LEFT_OUT = b"NO [CORRUPTION] 1 message could not be read from the store and was left out; any others were sent"


def message(n: int, size: int) -> bytes:
    """Message `n`, about `size` bytes, with content of its own (bodies are shared by their bytes)."""
    return b"Subject: message %d\r\n\r\n" % n + os.urandom(size // 2).hex().encode() + b"\r\n"


def blob_file(imap_node: ImapNode, data: bytes) -> Path:
    blobs = cast(LocalBlobStore, imap_node.running.runtime.blobs)
    return blobs.path_of(hashlib.sha256(data).hexdigest())


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:1000])


def overwrite(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[:500] + b"X" * 10 + data[510:])  # the same size: only the hash tells


def remove(path: Path) -> None:
    path.unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {"truncated": truncate, "overwritten": overwrite, "missing": remove}
SIZES = {"read-whole": 100_000, "streamed": fetch.STREAM_AT + 50_000}


def three_with_the_second_damaged(imap_node: ImapNode, size: int,
                                  damage: Callable[[Path], None]) -> tuple[Wire, list[bytes], str]:
    w, address = logged_in(imap_node)
    messages = [message(n, size) for n in (1, 2, 3)]
    for data in messages:
        deliver(imap_node, address, data)
    damage(blob_file(imap_node, messages[1]))
    w.ok("SELECT INBOX")  # the first SELECT since they came: all three are \Recent to this session
    return w, messages, address


def answered(untagged: list[bytes]) -> list[bytes]:
    return [line.split(b" (", 1)[0] for line in untagged]


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
@pytest.mark.parametrize("damage", DAMAGES.values(), ids=DAMAGES.keys())
def test_a_damaged_message_fails_alone(imap_node: ImapNode, damage: Callable[[Path], None], size: int) -> None:
    w, messages, _ = three_with_the_second_damaged(imap_node, size, damage)
    untagged, tagged = w.command("FETCH 1:3 (UID BODY.PEEK[])")
    assert untagged == [b"* %d FETCH (UID %d BODY[] {%d}\r\n%s)" % (n, n, len(data), data)
                        for n, data in ((1, messages[0]), (3, messages[2]))]
    assert tagged == LEFT_OUT
    # The session goes on, and what needs no body is answered for it as for any other.
    assert w.ok("NOOP") == []
    assert w.ok("FETCH 2 (UID RFC822.SIZE FLAGS)") == [
        b"* 2 FETCH (UID 2 RFC822.SIZE %d FLAGS (\\Recent))" % len(messages[1])]
    assert w.command("FETCH 2 (BINARY.PEEK[] RFC822.SIZE)") == ([], LEFT_OUT)  # whole, decoded or not
    untagged, tagged = w.command("UID FETCH 2:3 (BODY.PEEK[HEADER] BODY.PEEK[]<0.5>)")
    if damage is overwrite and size > fetch.STREAM_AT:
        # Pieces of a large message are checked for size only: the hash needs the whole blob read (a
        # 50 MB one for a 5-byte partial FETCH), and these bytes are not where it was overwritten.
        assert (answered(untagged), tagged) == ([b"* 2 FETCH", b"* 3 FETCH"], b"OK FETCH completed")
    else:
        assert (answered(untagged), tagged) == ([b"* 3 FETCH"], LEFT_OUT)
    w.close()


@pytest.mark.one_process
def test_damage_is_logged_once_with_the_mailbox_and_uid_never_the_content(imap_node: ImapNode) -> None:
    w, messages, address = three_with_the_second_damaged(imap_node, SIZES["read-whole"], truncate)
    inbox = imap_node.running.call(imap_node.mailstore.mailbox(account_id(imap_node, address), "INBOX")).id
    with capture_logs() as logs:
        for _ in range(3):
            assert w.command("FETCH 1:3 BODY.PEEK[]")[1] == LEFT_OUT
    (event,) = [e for e in logs if e["event"] == "imap.fetch_unreadable"]
    assert (event["mailbox"], event["uid"], event["error"], event["log_level"]) == (inbox, 2, "BlobDamaged", "error")
    assert "1000 bytes where" in event["reason"]
    assert not any(messages[1][40:60].decode() in str(value) for e in logs for value in e.values())
    w.close()


def test_a_small_body_of_the_wrong_size_in_the_record_store_fails_alone(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    messages = [message(n, 200) for n in (1, 2, 3)]
    for data in messages:
        deliver(imap_node, address, data)
    blob = hashlib.sha256(messages[1]).hexdigest()
    with sqlite3.connect(Path(imap_node.running.config.node.data) / "polyport.db", timeout=10) as db:
        db.execute("UPDATE bodies SET data = substr(data, 1, 20) WHERE blob = ?", (blob,))
    db.close()
    w.ok("SELECT INBOX")
    untagged, tagged = w.command("FETCH 1:3 (RFC822.SIZE BODY.PEEK[])")
    assert answered(untagged) == [b"* 1 FETCH", b"* 3 FETCH"]
    assert tagged == LEFT_OUT
    w.close()


@pytest.mark.one_process
def test_a_blob_failing_in_the_middle_of_its_literal_cuts_the_connection(imap_node: ImapNode,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Damaged after it was checked, while it is being sent: nothing can be said inside a literal, and the
    client must not take the short bytes for the message; the connection is closed."""
    w, address = logged_in(imap_node)
    data = message(1, fetch.STREAM_AT * 2)
    deliver(imap_node, address, data)
    w.ok("SELECT INBOX")
    original = StoredBody.pieces

    async def failing(self: StoredBody, start: int, end: int) -> AsyncGenerator[bytes, None]:
        async for piece in original(self, start, end):
            yield piece
            raise BlobDamaged(self.blob, "size", "cut while it was read")

    monkeypatch.setattr(StoredBody, "pieces", failing)
    w.send(b"t1 FETCH 1 BODY.PEEK[]\r\n")
    assert w.line() == b"* 1 FETCH (BODY[] {%d}" % len(data)
    received = w.file.read(len(data))
    assert len(received) < len(data)  # end of stream before the literal's end
    assert data.startswith(received)
    w.close()
    w2 = Wire(imap_node.port).login(address)  # the node is fine
    w2.ok("SELECT INBOX")
    w2.close()


def test_a_message_left_out_is_not_marked_seen(imap_node: ImapNode) -> None:
    """BODY[] sets \\Seen (RFC 3501 6.4.5) when the body is sent: not on one that could not be."""
    w, _, _ = three_with_the_second_damaged(imap_node, SIZES["streamed"], remove)
    untagged, tagged = w.command("FETCH 1:3 (BODY[])")
    assert answered(untagged) == [b"* 1 FETCH", b"* 3 FETCH"]
    assert all(line.endswith(b" FLAGS (\\Seen \\Recent))") for line in untagged)
    assert tagged == LEFT_OUT
    assert w.ok("FETCH 1:3 FLAGS") == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))", b"* 2 FETCH (FLAGS (\\Recent))",
                                       b"* 3 FETCH (FLAGS (\\Seen \\Recent))"]
    assert w.ok("NOOP") == []  # taking it back was this session's own change: nothing to announce
    w.close()
