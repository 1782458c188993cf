"""The part tree and its byte offsets, as transcripts: a message in, its outline out (each part's type,
then its MIME header and body sliced from the message by the parsed offsets)."""

from __future__ import annotations

from polyport.mime import parse
from polyport.mime.structure import Disposition, Param, decode, encode
from tests.mime.tree import compare_with_stdlib, outline


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode()


def test_a_simple_text_message() -> None:
    message = crlf("Subject: hi\nFrom: a@example.com\n\nline one\nline two\n")
    assert outline(message) == [
        "text/plain lines=2 header=b'Subject: hi\\r\\nFrom: a@example.com\\r\\n\\r\\n'"
        " body=b'line one\\r\\nline two\\r\\n'"
    ]
    structure = compare_with_stdlib(message)
    assert structure.size == len(message)
    assert structure.root.encoding == "7bit"
    assert structure.root.params == []


def test_a_final_line_without_line_break_counts_as_a_line() -> None:
    assert parse(b"Subject: x\r\n\r\none\r\ntwo").root.lines == 2
    assert parse(b"Subject: x\r\n\r\n").root.lines == 0


def test_multipart_alternative() -> None:
    message = crlf(
        'Content-Type: multipart/alternative; boundary="XX"\n'
        "\n"
        "--XX\n"
        "Content-Type: text/plain; charset=utf-8\n"
        "\n"
        "plain\n"
        "--XX\n"
        "Content-Type: text/html\n"
        "\n"
        "<p>html</p>\n"
        "\n"
        "--XX--\n"
    )
    assert outline(message) == [
        "multipart/alternative header=b'Content-Type: multipart/alternative; boundary=\"XX\"\\r\\n\\r\\n'"
        " body=b'--XX\\r\\nContent-Type: text/plain; charset=utf-8\\r\\n\\r\\nplain\\r\\n--XX\\r\\n"
        "Content-Type: text/html\\r\\n\\r\\n<p>html</p>\\r\\n\\r\\n--XX--\\r\\n'",
        # The CRLF before each delimiter belongs to the delimiter (RFC 2046 section 5.1.1).
        "  text/plain lines=1 header=b'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n' body=b'plain'",
        "  text/html lines=1 header=b'Content-Type: text/html\\r\\n\\r\\n' body=b'<p>html</p>\\r\\n'",
    ]
    structure = compare_with_stdlib(message)
    assert structure.root.params == [Param("boundary", "XX")]
    assert structure.root.parts[0].params == [Param("charset", "utf-8")]


def test_multipart_mixed_with_attachments() -> None:
    message = crlf(
        "From: a@example.com\n"
        "Content-Type: multipart/mixed; boundary=b1\n"
        "\n"
        "--b1\n"
        "\n"
        "see attached\n"
        "--b1\n"
        'Content-Type: application/pdf; name="report.pdf"\n'
        "Content-Transfer-Encoding: BASE64\n"
        'Content-Disposition: attachment; filename="report.pdf"; size=4\n'
        "Content-ID: <part2@example.com>\n"
        "Content-Description: the report\n"
        "Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\n"
        "Content-Language: en, de (German)\n"
        "Content-Location: http://example.com/report.pdf\n"
        "\n"
        "JVBERi0=\n"
        "--b1\n"
        "Content-Type: image/png\n"
        "Content-Disposition: inline\n"
        "\n"
        "PNG\n"
        "--b1--\n"
    )
    structure = compare_with_stdlib(message)
    text, pdf, png = structure.root.parts
    assert (text.type, text.subtype, text.lines) == ("text", "plain", 1)
    assert message[pdf.body_start : pdf.body_end] == b"JVBERi0="
    assert pdf.encoding == "base64"
    assert pdf.params == [Param("name", "report.pdf")]
    assert pdf.disposition == Disposition("attachment", [Param("filename", "report.pdf"), Param("size", "4")])
    assert pdf.id == "<part2@example.com>"
    assert pdf.description == "the report"
    assert pdf.md5 == "Q2hlY2sgSW50ZWdyaXR5IQ=="
    assert pdf.language == ["en", "de"]
    assert pdf.location == "http://example.com/report.pdf"
    assert pdf.lines is None
    assert png.disposition == Disposition("inline", [])
    assert structure.has_attachment


