"""The mailstore's SQL: statements and the units of work the Mailstore runs (see store/sql.py).

UIDs and mod-sequences come from the mailbox row itself (`UPDATE ... RETURNING`), inside the transaction
that uses them: strictly ascending, never reused, with no lock held in memory, so concurrent appends from
several sessions (and later several nodes) cannot collide.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from polyport.mailstore import acl
from polyport.mailstore import flags as fl
from polyport.mailstore.errors import (
    AclRefused,
    CannotDelete,
    MailboxExists,
    NoSuchMailbox,
    NotPermitted,
    OverQuota,
    TooManyKeywords,
)
from polyport.mailstore.names import FOREIGN, INBOX, SEPARATOR, foreign
from polyport.store import Conflict, Row, Statement, Unit

MAILBOX_COLUMNS = ("id, account_id, name, special_use, uidvalidity, uidnext, highestmodseq, messages, unseen, "
                   "deleted, size, created, mailbox_class")

INSERT_MAILBOX = Statement("""
    INSERT INTO mailboxes (account_id, name, special_use, uidvalidity, uidnext, highestmodseq, messages, unseen,
                           deleted, size, created, keywords, first_recent)
    VALUES (:account_id, :name, :special_use, 0, 1, 1, 0, 0, 0, 0, :created, '', 1)
    ON CONFLICT (account_id, name) DO NOTHING RETURNING id""")
# The row id is the UIDVALIDITY: ids are never reused, so a mailbox deleted and created again gets a new one.
SET_UIDVALIDITY = Statement("UPDATE mailboxes SET uidvalidity = id WHERE id = :id")
MAILBOX_BY_NAME = Statement(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = :account_id AND name = :name")  # noqa: S608
MAILBOX_BY_ID = Statement(f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE id = :id")  # noqa: S608
LIST_MAILBOXES = Statement(
    f"SELECT {MAILBOX_COLUMNS} FROM mailboxes WHERE account_id = :account_id ORDER BY name")  # noqa: S608
COUNT_MAILBOXES = Statement("SELECT count(*) FROM mailboxes WHERE account_id = :account_id")
ACCOUNT_USAGE = Statement("""
    SELECT COALESCE(SUM(size), 0) AS size, COALESCE(SUM(messages), 0) AS messages
    FROM mailboxes WHERE account_id = :account_id""")
DELETE_MAILBOX = Statement("DELETE FROM mailboxes WHERE id = :id")
RENAME_MAILBOX = Statement("UPDATE mailboxes SET name = :name WHERE id = :id")
# LIKE narrows (an index prefix on PostgreSQL), substr decides: SQLite's LIKE ignores ASCII case, and
# "work" must not take "Work/Important" with it.
CHILDREN = Statement("""
    SELECT id, name FROM mailboxes WHERE account_id = :account_id AND name LIKE :prefix ESCAPE '!'
      AND substr(name, 1, :length) = :exact ORDER BY name""")
SET_CLASS = Statement("UPDATE mailboxes SET mailbox_class = :mailbox_class WHERE id = :id")
# The keywords ever used in a mailbox (IMAP's FLAGS); NULL until known (see mailbox_keywords).
MAILBOX_KEYWORDS = Statement("SELECT keywords FROM mailboxes WHERE id = :id")
SET_MAILBOX_KEYWORDS = Statement("UPDATE mailboxes SET keywords = :keywords WHERE id = :id")
MESSAGE_KEYWORDS = Statement("SELECT DISTINCT keywords FROM messages WHERE mailbox_id = :mailbox_id AND keywords <> ''")
# \Recent (RFC 3501 2.3.2): UIDs from first_recent up to uidnext have not been seen by any session yet.
RECENT_STATE = Statement("SELECT first_recent, uidnext FROM mailboxes WHERE id = :id")
RECENT_STATE_LOCKED = Statement("SELECT first_recent, uidnext FROM mailboxes WHERE id = :id FOR UPDATE")
SET_FIRST_RECENT = Statement("UPDATE mailboxes SET first_recent = :first_recent WHERE id = :id")
COUNT_RECENT = Statement("""
    SELECT count(*) FROM messages m JOIN mailboxes x ON x.id = m.mailbox_id
    WHERE x.id = :id AND m.mailbox_id = :id AND m.uid >= x.first_recent""")

# Take `count` UIDs and one mod-sequence from the mailbox, atomically (the row is locked until commit).
TAKE_UIDS = Statement("""
    UPDATE mailboxes SET uidnext = uidnext + :count, highestmodseq = highestmodseq + 1
    WHERE id = :id RETURNING uidnext - :count AS first_uid, highestmodseq AS modseq, uidvalidity""")
# Every unit that changes a mailbox's messages locks the mailbox row(s) first, lowest id first: on
# PostgreSQL (READ COMMITTED) two units then never take message and mailbox locks in opposite orders, and
# each reads the messages only once it holds the mailbox (SQLite's single writer serializes them anyway).
LOCK_MAILBOX = Statement("SELECT id FROM mailboxes WHERE id = :id FOR UPDATE")
TAKE_MODSEQ = Statement("""
    UPDATE mailboxes SET highestmodseq = highestmodseq + 1 WHERE id = :id RETURNING highestmodseq""")
ADD_COUNTS = Statement("""
    UPDATE mailboxes SET messages = messages + :messages, unseen = unseen + :unseen, deleted = deleted + :deleted,
                         size = size + :size
    WHERE id = :id""")

UPSERT_BODY = Statement("""
    INSERT INTO bodies (blob, size, structure, sent, message_id, subject, addresses, refs, orphaned, data)
    VALUES (:blob, :size, :structure, :sent, :message_id, :subject, :addresses, :refs, NULL, :data)
    ON CONFLICT (blob) DO UPDATE SET refs = bodies.refs + :refs, orphaned = NULL
    RETURNING id""")
ADD_BODY_REFS = Statement("UPDATE bodies SET refs = refs + :refs, orphaned = NULL WHERE id = :id")
DROP_BODY_REF = Statement("""
    UPDATE bodies SET refs = refs - 1, orphaned = CASE WHEN refs <= 1 THEN CAST(:now AS BIGINT) ELSE NULL END
    WHERE id = :id""")  # PostgreSQL types a bare parameter in a CASE as text
THREAD_OF = Statement("""
    SELECT m.thread_id FROM bodies b
    JOIN messages m ON m.body_id = b.id
    JOIN mailboxes x ON x.id = m.mailbox_id
    WHERE b.message_id = :message_id AND x.account_id = :account_id LIMIT 1""")
INSERT_MESSAGE = Statement("""
    INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, saved, size, body_id, thread_id)
    VALUES (:mailbox_id, :uid, :modseq, :flags, :keywords, :internal_date, :saved, :size, :body_id, :thread_id)""")

MESSAGE_META = """m.uid AS uid, m.modseq AS modseq, m.flags AS flags, m.keywords AS keywords,
    m.internal_date AS internal_date, m.saved AS saved, m.size AS size, m.body_id AS body_id,
    m.thread_id AS thread_id"""
VIEW = Statement("""
    SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = :mailbox_id ORDER BY uid""")
META_RANGE = Statement(f"""
    SELECT {MESSAGE_META} FROM messages m
    WHERE m.mailbox_id = :mailbox_id AND m.uid >= :first AND m.uid <= :last ORDER BY m.uid""")  # noqa: S608
META_SLICE = Statement(f"""
    SELECT {MESSAGE_META} FROM messages m
    WHERE m.mailbox_id = :mailbox_id AND m.uid >= :first ORDER BY m.uid LIMIT :count""")  # noqa: S608
FULL_RANGE = Statement(f"""
    SELECT {MESSAGE_META}, b.blob AS blob, b.structure AS structure, b.sent AS sent, b.subject AS subject,
           b.addresses AS addresses
    FROM messages m JOIN bodies b ON b.id = m.body_id
    WHERE m.mailbox_id = :mailbox_id AND m.uid >= :first AND m.uid <= :last ORDER BY m.uid""")  # noqa: S608
CHANGED_SINCE = Statement("""
    SELECT uid, modseq, flags, keywords FROM messages WHERE mailbox_id = :mailbox_id AND modseq > :since
    ORDER BY uid""")
VANISHED_SINCE = Statement("""
    SELECT uid FROM expunged WHERE mailbox_id = :mailbox_id AND modseq > :since ORDER BY uid""")
MESSAGE_FOR_UPDATE = Statement("""
    SELECT id, uid, modseq, flags, keywords, size, body_id, internal_date, thread_id FROM messages
    WHERE mailbox_id = :mailbox_id AND uid >= :first AND uid <= :last ORDER BY uid FOR UPDATE""")
SET_FLAGS = Statement("UPDATE messages SET flags = :flags, keywords = :keywords, modseq = :modseq WHERE id = :id")
DELETE_MESSAGE = Statement("DELETE FROM messages WHERE id = :id")
INSERT_EXPUNGED = Statement("INSERT INTO expunged (mailbox_id, uid, modseq) VALUES (:mailbox_id, :uid, :modseq)")
DELETED_MESSAGES = Statement(f"""
    SELECT id, uid, flags, size, body_id FROM messages
    WHERE mailbox_id = :mailbox_id AND (flags & {fl.DELETED}) != 0 ORDER BY uid""")  # noqa: S608
ALL_MESSAGES = Statement("SELECT id, uid, flags, size, body_id FROM messages WHERE mailbox_id = :mailbox_id")
SUBSCRIBE = Statement(
    "INSERT INTO subscriptions (account_id, name) VALUES (:account_id, :name) ON CONFLICT DO NOTHING")
UNSUBSCRIBE = Statement("DELETE FROM subscriptions WHERE account_id = :account_id AND name = :name")
SUBSCRIPTIONS = Statement("SELECT name FROM subscriptions WHERE account_id = :account_id ORDER BY name")
UNSUBSCRIBE_ALL = Statement("DELETE FROM subscriptions WHERE account_id = :account_id")

# -- shared mailboxes (RFC 4314; acl.py) --
# These join the directory's `objects` (name, domain and kind of an account) to resolve "~owner/..." names
# and identifiers inside one statement: a foreign mailbox, or what an account may see, is one query.

_M = ", ".join(f"m.{c.strip()}" for c in MAILBOX_COLUMNS.split(","))
# An account of the viewer's domain by name (an alias names its account), its mailbox, and the ACL entries
# that apply to the viewer: one row per entry (at most four), or one with NULL entry columns.
FOREIGN_MAILBOX = Statement(f"""
    SELECT {_M}, a.grantee AS grantee, a.negative AS negative, a.rights AS rights
    FROM objects me
    JOIN objects o ON o.domain_id = me.domain_id AND o.name = :owner AND o.kind IN ('account', 'alias')
    JOIN mailboxes m ON m.account_id = COALESCE(o.target_id, o.id) AND m.name = :name
    LEFT JOIN mailbox_acl a ON a.mailbox_id = m.id AND a.grantee IN (:viewer, 0)
    WHERE me.id = :viewer""")  # noqa: S608
FOREIGN_OWNER = Statement("""
    SELECT COALESCE(o.target_id, o.id) FROM objects me
    JOIN objects o ON o.domain_id = me.domain_id AND o.name = :owner AND o.kind IN ('account', 'alias')
    WHERE me.id = :viewer""")
# The entries of a mailbox that apply to the viewer, while the viewer is still of the owner's domain.
ACL_FOR = Statement("""
    SELECT a.grantee AS grantee, a.negative AS negative, a.rights AS rights FROM mailbox_acl a
    JOIN mailboxes m ON m.id = a.mailbox_id
    JOIN objects o ON o.id = m.account_id
    JOIN objects me ON me.id = :viewer AND me.domain_id = o.domain_id
    WHERE a.mailbox_id = :mailbox_id AND a.grantee IN (:viewer, 0)""")
# Mailboxes of other accounts of the viewer's domain with an entry for the viewer or for anyone.
SHARED_WITH = Statement(f"""
    SELECT {_M}, o.name AS owner, a.grantee AS grantee, a.negative AS negative, a.rights AS rights
    FROM mailbox_acl a
    JOIN mailboxes m ON m.id = a.mailbox_id
    JOIN objects o ON o.id = m.account_id
    JOIN objects me ON me.id = :viewer AND me.domain_id = o.domain_id
    WHERE a.grantee IN (:viewer, 0) AND m.account_id != :viewer
    ORDER BY o.name, m.name""")  # noqa: S608
ACL_ENTRIES = Statement("""
    SELECT a.grantee AS grantee, a.negative AS negative, a.rights AS rights, o.name AS name
    FROM mailbox_acl a LEFT JOIN objects o ON o.id = a.grantee
    WHERE a.mailbox_id = :mailbox_id""")
ACL_ENTRY = Statement("""
    SELECT rights FROM mailbox_acl WHERE mailbox_id = :mailbox_id AND grantee = :grantee AND negative = :negative""")
UPSERT_ACL = Statement("""
    INSERT INTO mailbox_acl (mailbox_id, grantee, negative, rights) VALUES (:mailbox_id, :grantee, :negative, :rights)
    ON CONFLICT (mailbox_id, grantee, negative) DO UPDATE SET rights = excluded.rights""")
DELETE_ACL = Statement("""
    DELETE FROM mailbox_acl WHERE mailbox_id = :mailbox_id AND grantee = :grantee AND negative = :negative""")
# A new mailbox starts with its parent's ACL (CommuniGate's rule; RFC 4314 section 3 lets servers choose).
INHERIT_ACL = Statement("""
    INSERT INTO mailbox_acl (mailbox_id, grantee, negative, rights)
    SELECT :mailbox_id, a.grantee, a.negative, a.rights FROM mailbox_acl a
    JOIN mailboxes p ON p.id = a.mailbox_id WHERE p.account_id = :account_id AND p.name = :parent""")
# An identifier's account in the owner's domain: by name, or by name and a name of the domain.
GRANTEE = Statement("""
    SELECT COALESCE(g.target_id, g.id) FROM objects owner
    JOIN objects g ON g.domain_id = owner.domain_id AND g.name = :name AND g.kind IN ('account', 'alias')
    WHERE owner.id = :owner""")
GRANTEE_AT = Statement("""
    SELECT COALESCE(g.target_id, g.id) FROM objects owner
    JOIN domain_names d ON d.domain_id = owner.domain_id AND d.name = :domain
    JOIN objects g ON g.domain_id = owner.domain_id AND g.name = :name AND g.kind IN ('account', 'alias')
    WHERE owner.id = :owner""")
OBJECT_NAME = Statement("SELECT name FROM objects WHERE id = :id")

INLINE_DATA = Statement("SELECT data FROM bodies WHERE blob = :blob")
ORPHANS = Statement("SELECT id, blob FROM bodies WHERE orphaned IS NOT NULL AND orphaned < :before LIMIT :limit")
DELETE_ORPHAN = Statement("DELETE FROM bodies WHERE id = :id AND refs <= 0 AND orphaned IS NOT NULL")

# Special-use mailboxes every account gets on first use (RFC 6154).
DEFAULT_MAILBOXES: tuple[tuple[str, str | None], ...] = (
    (INBOX, None), ("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"),
    ("Archive", "\\Archive"),
)


@dataclass(frozen=True, slots=True)
class Mailbox:
    id: int
    account_id: int
    name: str
    special_use: str | None
    uidvalidity: int
    uidnext: int
    highestmodseq: int
    messages: int
    unseen: int
    deleted: int
    size: int
    created: int
    mailbox_class: str | None = None  # CommuniGate's mailbox class (IPF.Appointment...); None: a mail folder
    # What the asking account may do here (acl.py): every right on its own mailboxes. For another
    # account's mailbox (`viewer` is then the asking account), `name` is the asker's name for it
    # ("~bob/Shared") and `account_id` the owner's.
    rights: str = acl.ALL
    viewer: int | None = None

    @property
    def shared(self) -> bool:
        """Another account's mailbox, seen through its ACL."""
        return self.viewer is not None


