"""IMAP response pieces: strings, mailbox names (modified UTF-7), sequence sets, ENVELOPE and
BODY/BODYSTRUCTURE, checked against the RFCs' examples and, for any input, read back by a small reader."""

from __future__ import annotations

import datetime
import re
import urllib.parse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.imap import responses, wire
from polyport.imap.responses import (
    astring,
    atom_or_string,
    body_structure,
    date_time,
    envelope,
    flags_list,
    literal,
    nstring,
    quoted_or_literal,
    sequence_set,
    utf7_decode,
    utf7_encode,
)
from polyport.mime.structure import Address, Disposition, Envelope, Param, Part

# -- a reader for response data (RFC 3501 section 9): lists, strings, literals, NIL, numbers, atoms ------

Value = list["Value"] | bytes | int | None


def read(data: bytes) -> Value:
    value, end = _read(data, 0)
    assert end == len(data), f"trailing bytes: {data[end:]!r}"
    return value


def _read(data: bytes, pos: int) -> tuple[Value, int]:
    head = data[pos:pos + 1]
    if head == b"(":
        items: list[Value] = []
        pos += 1
        while data[pos:pos + 1] != b")":
            assert pos < len(data), "unbalanced parentheses"
            if items and data[pos:pos + 1] == b" ":
                pos += 1
            item, pos = _read(data, pos)
            items.append(item)
        return items, pos + 1
    if head == b'"':
        out = bytearray()
        pos += 1
        while data[pos:pos + 1] != b'"':
            if data[pos:pos + 1] == b"\\":
                pos += 1
                assert data[pos:pos + 1] in (b'"', b"\\")
            assert data[pos:pos + 1] not in (b"", b"\r", b"\n")
            out += data[pos:pos + 1]
            pos += 1
        return bytes(out), pos + 1
    if head == b"{":
        match = re.compile(rb"\{([0-9]+)\}\r\n").match(data, pos)
        assert match is not None
        end = match.end() + int(match.group(1))
        assert end <= len(data)
        return data[match.end():end], end
    match = re.compile(rb"[^ ()]+").match(data, pos)
    assert match is not None, f"nothing readable at {data[pos:pos + 20]!r}"
    token = match.group()
    if token == b"NIL":
        return None, match.end()
    if token.isdigit():
        return int(token), match.end()
    return token, match.end()


# -- strings --------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "encoded"), [
    ("hello", b'"hello"'),
    ("", b'""'),
    ('say "hi"', b'"say \\"hi\\""'),
    ("back\\slash", b'"back\\\\slash"'),
    ("tab\there", b'"tab\there"'),
    ("two\r\nlines", b"{10}\r\ntwo\r\nlines"),
    ("Grüße", b"{7}\r\nGr\xc3\xbc\xc3\x9fe"),
    (b"\xff", b"{1}\r\n\xff"),
    (b"a\x00b", b"{3}\r\na\x00b"),
])
def test_quoted_or_literal(value: str | bytes, encoded: bytes) -> None:
    assert quoted_or_literal(value) == encoded


def test_utf8_mode_quotes_utf8() -> None:
    assert quoted_or_literal("Grüße", utf8=True) == '"Grüße"'.encode()
    assert quoted_or_literal(b"\xff\xfe", utf8=True) == b"{2}\r\n\xff\xfe"  # not UTF-8: a literal still
    assert quoted_or_literal("a\nb", utf8=True) == b"{3}\r\na\nb"


def test_nstring_atoms_and_literals() -> None:
    assert nstring(None) == b"NIL"
    assert nstring("NIL") == b'"NIL"'
    assert literal(b"abc") == b"{3}\r\nabc"
    assert atom_or_string("Subject") == b"Subject"
    assert atom_or_string("foo]bar") == b"foo]bar"
    assert atom_or_string("nil") == b'"nil"'
    assert atom_or_string("") == b'""'
    assert atom_or_string("a b") == b'"a b"'
    assert atom_or_string("50%") == b'"50%"'