def test_nested_multiparts() -> None:
    message = crlf(
        "Content-Type: multipart/mixed; boundary=outer\n"
        "\n"
        "--outer\n"
        "Content-Type: multipart/alternative; boundary=inner\n"
        "\n"
        "--inner\n"
        "\n"
        "plain\n"
        "--inner\n"
        "Content-Type: text/html\n"
        "\n"
        "html\n"
        "--inner--\n"
        "--outer\n"
        "Content-Type: text/plain\n"
        "\n"
        "second\n"
        "--outer--\n"
    )
    assert outline(message)[1:] == [
        "  multipart/alternative header=b'Content-Type: multipart/alternative; boundary=inner\\r\\n\\r\\n'"
        " body=b'--inner\\r\\n\\r\\nplain\\r\\n--inner\\r\\nContent-Type: text/html\\r\\n\\r\\nhtml\\r\\n--inner--'",
        "    text/plain lines=1 header=b'\\r\\n' body=b'plain'",
        "    text/html lines=1 header=b'Content-Type: text/html\\r\\n\\r\\n' body=b'html'",
        "  text/plain lines=1 header=b'Content-Type: text/plain\\r\\n\\r\\n' body=b'second'",
    ]
    compare_with_stdlib(message)


def test_message_rfc822_inside_multipart() -> None:
    message = crlf(
        "Subject: outer\n"
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "--b\n"
        "\n"
        "forwarding\n"
        "--b\n"
        "Content-Type: message/rfc822\n"
        "\n"
        "Subject: inner\n"
        "From: Inner Person <inner@example.com>\n"
        "Content-Type: multipart/alternative; boundary=c\n"
        "\n"
        "--c\n"
        "\n"
        "inner text\n"
        "--c--\n"
        "--b--\n"
    )
    assert outline(message)[2:] == [
        "  message/rfc822 lines=8 header=b'Content-Type: message/rfc822\\r\\n\\r\\n'"
        " body=b'Subject: inner\\r\\nFrom: Inner Person <inner@example.com>\\r\\n"
        "Content-Type: multipart/alternative; boundary=c\\r\\n\\r\\n--c\\r\\n\\r\\ninner text\\r\\n--c--'",
        # The encapsulated message's root: its header is the inner message header.
        "    multipart/alternative header=b'Subject: inner\\r\\nFrom: Inner Person <inner@example.com>\\r\\n"
        "Content-Type: multipart/alternative; boundary=c\\r\\n\\r\\n' body=b'--c\\r\\n\\r\\ninner text\\r\\n--c--'",
        "      text/plain lines=1 header=b'\\r\\n' body=b'inner text'",
    ]
    structure = compare_with_stdlib(message)
    forwarded = structure.root.parts[1]
    assert forwarded.envelope is not None
    assert forwarded.envelope.subject == "inner"
    assert forwarded.envelope.from_ is not None
    assert forwarded.envelope.from_[0].mailbox == "inner"
    assert structure.envelope.subject == "outer"


def test_digest_parts_default_to_message_rfc822() -> None:
    message = crlf(
        "Content-Type: multipart/digest; boundary=d\n"
        "\n"
        "--d\n"
        "\n"
        "Subject: first\n"
        "\n"
        "body one\n"
        "--d\n"
        "Content-Type: text/plain\n"
        "\n"
        "a note\n"
        "--d\n"
        "Content-Type: multipart/mixed; boundary=e\n"
        "\n"
        "--e\n"
        "\n"
        "not a digest: text/plain again\n"
        "--e--\n"
        "--d--\n"
    )
    assert [line.split(" header=")[0] for line in outline(message)] == [
        "multipart/digest",
        "  message/rfc822 lines=3",
        "    text/plain lines=1",
        "  text/plain lines=1",
        "  multipart/mixed",
        "    text/plain lines=1",
    ]
    structure = compare_with_stdlib(message)
    first = structure.root.parts[0]
    assert first.envelope is not None
    assert first.envelope.subject == "first"