def to_mailbox(row: Row) -> Mailbox:
    return Mailbox(*(row[i] for i in range(13)))


# What each right lets one do, for refusals that say what was refused.
_DOING = {"l": "see", "r": "read", "s": "mark messages seen in", "w": "change flags in", "i": "add messages to",
          "p": "post to", "k": "create mailboxes under", "x": "delete or rename", "t": "delete messages in",
          "e": "expunge", "a": "administer the ACL of"}


def require(rights: str, need: str, name: str) -> None:
    """Refuse unless `rights` hold every right of `need` (any right at all when `need` is empty). A mailbox
    on which one holds no right is one that does not exist (RFC 4314 section 4 keeps its existence hidden)."""
    if not rights:
        raise NoSuchMailbox(f"no mailbox {name}")
    lacking = acl.missing(rights, need)
    if lacking:
        raise NotPermitted(f"you may not {_DOING[lacking[0]]} {name} (the right {lacking[0]!r} is missing)")


def _entries(rows: list[Row]) -> list[tuple[int, bool, str]]:
    return [(int(r["grantee"]), bool(r["negative"]), str(r["rights"])) for r in rows if r["grantee"] is not None]


def to_foreign(rows: list[Row], viewer: int, owner: str) -> Mailbox:
    """The Mailbox another account (`viewer`) sees, from FOREIGN_MAILBOX's or SHARED_WITH's rows."""
    base = to_mailbox(rows[0])
    display = foreign(owner, base.name)
    if base.account_id == viewer:  # "~me/x": one's own mailbox, by another name
        return replace(base, name=display)
    return replace(base, name=display, rights=acl.effective(_entries(rows)), viewer=viewer)


