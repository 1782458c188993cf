"""FETCH conformance (issue 13): what an IMAP test suite run against us and Dovecot found wrong.

- Part numbers through message/rfc822 (RFC 3501/9051 6.4.5): the RFC's own example of a complex message,
  a message that is itself message/rfc822, rfc822 inside rfc822, and a digest inside rfc822; BODYSTRUCTURE
  numbered the same way as BODY[...], BINARY[...] and BINARY.SIZE[...].
- BINARY (RFC 3516): quoted-printable and base64 undone, BINARY.SIZE the decoded size; NUL never sent in
  a plain literal (RFC 9051 4.3: it goes as 0x80 there), also from a large message sent in pieces.
- Addresses in group syntax: ENVELOPE's group markers, SEARCH on the members' addresses and names and on
  the group's name.
"""

from __future__ import annotations

import re

from polyport.imap import fetch
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import deliver, logged_in

# -- reading BODYSTRUCTURE ----------------------------------------------------------------------------------

Value = bytes | int | None | list["Value"]

_TOKEN = re.compile(rb'\s*(?:(\()|(\))|"((?:[^"\\]|\\.)*)"|\{(\d+)\}\r\n|(NIL)|(\d+)(?=[\s()])|([^\s()"]+))', re.DOTALL)


def parse_list(data: bytes) -> Value:
    """One parenthesized IMAP value (strings, numbers, NIL, literals inlined as Wire reads them)."""
    stack: list[list[Value]] = [[]]
    position = 0
    while position < len(data):
        match = _TOKEN.match(data, position)
        assert match is not None, data[position:]
        position = match.end()
        opened, closed, quoted, literal, nil, number, atom = match.groups()
        if opened:
            stack.append([])
            continue
        if closed:
            done = stack.pop()
            stack[-1].append(done)
            if len(stack) == 1:
                break
            continue
        value: Value
        if quoted is not None:
            value = re.sub(rb"\\(.)", rb"\1", quoted)
        elif literal is not None:
            size = int(literal)
            value = data[position:position + size]
            position += size
        elif nil:
            value = None
        elif number:
            value = int(number)
        else:
            value = atom
        stack[-1].append(value)
    return stack[0][0]


def numbered(body: Value, prefix: str = "") -> dict[str, tuple[str, int | None]]:
    """Each part of a BODYSTRUCTURE by its part number (RFC 3501 6.4.5): "TYPE/SUBTYPE" and its size
    (None for a multipart)."""
    assert isinstance(body, list)
    if not isinstance(body[0], list):  # a message that is not multipart: its body is part 1
        return _entry(body, f"{prefix}1")
    parts: dict[str, tuple[str, int | None]] = {}
    for index, child in enumerate(_children(body)):
        parts.update(_entry(child, f"{prefix}{index + 1}"))
    return parts


def _children(body: list[Value]) -> list[Value]:
    """A multipart's children: the bodies before its subtype (extension data may follow it)."""
    count = next(index for index, item in enumerate(body) if not isinstance(item, list))
    return body[:count]


def _entry(body: Value, number: str) -> dict[str, tuple[str, int | None]]:
    assert isinstance(body, list)
    if isinstance(body[0], list):
        subtype = body[len(_children(body))]
        assert isinstance(subtype, bytes)
        return {number: ("MULTIPART/" + subtype.decode(), None), **numbered(body, number + ".")}
    kind, subtype, size = body[0], body[1], body[6]
    assert isinstance(kind, bytes) and isinstance(subtype, bytes) and isinstance(size, int)
    parts: dict[str, tuple[str, int | None]] = {number: (f"{kind.decode()}/{subtype.decode()}", size)}
    if parts[number][0] in ("MESSAGE/RFC822", "MESSAGE/GLOBAL"):
        # body-type-msg: ... envelope SP body SP body-fld-lines; the embedded message's parts are n.1, n.2...
        parts.update(numbered(body[8], number + "."))
    return parts