def test_bare_lf_and_mixed_line_ends() -> None:
    message = (
        b"Content-Type: multipart/mixed; boundary=b\n"
        b"\n"
        b"--b\n"
        b"Content-Type: text/plain\r\n"
        b"\r\n"
        b"crlf body\r\n"
        b"--b\n"
        b"\n"
        b"lf body\n"
        b"--b--\r\n"
    )
    assert outline(message)[1:] == [
        "  text/plain lines=1 header=b'Content-Type: text/plain\\r\\n\\r\\n' body=b'crlf body'",
        "  text/plain lines=1 header=b'\\n' body=b'lf body'",
    ]
    compare_with_stdlib(message)


def test_preamble_and_epilogue_are_no_parts() -> None:
    message = crlf(
        "Content-Type: multipart/mixed; boundary=b\n"
        "\n"
        "This is a preamble.\n"
        "--b\n"
        "\n"
        "only part\n"
        "--b--\n"
        "This is the epilogue.\n"
        "--b\n"
        "\n"
        "not a part either\n"
    )
    assert [line.split(" header=")[1] for line in outline(message)[1:]] == ["b'\\r\\n' body=b'only part'"]
    compare_with_stdlib(message)


def test_boundary_lines_may_have_trailing_white_space_but_nothing_else() -> None:
    message = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b \t\n\none\n--bogus\n--b\n\ntwo\n--b-- \n")
    assert [line.split(" header=")[1] for line in outline(message)[1:]] == [
        "b'\\r\\n' body=b'one\\r\\n--bogus'",
        "b'\\r\\n' body=b'two'",
    ]
    compare_with_stdlib(message)


def test_a_missing_close_delimiter_ends_the_last_part_at_the_end() -> None:
    message = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n")
    assert [line.split(" header=")[1] for line in outline(message)[1:]] == [
        "b'\\r\\n' body=b'one'",
        "b'\\r\\n' body=b'two\\r\\n'",
    ]


def test_a_missing_close_delimiter_in_a_nested_multipart_ends_at_the_outer_delimiter() -> None:
    message = crlf(
        "Content-Type: multipart/mixed; boundary=outer\n\n"
        "--outer\nContent-Type: multipart/mixed; boundary=inner\n\n--inner\n\ninner one\n"
        "--outer\n\nouter two\n--outer--\n"
    )
    assert [line.split(" header=")[0] for line in outline(message)] == [
        "multipart/mixed",
        "  multipart/mixed",
        "    text/plain lines=1",
        "  text/plain lines=1",
    ]
    compare_with_stdlib(message)


def test_parts_without_header() -> None:
    # The first starts directly with the empty line; the second is empty; the third has a header and
    # no empty line (its header runs to the delimiter, its body is empty).
    message = crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n--b\n--b\nX-Header: y\n--b--\n")
    assert outline(message)[1:] == [
        "  text/plain lines=1 header=b'\\r\\n' body=b'body'",
        "  text/plain lines=0 header=b'' body=b''",
        "  text/plain lines=0 header=b'X-Header: y' body=b''",
    ]


def test_a_multipart_without_boundary_is_an_opaque_body_of_its_type() -> None:
    for message in (
        crlf("Content-Type: multipart/mixed\n\n--b\n\nbody\n--b--\n"),
        crlf('Content-Type: multipart/mixed; boundary=""\n\n--\n\nbody\n----\n'),
        crlf("Content-Type: multipart/mixed; boundary=never\n\n--b\n\nbody\n--b--\n"),
        crlf("Content-Type: multipart/mixed; boundary=b\n\n--b--\n\nbody\n"),
    ):
        structure = parse(message)
        assert (structure.root.type, structure.root.subtype, structure.root.parts) == ("multipart", "mixed", [])
        assert message[structure.root.body_start :].startswith(b"--")
    compare_with_stdlib(crlf("Content-Type: multipart/mixed\n\n--b\n\nbody\n--b--\n"))


def test_folded_headers_are_unfolded() -> None:
    message = crlf(
        "Subject: a subject\n\tfolded twice\n  here\n"
        'Content-Type: text/plain;\n charset="utf-8";\n\tformat=flowed\n'
        "\nbody\n"
    )
    structure = parse(message)
    assert structure.envelope.subject == "a subject\tfolded twice  here"
    assert structure.root.params == [Param("charset", "utf-8"), Param("format", "flowed")]