def shared_with(rows: list[Row], viewer: int) -> list[Mailbox]:
    """SHARED_WITH's rows as the Mailboxes `viewer` may see (the "l" right)."""
    grouped: dict[int, list[Row]] = {}
    for row in rows:
        grouped.setdefault(int(row["id"]), []).append(row)
    seen = []
    for group in grouped.values():
        mailbox = to_foreign(group, viewer, str(group[0]["owner"]))
        if "l" in mailbox.rights:
            seen.append(mailbox)
    return seen


def current_rights(mailbox_id: int, viewer: int, need: str, name: str) -> Unit[str]:
    """The viewer's rights on another account's mailbox as they are now (a session may hold it selected
    while its owner changes the ACL), refused unless they hold `need`."""
    rows = yield ACL_FOR.all(mailbox_id=mailbox_id, viewer=viewer)
    rights = acl.effective(_entries(rows))
    require(rights, need, name)
    return rights


def grantee(owner_id: int, identifier: str, *, owner_ok: bool = False) -> Unit[tuple[int, bool]]:
    """(grantee id, negative) of an ACL identifier on a mailbox of `owner_id` (acl.py says which exist). The
    owner is refused unless `owner_ok`: its rights are not the ACL's to change."""
    text = identifier.lower()
    negative = text.startswith(acl.NEGATIVE)
    if negative:
        text = text[len(acl.NEGATIVE):]
    if text == acl.ANYONE:
        return acl.ANYONE_ID, negative
    name, at, domain = text.partition("@")
    found = None
    if name and not name.startswith(FOREIGN):
        if at:
            found = yield GRANTEE_AT.value(owner=owner_id, name=name, domain=domain)
        else:
            found = yield GRANTEE.value(owner=owner_id, name=name)
    if found is None:
        raise AclRefused(f"{identifier} is neither anyone nor an account of the mailbox owner's domain")
    if int(found) == owner_id and not owner_ok:
        raise AclRefused("the owner always has every right on its mailboxes; its rights cannot be changed")
    return int(found), negative


