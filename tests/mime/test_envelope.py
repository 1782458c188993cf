"""ENVELOPE (RFC 3501 section 7.4.2), addresses, and the fields derived for SEARCH, SORT and THREAD."""

from __future__ import annotations

import pytest

from polyport.mime import parse
from polyport.mime.parse import base_subject, decode_encoded_words, parse_addresses
from polyport.mime.structure import Address

GROUP_END = Address(None, None, None, None)


def test_envelope_fields_are_raw_unfolded_header_values() -> None:
    message = (
        b"Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
        b"Subject: =?utf-8?q?caf=C3=A9?= and\r\n more\r\n"
        b"From: =?utf-8?q?Fr=C3=A9d?= <fred@example.com>\r\n"
        b"To: a@example.com\r\n"
        b"Cc: b@example.com\r\n"
        b"Bcc: c@example.com\r\n"
        b"In-Reply-To: <parent@example.com>\r\n"
        b"Message-ID: <me@example.com>\r\n"
        b"\r\nbody"
    )
    envelope = parse(message).envelope
    assert envelope.date == "Mon, 7 Feb 1994 21:52:25 -0800 (PST)"
    assert envelope.subject == "=?utf-8?q?caf=C3=A9?= and more"  # encoded-words stay, as RFC 3501 wants
    assert envelope.from_ == [Address("=?utf-8?q?Fr=C3=A9d?=", None, "fred", "example.com")]
    assert envelope.sender == envelope.from_  # absent: defaults to From
    assert envelope.reply_to == envelope.from_
    assert envelope.to == [Address(None, None, "a", "example.com")]
    assert envelope.cc == [Address(None, None, "b", "example.com")]
    assert envelope.bcc == [Address(None, None, "c", "example.com")]
    assert envelope.in_reply_to == "<parent@example.com>"
    assert envelope.message_id == "<me@example.com>"


def test_missing_fields_are_nil_and_empty_ones_are_empty_strings() -> None:
    envelope = parse(b"Subject:\r\nFrom: a@example.com\r\nSender:\r\nTo:\r\n\r\n").envelope
    assert envelope.subject == ""
    assert envelope.date is None
    assert envelope.message_id is None
    assert envelope.to is None  # an empty address list is NIL
    assert envelope.sender == [Address(None, None, "a", "example.com")]  # empty Sender: From


@pytest.mark.parametrize(
    ("header", "addresses"),
    [
        ("John Doe <jdoe@example.com>", [Address("John Doe", None, "jdoe", "example.com")]),
        ('"Doe, John" <jdoe@example.com>', [Address("Doe, John", None, "jdoe", "example.com")]),
        ('"esc\\"aped" <x@y>', [Address('esc"aped', None, "x", "y")]),
        ("John Q. Public <jqp@example.com>", [Address("John Q. Public", None, "jqp", "example.com")]),
        ("jdoe@example.com (John Doe)", [Address("John Doe", None, "jdoe", "example.com")]),
        (
            "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
            [Address("Pete", None, "pete", "silly.test")],
        ),
        ('"john doe"@example.com', [Address(None, None, '"john doe"', "example.com")]),
        ("<@route.one,@route.two:user@example.com>", [Address(None, "@route.one,@route.two", "user", "example.com")]),
        ("user@[192.0.2.1]", [Address(None, None, "user", "[192.0.2.1]")]),
        (
            "a@example.com, B <b@example.com>,, c@example.com,",
            [
                Address(None, None, "a", "example.com"),
                Address("B", None, "b", "example.com"),
                Address(None, None, "c", "example.com"),
            ],
        ),
        (
            "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>; x@y",
            [
                Address(None, None, "A Group", None),  # group start: mailbox is the group name, host NIL
                Address("Ed Jones", None, "c", "a.test"),
                Address(None, None, "joe", "where.test"),
                Address("John", None, "jdoe", "one.test"),
                GROUP_END,
                Address(None, None, "x", "y"),
            ],
        ),
        ("undisclosed-recipients:;", [Address(None, None, "undisclosed-recipients", None), GROUP_END]),
        ("open group: a@b", [Address(None, None, "open group", None), Address(None, None, "a", "b"), GROUP_END]),
        # Garbage: no domain gives host "" (NIL would mean a group start); nothing at all is dropped.
        ("undisclosed recipients", [Address(None, None, "undisclosed recipients", "")]),
        ("user@", [Address(None, None, "user", "")]),
        ("<>", []),
        ("Mailer Daemon <>", [Address("Mailer Daemon", None, "", "")]),
        ("<a@b, c@d", [Address(None, None, "a", "b"), Address(None, None, "c", "d")]),  # missing '>'
        ("a@b@c", [Address(None, None, "a@b", "c")]),
        ("", []),
        (",,;;", []),
        ('"unterminated <x@y>', [Address(None, None, "unterminated <x@y>", "")]),
        ("(only a comment)", []),
        ("x@y (unterminated (nested) comment", [Address("unterminated (nested) comment", None, "x", "y")]),
    ],
)
def test_addresses(header: str, addresses: list[Address]) -> None:
    assert parse_addresses(header) == addresses