def test_the_first_of_repeated_fields_wins_and_names_are_case_insensitive() -> None:
    structure = parse(b"content-TYPE: Text/HTML\r\nContent-Type: image/png\r\nSUBJECT: one\r\nSubject: two\r\n\r\nx")
    assert (structure.root.type, structure.root.subtype) == ("text", "html")
    assert structure.envelope.subject == "one"


def test_content_type_defaults_and_garbage() -> None:
    cases = {
        b"": ("text", "plain", []),
        b"Content-Type: \r\n": ("text", "plain", []),
        b"Content-Type: text\r\n": ("text", "plain", []),
        b"Content-Type: garbage; charset=koi8-r\r\n": ("text", "plain", [Param("charset", "koi8-r")]),
        b'Content-Type: (comment) TEXT / Plain (more) ; charset = "a;b" ; ; format\r\n': (
            "text",
            "plain",
            [Param("charset", "a;b")],
        ),
        b'Content-Type: application/x-thing; name=my file.txt; x="unterminated\r\n': (
            "application",
            "x-thing",
            [Param("name", "my file.txt"), Param("x", "unterminated")],
        ),
        b'Content-Type: text/plain; a="q\\"uo\\\\te"\r\n': ("text", "plain", [Param("a", 'q"uo\\te')]),
    }
    for header, (media_type, subtype, params) in cases.items():
        root = parse(header + b"\r\nbody").root
        assert (root.type, root.subtype, root.params) == (media_type, subtype, params), header
    root = parse(b"Content-Transfer-Encoding: (x) Quoted-Printable\r\n\r\nbody").root
    assert root.encoding == "quoted-printable"


def test_rfc2231_parameters() -> None:
    message = crlf(
        "Content-Type: application/octet-stream;\n"
        " name*0*=utf-8'en'%E2%82%AC%20;\n"
        " name*1*=rate%20;\n"
        ' name*2="table.xls";\n'
        ' name="fallback.xls";\n'
        " title*=iso-8859-1''caf%E9;\n"
        ' url*1="b/c"; url*0="http://a/"\n'
        "Content-Disposition: attachment; filename*=UTF-8''%F0%9F%98%80.txt\n"
        "\nx"
    )
    root = parse(message).root
    assert root.params == [
        Param("name", "€ rate table.xls"),  # the RFC 2231 form wins over the plain one
        Param("title", "café"),
        Param("url", "http://a/b/c"),  # sections joined in numeric order
    ]
    assert root.disposition == Disposition("attachment", [Param("filename", "😀.txt")])


def test_rfc2231_with_unknown_or_odd_charsets_never_raises() -> None:
    for charset in ("x-unknown", "base64", "rot13", "idna", "utf-7", "unicode_escape", "", "utf-16"):
        root = parse(f"Content-Type: text/plain; p*=\"{charset}''%FF%FE%2B2AA-%C3%A9\"\r\n\r\n".encode()).root
        value = root.params[0].value
        value.encode("utf-8")  # no lone surrogates: the structure is stored as JSON


def test_8bit_header_bytes_are_utf8_or_else_latin1() -> None:
    structure = parse("Subject: café ".encode() + b"caf\xe9\r\n\r\n")
    assert structure.envelope.subject == "café café"


def test_robust_on_degenerate_messages() -> None:
    for message in (
        b"",
        b"\r\n",
        b"\n\n\n",
        b"no header at all",
        b"Subject: header only, no body",
        b"Subject: header only, no line break\r",
        b"Subject: x\r\n\r\n\x00\x00\xff\xfe",
        b"\x00\xff: \x80\r\n\r\n",
        b": no name\r\n folded\r\n\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x",
        b"Subject: " + b"x" * 3_000_000 + b"\r\n\r\n" + b"y" * 3_000_000,
    ):
        structure = parse(message)
        assert decode(encode(structure)) == structure
    assert parse(b"").root.body_end == 0
    header_only = parse(b"Subject: header only")
    assert (header_only.root.body_start, header_only.root.body_end) == (20, 20)
    assert header_only.envelope.subject == "header only"