def acl_entries(mailbox_id: int) -> Unit[list[tuple[str, str]]]:
    """(identifier, rights) of every entry: anyone first, then accounts by name, negative ones after."""
    rows = yield ACL_ENTRIES.all(mailbox_id=mailbox_id)
    entries = []
    for row in rows:
        grantee_id = int(row["grantee"])
        if grantee_id == acl.ANYONE_ID:
            name = acl.ANYONE
        elif row["name"] is None:
            continue  # the account was deleted
        else:
            name = str(row["name"])
        entries.append((bool(row["negative"]), grantee_id != acl.ANYONE_ID, name, str(row["rights"])))
    entries.sort()
    return [((acl.NEGATIVE if negative else "") + name, rights) for negative, _, name, rights in entries]


def change_acl(mailbox_id: int, owner_id: int, changes: Sequence[tuple[str, str, str]]) -> Unit[None]:
    """Apply (identifier, "add" | "remove" | "replace", rights) changes; an entry left empty is removed."""
    for identifier, mode, rights in changes:
        grantee_id, negative = yield from grantee(owner_id, identifier)
        current = yield ACL_ENTRY.value(mailbox_id=mailbox_id, grantee=grantee_id, negative=int(negative))
        new = acl.change(str(current or ""), mode, rights)
        if new:
            yield UPSERT_ACL.run(mailbox_id=mailbox_id, grantee=grantee_id, negative=int(negative), rights=new)
        elif current is not None:
            yield DELETE_ACL.run(mailbox_id=mailbox_id, grantee=grantee_id, negative=int(negative))