def test_mailbox_names() -> None:
    assert astring("INBOX") == b"INBOX"
    assert astring("~peter/mail/台北/日本語") == b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"  # RFC 3501 section 5.1.3
    assert astring("Sent Items") == b'"Sent Items"'
    assert astring("Tom & Jerry") == b'"Tom &- Jerry"'
    assert astring("Entwürfe") == b"Entw&APw-rfe"
    assert astring("Entwürfe", utf8=True) == '"Entwürfe"'.encode()
    assert astring("Tom&Jerry", utf8=True) == b"Tom&Jerry"  # no modified UTF-7 once UTF-8 is on
    assert astring("Nil") == b'"Nil"'
    assert astring("a\"b") == b'"a\\"b"'
    assert astring("%") == b'"%"'


def test_flags_and_dates() -> None:
    assert flags_list(["\\Seen", "\\Answered", "$Forwarded"]) == b"(\\Seen \\Answered $Forwarded)"
    assert flags_list([]) == b"()"
    pdt = datetime.timezone(datetime.timedelta(hours=-7))
    assert date_time(datetime.datetime(1996, 7, 17, 2, 44, 25, tzinfo=pdt)) == b'"17-Jul-1996 02:44:25 -0700"'
    ist = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    assert date_time(datetime.datetime(2024, 1, 5, 23, 0, 9, tzinfo=ist)) == b'"05-Jan-2024 23:00:09 +0530"'
    assert date_time(datetime.datetime(2024, 1, 5)) == b'"05-Jan-2024 00:00:00 +0000"'


@given(st.datetimes(min_value=datetime.datetime(1000, 1, 1), max_value=datetime.datetime(9999, 12, 30),
                    timezones=st.sampled_from([datetime.UTC, datetime.timezone(datetime.timedelta(hours=-8)),
                                               datetime.timezone(datetime.timedelta(hours=13, minutes=45))]))
       .map(lambda moment: moment.replace(microsecond=0)))
def test_date_time_reads_back_through_append(moment: datetime.datetime) -> None:
    command = wire.parse_command(b"a APPEND INBOX " + date_time(moment) + b" {1}\r\nx\r\n")
    assert isinstance(command, wire.Append)
    assert command.messages[0].internal_date == moment


# -- modified UTF-7 (RFC 3501 section 5.1.3) -------------------------------------------------------------

@pytest.mark.parametrize(("text", "encoded"), [
    ("INBOX", b"INBOX"),
    ("&", b"&-"),
    ("台北", b"&U,BTFw-"),
    ("日本語", b"&ZeVnLIqe-"),
    ("~peter/mail/台北/日本語", b"~peter/mail/&U,BTFw-/&ZeVnLIqe-"),
    ("é&", b"&AOk-&-"),
    ("\U0001f400", b"&2D3cAA-"),  # a surrogate pair
    ("tab\there", b"tab&AAk-here"),  # controls are encoded
    ("", b""),
])
def test_utf7_examples(text: str, encoded: bytes) -> None:
    assert utf7_encode(text) == encoded
    assert utf7_decode(encoded) == text


@pytest.mark.parametrize("encoded", [
    b"&", b"a&b", b"&AGE-",  # "a" must not be encoded
    b"&U,BTFw-&ZeVnLIqe-",  # a null shift "-&" between two encoded runs
    b"&U,BTFw", b"&2D0-", b"&3AA-",  # unterminated; lone surrogates
    b"&AOQ=-", b"&AO-", b"&AOR-",  # padding, odd length, nonzero pad bits
    b"&*-", b"a\tb", b"\xc3\xa9", b"a\x00",
])
def test_utf7_invalid(encoded: bytes) -> None:
    with pytest.raises(ValueError):
        utf7_decode(encoded)


@settings(max_examples=1000)
@given(st.text(st.characters(exclude_categories=["Cs"])))
def test_utf7_round_trips_any_text(text: str) -> None:
    encoded = utf7_encode(text)
    assert re.fullmatch(rb"[\x20-\x7e]*", encoded)
    assert utf7_decode(encoded) == text


@settings(max_examples=1000)
@given(st.binary(max_size=30) | st.text("&-AZaz09+,/ ", max_size=20).map(str.encode))
def test_utf7_accepts_only_canonical_forms(data: bytes) -> None:
    try:
        text = utf7_decode(data)
    except ValueError:
        return
    assert utf7_encode(text) == data


def test_utf7_encode_refuses_lone_surrogates() -> None:
    with pytest.raises(UnicodeEncodeError):
        utf7_encode("\ud800")


