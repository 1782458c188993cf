"""The Mailstore service: mailboxes, messages and flags for every protocol that touches mail.

IMAP, POP3, delivery, the webmail and the CLI/API all go through this class. It parses each message once
(mime.parse), writes its bytes to the blob store (fsynced) before the records that point at them are
committed, and publishes a MailboxChanged event (topic `mailbox.<id>`) after each commit, so every session
on a mailbox hears of changes made elsewhere (and MailboxListChanged, topic `account.<id>`, when the
account's mailboxes change). Identical bodies are stored once and shared by reference count; bodies nobody
references any more are swept with their blobs after a grace period (a delivery racing a sweep could
otherwise lose a blob it just found existing).

Durability: a message (delivery, APPEND, COPY) is on disk before it is acknowledged. Flag changes,
expunges, POP3's deletions and \\Recent claims are written with `durable=False` (RecordStore.write): they
survive the node's crash at once, and a power cut once the next message's commit (or a checkpoint) has
fsynced them; a power cut may bring back a message just expunged or a flag just changed, never lose mail.
This is what Dovecot's default (mail_fsync = optimized) promises too, and it saves STORE and EXPUNGE an
fsync each.

Shared folders (RFC 4314, acl.py): every method taking an account and a mailbox name takes "~owner/name"
for another account's mailbox and enforces that account's rights there; a Mailbox record carries the
asker's `rights`. One's own mailboxes cost nothing more: the name does not start with "~", no ACL is read.
Methods taking a selected mailbox (store_flags, expunge, copy's source) take its Mailbox record and re-read
the ACL inside their unit of work when it is another account's, so a revoked right stops writes at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from polyport.bus import Bus
from polyport.bus.events import (
    MailboxChange,
    MailboxChanged,
    MailboxListChanged,
    MessagesChanged,
    MetadataChanged,
    SubscriptionsChanged,
)
from polyport.directory import Directory
from polyport.directory import settings as schema
from polyport.mailstore import acl, imapurl, names, sections, urlauth
from polyport.mailstore import flags as fl
from polyport.mailstore import metadata as md
from polyport.mailstore import records as rec
from polyport.mailstore.errors import (
    CannotDelete,
    MessageTooLarge,
    MetadataTooLarge,
    NoSuchMailbox,
    NoSuchMessage,
    NotPermitted,
    OverQuota,
    RecipientOverQuota,
)
from polyport.mailstore.index import IndexCache, MessageIndex
from polyport.mailstore.records import Appended, Copied, FlagChange, Mailbox
from polyport.mime import structure as st
from polyport.store import BlobStore, RecordStore, Row, Statement, Unit, unit_of
from polyport.store.blobs import BlobDamaged, BlobNotFound, log_damaged, log_missing, wrong_size

# Bodies nobody references are kept this long before they and their blobs are deleted.
ORPHAN_GRACE = 3600
# Messages up to this size keep their bytes in their body record instead of a blob file: they become
# durable in the same commit as the records (one fsync for a group of deliveries, where a file costs its
# own fsync and its folder's), and they are read back with the records. bench/smtp, 50 connections:
# 1,070 -> 2,130 messages/s (docs/architecture.md).
INLINE_BODY = 64 * 1024
# Messages bigger than this are parsed in a worker thread rather than on the event loop.
PARSE_IN_THREAD = 256 * 1024
# A StoredBody is read in pieces of this size: the connection's high-water mark (net/connection.py), so
# a piece is sent while the next is read and a large message is never held whole.
READ_PIECE = 256 * 1024


MAILBOX_MODSEQ = Statement("SELECT highestmodseq FROM mailboxes WHERE id = :id")
MAILBOX_OWNER = Statement("SELECT account_id FROM mailboxes WHERE id = :id")
# Mailbox ids whose owner (the account topic of MessagesChanged) is remembered: a mailbox never changes
# account, so a delivery to a known mailbox costs no read for it.
OWNER_CACHE = 50_000
MAX_UID = 2**32 - 1
# Messages read at a time when a mailbox's index is first built (about 10 us each on this machine).
INDEX_SLICE = 2_500
HAS_INBOX = Statement("SELECT id FROM mailboxes WHERE account_id = :account_id AND name = 'INBOX'")
BLOBS_RANGE = Statement("""
    SELECT m.uid, b.blob FROM messages m JOIN bodies b ON b.id = m.body_id
    WHERE m.mailbox_id = :mailbox_id AND m.uid >= :first AND m.uid <= :last""")

SUMMARY_RANGE = Statement("""
    SELECT m.uid, b.sent, b.subject, b.addresses FROM messages m JOIN bodies b ON b.id = m.body_id
    WHERE m.mailbox_id = :mailbox_id AND m.uid >= :first AND m.uid <= :last""")

SUMMARY_BATCH = 50
SUMMARY_SET = Statement(f"""
    SELECT m.uid, b.sent, b.subject, b.addresses FROM messages m JOIN bodies b ON b.id = m.body_id
    WHERE m.mailbox_id = :mailbox_id AND m.uid IN ({", ".join(f":u{i}" for i in range(SUMMARY_BATCH))})""")  # noqa: S608


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True, slots=True)
class MessageMeta:
    uid: int
    modseq: int
    flags: int
    keywords: str
    internal_date: int
    saved: int
    size: int
    body_id: int
    thread_id: int

    @property
    def flag_names(self) -> list[str]:
        return fl.join(self.flags, self.keywords)


@dataclass(frozen=True, slots=True)
class MessageFull(MessageMeta):
    blob: str
    structure_json: str
    sent: int | None
    subject: str
    addresses: str

    def structure(self) -> st.Structure:
        return st.decode(self.structure_json.encode())


@dataclass(frozen=True, slots=True)
class Summary:
    """What a message list shows of a message besides its flags: decoded subject and address lines
    ("from:Name <a@b>" a line, as stored for SEARCH), and the Date field's time."""

    uid: int
    sent: int | None
    subject: str
    addresses: str


@dataclass(frozen=True, slots=True)
class ViewEntry:
    uid: int
    modseq: int
    flags: int
    keywords: str


@dataclass(frozen=True, slots=True)
class StoredBody:
    """A message's bytes left in the blob store, found there with the size its record gives
    (`Mailstore.stored`): read in ranges as they are sent, so a large message is never held whole."""

    blobs: BlobStore
    blob: str
    size: int

    async def read(self, start: int, end: int) -> bytes:
        """Bytes start:end of the message; BlobDamaged if the blob is no longer of its size."""
        try:
            data = await self.blobs.read(self.blob, start, end - start, self.size)
        except BlobNotFound:
            log_missing(self.blob)
            raise
        if len(data) != end - start:  # shortened after the size was checked
            raise log_damaged(wrong_size(self.blob, start + len(data), self.size))
        return data

    async def pieces(self, start: int, end: int) -> AsyncGenerator[bytes, None]:
        """Bytes start:end of the message, READ_PIECE at a time."""
        while start < end:
            piece = await self.read(start, min(end, start + READ_PIECE))
            start += len(piece)
            yield piece

    async def verify(self) -> None:
        """Read the whole blob and check that it hashes to its name: before a whole message is sent, so
        one overwritten in place is refused alone instead of being found out after its last byte went
        to a client (the blob store's `stream`), which then keeps it or is cut off in the middle."""
        try:
            await self.blobs.verify(self.blob, self.size)
        except BlobDamaged as err:
            raise log_damaged(err) from None
        except BlobNotFound:
            log_missing(self.blob)
            raise