def find_mailbox(account_id: int, name: str) -> Unit[Mailbox]:
    row = yield MAILBOX_BY_NAME.one(account_id=account_id, name=name)
    if row is None:
        raise NoSuchMailbox(f"no mailbox {name}")
    return to_mailbox(row)


def create_mailbox(account_id: int, name: str, special_use: str | None, created: int, *,
                   max_mailboxes: int | None = None, exists_ok: bool = False) -> Unit[int | None]:
    """The new mailbox's id; None when it existed and `exists_ok`."""
    if max_mailboxes is not None:
        count = yield COUNT_MAILBOXES.value(account_id=account_id)
        if int(count) >= max_mailboxes:
            raise OverQuota(f"the account already has its limit of {max_mailboxes} mailboxes")
    new_id = yield INSERT_MAILBOX.value(account_id=account_id, name=name, special_use=special_use, created=created)
    if new_id is None:
        if exists_ok:
            return None
        raise MailboxExists(f"mailbox {name} already exists")
    yield SET_UIDVALIDITY.run(id=new_id)
    head, sep, _ = name.rpartition(SEPARATOR)
    if sep:
        yield INHERIT_ACL.run(mailbox_id=new_id, account_id=account_id, parent=head)
    return int(new_id)


def ensure_defaults(account_id: int, created: int) -> Unit[list[int]]:
    """INBOX and the special-use mailboxes, created (and subscribed) where missing."""
    made: list[int] = []
    for name, special_use in DEFAULT_MAILBOXES:
        new_id = yield from create_mailbox(account_id, name, special_use, created, exists_ok=True)
        if new_id is not None:
            made.append(new_id)
            yield SUBSCRIBE.run(account_id=account_id, name=name)
    return made


@dataclass(frozen=True, slots=True)
class NewMessage:
    blob: str
    size: int
    structure: str  # JSON
    sent: int | None
    message_id: str | None
    parent_ids: Sequence[str]  # In-Reply-To, then References from the nearest: where to look for a thread
    subject: str
    addresses: str
    flags: int
    keywords: str
    internal_date: int
    data: bytes | None = None  # the bytes, when small enough to live in the record store


@dataclass(frozen=True, slots=True)
class Appended:
    mailbox_id: int
    uidvalidity: int
    uid: int
    modseq: int
    account_id: int  # the mailbox's owner


def lock_mailboxes(*ids: int) -> Unit[None]:
    for mailbox_id in sorted(set(ids)):
        yield LOCK_MAILBOX.run(id=mailbox_id)


def check_quota(account_id: int, adding_size: int, adding_messages: int, max_size: int | None,
                max_messages: int | None) -> Unit[None]:
    if (max_size is None and max_messages is None) or (adding_size <= 0 and adding_messages <= 0):
        return  # adding nothing (a move inside the account) is allowed even over the quota
    row = yield ACCOUNT_USAGE.one(account_id=account_id)
    if max_size is not None and int(row["size"]) + adding_size > max_size:
        raise OverQuota("the account is over its storage quota (MaxAccountSize)")
    if max_messages is not None and int(row["messages"]) + adding_messages > max_messages:
        raise OverQuota("the account is over its message quota (MaxMessages)")