def test_address_lines_for_search_name_groups_and_their_members() -> None:
    """The address text SEARCH FROM/TO/CC/BCC match (stored beside each body): a group (RFC 5322 3.4) gives
    a line with its name, then its members' lines, so both the name and the members are found."""
    from polyport.mime.parse import address_lines

    structure = parse(b"From: =?utf-8?q?Ren=C3=A9?= <rene@example.fr>\r\n"
                      b"To: team: a@b.example, Carl <c@d.example>;, z@example.net\r\n"
                      b"Cc: undisclosed-recipients:;\r\nBcc: eve@example.org\r\n\r\nbody\r\n")
    assert address_lines(structure.envelope).split("\n") == [
        "from:René <rene@example.fr>", "to:team:", "to: <a@b.example>", "to:Carl <c@d.example>",
        "to: <z@example.net>", "cc:undisclosed-recipients:", "bcc: <eve@example.org>"]


def test_sort_and_display_keys() -> None:
    structure = parse(
        b"From: =?iso-8859-1?q?Andr=E9?= <Andre@Example.COM>\r\n"
        b"To: <First@example.com>, second@example.com\r\n"
        b"Cc: Team:;\r\n\r\n"
    )
    assert structure.sort_from == "andre"  # RFC 5256: addr-mailbox, lower-cased here
    assert structure.sort_to == "first"
    assert structure.sort_cc == "team"  # the first address is the group's start marker
    assert structure.display_from == "André"  # RFC 5957: the decoded display name...
    assert structure.display_to == "First@example.com"  # ...else mailbox@host
    assert parse(b"\r\n").display_from == ""


def test_sent_date() -> None:
    assert parse(b"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\n").sent == 760686745
    assert parse(b"Date: 7 Feb 94 21:52 GMT\r\n\r\n").sent == 760657920
    assert parse(b"Date: Mon, 7 Feb 1994 21:52:25 -0000\r\n\r\n").sent == 760657945
    for bad in (b"", b"yesterday", b"Mon, 99 Foo 1994", b"1 Jan 99999999 00:00 +0000", b"32 Dec 1994 25:61:61 +9999"):
        sent = parse(b"Date: " + bad + b"\r\n\r\n").sent
        assert sent is None or isinstance(sent, int)
    assert parse(b"Date: yesterday\r\n\r\n").sent is None
    assert parse(b"Subject: no date\r\n\r\n").sent is None


def test_message_ids() -> None:
    structure = parse(
        b"Message-ID: <one@example.com>\r\n"
        b"In-Reply-To: <two@example.com> (your message of yesterday)\r\n"
        b"References: <a@x>\r\n <b@\r\n x> junk <> <c@x>\r\n\r\n"
    )
    assert structure.message_id == "<one@example.com>"
    assert structure.in_reply_to == ["<two@example.com>"]
    assert structure.references == ["<a@x>", "<b@x>", "<c@x>"]  # folding inside an id is undone
    assert parse(b"Message-ID: bare@example.com\r\n\r\n").message_id == "<bare@example.com>"
    assert parse(b"Message-ID: not an id\r\n\r\n").message_id is None


def test_has_attachment() -> None:
    def has(part_headers: str) -> bool:
        message = (
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n--b\r\n"
            + part_headers
            + "\r\n\r\nx\r\n--b--\r\n"
        ).encode()
        return parse(message).has_attachment

    assert has("Content-Type: text/plain\r\nContent-Disposition: attachment")
    assert has("Content-Type: image/png; name=photo.png")
    assert has("Content-Type: application/pdf\r\nContent-Disposition: inline; filename=a.pdf")
    assert not has("Content-Type: image/png")  # an unnamed inline image (a logo in an HTML mail)
    assert not has("Content-Type: text/plain; name=notes.txt")  # named text shown inline
    assert not parse(b"Subject: plain\r\n\r\nbody").has_attachment


