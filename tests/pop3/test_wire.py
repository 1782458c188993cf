"""The POP3 wire layer: parsing command lines, formatting answers and message bodies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.pop3 import wire


@pytest.mark.parametrize(("line", "expected"), [
    (b"USER alice\r\n", wire.User("alice")),
    (b"user alice@example.com\n", wire.User("alice@example.com")),
    (b"PASS with spaces  in it\r\n", wire.Pass("with spaces  in it")),
    (b"APOP bob C4C9334BAC560ECC979E58001B3E22FB\r\n", wire.Apop("bob", "c4c9334bac560ecc979e58001b3e22fb")),
    (b"AUTH\r\n", wire.Auth(None)),
    (b"AUTH plain\r\n", wire.Auth("PLAIN")),
    (b"AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n", wire.Auth("PLAIN", b"\x00alice\x00secret")),
    (b"AUTH PLAIN =\r\n", wire.Auth("PLAIN", b"")),
    (b"STAT\r\n", wire.Stat()),
    (b"LIST\r\n", wire.List()),
    (b"LIST 2\r\n", wire.List(2)),
    (b"UIDL 7\r\n", wire.Uidl(7)),
    (b"RETR 1\r\n", wire.Retr(1)),
    (b"TOP 1 0\r\n", wire.Top(1, 0)),
    (b"DELE 3\r\n", wire.Dele(3)),
    (b"NOOP\r\n", wire.Noop()),
    (b"RSET\r\n", wire.Rset()),
    (b"QUIT\r\n", wire.Quit()),
    (b"CAPA\r\n", wire.Capa()),
    (b"STLS\r\n", wire.Stls()),
])
def test_commands(line: bytes, expected: wire.Command) -> None:
    assert wire.parse_command(line) == expected


@pytest.mark.parametrize(("line", "reason"), [
    (b"\r\n", "empty command"),
    (b"FROB\r\n", "unknown command"),
    (b"RE\xfft 1\r\n", "unknown command"),
    (b"RETR\r\n", "RETR takes 1 argument"),
    (b"RETR 0\r\n", "starts at 1"),
    (b"RETR -1\r\n", "must be a number"),
    (b"RETR 99999999999\r\n", "must be a number"),
    (b"RETR 4294967295\r\n", "out of range"),
    (b"TOP 1\r\n", "TOP takes 2 arguments"),
    (b"LIST 1 2\r\n", "LIST takes 0 to 1 argument"),
    (b"STAT now\r\n", "STAT takes no arguments"),
    (b"RETR  1\r\n", "single spaces"),
    (b"PASS\r\n", "PASS takes the password"),
    (b"USER al\x00ice\r\n", "control characters"),
    (b"USER \xff\xfe\r\n", "not UTF-8"),
    (b"APOP bob 1234\r\n", "32 hexadecimal digits"),
    (b"AUTH PLAIN ***\r\n", "not base64"),
    (b"AUTH PLAIN abc\r\n", "not base64"),
    (b"USER " + b"a" * 300 + b"\r\n", "longer than 255"),
    (b"NOOP " + b"x" * 10000 + b"\r\n", "longer than 8192"),
])
def test_bad_commands_say_why(line: bytes, reason: str) -> None:
    with pytest.raises(wire.ParseError, match=reason):
        wire.parse_command(line)


@given(st.binary(max_size=300))
def test_parser_takes_any_bytes(line: bytes) -> None:
    try:
        command = wire.parse_command(line)
    except wire.ParseError as err:
        assert str(err)
    else:
        assert command.name


def test_answers() -> None:
    assert wire.ok() == b"+OK\r\n"
    assert wire.ok("2 320") == b"+OK 2 320\r\n"
    assert wire.err("no such message") == b"-ERR no such message\r\n"
    assert wire.err("bad password", "AUTH") == b"-ERR [AUTH] bad password\r\n"
    assert wire.multiline([b"1 120", b".hidden"]) == b"1 120\r\n..hidden\r\n.\r\n"
    assert wire.multiline([]) == b".\r\n"


@pytest.mark.parametrize(("message", "body"), [
    (b"Subject: a\r\n\r\nbody\r\n", b"Subject: a\r\n\r\nbody\r\n.\r\n"),
    (b"Subject: a\r\n\r\nbody", b"Subject: a\r\n\r\nbody\r\n.\r\n"),
    (b"Subject: a\n\nbare LF\n", b"Subject: a\r\n\r\nbare LF\r\n.\r\n"),
    (b"Subject: a\r\n\r\n.\r\n..two\r\n", b"Subject: a\r\n\r\n..\r\n...two\r\n.\r\n"),
    (b".starts with a dot\r\n", b"..starts with a dot\r\n.\r\n"),
    (b"", b".\r\n"),
])
def test_message_bodies_are_crlf_and_dot_stuffed(message: bytes, body: bytes) -> None:
    assert wire.message_body(message) == body


def test_top_sends_header_and_n_lines() -> None:
    message = b"A: 1\r\nB: 2\r\n\r\none\r\ntwo\r\nthree\r\n"
    assert wire.message_body(message, 0) == b"A: 1\r\nB: 2\r\n\r\n.\r\n"
    assert wire.message_body(message, 2) == b"A: 1\r\nB: 2\r\n\r\none\r\ntwo\r\n.\r\n"
    assert wire.message_body(message, 100) == message + b".\r\n"
    assert wire.message_body(b"A: 1\r\nB: 2\r\n", 5) == b"A: 1\r\nB: 2\r\n.\r\n"


def _unstuff(body: bytes) -> bytes:
    assert body.endswith(b".\r\n")
    lines = body[:-3].split(b"\r\n")[:-1] if body != b".\r\n" else []
    return b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)


@given(st.lists(st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=20))
def test_message_bodies_round_trip(lines: list[bytes]) -> None:
    message = b"".join(line + b"\r\n" for line in lines)
    body = wire.message_body(message)
    assert _unstuff(body) == message
    assert b"\r\n.\r\n" not in body[:-3] or body.startswith(b".\r\n")


def _reference_body(message: bytes, body_lines: int | None = None) -> bytes:
    """message_body as it was, line by line in Python: what the C-speed pieces must equal."""
    text = message.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    if text.endswith(b"\n"):
        text = text[:-1]
    lines = text.split(b"\n") if message else []
    if body_lines is not None:
        blank = lines.index(b"") if b"" in lines else len(lines)
        lines = lines[:blank + 1 + body_lines]
    return b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines) + b".\r\n"


_message_parts = st.lists(st.sampled_from([b"a", b"b c", b".", b"..", b"\r", b"\n", b"\r\n", b"\r\n\r\n", b"\n."]),
                          max_size=30).map(b"".join)


@given(_message_parts, st.one_of(st.none(), st.integers(0, 12)), st.integers(1, 12), st.integers(1, 9))
@settings(max_examples=1000)
def test_message_pieces_are_the_line_by_line_body(message: bytes, body_lines: int | None, size: int,
                                                   block: int) -> None:
    """RETR and TOP in pieces of any size (and TOP counting lines in blocks of any size) give exactly the
    body the line-by-line formatting gave: bare CR and LF, dots, blank lines anywhere."""
    saved = wire._BLOCK
    wire._BLOCK = block  # type: ignore[misc]
    try:
        pieces = list(wire.message_pieces(message, body_lines, size))
    finally:
        wire._BLOCK = saved  # type: ignore[misc]
    assert b"".join(pieces) + b".\r\n" == _reference_body(message, body_lines)
    assert wire.message_body(message, body_lines) == _reference_body(message, body_lines)
    assert all(pieces)


def test_a_large_message_goes_in_pieces_of_whole_lines() -> None:
    line = b".dotted line\r\n"
    message = b"Subject: big\r\n\r\n" + line * (3 * wire.PIECE // len(line))
    pieces = list(wire.message_pieces(message))
    assert len(pieces) >= 3 and all(p.endswith(b"\r\n") for p in pieces)
    assert b"".join(pieces) + b".\r\n" == _reference_body(message)
    top = list(wire.message_pieces(message, 2 * wire.PIECE // len(line)))
    assert b"".join(top) + b".\r\n" == _reference_body(message, 2 * wire.PIECE // len(line))
