"""FETCH's pure pieces: undoing transfer encodings for BINARY (RFC 3516), grouping UIDs into runs, and
FLAGS with \\Recent for the messages a session holds as recent."""

from __future__ import annotations

import time

import pytest

from polyport.imap import fetch, wire
from polyport.mailstore import MessageMeta
from polyport.mime.parse import parse


def items(text: str) -> tuple[wire.FetchItem, ...]:
    command = wire.parse_command(f"a FETCH 1 {text}\r\n".encode())
    assert isinstance(command, wire.Fetch)
    return command.items


def test_binary_undoes_quoted_printable_exactly() -> None:
    message = (b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
               b"a=0D=0Ab=\r\nc\r\nd=0A=00")
    structure = parse(message)
    # Soft breaks go; encoded CR LF, a bare LF and a NUL come back as the bytes they encode.
    assert fetch.binary_section(message, structure, (1,)) == b"a\r\nbc\r\nd\n\x00"


def test_runs_group_adjacent_uids_of_the_mailbox() -> None:
    view = [1, 2, 3, 5, 8, 9, 10, 20, *range(30, 60)]
    # A few UIDs of a large mailbox: only neighbours in the mailbox share a read.
    assert list(fetch.runs([2, 3, 5, 9], view)) == [(2, 5, [2, 3, 5]), (9, 9, [9])]
    assert list(fetch.runs([9, 10, 20], view, batch=2)) == [(9, 10, [9, 10]), (20, 20, [20])]
    # Most of it: gaps are read and skipped, in batches.
    most = view[:-5]
    assert list(fetch.runs(most, view, batch=20)) == [(1, 41, most[:20]), (42, 54, most[20:])]
    assert list(fetch.runs([], view)) == []


def test_binary_undoes_quoted_printable_transport_padding() -> None:
    """RFC 2045 6.7 rule 3: white space a transport added at the ends of encoded lines goes, also between
    a soft break's "=" and its line end; lower-case hex decodes too (rule 1 asks decoders to)."""
    message = (b"Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
               b"one =  \r\ntwo\t\r\nthree=20 \r\nf=c3=bcnf  ")
    assert fetch.binary_section(message, parse(message), (1,)) == "one two\r\nthree \r\nfünf".encode()


def test_binary_undoes_base64_without_its_padding() -> None:
    message = b"Content-Transfer-Encoding: base64\r\n\r\nAAEC\r\nAw\r\n"
    assert fetch.binary_section(message, parse(message), (1,)) == b"\x00\x01\x02\x03"
    damaged = b"Content-Transfer-Encoding: base64\r\n\r\nAAECA\r\n"  # one character left over: not padding
    with pytest.raises(fetch.UnknownEncoding):
        fetch.binary_section(damaged, parse(damaged), (1,))


def test_flags_can_show_recent_for_the_messages_a_session_says() -> None:
    """The hook for \\Recent (RFC 3501 2.3.2), a session flag: `flags_item(..., recent=True)`, and
    `render`/`layout`'s `recent`, the UIDs the session holds as recent."""
    assert fetch.flags_item(1 | 4, "$Work", True) == b"FLAGS (\\Seen \\Flagged \\Recent $Work)"
    assert fetch.flags_item(0, "", recent=True) == b"FLAGS (\\Recent)"
    assert fetch.flags_item(1, "") == b"FLAGS (\\Seen)"
    data = b"Subject: x\r\n\r\nhi\r\n"
    meta = MessageMeta(7, 12, 1, "", 1_700_000_000, 1_700_000_001, len(data), 3, 4)
    flags = fetch.plan(items("(UID FLAGS)"))
    assert fetch.render(3, meta, flags, message=None, with_modseq=False, utf8=False, extra_flags=False,
                        recent={7, 9}) == b"* 3 FETCH (UID 7 FLAGS (\\Seen \\Recent))\r\n"
    assert fetch.render(3, meta, flags, message=None, with_modseq=False, utf8=False, extra_flags=False,
                        recent={8}) == b"* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n"
    assert fetch.render(3, meta, flags, message=None, with_modseq=False, utf8=False,
                        extra_flags=False) == b"* 3 FETCH (UID 7 FLAGS (\\Seen))\r\n"
    # FLAGS added after \Seen was set by the FETCH, and the large-message layout, show it as well.
    body = fetch.plan(items("BODY[]"))
    assert fetch.render(3, meta, body, message=data, with_modseq=False, utf8=False, extra_flags=True,
                        recent={7}).endswith(b" FLAGS (\\Seen \\Recent))\r\n")
    assert fetch.layout(3, meta, flags, with_modseq=False, utf8=False, extra_flags=False,
                        recent={7}) == [b"UID 7", b"FLAGS (\\Seen \\Recent)"]


def test_quoted_printable_padding_costs_linear_time() -> None:
    """A long run of blanks is looked at once, not once from each of its characters."""
    runs = b" " * 1_000_000 + b"x\r\n" + b"a \t" * 300_000 + b"\r\n"
    message = b"Content-Transfer-Encoding: quoted-printable\r\n\r\n" + runs
    started = time.perf_counter()
    assert len(fetch.binary_section(message, parse(message), (1,))) == len(runs) - 2  # the final blank and tab go
    assert time.perf_counter() - started < 1.0


def test_preview_of_odd_text_parts() -> None:
    """A decoder that leaves a lone surrogate (UTF-7), and a whole part's base64 without its padding."""
    assert fetch._preview_text(b"hi +2D0-", encoding="7bit", charset="utf-7", html=False) == b"hi ?"
    assert fetch._preview_text(b"aGVsbG8gd29ybGQ", encoding="base64", charset="utf-8", html=False,
                               whole=True) == b"hello world"
