"""FETCH's pure pieces: undoing transfer encodings for BINARY (RFC 3516), and grouping UIDs into runs."""

from __future__ import annotations

from polyport.imap import fetch
from polyport.mime.parse import parse


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
