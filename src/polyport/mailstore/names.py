"""Mailbox names: "/" separates levels; INBOX is one name in any case; LIST's wildcards.

Names are Unicode text (IMAP's modified UTF-7 is the protocol's business). A name is refused if it is
empty, has an empty level ("a//b", a leading or trailing "/"), holds a control character or a wildcard,
or is longer than MAX_NAME characters or MAX_DEPTH levels.
"""

from __future__ import annotations

import re

from polyport.mailstore.errors import InvalidMailboxName

SEPARATOR = "/"
INBOX = "INBOX"
MAX_NAME = 500
MAX_DEPTH = 32


def canonical(name: str) -> str:
    """The stored form of a mailbox name: INBOX (and its children) spelled INBOX."""
    head, sep, rest = name.partition(SEPARATOR)
    if head.upper() == INBOX:
        return INBOX + sep + rest
    return name


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
