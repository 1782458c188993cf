"""Rosters (RFC 6121 2): each account's contacts in the record store (tables xmpp_roster and
xmpp_roster_versions, migration 0014), for the XMPP sessions (and later XIMSS and the webmail).

An item is a contact's bare JID with a display name, groups and a subscription state; every change raises
the account's roster version (XEP-0237), which clients send back to learn whether they must fetch the
roster again. Items and versions change in one unit of work, so a version always names what it says.

Limits, refused with RosterRefused (the session's `not-acceptable` or `not-allowed`): at most MAX_ITEMS
items, a name of at most MAX_NAME characters, at most MAX_GROUPS groups of 1 to MAX_NAME characters each,
no group named twice (RFC 6121 2.3.3).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from polyport.errors import ServiceError
from polyport.im import subscriptions
from polyport.im.subscriptions import Outcome, State
from polyport.store import RecordStore, Statement, Unit

MAX_ITEMS = 1000
MAX_NAME = 256
MAX_GROUPS = 32
SUBSCRIPTIONS = ("none", "to", "from", "both")

ITEMS = Statement("""
    SELECT contact, name, subscription, ask, pending_in, approved, groups, listed FROM xmpp_roster
    WHERE account_id = :account_id ORDER BY contact""")
ITEM = Statement("""
    SELECT contact, name, subscription, ask, pending_in, approved, groups, listed FROM xmpp_roster
    WHERE account_id = :account_id AND contact = :contact""")
COUNT = Statement("SELECT COUNT(*) FROM xmpp_roster WHERE account_id = :account_id")
UPSERT = Statement("""
    INSERT INTO xmpp_roster (account_id, contact, name, subscription, ask, pending_in, approved, groups, listed)
    VALUES (:account_id, :contact, :name, :subscription, :ask, :pending_in, :approved, :groups, :listed)
    ON CONFLICT (account_id, contact) DO UPDATE SET name = excluded.name, subscription = excluded.subscription,
        ask = excluded.ask, pending_in = excluded.pending_in, approved = excluded.approved,
        groups = excluded.groups, listed = excluded.listed""")
DELETE = Statement("DELETE FROM xmpp_roster WHERE account_id = :account_id AND contact = :contact")
VERSION = Statement("SELECT version FROM xmpp_roster_versions WHERE account_id = :account_id")
RAISE_VERSION = Statement("""
    INSERT INTO xmpp_roster_versions (account_id, version) VALUES (:account_id, 1)
    ON CONFLICT (account_id) DO UPDATE SET version = xmpp_roster_versions.version + 1""")


class RosterRefused(ServiceError):
    """A roster change the limits or the rules refuse; `condition` is the stanza error to answer with."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition


@dataclass(frozen=True, slots=True)
class RosterItem:
    contact: str  # a prepared bare JID (xmpp.jid)
    name: str = ""
    subscription: str = "none"
    ask: bool = False  # our subscription request waits for the contact's answer
    pending_in: bool = False  # the contact's request waits for the user's
    approved: bool = False  # pre-approved: the contact's request will be accepted (RFC 6121 3.4)
    groups: tuple[str, ...] = field(default_factory=tuple)
    listed: bool = True  # in the roster (False: only a request of the contact's waits)

    @property
    def state(self) -> State:
        return State(self.subscription, self.ask, self.pending_in, self.approved)

    def with_state(self, state: State) -> RosterItem:
        return replace(self, subscription=state.subscription, ask=state.ask, pending_in=state.pending_in,
                       approved=state.approved)


def _item(row: dict[str, object]) -> RosterItem:
    groups = json.loads(str(row["groups"]))
    return RosterItem(str(row["contact"]), str(row["name"]), str(row["subscription"]), bool(row["ask"]),
                      bool(row["pending_in"]), bool(row["approved"]), tuple(str(g) for g in groups),
                      bool(row["listed"]))


def check(item: RosterItem) -> None:
    """The limits and rules of a roster item a client sets (RosterRefused)."""
    if len(item.name) > MAX_NAME:
        raise RosterRefused("not-acceptable", f"a name of more than {MAX_NAME} characters")
    if len(item.groups) > MAX_GROUPS:
        raise RosterRefused("not-acceptable", f"more than {MAX_GROUPS} groups")
    if len(set(item.groups)) != len(item.groups):
        raise RosterRefused("bad-request", "a group named twice (RFC 6121 2.3.3)")
    if any(not group or len(group) > MAX_NAME for group in item.groups):
        raise RosterRefused("not-acceptable", f"a group name is 1 to {MAX_NAME} characters")
    if item.subscription not in SUBSCRIPTIONS:
        raise RosterRefused("bad-request", f"no subscription state {item.subscription!r}")