# -- sequence sets ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("numbers", "encoded"), [
    ([1], b"1"),
    ([3, 1, 2], b"1:3"),
    ([1, 2, 3, 5, 7, 8, 10], b"1:3,5,7:8,10"),
    ([4294967295, 4294967294, 1], b"1,4294967294:4294967295"),
    ([5, 5, 5], b"5"),
    (range(1, 100_001), b"1:100000"),
])
def test_sequence_set_compression(numbers: list[int], encoded: bytes) -> None:
    assert sequence_set(numbers) == encoded


def test_sequence_set_refusals() -> None:
    with pytest.raises(ValueError, match="at least one"):
        sequence_set([])
    with pytest.raises(ValueError, match="start at 1"):
        sequence_set([0, 1])


@given(st.sets(st.integers(1, 300), min_size=1, max_size=80))
def test_sequence_set_round_trips(numbers: set[int]) -> None:
    encoded = sequence_set(numbers)
    assert set(wire.parse_sequence_set(encoded).numbers(300)) == numbers
    assert sequence_set(wire.parse_sequence_set(encoded).numbers(300)) == encoded  # already minimal


# -- ENVELOPE --------------------------------------------------------------------------------------------

GRAY = Address("Terry Gray", None, "gray", "cac.washington.edu")
RFC3501_ENVELOPE = Envelope(
    date="Wed, 17 Jul 1996 02:23:25 -0700 (PDT)",
    subject="IMAP4rev1 WG mtg summary and minutes",
    from_=[GRAY],
    to=[Address(None, None, "imap", "cac.washington.edu")],
    cc=[Address(None, None, "minutes", "CNRI.Reston.VA.US"), Address("John Klensin", None, "KLENSIN", "MIT.EDU")],
    message_id="<B27397-0100000@cac.washington.edu>",
)


def test_envelope_rfc3501_example() -> None:
    # RFC 3501 section 8's FETCH example; Sender and Reply-To default to From (section 7.4.2).
    assert envelope(RFC3501_ENVELOPE) == (
        b'("Wed, 17 Jul 1996 02:23:25 -0700 (PDT)" "IMAP4rev1 WG mtg summary and minutes" '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) (("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'(("Terry Gray" NIL "gray" "cac.washington.edu")) ((NIL NIL "imap" "cac.washington.edu")) '
        b'((NIL NIL "minutes" "CNRI.Reston.VA.US")("John Klensin" NIL "KLENSIN" "MIT.EDU")) NIL NIL '
        b'"<B27397-0100000@cac.washington.edu>")')


def test_envelope_details() -> None:
    assert envelope(Envelope()) == b"(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)"
    sender = Address(None, None, "list-bounces", "example.org")
    group = [Address(None, None, "undisclosed-recipients", None), Address(None, None, None, None)]
    env = Envelope(subject="Grüße", from_=[GRAY], sender=[sender], reply_to=[], to=group,
                   in_reply_to="<a@b>")
    assert envelope(env) == (
        b'(NIL {7}\r\nGr\xc3\xbc\xc3\x9fe (("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'((NIL NIL "list-bounces" "example.org")) (("Terry Gray" NIL "gray" "cac.washington.edu")) '
        b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL "<a@b>" NIL)')
    assert envelope(env, utf8=True).startswith('(NIL "Grüße" '.encode())


# -- BODY and BODYSTRUCTURE ---------------------------------------------------------------------------------

def part(type_: str, subtype: str, size: int, params: list[Param] | None = None, **fields: object) -> Part:
    return Part(type_, subtype, params or [], header_start=0, body_start=100, body_end=100 + size,
                **fields)  # type: ignore[arg-type]


RFC3501_MULTIPART = part("multipart", "mixed", 6000, [Param("BOUNDARY", "----=_x")], parts=[
    part("text", "plain", 1152, [Param("CHARSET", "US-ASCII")], lines=23),
    part("text", "plain", 4554, [Param("CHARSET", "US-ASCII"), Param("NAME", "cc.diff")],
         id="<960723163407.20117h@cac.washington.edu>", description="Compiler diff", encoding="base64", lines=73),
])


def test_body_rfc3501_examples() -> None:
    # RFC 3501 section 7.4.2 (BODYSTRUCTURE without extension data is the BODY form)
    assert body_structure(RFC3501_MULTIPART, False) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23)("TEXT" "PLAIN" ("CHARSET" "US-ASCII" '
        b'"NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" "Compiler diff" "BASE64" 4554 73) "MIXED")')
    # RFC 3501 section 8's FETCH example
    assert body_structure(part("text", "plain", 3028, [Param("CHARSET", "US-ASCII")], lines=92), False) == \
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3028 92)'