def fetch_value(w: Wire, number: int, item: str) -> bytes | None:
    """The value of the one data item `FETCH number item` answers (None for NIL)."""
    (line,) = w.ok(f"FETCH {number} {item}")
    match = re.fullmatch(rb"\* %d FETCH \([^\[{]*\[[^\]]*\](?:<\d+>)? (?:NIL|~?\{(\d+)\}\r\n(.*))\)" % number, line,
                         re.DOTALL)
    assert match is not None, line
    if match.group(1) is None:
        return None
    assert len(match.group(2)) == int(match.group(1)), line
    return match.group(2)


def bodystructure(w: Wire, number: int, item: str = "BODYSTRUCTURE") -> Value:
    (line,) = w.ok(f"FETCH {number} {item}")
    prefix = b"* %d FETCH (%s " % (number, item.encode())
    assert line.startswith(prefix), line
    return parse_list(line[len(prefix):-1])


def between(data: bytes, start: bytes, end: bytes) -> bytes:
    """The bytes of `data` from just after `start` up to (without) the next `end`."""
    begin = data.index(start) + len(start)
    return data[begin:data.index(end, begin)]


def after(data: bytes, start: bytes) -> bytes:
    return data[data.index(start) + len(start):]


# -- 1. part numbers through message/rfc822 ------------------------------------------------------------------

# The structure of RFC 3501 section 6.4.5's example, part for part:
#   HEADER, TEXT (of the MULTIPART/MIXED message); 1 TEXT/PLAIN; 2 APPLICATION/OCTET-STREAM; 3 MESSAGE/RFC822;
#   3.HEADER, 3.TEXT (MULTIPART/MIXED); 3.1 TEXT/PLAIN; 3.2 APPLICATION/OCTET-STREAM; 4 MULTIPART/MIXED;
#   4.1 IMAGE/GIF; 4.1.MIME; 4.2 MESSAGE/RFC822; 4.2.HEADER, 4.2.TEXT (MULTIPART/MIXED); 4.2.1 TEXT/PLAIN;
#   4.2.2 MULTIPART/ALTERNATIVE; 4.2.2.1 TEXT/PLAIN; 4.2.2.2 TEXT/RICHTEXT.
RFC3501_EXAMPLE = (
    b"From: Fred Foobar <foobar@example.org>\r\n"
    b"To: mooch@example.com\r\n"
    b"Subject: the example of RFC 3501 6.4.5\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b1"\r\n'
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"part 1 text\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"cGFydCAy\r\n"
    b"--b1\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: Ann <ann@example.org>\r\n"
    b"Subject: part 3\r\n"
    b'Content-Type: multipart/mixed; boundary="b3"\r\n'
    b"\r\n"
    b"--b3\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"part 3.1 text\r\n"
    b"--b3\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"cGFydCAzLjI=\r\n"
    b"--b3--\r\n"
    b"--b1\r\n"
    b'Content-Type: multipart/mixed; boundary="b4"\r\n'
    b"\r\n"
    b"--b4\r\n"
    b"Content-Type: image/gif\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"R0lGODlhAQABAAAAACw=\r\n"
    b"--b4\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: Bea <bea@example.org>\r\n"
    b"Subject: part 4.2\r\n"
    b'Content-Type: multipart/mixed; boundary="b42"\r\n'
    b"\r\n"
    b"--b42\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"part 4.2.1 text\r\n"
    b"--b42\r\n"
    b'Content-Type: multipart/alternative; boundary="b422"\r\n'
    b"\r\n"
    b"--b422\r\n"
    b"Content-Type: text/plain\r\n"
    b"\r\n"
    b"part 4.2.2.1 text\r\n"
    b"--b422\r\n"
    b"Content-Type: text/richtext\r\n"
    b"\r\n"
    b"part 4.2.2.2 <bold>text</bold>\r\n"
    b"--b422--\r\n"
    b"--b42--\r\n"
    b"--b4--\r\n"
    b"--b1--\r\n"
)