def append(mailbox: Mailbox, message: NewMessage, saved: int, max_size: int | None,
           max_messages: int | None, *, capped: bool = True) -> Unit[Appended]:
    """A message into a mailbox (`capped`: its keywords count against flags.MAX_MAILBOX_KEYWORDS, note_keywords)."""
    yield from check_quota(mailbox.account_id, message.size, 1, max_size, max_messages)
    taken = yield TAKE_UIDS.one(id=mailbox.id, count=1)
    body_id = yield UPSERT_BODY.value(blob=message.blob, size=message.size, structure=message.structure,
                                      sent=message.sent, message_id=message.message_id, subject=message.subject,
                                      addresses=message.addresses, refs=1, data=message.data)
    thread_id = int(body_id)
    for parent in message.parent_ids[:2]:
        found = yield THREAD_OF.value(message_id=parent, account_id=mailbox.account_id)
        if found is not None:
            thread_id = int(found)
            break
    yield INSERT_MESSAGE.run(mailbox_id=mailbox.id, uid=taken["first_uid"], modseq=taken["modseq"],
                             flags=message.flags, keywords=message.keywords, internal_date=message.internal_date,
                             saved=saved, size=message.size, body_id=body_id, thread_id=thread_id)
    yield ADD_COUNTS.run(id=mailbox.id, messages=1, size=message.size,
                         unseen=0 if message.flags & fl.SEEN else 1, deleted=1 if message.flags & fl.DELETED else 0)
    if message.keywords:
        yield from note_keywords(mailbox.id, message.keywords.split(" "), capped=capped)
    return Appended(mailbox.id, int(taken["uidvalidity"]), int(taken["first_uid"]), int(taken["modseq"]),
                    mailbox.account_id)


def note_keywords(mailbox_id: int, keywords: Iterable[str], *, capped: bool = True) -> Unit[None]:
    """Add keywords just set on a message to the mailbox's list of keywords, if they are new to it. The
    caller holds the mailbox's lock. A list not known yet (NULL) stays so: it is computed from the messages,
    these included, when it is first asked for. A client's new keywords (`capped`: STORE, APPEND) past
    flags.MAX_MAILBOX_KEYWORDS are refused: every SELECT lists them all in FLAGS. Copies and deliveries carry
    keywords that some mailbox already holds, or that the account's own rules set, and are never refused
    for them (a full mailbox must not stop a MOVE to Trash or lose a message)."""
    current = yield MAILBOX_KEYWORDS.value(id=mailbox_id)
    if current is None:
        return
    merged = fl.union_keywords(str(current), keywords)
    if merged == current:
        return
    if capped and merged.count(" ") + 1 > fl.MAX_MAILBOX_KEYWORDS:
        raise TooManyKeywords(f"a mailbox holds at most {fl.MAX_MAILBOX_KEYWORDS} keywords; this one is full")
    yield SET_MAILBOX_KEYWORDS.run(keywords=merged, id=mailbox_id)


def mailbox_keywords(mailbox_id: int) -> Unit[list[str]]:
    """The keywords ever used in a mailbox, first used first. A mailbox from before the list was kept gets it
    from its messages once (in alphabetical order), under its lock: no STORE can add one meanwhile."""
    current = yield MAILBOX_KEYWORDS.value(id=mailbox_id)
    if current is None:
        yield from lock_mailboxes(mailbox_id)
        current = yield MAILBOX_KEYWORDS.value(id=mailbox_id)
        if current is None:
            rows = yield MESSAGE_KEYWORDS.all(mailbox_id=mailbox_id)
            found = sorted({k for row in rows for k in str(row["keywords"]).split(" ") if k}, key=str.lower)
            current = fl.union_keywords("", found)
            yield SET_MAILBOX_KEYWORDS.run(keywords=current, id=mailbox_id)
    return str(current).split(" ") if current else []


def claim_recent(mailbox_id: int) -> Unit[tuple[int, int]]:
    """Take the messages no session has seen as \\Recent yet: returns (first, end), the UIDs first <= UID < end
    are recent to the caller alone. Under the mailbox's lock, so two sessions never claim the same UID."""
    row = yield RECENT_STATE_LOCKED.one(id=mailbox_id)
    if row is None:
        raise NoSuchMailbox("the mailbox no longer exists")
    first, end = int(row["first_recent"]), int(row["uidnext"])
    if first < end:
        yield SET_FIRST_RECENT.run(first_recent=end, id=mailbox_id)
    return first, end


@dataclass(frozen=True, slots=True)
class FlagChange:
    uid: int
    modseq: int
    flags: int
    keywords: str