def test_bodystructure_extension_data() -> None:
    assert body_structure(RFC3501_MULTIPART, True) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 1152 23 NIL NIL NIL NIL)'
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII" "NAME" "cc.diff") "<960723163407.20117h@cac.washington.edu>" '
        b'"Compiler diff" "BASE64" 4554 73 NIL NIL NIL NIL) "MIXED" ("BOUNDARY" "----=_x") NIL NIL NIL)')
    attachment = part("application", "pdf", 5000, [Param("name", "Report 2024.pdf")], encoding="base64",
                      md5="Q2hlY2sgSW50ZWdyaXR5IQ==", language=["en", "de"], location="http://example.com/r.pdf",
                      disposition=Disposition("attachment", [Param("filename", "Report 2024.pdf"),
                                                             Param("size", "5000")]))
    assert body_structure(attachment, True) == (
        b'("APPLICATION" "PDF" ("name" "Report 2024.pdf") NIL NIL "BASE64" 5000 "Q2hlY2sgSW50ZWdyaXR5IQ==" '
        b'("attachment" ("filename" "Report 2024.pdf" "size" "5000")) ("en" "de") "http://example.com/r.pdf")')
    assert body_structure(attachment, False) == \
        b'("APPLICATION" "PDF" ("name" "Report 2024.pdf") NIL NIL "BASE64" 5000)'
    inline = part("text", "html", 10, disposition=Disposition("inline", []), language=["fr"])
    assert body_structure(inline, True) == b'("TEXT" "HTML" NIL NIL NIL "7BIT" 10 0 NIL ("inline" NIL) "fr" NIL)'


def test_bodystructure_message_rfc822() -> None:
    inner = part("multipart", "alternative", 900, [Param("boundary", "b2")], parts=[
        part("text", "plain", 300, [Param("charset", "utf-8")], encoding="quoted-printable", lines=10),
        part("text", "html", 500, [Param("charset", "utf-8")], lines=20),
    ])
    forwarded = part("message", "rfc822", 1200, envelope=Envelope(subject="Fwd", from_=[GRAY]),
                     parts=[inner], lines=40, disposition=Disposition("attachment", []))
    outer = part("multipart", "mixed", 2000, [Param("boundary", "b1")],
                 parts=[part("text", "plain", 5, lines=1), forwarded])
    gray = b'(("Terry Gray" NIL "gray" "cac.washington.edu"))'
    env = b'(NIL "Fwd" ' + gray + b" " + gray + b" " + gray + b" NIL NIL NIL NIL NIL)"
    assert body_structure(outer, False) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 5 1)("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 1200 '
        + env +
        b' (("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 300 10)'
        b'("TEXT" "HTML" ("charset" "utf-8") NIL NIL "7BIT" 500 20) "ALTERNATIVE") 40) "MIXED")')
    assert body_structure(outer, True) == (
        b'(("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 5 1 NIL NIL NIL NIL)'
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 1200 ' + env +
        b' (("TEXT" "PLAIN" ("charset" "utf-8") NIL NIL "QUOTED-PRINTABLE" 300 10 NIL NIL NIL NIL)'
        b'("TEXT" "HTML" ("charset" "utf-8") NIL NIL "7BIT" 500 20 NIL NIL NIL NIL) "ALTERNATIVE" '
        b'("boundary" "b2") NIL NIL NIL) 40 NIL ("attachment" NIL) NIL NIL) "MIXED" ("boundary" "b1") NIL NIL NIL)')


