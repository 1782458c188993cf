"""NOTIFY's bounds and the review's fixes (RFC 5465): the groups' names indexed and capped (NO [LIMIT]), the
loop shared by STATUS over many mailboxes, MessageNew's fetch attributes read in runs and streamed, and
sent in IDLE too; SELECTED taking message events only; shared METADATA needing "r" as the rights are now;
another owner's unwatched mailboxes never filling the session's queue."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from polyport.bus import LocalBus
from polyport.bus.events import MessagesChanged
from polyport.imap import fetch as rendering
from polyport.imap import notifications, wire
from polyport.kernel.turns import Turns
from polyport.mailstore import Mailbox
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import account_id, append, deliver, logged_in, message, nothing_pending, wait_for

MESSAGE_EVENTS = "(MessageNew MessageExpunge FlagChange)"


def mailbox(mailbox_id: int, name: str) -> Mailbox:
    return Mailbox(id=mailbox_id, account_id=1, name=name, special_use=None, uidvalidity=1, uidnext=1,
                   highestmodseq=1, messages=0, unseen=0, deleted=0, size=0, created=0)


class Mailboxes:
    """The part of the Mailstore that Notifications reads at refresh: one account's mailboxes."""

    def __init__(self, names: list[str]) -> None:
        self.own = [mailbox(number + 1, name) for number, name in enumerate(names)]

    async def mailboxes(self, account: int) -> list[Mailbox]:
        return self.own

    async def shared(self, account: int) -> list[Mailbox]:
        return []

    async def subscriptions(self, account: int) -> list[str]:
        return []


def watching(groups: tuple[wire.NotifyEventGroup, ...], names: list[str]) -> notifications.Notifications:
    return notifications.Notifications(groups, 1, LocalBus(), Mailboxes(names))  # type: ignore[arg-type]


# -- 1: matching indexed, cached, capped; the loop shared --

def test_subtree_roots_cover_their_descendants_only() -> None:
    found = notifications.Filter(roots={"Lists", "A/B"}, names={"Other"})
    assert found.covers("Lists", set()) and found.covers("Lists/python/dev", set()) and found.covers("A/B/c", set())
    assert not found.covers("ListsX", set()) and not found.covers("Old/Lists", set()) and not found.covers("A", set())
    assert found.covers("Other", set()) and not found.covers("Other/child", set())


@pytest.mark.one_process
def test_coverage_is_computed_once_per_name_and_event(monkeypatch: pytest.MonkeyPatch) -> None:
    names = [f"Box{n}" for n in range(50)]
    groups = tuple(wire.NotifyEventGroup("SUBTREE", ("MessageNew", "MessageExpunge"), (f"Box{n}",))
                   for n in range(0, 50, 2))
    calls = 0
    covers = notifications.Filter.covers

    def counted(self: notifications.Filter, name: str, subscribed: set[str]) -> bool:
        nonlocal calls
        calls += 1
        return covers(self, name, subscribed)

    monkeypatch.setattr(notifications.Filter, "covers", counted)
    notify = watching(groups, names)

    async def run() -> list[int]:
        await notify.start()
        first = await notify.status_mailboxes(None)
        again = await notify.status_mailboxes(None)
        assert first == again
        return first

    reported = asyncio.run(run())
    assert [notify.mailboxes[i].name for i in reported] == sorted(f"Box{n}" for n in range(0, 50, 2))
    # each (mailbox, event) looked up once, whatever the number of groups or of calls
    assert calls <= len(names) * len(notifications.MESSAGE_EVENTS)


@pytest.mark.one_process
def test_status_mailboxes_gives_the_loop_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(notifications, "Turns", lambda: Turns(0.0))  # a turn at every step
    notify = watching((wire.NotifyEventGroup("PERSONAL", ("MessageNew", "MessageExpunge")),),
                      [f"Box{n}" for n in range(200)])
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    async def run() -> int:
        await notify.start()
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        before = ticks
        found = await notify.status_mailboxes(None)
        task.cancel()
        assert len(found) == 200
        return ticks - before

    assert asyncio.run(run()) >= 100


