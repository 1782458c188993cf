"""The parser's NOTIFY (RFC 5465 section 8) and UNAUTHENTICATE (RFC 8437): the RFC's examples, the errors,
and property tests: any event group written out parses back to itself, and token soup fails cleanly."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.imap import responses
from polyport.imap.wire import FetchBody, Notify, NotifyEventGroup, ParseError, Section, Unauthenticate, parse_command


def cmd(line: str) -> object:
    return parse_command(line.encode() + b"\r\n")


def bad(line: str) -> ParseError:
    with pytest.raises(ParseError) as caught:
        parse_command(line.encode() + b"\r\n")
    return caught.value


def test_rfc_examples() -> None:
    # RFC 5465 section 3.1 and 7
    assert cmd("A NOTIFY NONE") == Notify("A", None)
    assert cmd("A NOTIFY SET STATUS (selected (MessageNew (uid body.peek[header.fields (from to subject)]) "
               "MessageExpunge)) (subtree Lists (MessageNew MessageExpunge))") == Notify("A", (
                   NotifyEventGroup("SELECTED", ("MessageNew", "MessageExpunge"), (), (
                       "UID", FetchBody(Section(text="HEADER.FIELDS", fields=("from", "to", "subject")), True))),
                   NotifyEventGroup("SUBTREE", ("MessageNew", "MessageExpunge"), ("Lists",))), True)
    assert cmd("A NOTIFY SET (mailboxes (INBOX \"Other\") (MailboxName SubscriptionChange)) (personal NONE) "
               "(inboxes (MessageNew MessageExpunge FlagChange)) (subscribed (ServerMetadataChange))") == Notify("A", (
                   NotifyEventGroup("MAILBOXES", ("MailboxName", "SubscriptionChange"), ("INBOX", "Other")),
                   NotifyEventGroup("PERSONAL", ()),
                   NotifyEventGroup("INBOXES", ("MessageNew", "MessageExpunge", "FlagChange")),
                   NotifyEventGroup("SUBSCRIBED", ("ServerMetadataChange",))))
    # events and filters compare without case; an unknown event (event-ext) is kept for BADEVENT
    assert cmd("a notify set (Selected-Delayed (messagenew messageexpunge XNew))") == Notify("a", (
        NotifyEventGroup("SELECTED-DELAYED", ("MessageNew", "MessageExpunge", "XNew")),))
    assert cmd("a UNAUTHENTICATE") == Unauthenticate("a")


@pytest.mark.parametrize("line", [
    "a NOTIFY", "a NOTIFY SET", "a NOTIFY ON", "a NOTIFY NONE extra", "a NOTIFY SET STATUS",
    "a NOTIFY SET (personal)", "a NOTIFY SET (personal ())", "a NOTIFY SET (elsewhere (MailboxName))",
    "a NOTIFY SET (subtree (MailboxName))", "a NOTIFY SET (mailboxes () (MailboxName))",
    "a NOTIFY SET (personal (MailboxName)", "a NOTIFY SET (personal (MailboxName)) extra",
    "a NOTIFY SET (selected NONE) (selected-delayed NONE)",
    "a NOTIFY SET (inboxes (MessageNew (UID) MessageExpunge))",  # fetch-att only for SELECTED (5.2)
    "a NOTIFY SET (selected (MessageNew (NOSUCH) MessageExpunge))", "a UNAUTHENTICATE now",
])
def test_errors(line: str) -> None:
    assert bad(line).tag == "a"


EVENTS = ("MessageNew", "MessageExpunge", "FlagChange", "AnnotationChange", "MailboxName", "SubscriptionChange",
          "MailboxMetadataChange", "ServerMetadataChange", "XOther")
names = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\0\r\n"), min_size=1, max_size=12)


@st.composite
def groups(draw: st.DrawFn) -> NotifyEventGroup:
    kind = draw(st.sampled_from(["INBOXES", "PERSONAL", "SUBSCRIBED", "SUBTREE", "MAILBOXES"]))
    boxes = tuple(draw(st.lists(names, min_size=1, max_size=3, unique=True))) if kind in ("SUBTREE", "MAILBOXES") \
        else ()
    events = tuple(draw(st.lists(st.sampled_from(EVENTS), max_size=5, unique=True)))
    return NotifyEventGroup(kind, events, boxes)  # type: ignore[arg-type]


def written(group: NotifyEventGroup) -> bytes:
    out = b"(" + group.kind.lower().encode()
    if group.mailboxes:
        out += b" (" + b" ".join(responses.astring(m, utf8=True) for m in group.mailboxes) + b")"
    out += b" (" + b" ".join(e.encode() for e in group.events) + b")" if group.events else b" NONE"
    return out + b")"


@settings(max_examples=300)
@given(st.lists(groups(), min_size=1, max_size=4), st.booleans())
def test_event_groups_round_trip(drawn: list[NotifyEventGroup], status: bool) -> None:
    line = b"t NOTIFY SET " + (b"STATUS " if status else b"") + b" ".join(written(g) for g in drawn) + b"\r\n"
    assert parse_command(line, utf8=True) == Notify("t", tuple(drawn), status)


TOKENS = [b"a ", b"NOTIFY ", b"SET ", b"NONE", b"STATUS ", b"(", b")", b" ", b"selected", b"subtree ",
          b"mailboxes ", b"personal", b"MessageNew", b"MessageExpunge", b"UID", b"BODY.PEEK[HEADER]", b'"x"',
          b"{1}\r\nx", b"\r\n", b"\x00"]


@settings(max_examples=1000)
@given(st.lists(st.sampled_from(TOKENS), max_size=20))
def test_token_soup_parses_or_fails_with_parse_error(tokens: list[bytes]) -> None:
    with contextlib.suppress(ParseError):
        parse_command(b"".join(tokens))


def test_at_most_100_event_groups_and_100_mailboxes_in_a_group() -> None:
    groups = " ".join(["(personal NONE)"] * 100)
    parsed = cmd(f"a NOTIFY SET {groups}")
    assert isinstance(parsed, Notify) and parsed.groups is not None and len(parsed.groups) == 100
    assert bad(f"a NOTIFY SET {groups} (inboxes NONE)").message == "more than 100 event groups"
    boxes = " ".join(f"box{n}" for n in range(100))
    parsed = cmd(f"a NOTIFY SET (mailboxes ({boxes}) (MessageNew))")
    assert isinstance(parsed, Notify) and parsed.groups is not None and len(parsed.groups[0].mailboxes) == 100
    refused = bad(f"a NOTIFY SET (subtree ({boxes} box100) (MessageNew))")
    assert (refused.tag, refused.message) == ("a", "more than 100 mailboxes in an event group")
