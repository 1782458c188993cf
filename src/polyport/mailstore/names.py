"""Mailbox names: "/" separates levels; INBOX is one name in any case; LIST's wildcards; foreign names.

Names are Unicode text (IMAP's modified UTF-7 is the protocol's business). A name is refused if it is
empty, has an empty level ("a//b", a leading or trailing "/"), holds a control character or a wildcard,
or is longer than MAX_NAME characters or MAX_DEPTH levels.

A name starting with "~" is a *foreign* mailbox, CommuniGate's convention: "~bob/Shared" is the mailbox
"Shared" of the account bob in the asking account's domain (shared through its ACL, see acl.py). An
account's own mailboxes therefore never start with "~"; the owner part is canonical lower-case.
"""

from __future__ import annotations

import re

from polyport.mailstore.errors import InvalidMailboxName

SEPARATOR = "/"
INBOX = "INBOX"
MAX_NAME = 500
MAX_DEPTH = 32


FOREIGN = "~"


def canonical(name: str) -> str:
    """The stored form of a mailbox name: INBOX (and its children) spelled INBOX; in a foreign name, the
    owner in lower case and the owner's INBOX spelled INBOX ("~Bob/inbox" is "~bob/INBOX")."""
    if name.startswith(FOREIGN):
        owner, sep, rest = name.partition(SEPARATOR)
        return owner.lower() + sep + canonical(rest) if sep else owner.lower()
    head, sep, rest = name.partition(SEPARATOR)
    if head.upper() == INBOX:
        return INBOX + sep + rest
    return name


def split_foreign(name: str) -> tuple[str, str] | None:
    """(owner, the owner's name for it) of a canonical foreign name ("~bob/Shared" -> ("bob", "Shared")); None
    for one's own mailbox. A foreign name without a mailbox part ("~bob") names no mailbox."""
    if not name.startswith(FOREIGN):
        return None
    owner, _, rest = name[len(FOREIGN):].partition(SEPARATOR)
    if not owner or not rest:
        raise InvalidMailboxName(f"{name} names no mailbox: foreign mailboxes are ~account/mailbox")
    return owner, rest


def foreign(owner: str, name: str) -> str:
    """The name another account uses for the mailbox `name` of `owner`."""
    return f"{FOREIGN}{owner}{SEPARATOR}{name}"


def parent(name: str) -> str | None:
    """The level above `name`, if there is one ("a/b/c" -> "a/b")."""
    head, sep, _ = name.rpartition(SEPARATOR)
    return head if sep else None


def may_reach_foreign(reference: str, wildcard: str) -> bool:
    """Whether a LIST pattern can match a foreign name ("~..."): only then are shared mailboxes looked up."""
    text = reference + wildcard
    return text[:1] in (FOREIGN, "*", "%")


def check(name: str) -> str:
    """The canonical name, or InvalidMailboxName saying why."""
    if not name:
        raise InvalidMailboxName("the mailbox name is empty")
    if len(name) > MAX_NAME:
        raise InvalidMailboxName(f"mailbox names are at most {MAX_NAME} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name) or "%" in name or "*" in name:
        raise InvalidMailboxName("a mailbox name cannot hold control characters, % or *")
    levels = name.split(SEPARATOR)
    if any(level == "" for level in levels):
        raise InvalidMailboxName(f"a mailbox name cannot have an empty level ({name!r})")
    if len(levels) > MAX_DEPTH:
        raise InvalidMailboxName(f"mailboxes nest at most {MAX_DEPTH} levels deep")
    return canonical(name)


def parents(name: str) -> list[str]:
    """The names above `name`, outermost first ("a/b/c" -> ["a", "a/b"])."""
    levels = name.split(SEPARATOR)
    return [SEPARATOR.join(levels[:i]) for i in range(1, len(levels))]


def pattern(reference: str, wildcard: str) -> re.Pattern[str]:
    """A regex for LIST's reference + mailbox pattern (RFC 3501 6.3.8): `*` matches anything, `%` anything
    but the separator. INBOX matches without case."""
    text = canonical(reference + wildcard) if (reference + wildcard) else ""
    parts: list[str] = []
    for ch in text:
        if ch == "*":
            parts.append(".*")
        elif ch == "%":
            parts.append(f"[^{re.escape(SEPARATOR)}]*")
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts), re.DOTALL)