def store_flags(mailbox_id: int, uids: Sequence[int], mode: str, bits: int, keywords: Sequence[str],
                unchanged_since: int | None, mask: tuple[int, bool] | None = None,
                ) -> Unit[tuple[list[FlagChange], list[int]]]:
    """Replace ("replace"), add ("add") or remove ("remove") flags on the messages with `uids` (sorted). Returns the
    changes (with their new modseq) and the UIDs refused by UNCHANGEDSINCE (RFC 7162 3.1.3). With a `mask`
    (acl.flag_mask: the system flags and whether keywords may change), everything else is left as it was."""
    if not uids:
        return [], []
    wanted = set(uids)
    yield from lock_mailboxes(mailbox_id)
    rows = yield MESSAGE_FOR_UPDATE.all(mailbox_id=mailbox_id, first=uids[0], last=uids[-1])
    modseq: int | None = None
    changes: list[FlagChange] = []
    modified: list[int] = []
    unseen_delta = deleted_delta = 0
    for row in rows:
        uid = int(row["uid"])
        if uid not in wanted:
            continue
        if unchanged_since is not None and int(row["modseq"]) > unchanged_since:
            modified.append(uid)
            continue
        old_bits, old_keywords = int(row["flags"]), str(row["keywords"])
        if mode == "replace":
            new_bits = bits
            new_keywords = fl.merge_keywords("", keywords, ())
        elif mode == "add":
            new_bits = old_bits | bits
            new_keywords = fl.merge_keywords(old_keywords, keywords, ())
        else:
            new_bits = old_bits & ~bits
            new_keywords = fl.merge_keywords(old_keywords, (), keywords)
        if mask is not None:
            new_bits = (old_bits & ~mask[0]) | (new_bits & mask[0])
            if not mask[1]:
                new_keywords = old_keywords
        if new_bits == old_bits and new_keywords == old_keywords:
            continue
        if modseq is None:
            modseq = int((yield TAKE_MODSEQ.value(id=mailbox_id)))
        yield SET_FLAGS.run(flags=new_bits, keywords=new_keywords, modseq=modseq, id=row["id"])
        unseen_delta += bool(old_bits & fl.SEEN) - bool(new_bits & fl.SEEN)
        deleted_delta += bool(new_bits & fl.DELETED) - bool(old_bits & fl.DELETED)
        changes.append(FlagChange(uid, modseq, new_bits, new_keywords))
    if unseen_delta or deleted_delta:
        yield ADD_COUNTS.run(id=mailbox_id, messages=0, size=0, unseen=unseen_delta, deleted=deleted_delta)
    if keywords and changes and mode != "remove" and (mask is None or mask[1]):
        yield from note_keywords(mailbox_id, keywords)
    return changes, modified


def _remove(mailbox_id: int, rows: Iterable[Row], now: int) -> Unit[list[int]]:
    """Delete message rows, leave tombstones, fix the counters; returns the UIDs (ascending)."""
    rows = sorted(rows, key=lambda r: int(r["uid"]))
    if not rows:
        return []
    modseq = yield TAKE_MODSEQ.value(id=mailbox_id)
    size = unseen = deleted = 0
    for row in rows:
        yield DELETE_MESSAGE.run(id=row["id"])
        yield INSERT_EXPUNGED.run(mailbox_id=mailbox_id, uid=row["uid"], modseq=modseq)
        yield DROP_BODY_REF.run(id=row["body_id"], now=now)
        size += int(row["size"])
        unseen += 0 if int(row["flags"]) & fl.SEEN else 1
        deleted += 1 if int(row["flags"]) & fl.DELETED else 0
    yield ADD_COUNTS.run(id=mailbox_id, messages=-len(rows), size=-size, unseen=-unseen, deleted=-deleted)
    return [int(r["uid"]) for r in rows]




def expunge(mailbox_id: int, uids: set[int] | None, now: int) -> Unit[list[int]]:
    """Remove the \\Deleted messages (only those among `uids`, when given)."""
    yield from lock_mailboxes(mailbox_id)
    rows = yield DELETED_MESSAGES.all(mailbox_id=mailbox_id)
    chosen = [r for r in rows if uids is None or int(r["uid"]) in uids]
    removed = yield from _remove(mailbox_id, chosen, now)
    return removed


def remove(mailbox_id: int, uids: Sequence[int], now: int) -> Unit[list[int]]:
    """Remove the messages with `uids` (sorted), whatever their flags (POP3's DELE at QUIT)."""
    if not uids:
        return []
    wanted = set(uids)
    yield from lock_mailboxes(mailbox_id)
    rows = yield MESSAGE_FOR_UPDATE.all(mailbox_id=mailbox_id, first=uids[0], last=uids[-1])
    removed = yield from _remove(mailbox_id, [r for r in rows if int(r["uid"]) in wanted], now)
    return removed


@dataclass(frozen=True, slots=True)
class Copied:
    uidvalidity: int
    source_uids: list[int]
    target_uids: list[int]
    modseq: int