def test_bodystructure_degenerate_structures_stay_grammatical() -> None:
    empty_text = b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 0 0)'
    assert body_structure(part("multipart", "mixed", 0), False) == b"(" + empty_text + b' "MIXED")'
    assert body_structure(part("message", "rfc822", 0), False) == (
        b'("MESSAGE" "RFC822" NIL NIL NIL "7BIT" 0 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) ' + empty_text + b" 0)")
    assert body_structure(part("message", "global", 3, lines=1, envelope=Envelope(),
                               parts=[part("text", "plain", 3, lines=1)]), False) == (
        b'("MESSAGE" "GLOBAL" NIL NIL NIL "7BIT" 3 (NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL) '
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 3 1) 1)')
    # message/partial and other message subtypes are basic bodies: no envelope
    assert body_structure(part("message", "delivery-status", 7), False) == \
        b'("MESSAGE" "DELIVERY-STATUS" NIL NIL NIL "7BIT" 7)'


def test_bodystructure_non_ascii_parameters() -> None:
    """Values kept decoded from RFC 2231 go back out RFC 2231-encoded unless UTF8=ACCEPT is on."""
    attachment = part("application", "octet-stream", 1, [Param("name", "Ärger 100%.txt")],
                      disposition=Disposition("attachment", [Param("filename", "naïve.bin")]))
    assert body_structure(attachment, True) == (
        b'("APPLICATION" "OCTET-STREAM" ("name*" "utf-8\'\'%C3%84rger%20100%25.txt") NIL NIL "7BIT" 1 NIL '
        b'("attachment" ("filename*" "utf-8\'\'na%C3%AFve.bin")) NIL NIL)')
    assert body_structure(attachment, False, utf8=True) == \
        '("APPLICATION" "OCTET-STREAM" ("name" "Ärger 100%.txt") NIL NIL "7BIT" 1)'.encode()


def test_text_plain_without_charset_is_us_ascii() -> None:
    """RFC 2045 5.2, RFC 2046 4.1.2: text/plain without a charset is US-ASCII; say so, as Dovecot does."""
    assert body_structure(part("text", "plain", 2, lines=1), False) == \
        b'("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" 2 1)'
    assert body_structure(part("text", "plain", 2, [Param("format", "flowed")], lines=1), False) == \
        b'("TEXT" "PLAIN" ("format" "flowed" "CHARSET" "US-ASCII") NIL NIL "7BIT" 2 1)'
    assert body_structure(part("text", "plain", 2, [Param("Charset", "utf-8")], lines=1), False) == \
        b'("TEXT" "PLAIN" ("Charset" "utf-8") NIL NIL "7BIT" 2 1)'
    assert body_structure(part("text", "html", 2, lines=1), False) == b'("TEXT" "HTML" NIL NIL NIL "7BIT" 2 1)'


# Any structure comes out as well-formed response data with the right fields in the right places.

values = st.text(st.characters(exclude_categories=["Cs"]), max_size=12)
params = st.lists(st.builds(Param, values, values), max_size=3)
optional = st.none() | values
dispositions = st.none() | st.builds(Disposition, st.sampled_from(["attachment", "inline"]), params)
languages = st.none() | st.lists(st.sampled_from(["en", "de", "fr-CA"]), max_size=3)
addresses = st.none() | st.lists(st.builds(Address, optional, st.none(), optional, optional), max_size=3)
envelopes = st.builds(Envelope, date=optional, subject=optional, from_=addresses, to=addresses, cc=addresses,
                      message_id=optional)


@st.composite
def leaves(draw: st.DrawFn) -> Part:
    type_, subtype = draw(st.sampled_from([("text", "plain"), ("text", "html"), ("image", "png"),
                                           ("application", "pdf"), ("message", "delivery-status")]))
    start = draw(st.integers(0, 1000))
    return Part(type_, subtype, draw(params), 0, start, start + draw(st.integers(0, 10_000)),
                id=draw(optional), description=draw(optional),
                encoding=draw(st.sampled_from(["7bit", "8bit", "base64", "quoted-printable", "x-uuencode"])),
                lines=draw(st.none() | st.integers(0, 500)) if type_ == "text" else None,
                md5=draw(optional), disposition=draw(dispositions), language=draw(languages),
                location=draw(optional))


def containers(children: st.SearchStrategy[Part]) -> st.SearchStrategy[Part]:
    multipart = st.builds(lambda kids, subtype, ps, d: Part("multipart", subtype, ps, 0, 0, 100, parts=kids,
                                                             disposition=d),
                          st.lists(children, min_size=1, max_size=3), st.sampled_from(["mixed", "related"]),
                          params, dispositions)
    message = st.builds(lambda kid, env, lines: Part("message", "rfc822", [], 0, 0, 100, parts=[kid],
                                                     envelope=env, lines=lines),
                        children, envelopes, st.integers(0, 99))
    return multipart | message