def _checked(data: bytes, size: int | None, blob: str) -> bytes:
    """A message's bytes, if they are as long as its record says (BlobDamaged, logged, if not)."""
    if size is not None and len(data) != size:
        raise log_damaged(wrong_size(blob, len(data), size))
    return data


def _slice(data: bytes, offset: int, length: int | None) -> bytes:
    return data[offset:] if length is None else data[offset:offset + length]


@dataclass(frozen=True, slots=True)
class Acl:
    """A mailbox's access control list: its owner (who has every right) and the entries (identifier,
    rights) as stored: `anyone` first, then accounts by name, then negative entries ("-name")."""

    owner: str
    entries: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Changes:
    highestmodseq: int
    changed: list[ViewEntry]  # messages whose flags changed, or that arrived, since the asked modseq
    vanished: list[int]  # UIDs expunged since


def _meta(row: Row) -> MessageMeta:
    return MessageMeta(int(row["uid"]), int(row["modseq"]), int(row["flags"]), str(row["keywords"]),
                       int(row["internal_date"]), int(row["saved"]), int(row["size"]), int(row["body_id"]),
                       int(row["thread_id"]))


def _full(row: Row) -> MessageFull:
    return MessageFull(int(row["uid"]), int(row["modseq"]), int(row["flags"]), str(row["keywords"]),
                       int(row["internal_date"]), int(row["saved"]), int(row["size"]), int(row["body_id"]),
                       int(row["thread_id"]), str(row["blob"]), str(row["structure"]), row["sent"],
                       str(row["subject"]), str(row["addresses"]))


def _entry(row: Row) -> ViewEntry:
    return ViewEntry(int(row["uid"]), int(row["modseq"]), int(row["flags"]), str(row["keywords"]))


def _search_texts(structure: st.Structure) -> tuple[str, str]:
    """The decoded subject and address lines stored beside a body for SEARCH (groups by name too)."""
    from polyport.mime.parse import address_lines
    from polyport.mime.parse import decode_encoded_words as decode_words

    return decode_words(structure.envelope.subject or ""), address_lines(structure.envelope)