@pytest.mark.parametrize(
    ("subject", "base"),
    [
        ("Re: [Fwd: Re: hello] (fwd)", "hello"),  # RFC 5256 section 2.1, steps 2, 3, 6 and again
        ("hello", "hello"),
        ("RE: FWD: Fw: hello", "hello"),
        ("Re [2]: hello", "hello"),  # subj-refwd may carry a blob
        ("[list] Re: hello", "hello"),  # subj-leader: blobs before re/fwd
        ("[list] hello", "hello"),  # step 4: a lone blob goes when text remains
        ("[list]", "[list]"),  # ...and stays when nothing would remain
        ("[a][b] [c]", "[c]"),
        ("Re:", ""),
        ("  Re:   hello\t\tworld  (fwd) (fwd)  ", "hello world"),
        ("[Fwd: [fwd: hello]]", "hello"),
        ("[fwd: hello] tail", "tail"),  # a blob to step 4, not a wrapper to step 6
        ("Fwd: [list] [fwd: Re: x (fwd)]", "x"),
        ("Refund: the money", "Refund: the money"),  # "re" must be followed by ':' (or WSP/blob, ':')
        ("=?utf-8?q?Re=3A_caf=C3=A9?=", "café"),  # step 1: encoded-words decoded first
        ("=?utf-8?b?UmU6IGjDqWxsbw==?= =?utf-8?q?_w=C3=B6rld?=", "héllo wörld"),
        ("", ""),
    ],
)
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject(subject) == base


def test_base_subject_is_linear_on_hostile_subjects() -> None:
    assert base_subject("[fwd: " * 50_000 + "x" + "]" * 50_000) == "x"
    assert base_subject("Re: " * 100_000 + "x" + " (fwd)" * 100_000) == "x"
    assert base_subject("[a]" * 100_000 + "x") == "x"
    assert base_subject("[" * 100_000) == "[" * 100_000


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("=?utf-8?q?a_b?=", "a b"),
        ("=?UTF-8?B?Y2Fmw6k=?=", "café"),
        ("=?utf-8?b?Y2Fmw6k?=", "café"),  # missing padding
        ("=?utf-8?q?caf=C3?= =?utf-8?q?=A9?=", "café"),  # a character split across two words
        ("=?utf-8*en?q?hi?=", "hi"),  # RFC 2231 language suffix
        ("a =?utf-8?q?b?= c", "a b c"),
        ("=?utf-8?q?a?=  \t =?iso-8859-1?q?=E9?=", "aé"),  # white space between words is dropped
        ("=?x-unknown?q?caf=C3=A9?=", "café"),  # unknown charset: UTF-8, else Latin-1
        ("=?utf-8?b?!!!?=", "=?utf-8?b?!!!?="),  # undecodable: kept as written
        ("=?utf-8?q?a?= =?utf-8?b?!?= =?utf-8?q?c?=", "a =?utf-8?b?!?= c"),
        ("no words", "no words"),
    ],
)
def test_decode_encoded_words(encoded: str, decoded: str) -> None:
    assert decode_encoded_words(encoded) == decoded


def test_address_text_is_parsed_within_a_budget_per_message() -> None:
    from polyport.mime.parse import MAX_ADDRESS_TEXT

    many = ", ".join(f"user{index}@example.com" for index in range(30_000))
    structure = parse(f"From: a@example.com\r\nTo: Team: {many};\r\nCc: c@example.com\r\n\r\n".encode())
    to = structure.envelope.to
    assert to is not None
    assert to[0] == Address(None, None, "Team", None)
    assert to[-1] == GROUP_END  # the group is still closed
    members = to[1:-1]
    assert 1000 < len(members) < 30_000
    # Every address kept is whole: the one cut by the limit is left out.
    assert all(address == Address(None, None, f"user{index}", "example.com") for index, address in enumerate(members))
    assert sum(len(f"user{index}@example.com, ") for index in range(len(members))) <= MAX_ADDRESS_TEXT
    assert structure.envelope.cc is None  # the budget is spent
    assert structure.envelope.from_ == [Address(None, None, "a", "example.com")]


def test_the_message_envelope_comes_before_its_attachments_in_the_budget() -> None:
    many = ", ".join(f"user{index}@example.com" for index in range(30_000))
    message = (
        "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
        f"--b\r\nContent-Type: message/rfc822\r\n\r\nTo: {many}\r\n\r\nbody\r\n"
        "--b--\r\n"
    ).encode()
    structure = parse(b"To: root@example.com\r\n" + message)
    assert structure.envelope.to == [Address(None, None, "root", "example.com")]
    inner = structure.root.parts[0].envelope
    assert inner is not None
    assert inner.to is not None
    assert len(inner.to) > 1000