def _version(account_id: int) -> Unit[int]:
    found = yield VERSION.value(account_id=account_id)
    return int(found or 0)


def _put(account_id: int, item: RosterItem) -> Unit[None]:
    yield UPSERT.run(account_id=account_id, contact=item.contact, name=item.name, subscription=item.subscription,
                     ask=int(item.ask), pending_in=int(item.pending_in), approved=int(item.approved),
                     groups=json.dumps(list(item.groups)), listed=int(item.listed))


class Rosters:
    """Every account's roster, in the record store."""

    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def roster(self, account_id: int) -> tuple[int, list[RosterItem]]:
        """The roster's version and its items, by contact."""
        def unit() -> Unit[tuple[int, list[RosterItem]]]:
            version = yield from _version(account_id)
            rows = yield ITEMS.all(account_id=account_id)
            return version, [item for item in map(_item, rows) if item.listed]

        return await self.records.read(unit())

    async def version(self, account_id: int) -> int:
        return await self.records.read(_version(account_id))

    async def item(self, account_id: int, contact: str) -> RosterItem | None:
        def unit() -> Unit[RosterItem | None]:
            row = yield ITEM.one(account_id=account_id, contact=contact)
            return None if row is None else _item(row)

        return await self.records.read(unit())

    async def set_item(self, account_id: int, contact: str, name: str,
                       groups: tuple[str, ...]) -> tuple[int, RosterItem]:
        """A client's roster set (RFC 6121 2.3): the name and groups; the subscription state is the
        server's and stays. The new version and the item as stored."""
        def unit() -> Unit[tuple[int, RosterItem]]:
            row = yield ITEM.one(account_id=account_id, contact=contact)
            if row is None:
                count = yield COUNT.value(account_id=account_id)
                if int(count or 0) >= MAX_ITEMS:
                    raise RosterRefused("not-allowed", f"a roster holds at most {MAX_ITEMS} items")
                old = RosterItem(contact)
            else:
                old = _item(row)
            item = replace(old, name=name, groups=groups, listed=True)
            check(item)
            yield from _put(account_id, item)
            yield RAISE_VERSION.run(account_id=account_id)
            version = yield from _version(account_id)
            return version, item

        return await self.records.write(unit())

    async def remove(self, account_id: int, contact: str) -> tuple[int, RosterItem] | None:
        """Remove the contact (RFC 6121 2.5): the new version and the item as it was; None if there was
        none."""
        def unit() -> Unit[tuple[int, RosterItem] | None]:
            row = yield ITEM.one(account_id=account_id, contact=contact)
            if row is None or not _item(row).listed:
                return None
            yield DELETE.run(account_id=account_id, contact=contact)
            yield RAISE_VERSION.run(account_id=account_id)
            version = yield from _version(account_id)
            return version, _item(row)

        return await self.records.write(unit())

    async def subscription(self, account_id: int, contact: str, kind: str, *,
                           outbound: bool) -> tuple[int | None, RosterItem, Outcome]:
        """A subscription stanza of the user's (`outbound`) or of the contact's arriving (RFC 6121 3): the
        new roster version if the roster as the user sees it changed (None if not), the item after, and
        what the state machine says (im/subscriptions.py)."""
        def unit() -> Unit[tuple[int | None, RosterItem, Outcome]]:
            row = yield ITEM.one(account_id=account_id, contact=contact)
            old = _item(row) if row is not None else RosterItem(contact, listed=False)
            outcome = subscriptions.outbound(old.state, kind) if outbound else subscriptions.inbound(old.state, kind)
            new = old.with_state(outcome.state)
            if outbound and (kind == "subscribe" or (kind == "subscribed" and outcome.goes_on)):
                new = replace(new, listed=True)  # RFC 6121 3.1.2, 3.1.5: the contact joins the roster
            if new == old:
                return None, new, outcome
            if row is None:
                count = yield COUNT.value(account_id=account_id)
                if int(count or 0) >= MAX_ITEMS:
                    raise RosterRefused("not-allowed", f"a roster holds at most {MAX_ITEMS} items")
            if not new.listed and new.state == subscriptions.State():
                yield DELETE.run(account_id=account_id, contact=contact)
            else:
                yield from _put(account_id, new)
            if not (old.listed or new.listed):
                return None, new, outcome  # a waiting request the roster does not show
            yield RAISE_VERSION.run(account_id=account_id)
            version = yield from _version(account_id)
            return version, new, outcome

        return await self.records.write(unit())

    async def waiting(self, account_id: int) -> list[RosterItem]:
        """The contacts whose subscription requests wait for the user (Pending In)."""
        def unit() -> Unit[list[RosterItem]]:
            rows = yield ITEMS.all(account_id=account_id)
            return [item for item in map(_item, rows) if item.pending_in]

        return await self.records.read(unit())