def test_the_part_numbers_of_rfc3501_example(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, RFC3501_EXAMPLE)
    w.ok("SELECT INBOX")
    m = RFC3501_EXAMPLE
    part3 = between(m, b"Content-Type: message/rfc822\r\n\r\n", b"\r\n--b1\r\n")
    part4 = between(m, b'boundary="b4"\r\n\r\n--b4\r\n', b"\r\n--b1--")
    part4 = b"--b4\r\n" + part4
    part42 = between(m, b"--b4\r\nContent-Type: message/rfc822\r\n\r\n", b"\r\n--b4--")
    part422 = between(m, b'--b42\r\nContent-Type: multipart/alternative; boundary="b422"\r\n\r\n', b"\r\n--b42--")
    expected = {
        "HEADER": m[:m.index(b"\r\n\r\n") + 4],
        "TEXT": after(m, b'boundary="b1"\r\n\r\n'),
        "1": b"part 1 text",
        "2": b"cGFydCAy",
        "3": part3,
        "3.HEADER": part3[:part3.index(b"\r\n\r\n") + 4],
        "3.TEXT": after(part3, b'boundary="b3"\r\n\r\n'),
        "3.1": b"part 3.1 text",
        "3.2": b"cGFydCAzLjI=",
        "4": part4,
        "4.1": b"R0lGODlhAQABAAAAACw=",
        "4.1.MIME": b"Content-Type: image/gif\r\nContent-Transfer-Encoding: base64\r\n\r\n",
        "4.2": part42,
        "4.2.HEADER": part42[:part42.index(b"\r\n\r\n") + 4],
        "4.2.TEXT": after(part42, b'boundary="b42"\r\n\r\n'),
        "4.2.1": b"part 4.2.1 text",
        "4.2.2": part422,
        "4.2.2.1": b"part 4.2.2.1 text",
        "4.2.2.2": b"part 4.2.2.2 <bold>text</bold>",
        "4.2.2.2.MIME": b"Content-Type: text/richtext\r\n\r\n",
    }
    for section, data in expected.items():
        assert fetch_value(w, 1, f"BODY.PEEK[{section}]") == data, section
    # BODYSTRUCTURE numbers the parts the same way, and each part's size is its BODY[n]'s length.
    parts = numbered(bodystructure(w, 1))
    assert {n: kind for n, (kind, _) in parts.items()} == {
        "1": "TEXT/PLAIN", "2": "APPLICATION/OCTET-STREAM", "3": "MESSAGE/RFC822", "3.1": "TEXT/PLAIN",
        "3.2": "APPLICATION/OCTET-STREAM", "4": "MULTIPART/MIXED", "4.1": "IMAGE/GIF", "4.2": "MESSAGE/RFC822",
        "4.2.1": "TEXT/PLAIN", "4.2.2": "MULTIPART/ALTERNATIVE", "4.2.2.1": "TEXT/PLAIN",
        "4.2.2.2": "TEXT/RICHTEXT"}
    for number, (_, size) in parts.items():
        if size is not None:
            assert size == len(expected[number]), number
    assert numbered(bodystructure(w, 1, "BODY")) == parts
    # BINARY uses the same numbers: base64 parts decoded, the others as they are.
    assert fetch_value(w, 1, "BINARY.PEEK[3.2]") == b"part 3.2"
    assert fetch_value(w, 1, "BINARY.PEEK[4.2.2.1]") == b"part 4.2.2.1 text"
    assert w.ok("FETCH 1 (BINARY.SIZE[2] BINARY.SIZE[3] BINARY.SIZE[4.2.1])") == [
        b"* 1 FETCH (BINARY.SIZE[2] 6 BINARY.SIZE[3] %d BINARY.SIZE[4.2.1] 15)" % len(part3)]
    w.close()


