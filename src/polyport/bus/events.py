"""The events that travel on the bus: one frozen class per kind, each knowing its topic.

Publishers build an event and hand it to `Bus.publish`; the topic comes from the event
(`MailboxChanged(42, "append", modseq=7).topic == "mailbox.42"`), so nobody writes topic strings
(`topics.py` builds those that subscribers need). Events are published after the change they describe
is committed, and say *that* something changed, not the whole new state: a subscriber re-reads what it
shows.

Between nodes (the Redis bus of the cluster) an event travels as a JSON-able dictionary:
`event.to_wire()` gives `{"kind": "mailbox", "mailbox_id": 42, ...}`, `Event.from_wire(data)` rebuilds
the event through the registry of kinds, checking every field's type (`WireError` if anything is off).
Fields a newer node adds are ignored by an older one, so nodes can be upgraded one at a time; a new
field must therefore have a default.

The kinds are those the services publish today:

- `MailboxChanged` (topic `mailbox.<id>`, the mailstore): messages appended, flags changed, messages
  expunged, the mailbox deleted, renamed, or its ACL changed.
- `MailboxListChanged` (topic `account.<id>`, the mailstore): a mailbox of the account was created,
  deleted or renamed.
- `MessagesChanged`, `SubscriptionsChanged` and `MetadataChanged` (topic `account.<id>`, the mailstore):
  what an IMAP NOTIFY session (RFC 5465) watches across an account's mailboxes with one subscription,
  instead of one per mailbox. `MetadataChanged` of the server's shared entries goes to `server-metadata`.
- `QueueDue` (topic `queue`, the outbound queue): mail to send now.
- `XmppResource`, `XmppStanzas`, `XmppSync`, `XmppKick`, `XmppBlocklistChanged` (topic `xmpp`,
  xmpp/router.py): clients' resources, the stanzas for them and block lists read again, between the
  workers and nodes that serve XMPP.
- The directory's, all on topic `directory`: `AccountChanged`, `DomainChanged`, `ServerChanged`,
  `AliasChanged`, `ForwarderChanged`, `GroupChanged`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Literal, Self, TypeVar

import msgspec

from polyport.bus import topics

KIND = "kind"  # the wire dictionary's key naming the event's kind


class WireError(ValueError):
    """A wire dictionary that is not an event this node knows (unknown kind, missing or mistyped field)."""


class Event:
    """The base of every event. Subclasses are frozen, slotted dataclasses registered under a kind name."""

    __slots__ = ()
    kind: ClassVar[str]
    _wire_fields: ClassVar[tuple[str, ...]]

    @property
    def topic(self) -> str:
        raise NotImplementedError

    def to_wire(self) -> dict[str, Any]:
        """The event as a dictionary of JSON-able values, its kind under "kind"."""
        wire: dict[str, Any] = {KIND: self.kind}
        for name in self._wire_fields:
            wire[name] = getattr(self, name)
        return wire

    @classmethod
    def from_wire(cls, data: Any) -> Self:
        """The event a wire dictionary describes; WireError if it describes none (or, called on a subclass,
        not one of that class)."""
        if not isinstance(data, Mapping):
            raise WireError(f"an event is a dictionary, not {type(data).__name__}")
        kind = data.get(KIND)
        found = _KINDS.get(kind) if isinstance(kind, str) else None
        if found is None:
            raise WireError(f"unknown event kind {kind!r}")
        if not issubclass(found, cls):
            raise WireError(f"a {kind!r} event is not a {cls.__name__}")
        try:
            event: Self = msgspec.convert(dict(data), found)
        except msgspec.ValidationError as err:
            raise WireError(f"{kind} event: {err}") from None
        return event


_KINDS: dict[str, type[Event]] = {}
KINDS: Mapping[str, type[Event]] = MappingProxyType(_KINDS)
"""Every event class by its kind name."""

E = TypeVar("E", bound=type[Event])


def _kind(name: str) -> Callable[[E], E]:
    def register(cls: E) -> E:
        if name in _KINDS:
            raise RuntimeError(f"two event classes named {name!r}")
        cls.kind = name
        cls._wire_fields = tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]
        _KINDS[name] = cls
        return cls

    return register


# -- the mailstore's --

MailboxChange = Literal["append", "flags", "expunge", "deleted", "renamed", "acl"]


@_kind("mailbox")
@dataclass(frozen=True, slots=True)
class MailboxChanged(Event):
    """A mailbox changed: `append` (messages added, `uid` set when it was one message), `flags`,
    `expunge`, `deleted`, `renamed` or `acl`. `modseq` is the mailbox's mod-sequence after an append or
    a flag change, 0 for the changes that have none."""

    mailbox_id: int
    change: MailboxChange
    modseq: int = 0
    uid: int | None = None

    @property
    def topic(self) -> str:
        return topics.mailbox(self.mailbox_id)


@_kind("mailboxes")
@dataclass(frozen=True, slots=True)
class MailboxListChanged(Event):
    """A mailbox of the account was created, deleted or renamed (LIST would answer differently)."""

    account_id: int

    @property
    def topic(self) -> str:
        return topics.account(self.account_id)


@_kind("messages")
@dataclass(frozen=True, slots=True)
class MessagesChanged(Event):
    """Messages of one of the account's mailboxes were appended, had their flags changed or were expunged:
    `MailboxChanged` again, on the owner's account topic (a NOTIFY session hears all of an account's
    mailboxes on it)."""

    account_id: int
    mailbox_id: int
    change: Literal["append", "flags", "expunge"]

    @property
    def topic(self) -> str:
        return topics.account(self.account_id)


@_kind("subscriptions")
@dataclass(frozen=True, slots=True)
class SubscriptionsChanged(Event):
    """The account subscribed to or unsubscribed from `names` (IMAP's names; "~owner/x" for another
    account's mailbox)."""

    account_id: int
    names: tuple[str, ...]
    subscribed: bool

    @property
    def topic(self) -> str:
        return topics.account(self.account_id)


@_kind("metadata")
@dataclass(frozen=True, slots=True)
class MetadataChanged(Event):
    """METADATA entries (RFC 5464; lower-case names) were set or deleted: of a mailbox (`mailbox_id`) of
    the account `account_id` owns, or of the server (`mailbox_id` None). `private_to` is the account whose
    private entries they are (None for shared ones); the server's shared entries go to every account, on
    `topics.SERVER_METADATA`."""

    account_id: int | None
    mailbox_id: int | None
    entries: tuple[str, ...]
    private_to: int | None = None

    @property
    def topic(self) -> str:
        if self.account_id is None:
            return topics.SERVER_METADATA
        return topics.account(self.account_id)


# -- the directory's --

AccountChange = Literal["created", "deleted", "renamed", "settings", "prefs", "rights", "password", "type",
                        "aliases"]
DomainChange = Literal["created", "deleted", "renamed", "aliases", "settings", "account_defaults",
                       "account_template", "account_prefs"]
AliasChange = Literal["created", "deleted"]
ObjectChange = Literal["created", "changed", "deleted", "renamed"]


class DirectoryEvent(Event):
    """An event of the directory: all go to the one `directory` topic, so a follower of the directory
    (web sessions to check again, listener settings to apply) needs one subscription."""

    __slots__ = ()

    @property
    def topic(self) -> str:
        return topics.DIRECTORY


@_kind("account")
@dataclass(frozen=True, slots=True)
class AccountChanged(DirectoryEvent):
    """An account (`name@domain`) was created, deleted, renamed (`to` its new address) or had its
    settings, prefs, rights, password, storage type or aliases changed."""

    account: str
    change: AccountChange
    to: str | None = None


@_kind("domain")
@dataclass(frozen=True, slots=True)
class DomainChanged(DirectoryEvent):
    """A domain was created, deleted, renamed (`to` its new name) or had its aliases, settings, account
    defaults, account template or default account prefs changed."""

    domain: str
    change: DomainChange
    to: str | None = None


@_kind("server")
@dataclass(frozen=True, slots=True)
class ServerChanged(DirectoryEvent):
    """A server-wide dictionary changed: `account_defaults`, `domain_defaults`, `account_prefs`, or one
    kept for the CLI/API (`services`, `network`: directory.records' SERVER_* names)."""

    dictionary: str


@_kind("alias")
@dataclass(frozen=True, slots=True)
class AliasChanged(DirectoryEvent):
    """An alias (`name@domain`) was created (for `account`) or deleted."""

    alias: str
    change: AliasChange
    account: str | None = None


@_kind("forwarder")
@dataclass(frozen=True, slots=True)
class ForwarderChanged(DirectoryEvent):
    """A forwarder was created, changed (its target), deleted or renamed (`to` its new address)."""

    forwarder: str
    change: ObjectChange
    to: str | None = None


@_kind("group")
@dataclass(frozen=True, slots=True)
class GroupChanged(DirectoryEvent):
    """A group was created, changed (settings or members), deleted or renamed (`to` its new address)."""

    group: str
    change: ObjectChange
    to: str | None = None


# -- the queue's --

@_kind("queue")
@dataclass(frozen=True, slots=True)
class QueueDue(Event):
    """Mail was queued, or its retry asked for, by a worker that does not send: the one that does looks
    at the queue now instead of at its next due time."""

    @property
    def topic(self) -> str:
        return topics.QUEUE


# -- XMPP's (xmpp/router.py): every worker's view of the others' clients --

class XmppEvent(Event):
    __slots__ = ()

    @property
    def topic(self) -> str:
        return topics.XMPP


@_kind("xmpp-resource")
@dataclass(frozen=True, slots=True)
class XmppResource(XmppEvent):
    """A client's bound resource (`jid`) as the router that holds it (`origin`) has it now: its last
    available presence (XML; "" while unavailable) and priority, whether it asked for the roster and
    wants carbons; `gone` once unbound. Announced at each change and again every minute."""

    origin: str
    jid: str
    gone: bool = False
    presence: str = ""
    priority: int = 0
    interested: bool = False
    carbons: bool = False
    blocklist: bool = False  # asked for the block list: it gets its pushes (XEP-0191)


@_kind("xmpp-stanzas")
@dataclass(frozen=True, slots=True)
class XmppStanzas(XmppEvent):
    """Stanzas for resources other routers hold: (full JID, the stanza's XML) pairs, for the router
    `holder` (the one the sender's view says holds them; "": whichever does)."""

    origin: str
    deliveries: list[tuple[str, str]]
    holder: str = ""


@_kind("xmpp-sync")
@dataclass(frozen=True, slots=True)
class XmppSync(XmppEvent):
    """A router that started, or lost events, asks the others to announce their resources again."""

    origin: str


@_kind("xmpp-kick")
@dataclass(frozen=True, slots=True)
class XmppKick(XmppEvent):
    """`jid` was bound by a session of `origin` at `at` (Unix time): a session of another router that
    bound it before ends (a conflict, RFC 6120 7.7.2.2: the newer session keeps the resource). With a
    `reason`, the session bound to `jid` ends whenever it was bound (an administrator ended it)."""

    origin: str
    jid: str
    at: float = 0.0
    reason: str = ""


@_kind("xmpp-blocklist")
@dataclass(frozen=True, slots=True)
class XmppBlocklistChanged(XmppEvent):
    """The block list of `account` (a bare JID) changed: routers forget what they read of it."""

    origin: str
    account: str


@_kind("xmpp-room")
@dataclass(frozen=True, slots=True)
class XmppRoomStanza(XmppEvent):
    """A stanza (XML, its `from` the sender's full JID) for a chat room the router `holder` holds
    (xmpp/rooms.py), handed over by the router whose client sent it."""

    origin: str
    holder: str
    stanza: str
    hops: int = 0


@_kind("xmpp-room-held")
@dataclass(frozen=True, slots=True)
class XmppRoomHeld(XmppEvent):
    """A chat room the router `origin` holds, as administrators see it (`summary`: JSON of its name, kind,
    access, occupants and owners), at each change and every minute; `gone` once it no longer holds it."""

    origin: str
    room: str
    summary: str = ""
    gone: bool = False


def from_wire(data: Any) -> Event:
    """The event a wire dictionary describes (`Event.from_wire`)."""
    return Event.from_wire(data)