def copy(source_id: int, uids: Sequence[int], target: Mailbox, saved: int, max_size: int | None,
         max_messages: int | None, *, move: bool, now: int, mask: tuple[int, bool] | None = None,
         same_account: bool = True) -> Unit[tuple[Copied, list[int]]]:
    """Copy (or move) messages; returns the UID mapping and, for a move, the UIDs expunged from the source.
    With a `mask` (acl.flag_mask of the target's rights), the copies keep only the flags it allows."""
    if not uids:
        return Copied(target.uidvalidity, [], [], target.highestmodseq), []
    wanted = set(uids)
    yield from lock_mailboxes(source_id, target.id)
    rows = yield MESSAGE_FOR_UPDATE.all(mailbox_id=source_id, first=uids[0], last=uids[-1])
    chosen = [r for r in rows if int(r["uid"]) in wanted]
    if not chosen:
        return Copied(target.uidvalidity, [], [], target.highestmodseq), []
    if source_id != target.id or not move:
        moving = move and same_account  # a move inside one account leaves its usage as it was
        yield from check_quota(target.account_id, 0 if moving else sum(int(r["size"]) for r in chosen),
                               0 if moving else len(chosen), max_size, max_messages)
    taken = yield TAKE_UIDS.one(id=target.id, count=len(chosen))
    first, modseq = int(taken["first_uid"]), int(taken["modseq"])
    size = unseen = deleted = 0
    copied_keywords: dict[str, str] = {}
    for offset, row in enumerate(chosen):
        flags, keywords = int(row["flags"]), str(row["keywords"])
        if mask is not None:
            flags &= mask[0]
            keywords = keywords if mask[1] else ""
        yield INSERT_MESSAGE.run(mailbox_id=target.id, uid=first + offset, modseq=modseq, flags=flags,
                                 keywords=keywords, internal_date=row["internal_date"], saved=saved,
                                 size=row["size"], body_id=row["body_id"], thread_id=row["thread_id"])
        yield ADD_BODY_REFS.run(id=row["body_id"], refs=1)
        for keyword in keywords.split(" ") if keywords else ():
            copied_keywords.setdefault(keyword.lower(), keyword)
        size += int(row["size"])
        unseen += 0 if flags & fl.SEEN else 1
        deleted += 1 if flags & fl.DELETED else 0
    yield ADD_COUNTS.run(id=target.id, messages=len(chosen), size=size, unseen=unseen, deleted=deleted)
    if copied_keywords:
        yield from note_keywords(target.id, copied_keywords.values(), capped=False)
    removed: list[int] = []
    if move:
        removed = yield from _remove(source_id, chosen, now)
    copied = Copied(int(taken["uidvalidity"]), [int(r["uid"]) for r in chosen],
                    list(range(first, first + len(chosen))), modseq)
    return copied, removed


def delete_mailbox(mailbox: Mailbox, now: int) -> Unit[None]:
    if mailbox.name == INBOX:
        raise CannotDelete("INBOX cannot be deleted")
    yield from lock_mailboxes(mailbox.id)
    rows = yield ALL_MESSAGES.all(mailbox_id=mailbox.id)
    for row in rows:
        yield DROP_BODY_REF.run(id=row["body_id"], now=now)
    yield DELETE_MAILBOX.run(id=mailbox.id)


def like_prefix(name: str) -> str:
    escaped = name.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"{escaped}{SEPARATOR}%"


def delete_tree(account_id: int, name: str, now: int) -> Unit[list[int]]:
    """Delete a mailbox and every mailbox under it (CommuniGate's DELETEMAILBOX ... MAILBOXES); the name
    may be a bare folder that only has children. Returns the ids deleted."""
    row = yield MAILBOX_BY_NAME.one(account_id=account_id, name=name)
    children = yield CHILDREN.all(account_id=account_id, prefix=like_prefix(name), exact=name + SEPARATOR,
                                  length=len(name) + len(SEPARATOR))
    boxes = [to_mailbox(row)] if row is not None else []
    for child in children:
        found = yield MAILBOX_BY_ID.one(id=child["id"])
        boxes.append(to_mailbox(found))
    if not boxes:
        raise NoSuchMailbox(f"no mailbox {name}")
    for box in boxes:
        yield from delete_mailbox(box, now)
    return [box.id for box in boxes]


def rename_mailbox(account_id: int, old: Mailbox, new_name: str, created: int, *,
                   subtree: bool = True) -> Unit[list[tuple[str, str]]]:
    """Rename a mailbox and (with `subtree`) everything under it; returns (old, new) name pairs. Renaming
    INBOX moves its messages to a new mailbox and leaves INBOX empty (RFC 3501 6.3.5)."""
    if new_name == old.name or new_name.startswith(old.name + SEPARATOR):
        raise CannotDelete(f"cannot rename {old.name} to {new_name}")
    taken = yield MAILBOX_BY_NAME.one(account_id=account_id, name=new_name)
    if taken is not None:
        raise MailboxExists(f"mailbox {new_name} already exists")
    if old.name == INBOX:
        new_id = yield from create_mailbox(account_id, new_name, None, created)
        target = yield MAILBOX_BY_ID.one(id=new_id)
        rows = yield ALL_MESSAGES.all(mailbox_id=old.id)
        uids = sorted(int(r["uid"]) for r in rows)
        yield from copy(old.id, uids, to_mailbox(target), created, None, None, move=True, now=created)
        return [(old.name, new_name)]
    renamed = [(old.name, new_name)]
    yield RENAME_MAILBOX.run(name=new_name, id=old.id)
    if not subtree:
        return renamed
    children = yield CHILDREN.all(account_id=account_id, prefix=like_prefix(old.name), exact=old.name + SEPARATOR,
                                  length=len(old.name) + len(SEPARATOR))
    for child in children:
        child_new = new_name + str(child["name"])[len(old.name):]
        try:
            yield RENAME_MAILBOX.run(name=child_new, id=child["id"])
        except Conflict:
            raise MailboxExists(f"mailbox {child_new} already exists") from None
        renamed.append((str(child["name"]), child_new))
    return renamed
