"""The parser's CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 sections 4 and 5): UPDATE and CONTEXT among the
return options of SEARCH and SORT, CANCELUPDATE 1*(SP quoted); the RFC's examples, the errors, and property
tests: any tags quoted parse back to themselves, and token soup fails cleanly."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.imap import responses
from polyport.imap.wire import (
    CancelUpdate,
    ParseError,
    Search,
    SearchAll,
    SearchAnd,
    SearchFlag,
    SearchNot,
    Sort,
    SortCriterion,
    parse_command,
)
from polyport.imap.wire.parser import MAX_CANCELLED_TAGS


def cmd(line: str, *, utf8: bool = False) -> object:
    return parse_command(line.encode() + b"\r\n", utf8=utf8)


def bad(line: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_command(line.encode() + b"\r\n")
    return caught.value


def test_the_rfcs_examples() -> None:
    # 4.2, 4.3, 4.3.1, 4.3.5
    assert cmd("A01 SEARCH RETURN (CONTEXT COUNT) UNDELETED UNKEYWORD $Junk") == Search(
        "A01", SearchAnd((SearchFlag("\\Deleted", False), SearchFlag("$Junk", False))),
        return_options=frozenset({"CONTEXT", "COUNT"}))
    assert cmd("B01 UID SEARCH RETURN (UPDATE COUNT) DELETED KEYWORD $Junk") == Search(
        "B01", SearchAnd((SearchFlag("\\Deleted"), SearchFlag("$Junk"))), uid=True,
        return_options=frozenset({"UPDATE", "COUNT"}))
    assert cmd("B02 UID SORT RETURN (UPDATE COUNT) (DATE) UTF-8 KEYWORD $Junk") == Sort(
        "B02", (SortCriterion("DATE"),), "UTF-8", SearchFlag("$Junk"), uid=True,
        return_options=frozenset({"UPDATE", "COUNT"}))
    assert cmd('B04 CANCELUPDATE "B01"') == CancelUpdate("B04", ("B01",))


def test_update_and_context_with_the_other_options() -> None:
    # CONTEXT alone asks for nothing more than RETURN () does: ALL; UPDATE alone asks for no result now.
    assert cmd("a SEARCH RETURN (CONTEXT) ALL") == Search("a", SearchAll(), return_options=frozenset({"CONTEXT",
                                                                                                       "ALL"}))
    assert cmd("a SEARCH RETURN (update) ALL") == Search("a", SearchAll(), return_options=frozenset({"UPDATE"}))
    assert cmd("a SEARCH RETURN (UPDATE UPDATE SAVE) NOT SEEN") == Search(
        "a", SearchNot(SearchFlag("\\Seen")), return_options=frozenset({"UPDATE", "SAVE"}))
    # 4.4: PARTIAL and UPDATE do not interact, and may be used together
    assert cmd("a UID SORT RETURN (PARTIAL 1:10 UPDATE CONTEXT) (SUBJECT) UTF-8 ALL") == Sort(
        "a", (SortCriterion("SUBJECT"),), "UTF-8", SearchAll(), uid=True,
        return_options=frozenset({"PARTIAL", "UPDATE", "CONTEXT"}), partial=(1, 10))


def test_cancelupdate() -> None:
    assert cmd('a CANCELUPDATE "B01" "B02" "B01"') == CancelUpdate("a", ("B01", "B02"))  # once each
    assert cmd('a cancelupdate "x\\"y"') == CancelUpdate("a", ('x"y',))
    assert cmd('a CANCELUPDATE "tag-é"', utf8=True) == CancelUpdate("a", ("tag-é",))


@pytest.mark.parametrize(("line", "reason"), [
    ("a CANCELUPDATE", "missing the tag of a searching command"),
    ("a CANCELUPDATE B01", "expected a quoted tag, found 'B'"),
    ("a CANCELUPDATE {3}\r\nB01", "expected a quoted tag, found '{'"),
    ('a CANCELUPDATE ""', "an empty tag names no searching command"),
    ('a CANCELUPDATE "B01" ', "missing a quoted tag"),
    ('a CANCELUPDATE "B01"  "B02"', "expected a quoted tag, found ' '"),
    ('a CANCELUPDATE "B01', "unterminated quoted string"),
    ('a UID CANCELUPDATE "B01"', "unknown command UID CANCELUPDATE"),
    ("a SEARCH RETURN (UPDATE FOO) ALL", "unknown search return option FOO"),
    ("a SEARCH RETURN (UPDATE PARTIAL 1:5 ALL) ALL", "PARTIAL and ALL cannot be used together"),
    ("a SORT RETURN (UPDATE SAVE) (DATE) UTF-8 ALL", "unknown sort return option SAVE"),
    ("a CANCELUPDATE" + ' "t"' * (MAX_CANCELLED_TAGS + 1), f"more than {MAX_CANCELLED_TAGS} tags"),
])
def test_refusals(line: str, reason: str) -> None:
    assert bad(line).message == reason


tags = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)


@given(st.lists(tags, min_size=1, max_size=8))
def test_quoted_tags_round_trip(drawn: list[str]) -> None:
    line = b"t CANCELUPDATE " + b" ".join(responses.quoted_or_literal(tag) for tag in drawn) + b"\r\n"
    assert parse_command(line) == CancelUpdate("t", tuple(dict.fromkeys(drawn)))


TOKENS = [b"a ", b"CANCELUPDATE ", b"SEARCH ", b"SORT ", b"UID ", b"RETURN ", b"(", b")", b" ", b"UPDATE",
          b"CONTEXT", b"PARTIAL 1:5", b"ALL", b"(DATE) ", b"UTF-8 ", b'"t1"', b'""', b'"', b"\\", b"{1}\r\nx",
          b"\r\n", b"\x00"]


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(TOKENS), max_size=20))
def test_token_soup_parses_or_fails_with_parse_error(tokens: list[bytes]) -> None:
    with contextlib.suppress(ParseError):
        parse_command(b"".join(tokens))