# A message that is itself message/rfc822 (a forward sent as the whole body), holding a multipart.
TOP_RFC822 = (
    b"From: Fred <fred@example.org>\r\n"
    b"Subject: forwarded\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"From: Ann <ann@example.org>\r\n"
    b"To: bob@example.com\r\n"
    b"Subject: the original\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="in"\r\n'
    b"\r\n"
    b"--in\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    b"caf=3D ol=\r\n"
    b"d\r\n"
    b"--in\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"--in--\r\n"
)


def test_a_message_that_is_message_rfc822(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, TOP_RFC822)
    w.ok("SELECT INBOX")
    m = TOP_RFC822
    embedded = after(m, b"Content-Type: message/rfc822\r\n\r\n")
    embedded_header = embedded[:embedded.index(b"\r\n\r\n") + 4]
    cases = {
        "1": embedded,  # the rfc822 part's number: the whole embedded message
        "1.HEADER": embedded_header,
        "1.HEADER.FIELDS (Subject To)": b"To: bob@example.com\r\nSubject: the original\r\n\r\n",
        "1.HEADER.FIELDS.NOT (From To MIME-Version Content-Type)": b"Subject: the original\r\n\r\n",
        "1.TEXT": after(embedded, b'boundary="in"\r\n\r\n'),
        "1.1": b"caf=3D ol=\r\nd",  # the first part of the embedded message's body
        "1.1.MIME": (b"Content-Type: text/plain; charset=us-ascii\r\n"
                     b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"),
        "1.2": b"AAEC",
        "1.MIME": m[:m.index(b"\r\n\r\n") + 4],  # part 1 of a non-multipart message: the message's header
        "TEXT": embedded,
        "2": None,
        "1.3": None,
        "1.1.1": None,  # a text part has no parts inside
    }
    for section, data in cases.items():
        assert fetch_value(w, 1, f"BODY.PEEK[{section}]") == data, section
    parts = numbered(bodystructure(w, 1))
    assert parts == {"1": ("MESSAGE/RFC822", len(embedded)), "1.1": ("TEXT/PLAIN", len(b"caf=3D ol=\r\nd")),
                     "1.2": ("APPLICATION/OCTET-STREAM", 4)}
    (line,) = w.ok("FETCH 1 BODYSTRUCTURE")
    # The rfc822 part carries the embedded message's envelope and its line count.
    assert b'"MESSAGE" "RFC822" NIL NIL NIL "7BIT" %d (NIL "the original" ((' % len(embedded) in line
    assert line.endswith(b' "MIXED" ("boundary" "in") NIL NIL NIL) %d NIL NIL NIL NIL))'
                         % embedded.count(b"\r\n"))
    assert w.ok("FETCH 1 (BINARY.PEEK[1.1] BINARY.SIZE[1.1] BINARY.SIZE[1.2] BINARY.SIZE[1])") == [
        b"* 1 FETCH (BINARY[1.1] {8}\r\ncaf= old BINARY.SIZE[1.1] 8 BINARY.SIZE[1.2] 3 BINARY.SIZE[1] %d)"
        % len(embedded)]
    assert fetch_value(w, 1, "BINARY.PEEK[1]") == embedded
    w.close()


# rfc822 inside rfc822 inside a multipart, and a digest (whose parts are message/rfc822 by default)
# inside an rfc822 that is the whole message.
NESTED_RFC822 = (
    b"Subject: outer\r\n"
    b'Content-Type: multipart/mixed; boundary="o"\r\n'
    b"\r\n"
    b"--o\r\n"
    b"\r\n"
    b"cover note\r\n"
    b"--o\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: middle\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: inner\r\n"
    b"\r\n"
    b"inner text\r\n"
    b"--o--\r\n"
)
DIGEST_IN_RFC822 = (
    b"Subject: outer\r\n"
    b"Content-Type: message/rfc822\r\n"
    b"\r\n"
    b"Subject: the digest\r\n"
    b'Content-Type: multipart/digest; boundary="d"\r\n'
    b"\r\n"
    b"--d\r\n"
    b"\r\n"
    b"Subject: one\r\n"
    b"\r\n"
    b"first\r\n"
    b"--d\r\n"
    b"\r\n"
    b"Subject: two\r\n"
    b'Content-Type: multipart/alternative; boundary="a"\r\n'
    b"\r\n"
    b"--a\r\n"
    b"\r\n"
    b"second plain\r\n"
    b"--a\r\n"
    b"Content-Type: text/html\r\n"
    b"\r\n"
    b"<p>second</p>\r\n"
    b"--a--\r\n"
    b"--d--\r\n"
)


def test_nested_rfc822_and_a_digest_inside_rfc822(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, NESTED_RFC822)
    deliver(imap_node, address, DIGEST_IN_RFC822)
    w.ok("SELECT INBOX")
    middle = between(NESTED_RFC822, b"Content-Type: message/rfc822\r\n\r\n", b"\r\n--o--")
    inner = after(middle, b"Content-Type: message/rfc822\r\n\r\n")
    nested = {
        "1": b"cover note",
        "2": middle,
        "2.HEADER": b"Subject: middle\r\nContent-Type: message/rfc822\r\n\r\n",
        "2.TEXT": inner,
        "2.1": inner,  # the middle message is not multipart: 2.1 is its body, the inner message
        "2.1.HEADER": b"Subject: inner\r\n\r\n",
        "2.1.TEXT": b"inner text",  # the line break before "--o--" belongs to the delimiter
        "2.1.1": b"inner text",
        "2.1.1.1": None,
    }
    for section, data in nested.items():
        assert fetch_value(w, 1, f"BODY.PEEK[{section}]") == data, section
    assert numbered(bodystructure(w, 1)) == {
        "1": ("TEXT/PLAIN", 10), "2": ("MESSAGE/RFC822", len(middle)), "2.1": ("MESSAGE/RFC822", len(inner)),
        "2.1.1": ("TEXT/PLAIN", 10)}

    digest = after(DIGEST_IN_RFC822, b"Content-Type: message/rfc822\r\n\r\n")
    second = between(digest, b"--d\r\n\r\nSubject: two", b"\r\n--d--")
    second = b"Subject: two" + second
    digested = {
        "1": digest,
        "1.HEADER": b'Subject: the digest\r\nContent-Type: multipart/digest; boundary="d"\r\n\r\n',
        "1.1": b"Subject: one\r\n\r\nfirst",
        "1.1.MIME": b"\r\n",
        "1.1.HEADER": b"Subject: one\r\n\r\n",
        "1.1.TEXT": b"first",
        "1.1.1": b"first",
        "1.2": second,
        "1.2.HEADER": b'Subject: two\r\nContent-Type: multipart/alternative; boundary="a"\r\n\r\n',
        "1.2.1": b"second plain",
        "1.2.2": b"<p>second</p>",
        "1.2.2.MIME": b"Content-Type: text/html\r\n\r\n",
        "1.3": None,
    }
    for section, data in digested.items():
        assert fetch_value(w, 2, f"BODY.PEEK[{section}]") == data, section
    assert numbered(bodystructure(w, 2)) == {
        "1": ("MESSAGE/RFC822", len(digest)), "1.1": ("MESSAGE/RFC822", len(b"Subject: one\r\n\r\nfirst")),
        "1.1.1": ("TEXT/PLAIN", 5), "1.2": ("MESSAGE/RFC822", len(second)), "1.2.1": ("TEXT/PLAIN", 12),
        "1.2.2": ("TEXT/HTML", 13)}
    assert w.ok("FETCH 2 (BINARY.SIZE[1.2.2] BINARY.PEEK[1.1.1])") == [
        b"* 2 FETCH (BINARY.SIZE[1.2.2] 13 BINARY[1.1.1] {5}\r\nfirst)"]
    w.close()


# -- 2. BINARY ---------------------------------------------------------------------------------------------------

QUOTED_PRINTABLE = (
    b"Subject: qp\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="q"\r\n'
    b"\r\n"
    b"--q\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"Content-Transfer-Encoding: quoted-printable\r\n"
    b"\r\n"
    # A soft line break, one with transport padding after the "=" (RFC 2045 6.7 rule 5), trailing white
    # space a transport added (rule 3: deleted when decoding), an encoded space kept, lower-case hex.
    b"Caf=C3=A9 au lait, =\r\n"
    b"s'il vous pla=c3=aet =  \r\n"
    b"merci.   \r\n"
    b"Fin=20\r\n"
    b"--q\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAEC\r\n"
    b"AwQF\r\n"
    b"--q--\r\n"
)


def test_binary_undoes_quoted_printable_and_base64(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, QUOTED_PRINTABLE)
    w.ok("SELECT INBOX")
    text = "Café au lait, s'il vous plaît merci.\r\nFin ".encode()
    assert fetch_value(w, 1, "BINARY.PEEK[1]") == text
    assert w.ok("FETCH 1 (BINARY.SIZE[1] BINARY.SIZE[2])") == [
        b"* 1 FETCH (BINARY.SIZE[1] %d BINARY.SIZE[2] 6)" % len(text)]
    assert w.ok("FETCH 1 BINARY.PEEK[2]") == [b"* 1 FETCH (BINARY[2] ~{6}\r\n\x00\x01\x02\x03\x04\x05)"]
    w.close()


BINARY_MESSAGE = (
    b"From: a@example.org\r\n"
    b"Subject: bin\r\n"
    b"MIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="z"\r\n'
    b"\r\n"
    b"--z\r\n"
    b"\r\n"
    b"text without NUL\r\n"
    b"--z\r\n"
    b"Content-Type: application/octet-stream\r\n"
    b"Content-Transfer-Encoding: binary\r\n"
    b"\r\n"
    b"\x00\x01\x02\xff\r\n"
    b"--z--\r\n"
)


def test_content_holding_nul_is_never_sent_in_a_plain_literal(imap_node: ImapNode) -> None:
    """RFC 9051 4.3: a string holding NUL goes only as a literal8, and only for BINARY[...]. In a BODY[...]
    each NUL goes as 0x80 (as Dovecot sends it): the size and offsets stay those RFC822.SIZE and
    BODYSTRUCTURE give, and the client still gets the message."""
    w, _ = logged_in(imap_node)
    _, tagged = w.command(b"APPEND INBOX ~{%d+}\r\n" % len(BINARY_MESSAGE) + BINARY_MESSAGE)
    assert tagged.startswith(b"OK [APPENDUID ")
    w.ok(b"APPEND INBOX {24+}\r\nSubject: plain\r\n\r\ntext\r\n")
    w.ok("SELECT INBOX")
    shown = BINARY_MESSAGE.replace(b"\x00", b"\x80")
    for item in ("BODY.PEEK[]", "BODY.PEEK[TEXT]", "BODY.PEEK[2]", "BODY.PEEK[]<30.200>"):
        untagged, tagged = w.command(f"FETCH 1:2 {item}")
        assert tagged.startswith(b"OK "), (item, tagged)
        assert not any(b"\x00" in line for line in untagged), item
        assert [line.split(b" (")[0] for line in untagged] == [b"* 1 FETCH", b"* 2 FETCH"], item
    assert fetch_value(w, 1, "BODY.PEEK[]") == shown
    assert fetch_value(w, 1, "BODY.PEEK[2]") == b"\x80\x01\x02\xff"
    assert fetch_value(w, 1, "BODY.PEEK[1]") == b"text without NUL"
    assert fetch_value(w, 1, "BODY.PEEK[HEADER]") == BINARY_MESSAGE[:BINARY_MESSAGE.index(b"\r\n\r\n") + 4]
    # BINARY sends the bytes as they are, as a literal8 (RFC 3516 4.3).
    assert w.ok("FETCH 1 BINARY.PEEK[]") == [b"* 1 FETCH (BINARY[] ~{%d}\r\n%s)" % (len(BINARY_MESSAGE),
                                                                               BINARY_MESSAGE)]
    assert w.ok("FETCH 1 BINARY.PEEK[2]") == [b"* 1 FETCH (BINARY[2] ~{4}\r\n\x00\x01\x02\xff)"]
    w.close()


def large_binary(tag: bytes) -> bytes:
    """A message over fetch.STREAM_AT (sent from the blob store in pieces), with a NUL near its end."""
    filler = b"x" * 76 + b"\r\n"
    return (b"Subject: large " + tag + b"\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=z\r\n\r\n"
            b"--z\r\n\r\nthe text\r\n--z\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: binary\r\n\r\n" + filler * (fetch.STREAM_AT // len(filler) + 100)
            + b"\x00end\r\n--z--\r\n")


def test_a_large_message_holding_nul_is_streamed_without_it(imap_node: ImapNode) -> None:
    """Sections of messages over STREAM_AT go out in pieces from the blob store: a NUL among them goes as
    0x80 too, and BINARY has it as it is."""
    w, _ = logged_in(imap_node)
    data = large_binary(b"new")
    _, tagged = w.command(b"APPEND INBOX ~{%d+}\r\n" % len(data) + data)
    assert tagged.startswith(b"OK [APPENDUID "), tagged
    w.ok("SELECT INBOX")
    assert fetch_value(w, 1, "BODY.PEEK[]") == data.replace(b"\x00", b"\x80")
    assert fetch_value(w, 1, "BODY.PEEK[1]") == b"the text"
    assert fetch_value(w, 1, "BODY.PEEK[2]<0.80>") == b"x" * 76 + b"\r\n" + b"xx"
    assert fetch_value(w, 1, "BINARY.PEEK[]") == data
    w.close()


# -- 3. addresses in group syntax ------------------------------------------------------------------------------

GROUPS = (
    b"From: Ann <ann@example.org>\r\n"
    b"To: team: a@b.example, Carl <c@d.example>;\r\n"
    b"Cc: undisclosed-recipients:;\r\n"
    b"Subject: groups\r\n"
    b"\r\n"
    b"hello\r\n"
)


def test_group_syntax_in_envelope_and_search(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, GROUPS)
    deliver(imap_node, address, b"From: x@y.example\r\nTo: other@example.net\r\nSubject: none\r\n\r\nno\r\n")
    w.ok("SELECT INBOX")
    assert w.ok("FETCH 1 ENVELOPE") == [
        b'* 1 FETCH (ENVELOPE (NIL "groups" (("Ann" NIL "ann" "example.org")) (("Ann" NIL "ann" "example.org")) '
        b'(("Ann" NIL "ann" "example.org")) '
        b'((NIL NIL "team" NIL)(NIL NIL "a" "b.example")("Carl" NIL "c" "d.example")(NIL NIL NIL NIL)) '
        b'((NIL NIL "undisclosed-recipients" NIL)(NIL NIL NIL NIL)) NIL NIL NIL))']
    for criteria in ('TO "c@d.example"', "TO a@b.example", "TO carl", "FROM ann"):
        assert w.ok(f"SEARCH {criteria}") == [b"* SEARCH 1"], criteria
    w.close()


def test_search_finds_the_group_name(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    deliver(imap_node, address, GROUPS)
    w.ok("SELECT INBOX")
    assert w.ok("SEARCH TO team") == [b"* SEARCH 1"]
    assert w.ok("SEARCH CC undisclosed-recipients") == [b"* SEARCH 1"]
    w.close()
