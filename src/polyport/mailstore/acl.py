"""Mailbox rights (RFC 4314) and access control lists: pure functions over rights strings.

Rights are letters of RIGHTS, kept in that order: l lookup (LIST shows it), r read (SELECT, STATUS,
FETCH, SEARCH, COPY from), s keep \\Seen, w write the other flags, i insert (APPEND, COPY into), p post,
k create mailboxes under it, x delete or rename it, t set or clear \\Deleted, e expunge, a administer the
ACL. The obsolete "c" and "d" of RFC 2086 are read as CommuniGate reads them (RFC 4314 section 2.1.1, the
first group): "c" is "kx", "d" is "te"; answers include "c" or "d" wherever one of their members is.

Who an ACL names (decided here, and documented in docs/mailstore.md):
- the owner has every right, always; an entry for the owner is refused;
- `anyone` is every account of the owner's domain (the only accounts that can reach the mailbox);
- `name` or `name@domain` is an account (an alias names its account) of the owner's domain;
- a leading "-" makes the entry negative ("-name", "-anyone"): its rights are taken away from what the
  positive entries give (RFC 4314 section 2).
Groups are not identifiers (yet): a group's members change without the ACL hearing of it, and checking
membership on every access would cost a query on the path every shared access takes.

An account's rights on a mailbox of another account = (anyone | its own entry) - (-anyone | -its own entry).
"""

from __future__ import annotations

from collections.abc import Iterable

from polyport.mailstore import flags as fl
from polyport.mailstore.errors import InvalidRights

RIGHTS = "lrswipkxtea"
ALL = RIGHTS
OBSOLETE = {"c": "kx", "d": "te"}
ANYONE = "anyone"
ANYONE_ID = 0  # the grantee id stored for `anyone`
NEGATIVE = "-"

# LISTRIGHTS (RFC 4314 section 3.7): nothing is always granted to others; every right can be granted
# alone, and the obsolete letters as the sets they stand for.
OPTIONAL = (*RIGHTS, "c", "d")


def parse(text: str) -> str:
    """The rights a string names, in canonical order; InvalidRights for a letter that is not a right."""
    letters: set[str] = set()
    for ch in text:
        if ch in RIGHTS:
            letters.add(ch)
        elif ch in OBSOLETE:
            letters.update(OBSOLETE[ch])
        else:
            raise InvalidRights(f"{ch!r} is not a right (RFC 4314: {RIGHTS}, and c, d)")
    return ordered(letters)


def ordered(letters: Iterable[str]) -> str:
    present = set(letters)
    return "".join(ch for ch in RIGHTS if ch in present)


def shown(rights: str) -> str:
    """Rights as answers give them: with "c" and "d" added for RFC 2086 clients (RFC 4314 section 2.1.1)."""
    extra = "".join(old for old, members in OBSOLETE.items() if any(ch in rights for ch in members))
    return rights + extra


def change(current: str, mode: str, rights: str) -> str:
    """SETACL's "+rights" ("add"), "-rights" ("remove") or "rights" ("replace") applied to `current`."""
    if mode == "add":
        return ordered(current + rights)
    if mode == "remove":
        return ordered(set(current) - set(rights))
    return ordered(rights)


def split_mode(text: str) -> tuple[str, str]:
    """("add" | "remove" | "replace", rights) of a rights string with an optional +/- prefix (SETACL,
    CommuniGate's SETMAILBOXACL)."""
    if text.startswith("+"):
        return "add", parse(text[1:])
    if text.startswith("-"):
        return "remove", parse(text[1:])
    return "replace", parse(text)


def effective(entries: Iterable[tuple[int, bool, str]]) -> str:
    """An account's rights from the entries that apply to it: (grantee, negative, rights) rows for itself
    and for `anyone`."""
    granted: set[str] = set()
    denied: set[str] = set()
    for _, negative, rights in entries:
        (denied if negative else granted).update(rights)
    return ordered(granted - denied)


def missing(rights: str, need: str) -> str:
    """The rights of `need` not in `rights`."""
    return "".join(ch for ch in need if ch not in rights)


# Flags and the rights that change them (RFC 4314 section 4: STORE, and flags given to APPEND and COPY).
SEEN_RIGHT = "s"
DELETED_RIGHT = "t"
WRITE_RIGHT = "w"
STORE_RIGHTS = "stw"


def flag_rights(bits: int, keywords: bool) -> str:
    """The rights that change these flags: s for \\Seen, t for \\Deleted, w for the others and keywords."""
    needed = ""
    if bits & fl.SEEN:
        needed += SEEN_RIGHT
    if bits & fl.DELETED:
        needed += DELETED_RIGHT
    if bits & ~(fl.SEEN | fl.DELETED) or keywords:
        needed += WRITE_RIGHT
    return needed


def flag_mask(rights: str) -> tuple[int, bool]:
    """(system flag bits the rights let one set or clear, whether keywords may be changed)."""
    bits = 0
    if SEEN_RIGHT in rights:
        bits |= fl.SEEN
    if DELETED_RIGHT in rights:
        bits |= fl.DELETED
    if WRITE_RIGHT in rights:
        bits |= fl.ANSWERED | fl.FLAGGED | fl.DRAFT
    return bits, WRITE_RIGHT in rights


def permanent_flags(rights: str) -> list[str]:
    """The PERMANENTFLAGS a session with these rights may change (RFC 4314 section 4)."""
    names = []
    if WRITE_RIGHT in rights:
        names += ["\\Answered", "\\Flagged", "\\Draft"]
    if DELETED_RIGHT in rights:
        names.append("\\Deleted")
    if SEEN_RIGHT in rights:
        names.append("\\Seen")
    if WRITE_RIGHT in rights:
        names.append("\\*")
    return names


def writable(rights: str) -> bool:
    """Whether a SELECT with these rights is READ-WRITE: it may change flags or expunge."""
    return any(ch in rights for ch in "swte")