class Mailstore:
    def __init__(self, store: RecordStore, blobs: BlobStore, directory: Directory, bus: Bus | None = None, *,
                 max_message_size: int = 50 * 1024 * 1024, inline_max: int = INLINE_BODY,
                 clock: Callable[[], int] = _now) -> None:
        self.store = store
        self.blobs = blobs
        self.directory = directory
        self.bus = bus
        self.max_message_size = max_message_size
        self.inline_max = inline_max
        self._clock = clock
        self._indexes = IndexCache()
        self._owners: dict[int, int] = {}

    async def _changed(self, mailbox_id: int, change: MailboxChange, modseq: int,
                       uid: int | None = None, *, owner: int | None = None) -> None:
        """Publish a change after its commit: on the mailbox's topic, and message changes on its owner's
        account topic too (NOTIFY). Callers that hold the mailbox pass its `owner`; the others (a mailbox
        by id alone: POP3's) have it looked up."""
        if self.bus is None:
            return
        await self.bus.publish(MailboxChanged(mailbox_id, change, modseq, uid))
        if change in ("append", "flags", "expunge"):
            if owner is None:
                owner = await self._owner(mailbox_id)
            if owner is not None:
                await self.bus.publish(MessagesChanged(owner, mailbox_id, change))

    async def _owner(self, mailbox_id: int) -> int | None:
        """The account owning a mailbox known by id alone (None if it is gone already)."""
        owner = self._owners.get(mailbox_id)
        if owner is None:
            found = await self.store.fetch(MAILBOX_OWNER.value(id=mailbox_id))
            if found is None:
                return None
            if len(self._owners) >= OWNER_CACHE:
                self._owners.clear()
            owner = self._owners[mailbox_id] = int(found)
        return owner

    async def _mailboxes_changed(self, account_id: int) -> None:
        if self.bus is not None:
            await self.bus.publish(MailboxListChanged(account_id))

    # -- limits --

    async def _limits(self, account_id: int) -> tuple[int | None, int | None, int | None]:
        """(MaxAccountSize bytes, MaxMessages, MaxMailboxes) of an account, None where unlimited."""
        settings = await self.directory.effective_account_settings_by_id(account_id)
        return (schema.size_limit(settings["MaxAccountSize"]), schema.count_limit(settings["MaxMessages"]),
                schema.count_limit(settings["MaxMailboxes"]))

    async def quota(self, account_id: int) -> tuple[int, int, int | None, int | None]:
        """(bytes used, messages stored, byte limit, message limit) for QUOTA and GETQUOTAROOT."""
        row = await self.store.fetch(rec.ACCOUNT_USAGE.one(account_id=account_id))
        max_size, max_messages, _ = await self._limits(account_id)
        return int(row["size"]), int(row["messages"]), max_size, max_messages

    # -- mailboxes --

    async def ensure_defaults(self, account_id: int) -> None:
        """INBOX and the special-use mailboxes (Sent, Drafts, Trash, Junk, Archive) on first use. INBOX cannot
        be deleted, so once it exists the account is set up (and a special-use mailbox the user deleted
        stays deleted); that check is one read, so logins write nothing here."""
        if await self.store.fetch(HAS_INBOX.value(account_id=account_id)) is not None:
            return
        made = await self.store.write(rec.ensure_defaults(account_id, self._clock()))
        if made:
            await self._mailboxes_changed(account_id)

    async def mailboxes(self, account_id: int) -> list[Mailbox]:
        rows = await self.store.fetch(rec.LIST_MAILBOXES.all(account_id=account_id))
        return [rec.to_mailbox(r) for r in rows]

    async def mailbox(self, account_id: int, name: str, *, need: str = "r") -> Mailbox:
        """A mailbox by the account's name for it; for another account's ("~bob/x"), only with the rights of
        `need` (any right at all when empty), and with the account's `rights` on it."""
        canonical = names.check(name)
        if canonical.startswith(names.FOREIGN):
            return await self._foreign(account_id, canonical, need)
        row = await self.store.fetch(rec.MAILBOX_BY_NAME.one(account_id=account_id, name=canonical))
        if row is None:
            raise NoSuchMailbox(f"no mailbox {name}")
        return rec.to_mailbox(row)

    async def _foreign(self, viewer: int, canonical: str, need: str) -> Mailbox:
        split = names.split_foreign(canonical)
        assert split is not None
        owner, name = split
        rows = await self.store.fetch(rec.FOREIGN_MAILBOX.all(viewer=viewer, owner=owner, name=name))
        if not rows:
            raise NoSuchMailbox(f"no mailbox {canonical}")
        mailbox = rec.to_foreign(rows, viewer, owner)
        rec.require(mailbox.rights, need, canonical)
        return mailbox

    async def _place(self, account_id: int, canonical: str, need: str) -> tuple[int, str, Mailbox | None]:
        """Where a named mailbox lives: (owner's account id, the owner's name for it, the Mailbox when it is
        another account's, after checking `need`). One's own costs no query."""
        split = names.split_foreign(canonical)
        if split is None:
            return account_id, canonical, None
        mailbox = await self._foreign(account_id, canonical, need)
        return mailbox.account_id, split[1], mailbox if mailbox.shared else None

    async def _place_new(self, account_id: int, canonical: str) -> tuple[int, str]:
        """(owner's account id, the owner's name) for a mailbox to be made under another account's: the
        level above must exist and grant "k" (RFC 4314 section 4, CREATE and RENAME)."""
        split = names.split_foreign(canonical)
        if split is None:
            return account_id, canonical
        owner, name = split
        parent = names.parent(name)
        if parent is None:
            owner_id = await self.store.fetch(rec.FOREIGN_OWNER.value(viewer=account_id, owner=owner))
            if owner_id is None:
                raise NoSuchMailbox(f"no account {owner} here")
            if int(owner_id) != account_id:
                raise NotPermitted(f"only {owner} creates mailboxes at the top of its account")
            return account_id, name
        above = await self._foreign(account_id, names.foreign(owner, parent), "k")
        return above.account_id, name

    async def shared(self, account_id: int) -> list[Mailbox]:
        """Other accounts' mailboxes this account may see (the "l" right), named "~owner/name"."""
        rows = await self.store.fetch(rec.SHARED_WITH.all(viewer=account_id))
        return rec.shared_with(rows, account_id)

    async def create(self, account_id: int, name: str, special_use: str | None = None, *,
                     mailbox_class: str | None = None) -> Mailbox:
        """Create a mailbox, and the levels above it that are missing (RFC 3501 6.3.3). It starts with the
        ACL of the level above (CommuniGate's rule). Under another account's mailbox it needs "k" there."""
        requested = names.check(name)
        owner_id, canonical = await self._place_new(account_id, requested)
        account_id, viewer = owner_id, account_id
        _, _, max_mailboxes = await self._limits(account_id)
        now = self._clock()

        def unit() -> Unit[int | None]:
            for parent in names.parents(canonical):
                yield from rec.create_mailbox(account_id, parent, None, now, max_mailboxes=max_mailboxes,
                                              exists_ok=True)
            new_id = yield from rec.create_mailbox(account_id, canonical, special_use, now,
                                                   max_mailboxes=max_mailboxes)
            if mailbox_class:
                yield rec.SET_CLASS.run(mailbox_class=mailbox_class, id=new_id)
            return new_id

        await self.store.write(unit())
        await self._mailboxes_changed(account_id)
        return await self.mailbox(viewer, requested, need="")

    async def delete(self, account_id: int, name: str) -> int:
        """Delete a mailbox (not the ones under it); another account's needs "x". Returns its id."""
        account_id, canonical, _ = await self._place(account_id, names.check(name), "x")
        now = self._clock()

        def unit() -> Unit[int]:
            mailbox = yield from rec.find_mailbox(account_id, canonical)
            yield from rec.delete_mailbox(mailbox, now)
            return mailbox.id

        mailbox_id = await self.store.write(unit())
        await self._changed(mailbox_id, "deleted", 0)
        await self._mailboxes_changed(account_id)
        return mailbox_id

    async def delete_tree(self, account_id: int, name: str) -> None:
        """Delete a mailbox and every mailbox under it, all or none."""
        canonical = names.check(name)
        deleted = await self.store.write(rec.delete_tree(account_id, canonical, self._clock()))
        for mailbox_id in deleted:
            await self._changed(mailbox_id, "deleted", 0)
        await self._mailboxes_changed(account_id)

    async def rename(self, account_id: int, old: str, new: str, *, subtree: bool = True) -> list[tuple[str, str]]:
        """Rename a mailbox and (with `subtree`, as IMAP does) the mailboxes under it."""
        old_name, new_name = names.check(old), names.check(new)
        old_split, new_split = names.split_foreign(old_name), names.split_foreign(new_name)
        prefix = ""
        if old_split is not None or new_split is not None:
            # Another account's mailbox: "x" on it, "k" on the new level above; never into another account.
            owner_id, old_name, _ = await self._place(account_id, old_name, "x")
            new_owner, new_name = await self._place_new(account_id, new_name)
            if new_owner != owner_id:
                raise CannotDelete("a mailbox cannot be renamed into another account")
            if owner_id != account_id and old_split is not None:
                prefix = names.foreign(old_split[0], "")
            account_id = owner_id
        now = self._clock()

        def unit() -> Unit[tuple[int, list[tuple[str, str]]]]:
            mailbox = yield from rec.find_mailbox(account_id, old_name)
            for parent in names.parents(new_name):
                yield from rec.create_mailbox(account_id, parent, None, now, exists_ok=True)
            renamed = yield from rec.rename_mailbox(account_id, mailbox, new_name, now, subtree=subtree)
            return mailbox.id, renamed

        mailbox_id, renamed = await self.store.write(unit())
        await self._changed(mailbox_id, "renamed", 0)
        await self._mailboxes_changed(account_id)
        return [(prefix + a, prefix + b) for a, b in renamed] if prefix else renamed

    async def subscribe(self, account_id: int, name: str) -> None:
        """Subscribe to a name (one's own need not exist, RFC 3501 6.3.6); another account's mailbox must be
        one the account may see ("l")."""
        canonical = names.check(name)
        if canonical.startswith(names.FOREIGN):
            await self._foreign(account_id, canonical, "l")
        await self.store.write(unit_of(rec.SUBSCRIBE.run(account_id=account_id, name=canonical)))
        await self._subscriptions_changed(account_id, (canonical,), True)

    async def unsubscribe(self, account_id: int, name: str) -> None:
        canonical = names.check(name)
        await self.store.write(unit_of(rec.UNSUBSCRIBE.run(account_id=account_id, name=canonical)))
        await self._subscriptions_changed(account_id, (canonical,), False)

    async def _subscriptions_changed(self, account_id: int, changed: tuple[str, ...], subscribed: bool) -> None:
        if self.bus is not None and changed:
            await self.bus.publish(SubscriptionsChanged(account_id, changed, subscribed))

    async def subscriptions(self, account_id: int) -> list[str]:
        rows = await self.store.fetch(rec.SUBSCRIPTIONS.all(account_id=account_id))
        return [str(r["name"]) for r in rows]

    async def set_subscriptions(self, account_id: int, mailbox_names: Iterable[str]) -> list[str]:
        """Replace the subscribed names (CommuniGate's SETMAILBOXSUBSCRIPTION); returns them, canonical."""
        wanted = list(dict.fromkeys(names.check(n) for n in mailbox_names))

        def unit() -> Unit[set[str]]:
            rows = yield rec.SUBSCRIPTIONS.all(account_id=account_id)  # what changes, for NOTIFY
            yield rec.UNSUBSCRIBE_ALL.run(account_id=account_id)
            for name in wanted:
                yield rec.SUBSCRIBE.run(account_id=account_id, name=name)
            return {str(r["name"]) for r in rows}

        before = await self.store.write(unit())
        await self._subscriptions_changed(account_id, tuple(n for n in wanted if n not in before), True)
        await self._subscriptions_changed(account_id, tuple(sorted(before.difference(wanted))), False)
        return wanted

    async def set_class(self, account_id: int, name: str, mailbox_class: str | None) -> None:
        mailbox = await self.mailbox(account_id, name, need="a")
        await self.store.write(unit_of(rec.SET_CLASS.run(mailbox_class=mailbox_class or None, id=mailbox.id)))

    # -- messages in --

    async def prepare(self, data: bytes, flag_names: Iterable[str] = (), internal_date: int | None = None,
                      ) -> rec.NewMessage:
        """Parse a message, store its bytes and build the record that will point at them. Small messages
        (up to `inline_max`) travel in the record itself and become durable with it, in one commit; larger
        ones go to the blob store (durably) first."""
        from polyport.mime.parse import parse

        if len(data) > self.max_message_size:
            raise MessageTooLarge(f"the message is larger than {self.max_message_size} bytes")
        bits, keywords = fl.split(flag_names)
        if len(data) > PARSE_IN_THREAD:
            structure = await asyncio.to_thread(parse, data)
        else:
            structure = parse(data)
        inline = len(data) <= self.inline_max
        blob = hashlib.sha256(data).hexdigest() if inline else await self.blobs.put(data)
        subject, addresses = _search_texts(structure)
        parents = [*structure.in_reply_to, *reversed(structure.references)]
        return rec.NewMessage(blob, len(data), st.encode(structure).decode(), structure.sent,
                              structure.message_id, parents, subject, addresses, bits,
                              fl.keywords_text(keywords), internal_date if internal_date is not None else self._clock(),
                              data if inline else None)

    async def append(self, account_id: int, name: str, data: bytes, flag_names: Iterable[str] = (),
                     internal_date: int | None = None) -> Appended:
        """APPEND: store one message in a mailbox of the account; acknowledged means durable. Into another
        account's mailbox it needs "i", keeps only the flags the rights let one set, and counts against the
        owner's quota."""
        account_id, canonical, shared = await self._place(account_id, names.check(name), "i")
        message = await self.prepare(data, flag_names, internal_date)
        if shared is not None:
            message = _masked(message, shared.rights)
        max_size, max_messages, _ = await self._limits(account_id)
        saved = self._clock()

        def unit() -> Unit[Appended]:
            mailbox = yield from rec.find_mailbox(account_id, canonical)
            appended = yield from rec.append(mailbox, message, saved, max_size, max_messages)
            return appended

        appended = await self.store.write(unit())
        await self._changed(appended.mailbox_id, "append", appended.modseq, uid=appended.uid, owner=account_id)
        return appended

    async def append_many(self, account_id: int, name: str,
                          messages: Sequence[tuple[bytes, Iterable[str], int | None]]) -> list[Appended]:
        """MULTIAPPEND (RFC 3502): several messages, all stored or none; acknowledged means durable."""
        account_id, canonical, shared = await self._place(account_id, names.check(name), "i")
        # Prepared side by side: one message is parsed while others' blobs are fsynced, which the file
        # system then groups (a bulk import's 300 messages cost 0.7 ms each instead of 13 ms one by one).
        prepared = await asyncio.gather(*(self.prepare(data, flag_names, internal_date)
                                          for data, flag_names, internal_date in messages))
        if shared is not None:
            prepared = [_masked(message, shared.rights) for message in prepared]
        max_size, max_messages, _ = await self._limits(account_id)
        saved = self._clock()

        def unit() -> Unit[list[Appended]]:
            mailbox = yield from rec.find_mailbox(account_id, canonical)
            yield from rec.check_quota(account_id, sum(m.size for m in prepared), len(prepared), max_size,
                                       max_messages)
            done: list[Appended] = []
            for message in prepared:
                appended = yield from rec.append(mailbox, message, saved, max_size, max_messages)
                done.append(appended)
            return done

        appended = await self.store.write(unit())
        if appended:
            await self._changed(appended[0].mailbox_id, "append", appended[-1].modseq, owner=account_id)
        return appended

    async def deliver(self, data: bytes, targets: Sequence[tuple[int, str]], *,
                      flag_names: Iterable[str] = (), also: Unit[Any] | None = None,
                      target_flags: Mapping[int, Iterable[str]] | None = None) -> list[Appended]:
        """Local delivery: one message into a mailbox of each target account ((account id, mailbox name);
        a mailbox that does not exist means INBOX), stored once (one blob, one body shared by reference)
        and recorded for every target in one unit of work: acknowledged means durable for all of them, or
        none is stored. An account that never logged in gets its default mailboxes here. Raises
        RecipientOverQuota naming the first account over its quota. `also` runs in the same unit, after the
        appends (delivery queues the copies for other domains there)."""
        message = await self.prepare(data, flag_names)
        limits = {account_id: await self._limits(account_id) for account_id, _ in targets}
        target_split: dict[int, tuple[int, list[str]]] = {}
        for account_id, wanted in (target_flags or {}).items():
            try:
                target_split[account_id] = fl.split(wanted)
            except fl.FlagError:
                target_split[account_id] = (0, [])  # a rule's bad flag name costs the flag, not the message
        saved = self._clock()
        # Accounts that never logged in get their mailboxes first, each in its own unit: made inside this
        # one, in the targets' order, two deliveries naming the same new accounts would deadlock.
        for account_id in dict.fromkeys(a for a, _ in targets):
            await self.ensure_defaults(account_id)

        def unit() -> Unit[list[Appended]]:
            done: list[Appended] = []
            boxes: dict[int, Mailbox] = {}  # by mailbox id: two names landing in one mailbox store once
            for account_id, name in targets:
                row = yield rec.MAILBOX_BY_NAME.one(account_id=account_id, name=name)
                if row is None and name != "INBOX":
                    row = yield rec.MAILBOX_BY_NAME.one(account_id=account_id, name="INBOX")
                if row is None:
                    raise NoSuchMailbox(f"account {account_id} has no INBOX")
                box = rec.to_mailbox(row)
                boxes.setdefault(box.id, box)
            # Lowest mailbox first, as every unit locks them: no deadlock with another delivery or a COPY.
            yield from rec.lock_mailboxes(*boxes)
            for box in sorted(boxes.values(), key=lambda b: b.id):
                account_id = box.account_id
                max_size, max_messages, _ = limits[account_id]
                stored = message
                if target_flags and account_id in target_flags:
                    bits, keywords = target_split[account_id]
                    stored = replace(message, flags=message.flags | bits,
                                     keywords=fl.merge_keywords(message.keywords, keywords, ()))
                try:
                    appended = yield from rec.append(box, stored, saved, max_size, max_messages, capped=False)
                except OverQuota as error:
                    raise RecipientOverQuota(account_id, str(error)) from None
                done.append(appended)
            if also is not None:
                yield from also
            return done

        appended = await self.store.write(unit())
        for one in appended:
            await self._changed(one.mailbox_id, "append", one.modseq, uid=one.uid, owner=one.account_id)
        return appended

    async def over_quota(self, account_id: int, adding_size: int = 0) -> str | None:
        """Why a message of `adding_size` octets would not fit in the account now, or None if it would
        (delivery asks at RCPT, before the message comes)."""
        max_size, max_messages, _ = await self._limits(account_id)
        try:
            await self.store.read(rec.check_quota(account_id, adding_size, 1, max_size, max_messages))
        except OverQuota as error:
            return str(error)
        return None

    # -- reading --

    async def view(self, mailbox_id: int) -> list[ViewEntry]:
        """Every message of a mailbox in UID order: what a session selecting it starts from."""
        rows = await self.store.fetch(rec.VIEW.all(mailbox_id=mailbox_id))
        return [_entry(r) for r in rows]

    async def keywords(self, mailbox_id: int) -> list[str]:
        """The keywords ever set on a message of the mailbox, kept when the messages go (IMAP's FLAGS and
        PERMANENTFLAGS). One indexed row; a mailbox made before the list was kept gets it from its messages,
        once."""
        current = await self.store.fetch(rec.MAILBOX_KEYWORDS.value(id=mailbox_id))
        if current is None:
            return await self.store.write(rec.mailbox_keywords(mailbox_id), durable=False)  # worked out again
        return str(current).split(" ") if current else []

    async def recent(self, mailbox_id: int, *, claim: bool) -> tuple[int, int]:
        """\\Recent (RFC 3501 2.3.2): (first, end), the UIDs first <= UID < end that no session has seen yet.
        With `claim` (an IMAP4rev1 SELECT, or such a session seeing new messages) they become the caller's:
        recent to it alone, and to nobody after. A read when there is nothing to claim: a write only when
        there is."""
        row = await self.store.fetch(rec.RECENT_STATE.one(id=mailbox_id))
        if row is None:
            raise NoSuchMailbox("the mailbox no longer exists")
        first, end = int(row["first_recent"]), int(row["uidnext"])
        if not claim or first >= end:
            return first, end
        return await self.store.write(rec.claim_recent(mailbox_id), durable=False)

    async def recent_count(self, mailbox_id: int) -> int:
        """How many messages of the mailbox no session has seen as \\Recent yet (STATUS RECENT)."""
        return int(await self.store.fetch(rec.COUNT_RECENT.value(id=mailbox_id)) or 0)

    async def index(self, mailbox_id: int) -> MessageIndex:
        """The mailbox's message metadata, current as of now (see index.py): from memory when nothing
        changed, else brought up to date with the changes since, in one snapshot."""
        cached = self._indexes.get(mailbox_id)
        try:
            read = cached if cached is not None else await self._read_index(mailbox_id)
        except NoSuchMailbox:
            self._indexes.drop(mailbox_id)
            raise

        def unit() -> Unit[MessageIndex]:
            current = yield MAILBOX_MODSEQ.value(id=mailbox_id)
            if current is None:
                raise NoSuchMailbox("the mailbox no longer exists")
            current = int(current)
            if read.highestmodseq == current:
                return read
            since = read.highestmodseq
            changed = [_entry(r) for r in (yield rec.CHANGED_SINCE.all(mailbox_id=mailbox_id, since=since))]
            vanished = [int(r["uid"]) for r in (yield rec.VANISHED_SINCE.all(mailbox_id=mailbox_id, since=since))]
            new = sorted(c.uid for c in changed if read.get(c.uid) is None)
            arrived: list[MessageMeta] = []
            if new:
                wanted = set(new)
                rows = yield rec.META_RANGE.all(mailbox_id=mailbox_id, first=new[0], last=new[-1])
                arrived = [m for m in map(_meta, rows) if m.uid in wanted]
            return read.updated(current, changed, vanished, arrived)

        try:
            index = await self.store.read(unit())
        except NoSuchMailbox:
            self._indexes.drop(mailbox_id)
            raise
        if index is not cached:
            self._indexes.put(index)
        return index

    async def _read_index(self, mailbox_id: int) -> MessageIndex:
        """A mailbox's index read from the store in slices of INDEX_SLICE messages, a turn of the loop
        between two (50,000 messages read at once held every session's loop 0.4-0.6 s). The slices are
        separate snapshots, so the index is stamped with the HIGHESTMODSEQ read before the first: whatever
        changed while they were read has a higher mod-sequence, and index() applies those changes (flags
        made current, expunged messages dropped, arrivals added) as it does to any index left behind."""
        modseq = await self.store.fetch(MAILBOX_MODSEQ.value(id=mailbox_id))
        if modseq is None:
            raise NoSuchMailbox("the mailbox no longer exists")
        metas: list[MessageMeta] = []
        while True:
            first = metas[-1].uid + 1 if metas else 1
            rows = await self.store.fetch(rec.META_SLICE.all(mailbox_id=mailbox_id, first=first, count=INDEX_SLICE))
            metas.extend(map(_meta, rows))
            if len(rows) < INDEX_SLICE:
                return MessageIndex(mailbox_id, int(modseq), metas)
            await asyncio.sleep(0)

    async def blob_ids(self, mailbox_id: int, first: int, last: int) -> dict[int, str]:
        """The blob of each message with first <= UID <= last, by UID (whole-message fetches)."""
        rows = await self.store.fetch(BLOBS_RANGE.all(mailbox_id=mailbox_id, first=first, last=last))
        return {int(r[0]): str(r[1]) for r in rows}

    async def summaries_of(self, mailbox_id: int, uids: Sequence[int]) -> list[Summary]:
        """Subject, addresses and sent time of these messages (a page of a list), in one statement."""
        found: list[Summary] = []
        for start in range(0, len(uids), SUMMARY_BATCH):
            batch = list(uids[start:start + SUMMARY_BATCH])
            params: dict[str, int] = {f"u{i}": uid for i, uid in enumerate(batch)}
            params.update({f"u{i}": 0 for i in range(len(batch), SUMMARY_BATCH)})  # UID 0 is never used
            rows = await self.store.fetch(SUMMARY_SET.all(mailbox_id=mailbox_id, **params))
            found.extend(Summary(int(r[0]), None if r[1] is None else int(r[1]), str(r[2]), str(r[3])) for r in rows)
        return found

    async def summaries(self, mailbox_id: int, first: int, last: int) -> list[Summary]:
        """Subject, addresses and sent time of the messages with first <= UID <= last, in no set order."""
        rows = await self.store.fetch(SUMMARY_RANGE.all(mailbox_id=mailbox_id, first=first, last=last))
        return [Summary(int(r[0]), None if r[1] is None else int(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def meta(self, mailbox_id: int, first: int, last: int) -> list[MessageMeta]:
        """Flags, dates and sizes of the messages with first <= UID <= last."""
        return (await self.index(mailbox_id)).range(first, last)

    async def full(self, mailbox_id: int, first: int, last: int) -> list[MessageFull]:
        """Everything the records hold of the messages with first <= UID <= last (blob, structure...)."""
        rows = await self.store.fetch(rec.FULL_RANGE.all(mailbox_id=mailbox_id, first=first, last=last))
        return [_full(r) for r in rows]

    async def read(self, blob: str, offset: int = 0, length: int | None = None, *, size: int | None = None) -> bytes:
        """A message's bytes (or a slice). `size`, when the caller knows it (the size its record gives), lets
        small ones be read at once and is checked: bytes of another length raise BlobDamaged (a blob
        truncated or grown; a slice can only be found short), missing ones BlobNotFound. The blob store
        checks the hash of whole blobs it reads; bodies in the record store are checked for size."""
        if size is None or size <= self.inline_max:
            inline = await self.store.fetch(rec.INLINE_DATA.value(blob=blob))
            if inline is not None:
                return _slice(_checked(bytes(inline), size, blob), offset, length)
        try:
            if offset == 0 and length is None:
                return await self.blobs.get(blob, size)  # the blob store checks size and hash
            data = await self.blobs.read(blob, offset, length if length is not None else 1 << 62, size)
        except BlobNotFound:
            inline = None
            if size is not None and size > self.inline_max:  # kept inline under a larger limit?
                inline = await self.store.fetch(rec.INLINE_DATA.value(blob=blob))
            if inline is None:
                log_missing(blob)
                raise
            return _slice(_checked(bytes(inline), size, blob), offset, length)
        if size is not None:
            expected = max(0, (size if length is None else min(size, offset + length)) - offset)
            if len(data) != expected:  # shortened after the blob store checked its size
                raise log_damaged(wrong_size(blob, offset + len(data), size))
        return data

    async def stored(self, blob: str, size: int) -> bytes | StoredBody:
        """A large message's bytes, to be sent in pieces: a StoredBody once its blob is found holding the
        `size` bytes its record gives (BlobNotFound, BlobDamaged if not), so nothing of it has been sent
        when that fails; the bytes themselves when its record holds them (kept inline under a larger
        `inline_max`)."""
        if size <= self.inline_max:
            return await self.read(blob, size=size)
        try:
            held = await self.blobs.size(blob)
        except BlobNotFound:
            inline = await self.store.fetch(rec.INLINE_DATA.value(blob=blob))
            if inline is None:
                log_missing(blob)
                raise
            return _checked(bytes(inline), size, blob)
        if held != size:
            raise log_damaged(wrong_size(blob, held, size))
        return StoredBody(self.blobs, blob, size)

    async def highest_modseq(self, mailbox_id: int) -> int | None:
        """The mailbox's HIGHESTMODSEQ, None once it is gone: every change to its messages (arrival, flags,
        expunge) raises it, so one statement tells whether changes_since would find anything."""
        modseq = await self.store.fetch(MAILBOX_MODSEQ.value(id=mailbox_id))
        return None if modseq is None else int(modseq)

    async def changes_since(self, mailbox_id: int, modseq: int) -> Changes:
        """What changed in a mailbox after `modseq`: flags and arrivals, and expunged UIDs (RFC 7162)."""

        def unit() -> Unit[Changes]:
            row = yield rec.MAILBOX_BY_ID.one(id=mailbox_id)
            if row is None:
                raise NoSuchMailbox("the mailbox no longer exists")
            changed = yield rec.CHANGED_SINCE.all(mailbox_id=mailbox_id, since=modseq)
            vanished = yield rec.VANISHED_SINCE.all(mailbox_id=mailbox_id, since=modseq)
            return Changes(int(row["highestmodseq"]), [_entry(r) for r in changed], [int(r["uid"]) for r in vanished])

        return await self.store.read(unit())

    # -- changing --

    async def store_flags(self, mailbox: Mailbox | int, uids: Sequence[int], mode: str, flag_names: Iterable[str],
                          unchanged_since: int | None = None) -> tuple[list[FlagChange], list[int]]:
        """STORE: mode "replace", "add" or "remove"; returns the changes and the UIDs UNCHANGEDSINCE refused.
        `mailbox` is the selected Mailbox (or the id of one's own). In another account's mailbox only the
        flags its rights allow change (s: \\Seen, t: \\Deleted, w: the rest); none allowed is NotPermitted."""
        bits, keywords = fl.split(flag_names)
        if isinstance(mailbox, int) or mailbox.viewer is None:
            mailbox_id = mailbox if isinstance(mailbox, int) else mailbox.id
            changes, modified = await self.store.write(rec.store_flags(mailbox_id, sorted(uids), mode, bits,
                                                                      keywords, unchanged_since), durable=False)
        else:
            mailbox_id = mailbox.id
            changes, modified = await self.store.write(_store_shared_flags(mailbox, sorted(uids), mode, bits,
                                                                           keywords, unchanged_since),
                                                       durable=False)
        if changes:
            await self._changed(mailbox_id, "flags", changes[-1].modseq,
                                owner=None if isinstance(mailbox, int) else mailbox.account_id)
        return changes, modified

    async def expunge(self, mailbox: Mailbox | int, uids: Iterable[int] | None = None) -> list[int]:
        """Remove the \\Deleted messages (of `uids`, when given); returns the UIDs removed. `mailbox` is the
        selected Mailbox (or the id of one's own); another account's needs "e"."""
        wanted = set(uids) if uids is not None else None
        now = self._clock()
        if isinstance(mailbox, int) or mailbox.viewer is None:
            mailbox_id = mailbox if isinstance(mailbox, int) else mailbox.id
            removed = await self.store.write(rec.expunge(mailbox_id, wanted, now), durable=False)
        else:
            shared, mailbox_id = mailbox, mailbox.id

            def unit() -> Unit[list[int]]:
                assert shared.viewer is not None
                yield from rec.current_rights(shared.id, shared.viewer, "e", shared.name)
                removed = yield from rec.expunge(shared.id, wanted, now)
                return removed

            removed = await self.store.write(unit(), durable=False)
        if removed:
            await self._changed(mailbox_id, "expunge", 0,
                                owner=None if isinstance(mailbox, int) else mailbox.account_id)
        return removed

    async def remove(self, mailbox_id: int, uids: Iterable[int]) -> list[int]:
        """Remove messages whatever their flags (POP3's deletions at QUIT); returns the UIDs removed."""
        removed = await self.store.write(rec.remove(mailbox_id, sorted(set(uids)), self._clock()), durable=False)
        if removed:
            await self._changed(mailbox_id, "expunge", 0)
        return removed

    async def copy(self, account_id: int, source: Mailbox | int, uids: Sequence[int], target_name: str, *,
                   move: bool = False) -> tuple[Copied, list[int]]:
        """COPY or MOVE to a mailbox by name; returns the UID mapping (COPYUID) and, for a move, the UIDs
        expunged from the source. `source` is the selected Mailbox (or the id of one's own): another
        account's needs "r", and "t" and "e" to move from (RFC 6851); another account's target needs "i",
        and the copies keep only the flags its rights allow (RFC 4314 section 4)."""
        source_id = source if isinstance(source, int) else source.id
        source_owner = account_id if isinstance(source, int) else source.account_id
        shared_source = None if isinstance(source, int) or source.viewer is None else source
        owner_id, canonical, shared = await self._place(account_id, names.check(target_name), "i")
        mask = acl.flag_mask(shared.rights) if shared is not None else None
        max_size, max_messages, _ = await self._limits(owner_id)
        now = self._clock()

        def unit() -> Unit[tuple[int, Copied, list[int]]]:
            if shared_source is not None:
                assert shared_source.viewer is not None
                yield from rec.current_rights(source_id, shared_source.viewer, "rte" if move else "r",
                                              shared_source.name)
            target = yield from rec.find_mailbox(owner_id, canonical)
            copied, removed = yield from rec.copy(source_id, sorted(uids), target, now, max_size, max_messages,
                                                  move=move, now=now, mask=mask,
                                                  same_account=source_owner == owner_id)
            return target.id, copied, removed

        target_id, copied, removed = await self.store.write(unit())
        if copied.target_uids:
            await self._changed(target_id, "append", copied.modseq, owner=owner_id)
        if removed:
            await self._changed(source_id, "expunge", 0, owner=source_owner)
        return copied, removed

    async def replace_message(self, account_id: int, source: Mailbox, uid: int, target_name: str, data: bytes,
                              flag_names: Iterable[str] = (), internal_date: int | None = None,
                              ) -> tuple[Appended, list[int]]:
        """REPLACE (RFC 8508): append a message to a mailbox by name and remove message `uid` of the selected
        `source` (whatever its flags), in one unit: both happen or neither. Returns the appended message and
        the UIDs removed ([uid]). NoSuchMessage when `uid` is gone. The removal comes first in the unit, so
        a replacement in one's own account is measured against the quota without the old message. Another
        account's source needs "t" and "e" (what deleting and expunging it needs); its target needs "i"."""
        owner_id, canonical, shared = await self._place(account_id, names.check(target_name), "i")
        message = await self.prepare(data, flag_names, internal_date)
        if shared is not None:
            message = _masked(message, shared.rights)
        shared_source = source if source.viewer is not None else None
        max_size, max_messages, _ = await self._limits(owner_id)
        now = self._clock()

        def unit() -> Unit[tuple[Appended, list[int]]]:
            if shared_source is not None:
                assert shared_source.viewer is not None
                yield from rec.current_rights(source.id, shared_source.viewer, "te", shared_source.name)
            target = yield from rec.find_mailbox(owner_id, canonical)
            yield from rec.lock_mailboxes(source.id, target.id)  # in id order, as COPY locks them
            removed = yield from rec.remove(source.id, [uid], now)
            if not removed:
                raise NoSuchMessage(f"message UID {uid} is no longer in {source.name}")
            appended = yield from rec.append(target, message, now, max_size, max_messages)
            return appended, removed

        appended, removed = await self.store.write(unit())
        await self._changed(appended.mailbox_id, "append", appended.modseq, uid=appended.uid, owner=owner_id)
        await self._changed(source.id, "expunge", 0, owner=source.account_id)
        return appended, removed

    # -- access control lists (RFC 4314; acl.py) --

    async def acl(self, account_id: int, name: str) -> Acl:
        """A mailbox's ACL (GETACL); another account's needs "a"."""
        owner_id, canonical, _ = await self._place(account_id, names.check(name), "a")

        def unit() -> Unit[Acl]:
            mailbox = yield from rec.find_mailbox(owner_id, canonical)
            entries = yield from rec.acl_entries(mailbox.id)
            owner = yield rec.OBJECT_NAME.value(id=owner_id)
            return Acl(str(owner), entries)

        return await self.store.read(unit())

    async def change_acl(self, account_id: int, name: str, changes: Sequence[tuple[str, str, str]]) -> None:
        """Apply (identifier, "add" | "remove" | "replace", rights) changes to a mailbox's ACL, all or none
        (SETACL, DELETEACL: "replace" with no rights; CommuniGate's SETMAILBOXACL). An entry left without
        rights is removed. Another account's mailbox needs "a"."""
        owner_id, canonical, _ = await self._place(account_id, names.check(name), "a")

        def unit() -> Unit[int]:
            mailbox = yield from rec.find_mailbox(owner_id, canonical)
            yield from rec.change_acl(mailbox.id, owner_id, changes)
            return mailbox.id

        mailbox_id = await self.store.write(unit())
        await self._changed(mailbox_id, "acl", 0)

    async def list_rights(self, account_id: int, name: str, identifier: str) -> tuple[str, tuple[str, ...]]:
        """LISTRIGHTS (RFC 4314 section 3.7): (the rights always granted to `identifier`, the rights that
        may be granted, each alone). The owner has all, always; others start from none."""
        owner_id, canonical, _ = await self._place(account_id, names.check(name), "a")

        def unit() -> Unit[bool]:
            yield from rec.find_mailbox(owner_id, canonical)
            grantee_id, _ = yield from rec.grantee(owner_id, identifier, owner_ok=True)
            return grantee_id == owner_id

        if await self.store.read(unit()):
            return acl.ALL, ()
        return "", acl.OPTIONAL

    async def rights(self, account_id: int, name: str) -> str:
        """An account's rights on a mailbox, as an administrator asks (CommuniGate's GETMAILBOXRIGHTS):
        empty where it has none; NoSuchMailbox only where the mailbox does not exist."""
        canonical = names.check(name)
        split = names.split_foreign(canonical)
        if split is None:
            return (await self.mailbox(account_id, canonical)).rights
        rows = await self.store.fetch(rec.FOREIGN_MAILBOX.all(viewer=account_id, owner=split[0], name=split[1]))
        if not rows:
            raise NoSuchMailbox(f"no mailbox {canonical}")
        return rec.to_foreign(rows, account_id, split[0]).rights

    # -- METADATA (RFC 5464; metadata.py) --

    async def _metadata_place(self, account_id: int, mailbox: str, names: Iterable[str], *,
                              setting: bool) -> tuple[int | None, int]:
        """The mailbox id the entries live on (None: the server's, for the name "") and its owner (for the
        server, `account_id`), after checking the
        rights RFC 5464 3.3 asks of another account's mailbox: any visible mailbox ("l") for private entries,
        "r" to read and "w" to write shared ones."""
        if mailbox == "":
            return None, account_id
        found = await self.mailbox(account_id, mailbox, need="")
        need: set[str] = set()
        for name in names:
            need.add("l" if md.is_private(name) else ("w" if setting else "r"))
        rec.require(found.rights, acl.ordered(need), found.name)
        return found.id, found.account_id

    async def get_metadata(self, account_id: int, mailbox: str, asked: Sequence[str],
                           depth: md.Depth = 0) -> list[tuple[str, bytes]]:
        """GETMETADATA: the entries of a mailbox ("": the server) named by `asked` (and, with `depth`, those
        below them) that have a value, as (lower-case name, value), in name order. Private ones are the
        account's own."""
        mailbox_id, _owner = await self._metadata_place(account_id, mailbox, asked, setting=False)
        rows = await self.store.fetch(md.ENTRIES.all(shared=md.scope(mailbox_id, None),
                                                     private=md.scope(mailbox_id, account_id)))
        return md.select(((str(r["name"]), bytes(r["value"])) for r in rows), asked, depth)

    async def set_metadata(self, account_id: int, mailbox: str, changes: Sequence[tuple[str, bytes | None]], *,
                           server_admin: bool = False) -> None:
        """SETMETADATA: set entries (None deletes), all or none. A value over MAX_VALUE_SIZE is
        MetadataTooLarge, too many entries MetadataTooMany. The server's shared entries ("/shared/..." with
        the mailbox "") only a server administrator may set."""
        if mailbox == "" and not server_admin and any(not md.is_private(name) for name, _ in changes):
            raise NotPermitted("only a server administrator may set the server's shared entries")
        for name, value in changes:
            if value is not None and len(value) > md.MAX_VALUE_SIZE:
                raise MetadataTooLarge(f"the value of {name} is larger than {md.MAX_VALUE_SIZE} bytes",
                                       md.MAX_VALUE_SIZE)
        mailbox_id, owner = await self._metadata_place(account_id, mailbox, [name for name, _ in changes],
                                                       setting=True)
        await self.store.write(md.set_entries(mailbox_id, account_id, changes))
        if self.bus is None:
            return
        private = tuple(dict.fromkeys(name.lower() for name, _ in changes if md.is_private(name)))
        shared = tuple(dict.fromkeys(name.lower() for name, _ in changes if not md.is_private(name)))
        if private:
            await self.bus.publish(MetadataChanged(owner, mailbox_id, private, private_to=account_id))
        if shared:
            await self.bus.publish(MetadataChanged(None if mailbox_id is None else owner, mailbox_id, shared))

    # -- IMAP URLs (imapurl.py) and URLAUTH (RFC 4467; urlauth.py) --

    async def url_bytes(self, mailbox: Mailbox, url: imapurl.MessageUrl) -> bytes:
        """The bytes a URL names in a mailbox already found (and its rights checked): the message, the
        section of it (cut as FETCH cuts BODY[section]), the PARTIAL slice of that. BadUrl when the
        mailbox's UIDVALIDITY changed or the message or part is not there."""
        if url.uidvalidity is not None and url.uidvalidity != mailbox.uidvalidity:
            raise imapurl.BadUrl("the mailbox's UIDVALIDITY has changed")
        found = await self.full(mailbox.id, url.uid, url.uid)
        if not found:
            raise imapurl.BadUrl(f"no message with UID {url.uid}")
        message = found[0]
        data = await self.read(message.blob, size=message.size)
        if url.section is not None:
            section = url.section
            try:
                data = sections.cut(data, message.structure(), section.part, section.text, section.fields)
            except sections.NoSuchPart as err:
                raise imapurl.BadUrl(str(err)) from None
        if url.partial is not None:
            start, length = url.partial
            data = data[start:] if length is None else data[start:start + length]
        return data

    async def url_account(self, user: str, host: str | None) -> int | None:
        """The account a URL's user names: "fred@example.com", or "fred" at the host when the host is one
        of ours (a domain or a domain alias), else "fred" in the main domain (the host is the server's name)."""
        tried = [user] if "@" in user or host is None else [f"{user}@{host}", user]
        for name in tried:
            record = await self.directory.login_record(name)
            if record is not None:
                return record.account_id
        return None

    async def generate_url(self, account_id: int, rump: str) -> str:
        """GENURLAUTH (RFC 4467 section 6.1) with the INTERNAL mechanism: the URL `rump` (ending
        ";URLAUTH=access") with ":INTERNAL:token" added, signed with the account's key for the mailbox
        (made now on first use). The URL's user must be the account itself, and the mailbox one it may
        read; BadUrl otherwise. Any host is taken: the token covers it, so a URL naming another server
        never verifies here."""
        url = imapurl.parse_url(rump)
        auth = url.urlauth
        if auth is None or auth.mechanism is not None:
            raise imapurl.BadUrl("GENURLAUTH takes a URL ending with ;URLAUTH=<access> and no token")
        assert url.user is not None  # parse_url: a URLAUTH URL names its user
        if await self.url_account(url.user, url.host) != account_id:
            raise imapurl.BadUrl("the URL names another user")
        try:
            mailbox = await self.mailbox(account_id, url.mailbox)
        except (NoSuchMailbox, NotPermitted) as err:
            raise imapurl.BadUrl(str(err)) from None
        if url.uidvalidity is not None and url.uidvalidity != mailbox.uidvalidity:
            raise imapurl.BadUrl("the mailbox's UIDVALIDITY has changed")
        key = await self.store.fetch(urlauth.GET_KEY.value(mailbox_id=mailbox.id, account_id=account_id))
        if key is None:  # the first URL for this mailbox: its key is made (a durable write) once
            key = await self.store.write(urlauth.key_for(mailbox.id, account_id))
        return f"{auth.rump}:{imapurl.INTERNAL}:{imapurl.token(key, auth.rump)}"

    async def fetch_url(self, text: str, requester: urlauth.Requester) -> bytes:
        """The bytes a URLAUTH-authorized URL names (URLFETCH, BURL): its token verified under the key of
        the URL's user for the mailbox, not expired, its access identifier allowing `requester`
        (urlauth.py), read with the rights the URL's user has now. BadUrl for anything else."""
        url = imapurl.parse_url(text)
        auth = url.urlauth
        if auth is None:
            raise imapurl.NotAuthorized("the URL carries no URLAUTH authorization")
        if auth.token is None:
            raise imapurl.BadUrl("the URL carries no URLAUTH authorization")
        assert url.user is not None
        # Until the token verifies, every failure reads the same: whoever holds no valid URL must not learn
        # which accounts and mailboxes exist (CATENATE's BADURL and BURL's reply carry the text).
        unverified = imapurl.BadUrl("the URL's authorization does not verify")
        owner = await self.url_account(url.user, url.host)
        if owner is None:
            raise unverified
        try:
            mailbox = await self.mailbox(owner, url.mailbox)
        except (NoSuchMailbox, NotPermitted):
            raise unverified from None
        key = await self.store.fetch(urlauth.GET_KEY.value(mailbox_id=mailbox.id, account_id=owner))
        if key is None or not imapurl.verified(bytes(key), auth):
            raise unverified
        if imapurl.expired(auth, self._clock()):
            raise imapurl.BadUrl("the URL has expired")
        access_account = await self.url_account(auth.access_user, url.host) if auth.access_user else None
        if not urlauth.allowed(auth, requester, access_account):
            raise imapurl.BadUrl("the URL is not for this user")
        return await self.url_bytes(mailbox, url)

    async def reset_access_keys(self, account_id: int, mailbox: str | None = None) -> None:
        """RESETKEY (RFC 4467 section 6.2): forget the account's keys for one mailbox (any it can see), or
        for all, so the URLs it signed with them stop working."""
        mailbox_id = None if mailbox is None else (await self.mailbox(account_id, mailbox, need="")).id
        await self.store.write(urlauth.reset(account_id, mailbox_id))

    async def usage(self, account_id: int) -> tuple[int, int]:
        row = await self.store.fetch(rec.ACCOUNT_USAGE.one(account_id=account_id))
        return int(row["size"]), int(row["messages"])

    async def sweep(self, *, grace: float = ORPHAN_GRACE, limit: int = 1000) -> int:
        """Delete bodies (and their blobs) unreferenced for longer than `grace` seconds; returns how many."""
        before = int(self._clock() - grace)
        rows = await self.store.fetch(rec.ORPHANS.all(before=before, limit=limit))
        swept = 0
        for row in rows:
            deleted = await self.store.write(unit_of(rec.DELETE_ORPHAN.run(id=row["id"])))
            if deleted:
                await self.blobs.delete(str(row["blob"]))
                swept += 1
        return swept


def _masked(message: rec.NewMessage, rights: str) -> rec.NewMessage:
    """A message appended to another account's mailbox keeps only the flags the rights let one set."""
    allowed, keywords_allowed = acl.flag_mask(rights)
    return replace(message, flags=message.flags & allowed,
                   keywords=message.keywords if keywords_allowed else "")


def _store_shared_flags(mailbox: Mailbox, uids: list[int], mode: str, bits: int, keywords: list[str],
                        unchanged_since: int | None) -> Unit[tuple[list[FlagChange], list[int]]]:
    """STORE in another account's mailbox, with the viewer's rights as they are now."""
    assert mailbox.viewer is not None
    rights = yield from rec.current_rights(mailbox.id, mailbox.viewer, "", mailbox.name)
    mask = acl.flag_mask(rights)
    # Refused only when nothing asked for may change; flags the rights do not cover are left alone.
    needed = acl.STORE_RIGHTS if mode == "replace" else acl.flag_rights(bits, bool(keywords))
    if needed and not any(ch in rights for ch in needed):
        rec.require(rights, needed, mailbox.name)
    result = yield from rec.store_flags(mailbox.id, uids, mode, bits, keywords, unchanged_since, mask)
    return result
