"""METADATA entries (RFC 5464): names, scopes, limits and the SQL the Mailstore runs for them.

An entry lives on a mailbox or on the server, and is private to one account ("/private/...") or shared
("/shared/..."). The store keeps each as (scope, name, value) in mailbox_metadata (store/schema.py);
the scope says where it lives: "m<mailbox id>" or "s" (the server), then ":a<account id>" (private to that
account) or ":s" (shared). Names are kept lower-case: entry names are case-insensitive (RFC 5464 3.2).

Limits (decided here): a value holds at most MAX_VALUE_SIZE bytes, and one scope (a mailbox's shared
entries, one account's private entries on a mailbox, the server's shared entries, one account's private
server entries) holds at most MAX_ENTRIES entries.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

from polyport.mailstore.errors import MetadataTooMany
from polyport.mailstore.records import lock_mailboxes
from polyport.store import Statement, Unit

MAX_VALUE_SIZE = 16 * 1024  # fits the IMAP session's 64 KiB limit on literals besides APPEND's
MAX_ENTRIES = 100
MAX_NAME_LENGTH = 1024  # the column's size

PRIVATE = "/private"
SHARED = "/shared"
Depth = Literal[0, 1, -1]  # -1: "infinity"

# RFC 5464 3.2: no "*" or "%" (they would read as LIST wildcards), no control characters.
_FORBIDDEN = re.compile(r"[*%\x00-\x1f\x7f]")

ENTRIES = Statement("SELECT scope, name, value FROM mailbox_metadata WHERE scope IN (:shared, :private)")
SET_ENTRY = Statement("""
    INSERT INTO mailbox_metadata (scope, name, mailbox_id, account_id, value)
    VALUES (:scope, :name, :mailbox_id, :account_id, :value)
    ON CONFLICT (scope, name) DO UPDATE SET value = excluded.value""")
DELETE_ENTRY = Statement("DELETE FROM mailbox_metadata WHERE scope = :scope AND name = :name")
COUNT_ENTRIES = Statement("SELECT count(*) FROM mailbox_metadata WHERE scope = :scope")
# Writers of one account's server entries go one at a time on PostgreSQL (a mailbox's: records.lock_mailboxes),
# so the count after the writes sees every other writer's (READ COMMITTED would let two pass the limit together).
LOCK_ACCOUNT = Statement("SELECT id FROM accounts WHERE id = :id FOR UPDATE")


def check_name(name: str, *, settable: bool) -> str | None:
    """Why `name` is not an entry name (RFC 5464 3.2), or None when it is. `settable` names must have a
    level under /private or /shared; GETMETADATA may ask for "/private" or "/shared" themselves (with DEPTH,
    everything under them)."""
    lower = name.lower()
    if not (lower in (PRIVATE, SHARED) or lower.startswith((PRIVATE + "/", SHARED + "/"))):
        return "an entry name starts with /private/ or /shared/"
    if settable and lower in (PRIVATE, SHARED):
        return f"{name} names no entry: a name below it is needed"
    if _FORBIDDEN.search(name):
        return "an entry name may not hold '*', '%' or control characters"
    if "//" in name:
        return "an entry name may not hold '//'"
    if name.endswith("/"):
        return "an entry name may not end with '/'"
    if len(name.encode()) > MAX_NAME_LENGTH:
        return f"an entry name is at most {MAX_NAME_LENGTH} bytes"
    return None


def is_private(name: str) -> bool:
    return name.lower().startswith(PRIVATE)


def scope(mailbox_id: int | None, account_id: int | None) -> str:
    """The scope key of a mailbox's (None: the server's) entries, private to `account_id` (None: shared)."""
    where = "s" if mailbox_id is None else f"m{mailbox_id}"
    return f"{where}:s" if account_id is None else f"{where}:a{account_id}"


def matches(entry: str, asked: str, depth: Depth) -> bool:
    """Whether a stored entry is `asked` or, with DEPTH (RFC 5464 4.2.2), a descendant it reaches: 1 takes
    the children, infinity (-1) every level below. Both lower-case."""
    if entry == asked:
        return True
    if depth == 0 or not entry.startswith(asked + "/"):
        return False
    return depth == -1 or "/" not in entry[len(asked) + 1:]


def select(rows: Iterable[tuple[str, bytes]], asked: Sequence[str], depth: Depth) -> list[tuple[str, bytes]]:
    """The (name, value) pairs GETMETADATA returns for the names asked, each once, in name order."""
    wanted = [a.lower() for a in asked]
    return sorted((name, value) for name, value in rows if any(matches(name, a, depth) for a in wanted))


def set_entries(mailbox_id: int | None, account_id: int,
                changes: Sequence[tuple[str, bytes | None]]) -> Unit[None]:
    """Set (or with None delete) entries, all or none: a scope left with more than MAX_ENTRIES entries
    refuses the whole change. Private entries are `account_id`'s."""
    if mailbox_id is not None:
        yield from lock_mailboxes(mailbox_id)
    else:  # the account's private server entries; the shared ones are set by administrators alone
        yield LOCK_ACCOUNT.value(id=account_id)
    touched: set[str] = set()
    for name, value in changes:
        owner = account_id if is_private(name) else None
        key = scope(mailbox_id, owner)
        lower = name.lower()
        if value is None:
            yield DELETE_ENTRY.run(scope=key, name=lower)
            continue
        yield SET_ENTRY.run(scope=key, name=lower, mailbox_id=mailbox_id, account_id=owner, value=value)
        touched.add(key)
    for key in touched:  # counted after the writes: replacing an entry adds none
        count = yield COUNT_ENTRIES.value(scope=key)
        if int(count) > MAX_ENTRIES:
            raise MetadataTooMany(f"at most {MAX_ENTRIES} entries per mailbox (or server) and per user")
