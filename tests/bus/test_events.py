"""Typed bus events: topics, the wire form the cluster's bus will carry, and its checks."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.bus import topics
from polyport.bus.events import (
    KINDS,
    AccountChanged,
    AliasChanged,
    DirectoryEvent,
    DomainChanged,
    Event,
    ForwarderChanged,
    GroupChanged,
    MailboxChanged,
    MailboxListChanged,
    MessagesChanged,
    MetadataChanged,
    QueueDue,
    ServerChanged,
    SubscriptionsChanged,
    WireError,
    XmppBlocklistChanged,
    XmppKick,
    XmppResource,
    XmppRoomHeld,
    XmppRoomStanza,
    XmppStanzas,
    XmppSync,
    from_wire,
)

# One of each kind, with every optional field set somewhere.
EXAMPLES: list[Event] = [
    MailboxChanged(42, "append", modseq=7, uid=3),
    MailboxChanged(42, "expunge"),
    MailboxListChanged(5),
    MessagesChanged(5, 42, "flags"),
    SubscriptionsChanged(5, ("INBOX", "~ann/Shared"), True),
    MetadataChanged(5, 42, ("/private/comment",), private_to=7),
    MetadataChanged(None, None, ("/shared/admin",)),
    AccountChanged("ann@example.com", "renamed", to="anne@example.com"),
    DomainChanged("example.com", "account_defaults"),
    ServerChanged("services"),
    AliasChanged("al@example.com", "created", account="ann@example.com"),
    ForwarderChanged("fw@example.com", "renamed", to="fw2@example.com"),
    GroupChanged("team@example.com", "changed"),
    QueueDue(),
    XmppResource("o1", "ann@example.com/phone", presence="<presence/>", priority=5, interested=True),
    XmppResource("o1", "ann@example.com/phone", gone=True),
    XmppStanzas("o2", [("ann@example.com/phone", "<message/>")]),
    XmppSync("o3"),
    XmppKick("o4", "ann@example.com/phone"),
    XmppBlocklistChanged("o5", "ann@example.com"),
    XmppRoomStanza("o6", "o7", "<presence to='tea@conference.example.com/ann'/>", hops=1),
    XmppRoomHeld("o7", "tea@conference.example.com", '{"occupants":1}'),
    XmppRoomHeld("o7", "tea@conference.example.com", gone=True),
]


def test_every_kind_has_an_example() -> None:
    assert {type(e) for e in EXAMPLES} == set(KINDS.values())
    assert {cls.kind for cls in KINDS.values()} == set(KINDS)


@pytest.mark.parametrize("event", EXAMPLES, ids=lambda e: type(e).__name__)
def test_the_wire_form_round_trips_through_json(event: Event) -> None:
    wire = event.to_wire()
    assert wire["kind"] == event.kind
    assert from_wire(json.loads(json.dumps(wire))) == event
    assert Event.from_wire(wire) == event and type(event).from_wire(wire) == event


@given(st.one_of([st.from_type(cls) for cls in KINDS.values()]))
def test_any_event_round_trips(event: Event) -> None:
    assert from_wire(json.loads(json.dumps(event.to_wire()))) == event


def test_topics() -> None:
    assert MailboxChanged(42, "flags", modseq=1).topic == topics.mailbox(42) == "mailbox.42"
    assert MailboxListChanged(5).topic == topics.account(5) == "account.5"
    assert MessagesChanged(5, 42, "append").topic == SubscriptionsChanged(5, (), False).topic == "account.5"
    assert MetadataChanged(5, None, ("/private/x",), private_to=5).topic == "account.5"
    assert XmppSync("o").topic == XmppStanzas("o", []).topic == topics.XMPP == "xmpp"
    assert MetadataChanged(None, None, ("/shared/x",)).topic == topics.SERVER_METADATA == "server-metadata"
    for event in EXAMPLES:
        if isinstance(event, DirectoryEvent):
            assert event.topic == topics.DIRECTORY == "directory"


@pytest.mark.parametrize(("pattern", "topic", "heard"), [
    ("mailbox.42", "mailbox.42", True), ("mailbox.42", "mailbox.420", False),
    ("mailbox.*", "mailbox.420", True), ("mailbox.*", "account.4", False), ("*", "directory", True),
])
def test_topic_matching(pattern: str, topic: str, heard: bool) -> None:
    assert topics.matches(pattern, topic) is heard


def test_the_wire_form_is_a_plain_dictionary() -> None:
    assert MailboxChanged(42, "append", modseq=7, uid=3).to_wire() == {
        "kind": "mailbox", "mailbox_id": 42, "change": "append", "modseq": 7, "uid": 3}
    assert ServerChanged("network").to_wire() == {"kind": "server", "dictionary": "network"}


@pytest.mark.parametrize(("data", "why"), [
    ([], "dictionary"),
    ({"mailbox_id": 1, "change": "flags"}, "unknown event kind None"),
    ({"kind": "presence", "who": "x"}, "unknown event kind 'presence'"),
    ({"kind": "mailbox", "change": "flags"}, "missing required field `mailbox_id`"),
    ({"kind": "mailbox", "mailbox_id": "1", "change": "flags"}, "Expected `int`, got `str`"),
    ({"kind": "mailbox", "mailbox_id": True, "change": "flags"}, "Expected `int`, got `bool`"),
    ({"kind": "mailbox", "mailbox_id": 1, "change": "exploded"}, "Invalid enum value 'exploded'"),
    ({"kind": "account", "account": "a@b", "change": "created", "to": 3}, "Expected `str | null`"),
])
def test_a_bad_wire_form_is_refused(data: Any, why: str) -> None:
    with pytest.raises(WireError, match=why):
        from_wire(data)


def test_a_kind_read_as_another_is_refused() -> None:
    with pytest.raises(WireError, match="not a MailboxChanged"):
        MailboxChanged.from_wire(ServerChanged("services").to_wire())
    assert DirectoryEvent.from_wire(ServerChanged("services").to_wire()) == ServerChanged("services")


def test_fields_from_a_newer_node_are_ignored() -> None:
    wire = {**MailboxChanged(1, "append", modseq=2).to_wire(), "origin": "node-7"}
    assert from_wire(wire) == MailboxChanged(1, "append", modseq=2)


def test_events_are_frozen_slotted_and_hashable() -> None:
    event = MailboxChanged(1, "acl")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.modseq = 3  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
    assert len({MailboxChanged(1, "acl"), MailboxChanged(1, "acl"), MailboxChanged(2, "acl")}) == 2