def test_a_message_rfc822_with_a_transfer_encoding_is_opaque() -> None:
    message = crlf("Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\nU3ViamVjdDogeA0KDQpib2R5\n")
    root = parse(message).root
    assert (root.type, root.subtype, root.parts, root.envelope, root.lines) == ("message", "rfc822", [], None, 1)


def test_message_global_is_parsed_like_rfc822() -> None:
    message = "Content-Type: message/global\r\n\r\nSubject: ünïcode\r\n\r\nbody".encode()
    root = parse(message).root
    assert root.envelope is not None
    assert root.envelope.subject == "ünïcode"
    assert [part.type for part in root.parts] == ["text"]


def test_deep_nesting_stops_at_max_depth_without_recursion_error() -> None:
    from polyport.mime.parse import MAX_DEPTH

    rfc822 = b"Content-Type: message/rfc822\r\n\r\n" * 5000 + b"Subject: deepest\r\n\r\nbody"
    structure = parse(rfc822)
    depth = 0
    part = structure.root
    while part.parts:
        part = part.parts[0]
        depth += 1
    assert depth == MAX_DEPTH
    assert (part.type, part.subtype, part.envelope) == ("message", "rfc822", None)

    multipart = b"".join(
        b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (level, level) for level in range(5000)
    )
    structure = parse(multipart)
    depth = 0
    part = structure.root
    while part.parts:
        part = part.parts[0]
        depth += 1
    assert depth == MAX_DEPTH
    assert (part.type, part.parts) == ("multipart", [])


def test_the_number_of_parts_is_bounded() -> None:
    from polyport.mime.parse import MAX_PARTS

    message = (
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * (MAX_PARTS * 3) + b"--b--\r\n"
    )
    structure = parse(message)
    parts = structure.root.parts
    assert len(parts) == MAX_PARTS - 1  # the root counts too
    # The last part takes the rest of the multipart body, later delimiters included.
    assert message[parts[-1].body_start : parts[-1].body_end].endswith(b"x\r\n--b--\r\n")
    assert all(message[part.body_start : part.body_end] == b"x" for part in parts[:-1])


def test_many_parts_parse_in_linear_time() -> None:
    message = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n\r\nx\r\n" * 5000 + b"--b--\r\n"
    assert len(parse(message).root.parts) == 5000


def test_many_false_delimiter_lines_then_real_ones() -> None:
    # Past a few dozen lines that only start like a delimiter, the search switches to a regular
    # expression; the result must not change.
    decoys = "".join(f"--bx{index}\n--b-{index}\n--b--x\n" for index in range(100))
    message = crlf(f"Content-Type: multipart/mixed; boundary=b\n\n{decoys}--b\n\none\n{decoys}--b\n\ntwo\n--b--\n")
    structure = compare_with_stdlib(message)
    first, second = structure.root.parts
    assert message[first.body_start : first.body_end] == crlf("one\n" + decoys).removesuffix(b"\r\n")
    assert message[second.body_start : second.body_end] == b"two"


def test_hostile_messages_parse_in_linear_time() -> None:
    import time

    hostile = [
        b"To: " + b"a@b.c, " * 150_000 + b"\r\n\r\n",
        b"From: " + b"(a" * 500_000 + b"\r\n\r\n",
        b"Content-Type: text/plain" + b"; a=b" * 200_000 + b"\r\n\r\n",
        b"Content-Type: text/plain" + b"".join(b"; a*%d*=%%41" % i for i in range(50_000)) + b"\r\n\r\n",
        b"Subject: " + b"Re: [x] " * 150_000 + b"\r\n\r\n",
        b"Subject: " + b"[fwd: " * 150_000 + b"\r\n\r\n",
        b"x\r\n" * 400_000 + b"\r\n",
        b"a:\r\n" * 300_000 + b"\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--bx\r\n" * 200_000,
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n" + b"--b\r\n" * 200_000,
        b"Content-Type: message/rfc822\r\n\r\n" * 40_000,
        b"\x00" * 1_000_000,
    ]
    for message in hostile:
        started = time.perf_counter()
        parse(message)
        # About a megabyte each: linear code takes tens of milliseconds, quadratic code minutes.
        assert time.perf_counter() - started < 3, message[:40]


