"""FETCH's bounds (issue 12): repeated items answered once, at most MAX_ITEMS different ones and a
budget of section bytes per message (NO [LIMIT], RFC 5530, before the message's answer is written), and
large messages sent from the blob store in pieces, so `BODY.PEEK[]` asked 400 times of a 1 MB message
costs the node what asking once does."""

from __future__ import annotations

import base64
import os
import re
import tracemalloc

from polyport.imap import fetch
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import compress, deliver, logged_in

LITERAL = re.compile(rb"(~?)\{(\d+)\}\r\n")
NAME = re.compile(rb"([A-Z0-9.]+(?:\[[^\]]*\])?(?:<\d+>)?) $")


def items_of(response: bytes) -> dict[bytes, bytes]:
    """A FETCH response's literal items by name (`BODY[]`, `BINARY[2]`...), read as a client would: each
    literal's length from its marker, not by looking for what follows it."""
    found: dict[bytes, bytes] = {}
    position = 0
    while (marker := LITERAL.search(response, position)) is not None:
        name = NAME.search(response, position, marker.start())
        assert name is not None, response[position:marker.start()]
        start = marker.end()
        found[name.group(1)] = response[start:start + int(marker.group(2))]
        position = start + int(marker.group(2))
    return found


def large_message(tag: str, attachment: bytes) -> bytes:
    encoded = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (f"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: large {tag}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n"
            f"--b1\r\nContent-Type: text/plain\r\n\r\nSee the attachment, {tag}.\r\n"
            "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            ).encode() + encoded + b"--b1--\r\n"


def selected_with(imap_node: ImapNode, *messages: bytes) -> Wire:
    w, address = logged_in(imap_node)
    for data in messages:
        deliver(imap_node, address, data)
    w.ok("SELECT INBOX")  # the first SELECT since they came: every message is \Recent to this session
    return w


def test_an_item_asked_many_times_is_answered_once(imap_node: ImapNode) -> None:
    data = b"Subject: repeated\r\n\r\n" + os.urandom(8).hex().encode() + b"\r\n"
    w = selected_with(imap_node, data)
    (line,) = w.ok("FETCH 1 (BODY.PEEK[] FLAGS BODY.PEEK[] BODY.PEEK[] RFC822.SIZE FLAGS)")
    assert line == b"* 1 FETCH (BODY[] {%d}\r\n%s FLAGS (\\Recent) RFC822.SIZE %d)" % (len(data), data, len(data))
    # BODY[] sets \Seen, BODY.PEEK[] does not: asked together, the answer is one BODY[] and the flag is set.
    (line,) = w.ok("UID FETCH 1 (BODY.PEEK[]<0.7> UID BODY[]<0.7> BODY[]<0.9>)")
    assert line == b"* 1 FETCH (UID 1 BODY[]<0> {7}\r\nSubject BODY[]<0> {9}\r\nSubject:  FLAGS (\\Seen \\Recent))"
    w.close()


def test_too_many_different_items_are_refused_before_anything_is_done(imap_node: ImapNode) -> None:
    w = selected_with(imap_node, b"Subject: many\r\n\r\nbody\r\n")
    asked = " ".join(f"BODY[]<0.{n}>" for n in range(1, fetch.MAX_ITEMS + 2))
    untagged, tagged = w.command(f"FETCH 1 ({asked})")
    assert untagged == []
    assert tagged == b"NO [LIMIT] FETCH asks for 101 different data items; at most 100 are answered at once"
    assert w.ok("FETCH 1 FLAGS") == [b"* 1 FETCH (FLAGS (\\Recent))"]  # not \Seen: nothing was read
    assert len(w.ok(f"FETCH 1 ({' '.join(asked.split()[:-1])})")) == 1
    w.close()


def test_a_message_whose_answer_passes_the_budget_is_refused_before_it_is_written(imap_node: ImapNode) -> None:
    small = b"Subject: small\r\n\r\n" + os.urandom(8).hex().encode() + b"\r\n"
    middling = b"Subject: middling\r\n\r\n" + os.urandom(50_000).hex().encode() + b"\r\n"  # read whole
    large = large_message("budget", os.urandom(300_000))  # sent in pieces
    w = selected_with(imap_node, small, middling, large)
    twelve = " ".join(f"BODY.PEEK[]<0.{len(middling) - n}>" for n in range(12))  # 1.2 MB of a 100 KB message
    untagged, tagged = w.command(f"FETCH 1:3 ({twelve})")
    assert [line.split(b" (", 1)[0] for line in untagged] == [b"* 1 FETCH"]
    assert tagged.startswith(b"NO [LIMIT] the answer for message 2 would pass 1048576 bytes")
    five = "BODY.PEEK[] RFC822.HEADER BINARY.PEEK[] BODY.PEEK[TEXT] BODY.PEEK[1] BODY.PEEK[2] BODY.PEEK[]<1.1000000>"
    untagged, tagged = w.command(f"FETCH 3 ({five})")
    assert untagged == []
    assert tagged.startswith(b"NO [LIMIT] the answer for message 3 would pass %d bytes" % (4 * len(large)))
    assert w.ok("NOOP") == []
    w.close()


def test_a_large_message_is_sent_from_the_store_as_it_would_be_from_memory(imap_node: ImapNode) -> None:
    attachment = os.urandom(450_000)  # with NUL bytes: BINARY[2] goes as a literal8
    data = large_message("streamed", attachment)
    assert len(data) > fetch.STREAM_AT
    w = selected_with(imap_node, data)
    (line,) = w.ok("UID FETCH 1 (BODY.PEEK[] BODY.PEEK[1] BINARY.PEEK[2] BINARY.SIZE[2] RFC822.SIZE "
                   "BODY.PEEK[HEADER.FIELDS (Subject)] BODY.PEEK[]<1000.5000> BODY.PEEK[2.MIME] RFC822.HEADER)")
    assert line.startswith(b"* 1 FETCH (UID 1 BODY[] {%d}\r\n" % len(data))
    found = items_of(line)
    header_end = data.index(b"\r\n\r\n") + 4
    assert found == {
        b"BODY[]": data,
        b"BODY[1]": b"See the attachment, streamed.",
        b"BINARY[2]": attachment,
        b"BODY[HEADER.FIELDS (Subject)]": b"Subject: large streamed\r\n\r\n",
        b"BODY[]<1000>": data[1000:6000],
        b"BODY[2.MIME]": b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        b"RFC822.HEADER": data[:header_end],
    }
    assert b" BINARY[2] ~{%d}\r\n" % len(attachment) in line
    assert b" BINARY.SIZE[2] %d RFC822.SIZE %d " % (len(attachment), len(data)) in line
    assert line.endswith(b")")
    (line,) = w.ok("FETCH 1 (BODY[] RFC822)")  # sets \Seen: FLAGS comes with the answer
    assert items_of(line) == {b"BODY[]": data, b"RFC822": data}
    assert line.endswith(b" FLAGS (\\Seen \\Recent))")
    compress(w)  # the pieces go through the deflater like any other output
    (line,) = w.ok("FETCH 1 (BODY.PEEK[] BINARY.PEEK[2])")
    assert items_of(line) == {b"BODY[]": data, b"BINARY[2]": attachment}
    w.close()


def fetch_peak(w: Wire, command: str) -> int:
    """The most memory allocated at once (by the node's thread and this one) while `command` ran."""
    tracemalloc.start()
    try:
        untagged, tagged = w.command(command)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert tagged.startswith(b"OK"), tagged
    assert len(untagged) == 1
    return peak


def test_asking_400_times_for_a_megabyte_costs_what_asking_once_does(imap_node: ImapNode) -> None:
    """Issue 12: `FETCH 1 (BODY.PEEK[] x400)` on a 1 MB message took a node from 111 MB to 1.29 GB."""
    line = b"x" * 76 + b"\r\n"
    data = b"Subject: a megabyte\r\n\r\n" + os.urandom(8).hex().encode() + b"\r\n" + line * (1_000_000 // len(line))
    w = selected_with(imap_node, data)
    once = fetch_peak(w, "FETCH 1 (BODY.PEEK[])")
    many = fetch_peak(w, "FETCH 1 (" + " ".join(["BODY.PEEK[]"] * 400) + ")")
    # The client's copy of the answer is most of either (the node holds a piece of 256 KiB at a time).
    assert many < 2 * once + 1_000_000, (once, many)
    assert many < 8_000_000, many
    w.close()


def test_messages_not_sent_for_the_budget_are_not_marked_seen(imap_node: ImapNode) -> None:
    small = b"Subject: small\r\n\r\n" + os.urandom(8).hex().encode() + b"\r\n"
    large = large_message("unseen", os.urandom(300_000))
    w = selected_with(imap_node, small, large, small + b"again\r\n")
    untagged, tagged = w.command("FETCH 1:3 (RFC822 BODY[] BODY[TEXT] BODY[1] BODY[2] BODY[]<1.1000000>)")
    assert [line.split(b" (", 1)[0] for line in untagged] == [b"* 1 FETCH"]
    assert tagged.startswith(b"NO [LIMIT] the answer for message 2")
    assert w.ok("FETCH 1:3 FLAGS") == [b"* 1 FETCH (FLAGS (\\Seen \\Recent))", b"* 2 FETCH (FLAGS (\\Recent))",
                                       b"* 3 FETCH (FLAGS (\\Recent))"]
    w.close()
