# ruff: noqa: RUF001  (the RFC's examples are Greek and fullwidth letters on purpose)
"""JIDs: RFC 7622's examples, each part prepared so that equal addresses compare equal, and nothing but
JidError for any text."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.xmpp.jid import Jid, JidError

# RFC 7622 3.5, "Examples of valid JIDs", with what each prepares to.
VALID = [
    ("juliet@example.com", Jid("juliet", "example.com")),
    ("juliet@example.com/foo", Jid("juliet", "example.com", "foo")),
    ("juliet@example.com/foo bar", Jid("juliet", "example.com", "foo bar")),
    ("juliet@example.com/foo@bar", Jid("juliet", "example.com", "foo@bar")),
    ("foo\\20bar@example.com", Jid("foo\\20bar", "example.com")),
    ("fussball@example.com", Jid("fussball", "example.com")),
    ("fußball@example.com", Jid("fußball", "example.com")),
    ("π@example.com", Jid("π", "example.com")),
    ("Σ@example.com/foo", Jid("σ", "example.com", "foo")),
    ("σ@example.com/foo", Jid("σ", "example.com", "foo")),
    ("ς@example.com/foo", Jid("ς", "example.com", "foo")),
    ("king@example.com/♚", Jid("king", "example.com", "♚")),
    ("example.com", Jid("", "example.com")),
    ("example.com/foobar", Jid("", "example.com", "foobar")),
    ("a.example.com/b@example.net", Jid("", "a.example.com", "b@example.net")),
    # and what mail addresses look like, in any case, with a trailing dot, in fullwidth
    ("Juliet@Example.COM./Balcony", Jid("juliet", "example.com", "Balcony")),
    ("ＪＵＬＩＥＴ@example.com", Jid("juliet", "example.com")),
    ("juliet@bücher.example", Jid("juliet", "xn--bcher-kva.example")),
    ("juliet@[::1]", Jid("juliet", "[::1]")),
]

# RFC 7622 3.5, "Examples of invalid JIDs", and a few more.
INVALID = ['"juliet"@example.com', "foo bar@example.com", "@example.com/", "henryⅣ@example.com",
           "♚@example.com", "juliet@", "/foobar", "juliet@example.com/", "a@b@example.com@",
           "juliet@exa mple.com", "juliet@[not-v6]", "x" * 1024 + "@example.com", "juliet@" + "a" * 64 + ".com",
           "juliet@example.com/bad\x07bell", "ju\x00liet@example.com"]


@pytest.mark.parametrize(("text", "jid"), VALID)
def test_valid_jids_prepare_as_the_rfc_says(text: str, jid: Jid) -> None:
    assert Jid.parse(text) == jid
    assert Jid.parse(str(jid)) == jid


@pytest.mark.parametrize("text", INVALID)
def test_invalid_jids_are_refused(text: str) -> None:
    with pytest.raises(JidError):
        Jid.parse(text)


def test_bare_and_full() -> None:
    full = Jid.parse("juliet@example.com/balcony")
    assert full.bare == Jid.parse("JULIET@example.com") and not full.is_bare and full.bare.is_bare
    assert str(full.bare.with_resource("orchard")) == "juliet@example.com/orchard"


@given(st.text(max_size=80))
def test_any_text_is_a_jid_or_jid_malformed_and_parsing_is_idempotent(text: str) -> None:
    try:
        jid = Jid.parse(text)
    except JidError:
        return
    assert Jid.parse(str(jid)) == jid


@given(st.from_regex(r"[a-zA-Z0-9._-]{1,20}@[a-zA-Z0-9-]{1,20}(\.[a-zA-Z0-9-]{1,10}){0,3}(/[ -~]{1,20})?",
                     fullmatch=True))
def test_ascii_addresses_compare_without_case_but_resources_keep_theirs(text: str) -> None:
    jid = Jid.parse(text)
    assert jid == Jid.parse(text.split("/")[0].upper() + text[len(text.split("/")[0]):])
    assert jid.resource == (text.split("/", 1)[1] if "/" in text else "")