parts = st.recursive(leaves(), containers, max_leaves=8)


def check_string(node: Value, value: str | None) -> None:
    assert node == (None if value is None else value.encode())


def check_params(node: Value, expected: list[Param], utf8: bool) -> None:
    if not expected:
        assert node is None
        return
    assert isinstance(node, list) and len(node) == 2 * len(expected)
    for param, name, value in zip(expected, node[::2], node[1::2], strict=True):
        if utf8 or param.value.isascii():
            assert (name, value) == (param.name.encode(), param.value.encode())
        else:  # RFC 2231: name*=utf-8''%XX...
            assert name == param.name.encode() + b"*" and isinstance(value, bytes)
            assert urllib.parse.unquote(value.decode().removeprefix("utf-8''")) == param.value


def leaf_params(p: Part) -> list[Param]:
    if (p.type, p.subtype) == ("text", "plain") and not any(x.name.lower() == "charset" for x in p.params):
        return [*p.params, Param("CHARSET", "US-ASCII")]
    return p.params


def check_extension(node: list[Value], p: Part, utf8: bool) -> None:
    if p.disposition is None:
        assert node[0] is None
    else:
        assert isinstance(node[0], list)
        check_string(node[0][0], p.disposition.type)
        check_params(node[0][1], p.disposition.params, utf8)
    if not p.language:
        assert node[1] is None
    elif len(p.language) == 1:
        check_string(node[1], p.language[0])
    else:
        assert node[1] == [tag.encode() for tag in p.language]
    check_string(node[2], p.location)
    assert len(node) == 3


def check_envelope(node: Value, env: Envelope) -> None:
    assert isinstance(node, list) and len(node) == 10
    check_string(node[0], env.date)
    check_string(node[1], env.subject)
    for index, addresses in ((2, env.from_), (3, env.sender or env.from_), (4, env.reply_to or env.from_),
                             (5, env.to), (6, env.cc), (7, env.bcc)):
        if not addresses:
            assert node[index] is None
        else:
            assert node[index] == [[None if f is None else f.encode() for f in (a.name, a.adl, a.mailbox, a.host)]
                                   for a in addresses]
    check_string(node[9], env.message_id)


def check_body(node: Value, p: Part, extensible: bool, utf8: bool) -> None:
    assert isinstance(node, list)
    if p.type == "multipart":
        assert len(p.parts) >= 1
        for child_node, child in zip(node, p.parts, strict=False):
            check_body(child_node, child, extensible, utf8)
        rest = node[len(p.parts):]
        check_string(rest[0], p.subtype.upper())
        if extensible:
            check_params(rest[1], p.params, utf8)
            check_extension(rest[2:], p, utf8)
        else:
            assert len(rest) == 1
        return
    check_string(node[0], p.type.upper())
    check_string(node[1], p.subtype.upper())
    check_params(node[2], leaf_params(p), utf8)
    check_string(node[3], p.id)
    check_string(node[4], p.description)
    check_string(node[5], p.encoding.upper())
    assert node[6] == p.size
    index = 7
    if (p.type, p.subtype) == ("message", "rfc822"):
        assert p.envelope is not None
        check_envelope(node[7], p.envelope)
        check_body(node[8], p.parts[0], extensible, utf8)
        assert node[9] == (p.lines or 0)
        index = 10
    elif p.type == "text":
        assert node[7] == (p.lines or 0)
        index = 8
    rest = node[index:]
    if extensible:
        check_string(rest[0], p.md5)
        check_extension(rest[1:], p, utf8)
    else:
        assert rest == []


@settings(max_examples=300)
@given(parts, st.booleans(), st.booleans())
def test_any_structure_reads_back(p: Part, extensible: bool, utf8: bool) -> None:
    check_body(read(body_structure(p, extensible, utf8=utf8)), p, extensible, utf8)


@settings(max_examples=300)
@given(envelopes, st.booleans())
def test_any_envelope_reads_back(env: Envelope, utf8: bool) -> None:
    check_envelope(read(envelope(env, utf8=utf8)), env)


def test_helpers_are_exported() -> None:
    assert responses.NIL == b"NIL"
