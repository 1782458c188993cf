"""The SMTP wire module: commands, parameters, replies and the DATA reader, without I/O."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.smtp import wire
from polyport.smtp.wire import DotReader, ParseError

# -- commands --


def test_hello_verbs() -> None:
    assert wire.parse_command(b"EHLO client.example\r\n") == wire.Hello("EHLO", "client.example")
    assert wire.parse_command(b"helo client\r\n") == wire.Hello("HELO", "client")
    assert wire.parse_command(b"LHLO mta\r\n").extended  # type: ignore[union-attr]
    assert not wire.Hello("HELO", "x").extended
    with pytest.raises(ParseError) as err:
        wire.parse_command(b"EHLO\r\n")
    assert err.value.reply.code == 501


def test_mail_and_rcpt_paths() -> None:
    assert wire.parse_command(b"MAIL FROM:<a@Example.COM>\r\n") == wire.Mail("a@example.com")
    assert wire.parse_command(b"MAIL FROM: <a@b.c>\r\n") == wire.Mail("a@b.c")  # a space, as many send
    assert wire.parse_command(b"MAIL FROM:<>\r\n") == wire.Mail("")
    assert wire.parse_command(b"mail from:a@b.c\r\n") == wire.Mail("a@b.c")  # no brackets, leniently
    assert wire.parse_command(b"RCPT TO:<@relay.example:u@b.c>\r\n") == wire.Rcpt("u@b.c")  # source route
    assert wire.parse_command(b"RCPT TO:<Postmaster>\r\n") == wire.Rcpt("postmaster")
    assert wire.parse_command(b'RCPT TO:<"john.doe"@b.c>\r\n') == wire.Rcpt("john.doe@b.c")
    assert wire.parse_command(b'RCPT TO:<"john doe"@b.c>\r\n') == wire.Rcpt('"john doe"@b.c')
    assert wire.parse_command(b"RCPT TO:<u@[192.0.2.1]>\r\n") == wire.Rcpt("u@[192.0.2.1]")
    assert wire.parse_command("RCPT TO:<josé@exämple.com>\r\n".encode()) == wire.Rcpt("josé@exämple.com", utf8=True)
    # Non-ASCII is judged before lower-casing: the Kelvin sign is not an ASCII k.
    assert wire.parse_command("MAIL FROM:<a@\u212aelvin.test>\r\n".encode()) == wire.Mail("a@kelvin.test", utf8=True)


@pytest.mark.parametrize("line", [
    b"MAIL FROM:<a@b.c\r\n",  # no closing bracket
    b"MAIL FROM:<a>\r\n",  # no domain
    b"MAIL FROM:<a@@b>\r\n",
    b"MAIL FROM:<a..b@c>\r\n",
    b"MAIL FROM:<a@-b.c>\r\n",
    b"MAIL FROM:<a@[300.1.1.1]>\r\n",
    b"MAIL TO:<a@b.c>\r\n",
    b"RCPT TO:<>\r\n",  # the null path is for senders only
    b"RCPT FROM:<a@b.c>\r\n",
    b"MAIL FROM:<" + b"a" * 65 + b"@b.c>\r\n",  # local part over 64
])
def test_bad_paths_are_501(line: bytes) -> None:
    with pytest.raises(ParseError) as err:
        wire.parse_command(line)
    assert err.value.reply.code == 501


def test_mail_parameters() -> None:
    command = wire.parse_command(b"MAIL FROM:<a@b.c> SIZE=1000 BODY=8bitmime SMTPUTF8 RET=HDRS "
                                 b"ENVID=QQ+2Bx AUTH=<> REQUIRETLS\r\n")
    assert isinstance(command, wire.Mail)
    assert command.params == wire.MailParams(size=1000, body="8BITMIME", smtputf8=True, ret="HDRS",
                                             envid="QQ+x", auth="<>", requiretls=True)


def test_rcpt_parameters() -> None:
    command = wire.parse_command(b"RCPT TO:<u@b.c> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;u+40b.c\r\n")
    assert isinstance(command, wire.Rcpt)
    assert command.params == wire.RcptParams(frozenset({"SUCCESS", "FAILURE"}), "rfc822;u@b.c")


@pytest.mark.parametrize(("line", "code"), [
    (b"MAIL FROM:<a@b.c> SIZE=big\r\n", 501),
    (b"MAIL FROM:<a@b.c> SIZE=1 SIZE=2\r\n", 501),
    (b"MAIL FROM:<a@b.c> BODY=9BIT\r\n", 501),
    (b"MAIL FROM:<a@b.c> SMTPUTF8=yes\r\n", 501),
    (b"MAIL FROM:<a@b.c> FOO=bar\r\n", 555),
    (b"MAIL FROM:<a@b.c> ENVID=a+zz\r\n", 501),
    (b"RCPT TO:<a@b.c> NOTIFY=NEVER,SUCCESS\r\n", 501),
    (b"RCPT TO:<a@b.c> NOTIFY=SOMETIMES\r\n", 501),
    (b"RCPT TO:<a@b.c> ORCPT=nosemicolon\r\n", 501),
    (b"RCPT TO:<a@b.c> SIZE=10\r\n", 555),
    (b"MAIL FROM:<a@b.c>SIZE=10\r\n", 501),
])
def test_bad_parameters(line: bytes, code: int) -> None:
    with pytest.raises(ParseError) as err:
        wire.parse_command(line)
    assert err.value.reply.code == code


def test_other_commands() -> None:
    assert wire.parse_command(b"DATA\r\n") == wire.Data()
    assert wire.parse_command(b"BDAT 100\r\n") == wire.Bdat(100, False)
    assert wire.parse_command(b"bdat 0 last\r\n") == wire.Bdat(0, True)
    assert wire.parse_command(b"RSET\r\n") == wire.Rset()
    assert wire.parse_command(b"NOOP anything\r\n") == wire.Noop()
    assert wire.parse_command(b"QUIT\r\n") == wire.Quit()
    assert wire.parse_command(b"VRFY bob\r\n") == wire.Vrfy("bob")
    assert wire.parse_command(b"STARTTLS\r\n") == wire.StartTls()
    assert wire.parse_command(b"AUTH plain AGEAYg==\r\n") == wire.Auth("PLAIN", b"\0a\0b")
    assert wire.parse_command(b"AUTH PLAIN =\r\n") == wire.Auth("PLAIN", b"")
    assert wire.parse_command(b"AUTH LOGIN\r\n") == wire.Auth("LOGIN", None)
    for bad in (b"DATA now\r\n", b"BDAT\r\n", b"BDAT x\r\n", b"BDAT 1 FIRST\r\n", b"STARTTLS x\r\n",
                b"AUTH PLAIN !!!\r\n", b"QUIT now\r\n"):
        with pytest.raises(ParseError) as err:
            wire.parse_command(bad)
        assert err.value.reply.code == 501, bad


def test_unknown_and_malformed_commands_are_500() -> None:
    for bad in (b"HELLO x\r\n", b"GET / HTTP/1.1\r\n", b"\xff\xfe\r\n", b"MAIL\rFROM:<a@b>\r\n", b"NOOP\0\r\n"):
        with pytest.raises(ParseError) as err:
            wire.parse_command(bad)
        assert err.value.reply.code == 500, bad


# -- replies --


def test_replies() -> None:
    assert wire.reply(250, "2.0.0", "ok") == b"250 2.0.0 ok\r\n"
    assert wire.reply(550, "5.1.1", ["a", "b"]) == b"550-5.1.1 a\r\n550 5.1.1 b\r\n"
    assert wire.reply(220, None, "host ready") == b"220 host ready\r\n"
    assert wire.reply(250, None, "evil\r\n250 injected") == b"250 evil  250 injected\r\n"
    assert wire.ehlo_reply("host", ["SIZE 10", "8BITMIME"]) == b"250-host\r\n250-SIZE 10\r\n250 8BITMIME\r\n"


def test_xtext() -> None:
    assert wire.decode_xtext("a+2Bb+3Dc") == "a+b=c"
    assert wire.encode_xtext("a+b=c d") == "a+2Bb+3Dc+20d"
    with pytest.raises(ParseError):
        wire.decode_xtext("a+2b")  # lower-case hex is not xtext


@given(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40))
def test_xtext_round_trip(text: str) -> None:
    assert wire.decode_xtext(wire.encode_xtext(text)) == text


def test_xtext_with_control_characters_is_refused() -> None:
    with pytest.raises(ParseError):
        wire.parse_command(b"RCPT TO:<a@b.c> ORCPT=rfc822;x+0D+0AFinal-Recipient:+20evil\r\n")
    with pytest.raises(ParseError):
        wire.parse_command(b"EHLO mx.example\t(authenticated\tas\tceo)\r\n")


# -- DATA --


def read_all(pieces: list[bytes], limit: int = 10_000, reader: DotReader | None = None) -> tuple[DotReader, bytes]:
    """Feed pieces until the end (to `reader`, or a new one); returns the reader and what came after the end."""
    reader = reader or DotReader(limit)
    rest = b""
    for i, piece in enumerate(pieces):
        used = reader.feed(piece)
        if reader.done:
            rest = piece[used:] + b"".join(pieces[i + 1:])
            break
    return reader, rest


def test_data_ends_at_crlf_dot_crlf_only() -> None:
    reader, rest = read_all([b"Subject: x\r\n\r\nline\r\n..dot\r\n.\r\nQUIT\r\n"])
    assert reader.done and rest == b"QUIT\r\n"
    assert reader.message() == (b"Subject: x\r\n\r\nline\r\n.dot\r\n", False)


def test_empty_data() -> None:
    reader, rest = read_all([b".\r\nNOOP\r\n"])
    assert reader.done and rest == b"NOOP\r\n" and reader.message() == (b"", False)


@pytest.mark.parametrize("smuggled", [
    b"\n.\n", b"\r.\r", b"\n.\r\n", b"\r\n.\n", b"\r.\r\n", b"\r\n.\r", b"\n.\r",
])
def test_smuggling_variants_never_end_the_data(smuggled: bytes) -> None:
    """The SMTP smuggling variants (2023): none of them ends the message; the message goes on to the
    real end and comes out with CRLF lines, so relaying it cannot end it early either."""
    data = b"Subject: first\r\n\r\nbody" + smuggled + b"MAIL FROM:<evil@x>\r\nRCPT TO:<v@y>\r\nDATA\r\nx\r\n.\r\n"
    reader, rest = read_all([data])
    assert reader.done and rest == b""
    message, bare = reader.message()
    assert bare
    assert b"MAIL FROM:<evil@x>" in message
    assert re.fullmatch(rb"(?:[^\r\n]*\r\n)*", message), "every line ends with CRLF"
    # Dot-stuffed again for relaying, it holds no end of data before its own.
    assert b"\r\n.\r\n" not in b"\r\n" + message.replace(b"\r\n.", b"\r\n..")


def test_end_split_across_pieces() -> None:
    data = b"a\r\nb\r\n.\r\nNEXT"
    for cut in range(1, len(data)):
        for cut2 in range(cut, len(data)):
            reader, rest = read_all([data[:cut], data[cut:cut2], data[cut2:]])
            assert reader.done and rest == b"NEXT"
            assert reader.message() == (b"a\r\nb\r\n", False)


def test_oversized_data_is_not_kept() -> None:
    reader = DotReader(100)
    for _ in range(1000):
        reader.feed(b"x" * 1000 + b"\r\n")
    assert reader.too_big and not reader.done
    assert sum(len(p) for p in reader._body.parts) == 0  # nothing held
    reader.feed(b".\r\n")
    assert reader.done and reader.too_big


def test_data_exactly_at_the_limit_is_kept() -> None:
    body = b"x" * 98 + b"\r\n"  # 100 octets
    reader, _ = read_all([body + b".\r\n"], limit=100)
    assert not reader.too_big and reader.message()[0] == body
    reader, _ = read_all([b"y" + body + b".\r\n"], limit=100)
    assert reader.too_big


lines = st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b"")), max_size=12)


@given(lines, st.lists(st.integers(min_value=0, max_value=400), max_size=6))
@settings(max_examples=300)
def test_dot_stuffing_round_trips_in_any_pieces(message_lines: list[bytes], cuts: list[int]) -> None:
    """A CRLF message, dot-stuffed as a client sends it and cut anywhere, comes back exactly."""
    message = b"".join(line + b"\r\n" for line in message_lines)
    stuffed = b"".join((b"." + line if line.startswith(b".") else line) + b"\r\n" for line in message_lines)
    stream = stuffed + b".\r\nAFTER"
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    reader, rest = read_all([p for p in pieces if p] or [stream])
    assert reader.done and rest == b"AFTER"
    assert reader.message() == (message, False)


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_any_input_is_read_safely(data: bytes) -> None:
    """Whatever comes, the reader either wants more or ends; what it returns has only CRLF line ends."""
    reader = DotReader(200)
    used = reader.feed(data)
    assert 0 <= used <= len(data)
    if reader.done and not reader.too_big:
        message, _ = reader.message()
        assert b"\r" not in message.replace(b"\r\n", b"") and b"\n" not in message.replace(b"\r\n", b"")


@given(st.binary(max_size=200))
@settings(max_examples=300)
def test_parse_command_raises_only_parse_errors(line: bytes) -> None:
    try:
        wire.parse_command(line)
    except ParseError as err:
        assert 500 <= err.reply.code < 600
        assert b"\r" not in wire.encode(err.reply)[:-2] and b"\n" not in wire.encode(err.reply)[:-2]


@given(st.sampled_from(["MAIL FROM:", "RCPT TO:", "EHLO ", "BDAT ", "BURL ", "AUTH ", "VRFY "]), st.text(max_size=80))
@settings(max_examples=300)
def test_commands_with_any_argument_parse_or_are_refused(verb: str, argument: str) -> None:
    try:
        wire.parse_command((verb + argument).encode("utf-8", "surrogatepass") + b"\r\n")
    except ParseError as err:
        assert err.reply.code in (500, 501, 555)
    except UnicodeEncodeError:
        pass


def test_burl() -> None:
    url = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred:internal:91354a473744909de610943775f92038"
    assert wire.parse_command(f"BURL {url}\r\n".encode()) == wire.Burl(url, False)
    assert wire.parse_command(f"burl {url} last\r\n".encode()) == wire.Burl(url, True)
    for line in ("BURL", "BURL ", f"BURL {url} LAST more", f"BURL {url} FIRST", "BURL no-scheme", "BURL imap://a b",
                 f"BURL  {url}", "BURL imap://\u00e9"):
        with pytest.raises(ParseError) as caught:
            wire.parse_command(line.encode() + b"\r\n")
        assert caught.value.reply == wire.Reply(501, "5.5.4", "BURL <absolute URL> [LAST] expected"), line


@given(st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=80), st.booleans())
def test_burl_takes_any_absolute_uri(rest: str, last: bool) -> None:
    url = "imap:" + rest
    line = f"BURL {url}" + (" LAST" if last else "")
    try:
        assert wire.parse_command(line.encode()) == wire.Burl(url, last)
    except ParseError as err:
        assert any(ch in rest for ch in '"<>\\^`{|}'), rest  # not URI characters
        assert err.reply.code == 501


def test_normalize() -> None:
    # A bare LF ends a line; a bare CR is not a line end (a header split in two): it becomes a space.
    assert wire.normalize(b"a\nb\rc\r\n", unstuff=False) == (b"a\r\nb c\r\n", True)
    assert wire.normalize(b"Subject: x\r\r\nBcc: y\r\n", unstuff=False) == (b"Subject: x \r\nBcc: y\r\n", True)
    assert wire.normalize(b"a\r\n..b\r\n", unstuff=False) == (b"a\r\n..b\r\n", False)
    assert wire.normalize(b"a\r\n..b\r\n", unstuff=True) == (b"a\r\n.b\r\n", False)
    assert wire.normalize(b"..a\r\n", unstuff=True) == (b".a\r\n", False)
    # After a bare LF a dot is content, not stuffing; a lone dot stays.
    assert wire.normalize(b"a\n..b\n.\n", unstuff=True) == (b"a\r\n..b\r\n.\r\n", True)


def _reference_normalize(data: bytes, *, unstuff: bool) -> tuple[bytes, bool]:
    """normalize as it was, line by line in Python: what the C-speed version must equal."""
    crlf = data.count(b"\r\n")
    bare = not (data.count(b"\n") == crlf and data.count(b"\r") == crlf)
    data = re.sub(rb"\r(?!\n)", b" ", data)
    out: list[bytes] = []
    start = 0
    after_crlf = True
    for match in re.finditer(rb"\r\n|\n", data):
        line = data[start:match.start()]
        if unstuff and after_crlf and line.startswith(b".") and line != b".":
            line = line[1:]
        out.append(line)
        after_crlf = match.group() == b"\r\n"
        start = match.end()
    tail = data[start:]
    if unstuff and after_crlf and tail.startswith(b".") and tail != b".":
        tail = tail[1:]
    out.append(tail)
    return b"\r\n".join(out), bare


_data_parts = st.lists(st.sampled_from([b"a", b"b c", b".", b"..", b"\r", b"\n", b"\r\n", b"\r\n.", b"\n.\n",
                                        b"\r.\r"]), max_size=30).map(b"".join)


@given(_data_parts, st.booleans())
@settings(max_examples=1000)
def test_normalize_is_the_line_by_line_normalisation(data: bytes, unstuff: bool) -> None:
    """Dots, bare CRs and bare LFs anywhere: the same message and flag as the line-by-line version."""
    assert wire.normalize(data, unstuff=unstuff) == _reference_normalize(data, unstuff=unstuff)


@given(_data_parts, st.lists(st.integers(min_value=0, max_value=400), max_size=6))
@settings(max_examples=1000)
def test_data_normalised_as_it_comes_is_the_whole_normalised(data: bytes, cuts: list[int]) -> None:
    """The reader normalises the whole lines of each piece as it comes: cut anywhere, the message is what
    normalising the whole data at once gives."""
    stream = data + b"\r\n.\r\nAFTER"
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    reader, rest = read_all([p for p in pieces if p])
    end = (b"\r\n" + stream).find(b"\r\n.\r\n")
    assert reader.done and rest == stream[end + 3:]
    assert reader.message() == _reference_normalize(stream[:end], unstuff=True)


@given(_data_parts, st.lists(st.integers(min_value=0, max_value=400), max_size=6), st.booleans(),
       st.integers(min_value=1, max_value=8))
@settings(max_examples=1000)
def test_normaliser_fed_in_pieces_is_normalize_of_the_whole(data: bytes, cuts: list[int], unstuff: bool,
                                                          max_pending: int) -> None:
    """Cut anywhere, and with lines longer than what may wait (normalised mid-line, a final CR held back),
    the pieces normalised as they come make what normalising the whole at once makes."""
    points = sorted({min(c, len(data)) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    body = wire.Normaliser(unstuff=unstuff)
    body.MAX_PENDING = max_pending
    for piece in pieces:
        body.take(piece)
        assert body.pending_size <= max(max_pending, 1) or b"\n" not in b"".join(body.pending)
    body.finish()
    assert body.message() == wire.normalize(data, unstuff=unstuff)
    assert body.kept == len(body.message()[0])


@given(_data_parts, st.lists(st.integers(min_value=0, max_value=400), max_size=6),
       st.integers(min_value=1, max_value=8))
@settings(max_examples=500)
def test_dot_reader_with_long_lines_is_the_whole_normalised(data: bytes, cuts: list[int], max_pending: int) -> None:
    """DATA's reader with lines longer than what may wait: the same message, and the same end."""
    stream = data + b"\r\n.\r\nAFTER"
    points = sorted({min(c, len(stream)) for c in cuts})
    pieces = [stream[a:b] for a, b in zip([0, *points], [*points, len(stream)], strict=True)]
    reader = DotReader(1 << 20)
    reader._body.MAX_PENDING = max_pending
    reader, rest = read_all(pieces, reader=reader)
    end = (b"\r\n" + stream).find(b"\r\n.\r\n")
    assert reader.done and rest == stream[end + 3:]
    assert reader.message() == _reference_normalize(stream[:end], unstuff=True)


def test_stuffing_dots_do_not_count_against_the_limit() -> None:
    """RFC 1870: the limit is on the message; a client's stuffing dots are not part of it."""
    body = b".x\r\n" + b"." * 94 + b"\r\n"  # 100 octets once unstuffed, 102 as sent
    assert len(body) == 100
    stuffed = b"." + body.replace(b"\r\n.", b"\r\n..")
    reader, _ = read_all([stuffed + b".\r\n"], limit=100)
    assert not reader.too_big and reader.message() == (body, False)
    reader, _ = read_all([b"y" + stuffed + b".\r\n"], limit=100)
    assert reader.too_big
    # As the pieces come, too: nothing past the limit and its small margin is held.
    reader = DotReader(100)
    for _ in range(100):
        reader.feed(b"..x\r\n")
    assert reader.too_big and not reader._body.parts and not reader._body.pending