@pytest.mark.one_process
def test_too_many_mailbox_names_is_no_limit(imap_node: ImapNode) -> None:
    a, _ = logged_in(imap_node)

    def groups(count: int) -> str:
        per_group = 100
        return " ".join("(subtree (" + " ".join(f"g{g}n{n}" for n in range(per_group)) + ") (MailboxName))"
                        for g in range(count // per_group))

    assert a.command(f"NOTIFY SET {groups(notifications.MAX_MAILBOX_NAMES)}")[1] == b"OK NOTIFY completed"
    _, tagged = a.command(f"NOTIFY SET {groups(notifications.MAX_MAILBOX_NAMES + 100)}")
    assert tagged.startswith(b"NO [LIMIT] ")
    a.close()


# -- 2 and 3: MessageNew's fetch attributes --

def recording(target: Any, name: str, monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []
    original: Callable[..., Awaitable[Any]] = getattr(target, name)

    async def record(*args: Any, **kwargs: Any) -> Any:
        calls.append((*args, *kwargs.values()))
        return await original(*args, **kwargs)

    monkeypatch.setattr(target, name, record)
    return calls


@pytest.mark.one_process
def test_new_message_fetch_reads_in_runs_and_streams_large_bodies(imap_node: ImapNode,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    b.ok("CREATE Src")
    large = message("large") + b"x" * (rendering.STREAM_AT + 1000) + b"\r\n"
    for number in range(7):
        deliver(imap_node, address, large if number == 3 else message(f"m{number}"), "Src")
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew (UID BODY.PEEK[]) MessageExpunge))")
    monkeypatch.setattr(rendering, "BATCH", 3)
    store = imap_node.mailstore
    blob_reads = recording(store, "blob_ids", monkeypatch)
    reads = recording(store, "read", monkeypatch)
    b.ok("SELECT Src")
    b.ok("COPY 1:* INBOX")
    fetched = [line for line in wait_for(a, b"* 7 FETCH", timeout=5) if b" FETCH " in line]
    assert [re.match(rb"\* (\d+) FETCH \(UID (\d+) ", line).groups() for line in fetched] == [  # type: ignore[union-attr]
        (b"%d" % n, b"%d" % n) for n in range(1, 8)]
    assert b"Subject: large" in fetched[3] and len(fetched[3]) > rendering.STREAM_AT
    assert blob_reads and all(last - first < 3 for _, first, last in blob_reads)  # runs of BATCH, not all at once
    assert all(size <= rendering.STREAM_AT for *_, size in reads)  # the large one streamed, never read whole
    a.close()
    b.close()


def test_idle_sends_new_message_fetch(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    a.ok("SELECT INBOX")
    a.ok("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge))")
    a.send(b"i1 IDLE\r\n")
    assert a.line() == b"+ idling"
    deliver(imap_node, address, message("in idle"))
    lines = wait_for(a, b"FETCH")
    assert lines[0] == b"* 1 EXISTS" and lines[-1] == b"* 1 FETCH (UID 1 FLAGS (\\Recent))"
    a.send(b"DONE\r\n")
    assert a.until(b"i1")[1] == b"OK IDLE terminated"
    a.close()


# -- 4: SELECTED takes message events; the selected mailbox's other events come from the other groups --

def test_selected_takes_message_events_only(imap_node: ImapNode) -> None:
    a, _ = logged_in(imap_node)
    for groups in ("(selected (MailboxName))", "(selected-delayed (MessageNew MessageExpunge SubscriptionChange))",
                   "(selected (MailboxMetadataChange)) (personal (MailboxName))", "(selected (ServerMetadataChange))"):
        assert a.command(f"NOTIFY SET {groups}")[1].startswith(b"BAD "), groups
    a.close()


def test_selected_mailbox_names_and_metadata_from_other_groups(imap_node: ImapNode) -> None:
    a, address = logged_in(imap_node)
    b, _ = logged_in(imap_node, address)
    a.ok("CREATE Work")
    a.ok("SELECT Work")
    a.ok("NOTIFY SET (selected (MessageNew MessageExpunge)) (personal (MailboxName MailboxMetadataChange))")
    b.ok('SETMETADATA Work (/shared/comment "hello")')
    assert wait_for(a, b"METADATA")[-1] == b"* METADATA Work /shared/comment"
    b.ok("RENAME Work Play")
    assert wait_for(a, b"OLDNAME")[-1] == b'* LIST () "/" Play ("OLDNAME" (Work))'
    a.close()
    b.close()


# -- 5 and 6: another account's mailbox --

def shared_box(imap_node: ImapNode, rights: str) -> tuple[Wire, str, Wire, str, str]:
    """An owner with a mailbox Shared granted to another account with `rights`; both logged in. Returns
    (owner's client, owner's address, other's client, other's name, the other's name for Shared)."""
    owner, owner_address = logged_in(imap_node)
    other, other_address = logged_in(imap_node)
    grantee = other_address.split("@")[0]
    owner.ok("CREATE Shared")
    owner.ok(f"SETACL Shared {grantee} {rights}")
    return owner, owner_address, other, grantee, f"~{owner_address.split('@')[0]}/Shared"


def test_shared_metadata_needs_read_right_as_it_is_now(imap_node: ImapNode) -> None:
    owner, _, other, grantee, shared = shared_box(imap_node, "lr")
    other.ok(f"NOTIFY SET (mailboxes ({shared}) (MailboxMetadataChange))")
    owner.ok('SETMETADATA Shared (/shared/comment "one")')
    assert wait_for(other, b"METADATA")[-1] == f"* METADATA {shared} /shared/comment".encode()
    owner.ok(f"SETACL Shared {grantee} l")  # no "r": shared entries are not its to read
    owner.ok('SETMETADATA Shared (/shared/comment "two")')
    assert nothing_pending(other, 0.3)
    owner.ok(f"DELETEACL Shared {grantee}")
    owner.ok('SETMETADATA Shared (/shared/comment "three")')
    assert nothing_pending(other, 0.3)
    owner.close()
    other.close()


def test_listing_right_alone_hears_no_shared_metadata(imap_node: ImapNode) -> None:
    owner, _, other, _, shared = shared_box(imap_node, "l")
    other.ok(f"NOTIFY SET (mailboxes ({shared}) (MailboxMetadataChange MailboxName))")
    owner.ok('SETMETADATA Shared (/shared/comment "one")')
    assert nothing_pending(other, 0.3)
    owner.close()
    other.close()


def test_unwatched_mailboxes_of_an_owner_do_not_fill_the_queue(imap_node: ImapNode) -> None:
    owner, owner_address, other, _, shared = shared_box(imap_node, "lr")
    other.ok(f"NOTIFY SET (mailboxes ({shared}) {MESSAGE_EVENTS})")
    other.send(b"i1 IDLE\r\n")
    assert other.line() == b"+ idling"
    owner_id = account_id(imap_node, owner_address)
    inbox = imap_node.running.call(imap_node.mailstore.mailbox(owner_id, "INBOX"))
    bus = imap_node.running.runtime.bus
    assert bus is not None

    async def burst() -> None:  # the owner's own INBOX, busy: nothing of it is the other's
        for _ in range(notifications.QUEUE_SIZE + 10):
            await bus.publish(MessagesChanged(owner_id, inbox.id, "append"))

    imap_node.running.call(burst())
    assert nothing_pending(other, 0.3)
    append(owner, message("watched"), "Shared")
    assert wait_for(other, b"STATUS")[-1].startswith(f"* STATUS {shared} (MESSAGES 1 ".encode())
    other.send(b"DONE\r\n")
    other.until(b"i1")
    owner.close()
    other.close()
