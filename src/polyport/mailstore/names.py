"""Mailbox names: "/" separates levels; INBOX is one name in any case; LIST's wildcards; foreign names.

Names are Unicode text (IMAP's modified UTF-7 is the protocol's business). A name is refused if it is
empty, has an empty level ("a//b", a leading or trailing "/"), holds a control character or a wildcard,
or is longer than MAX_NAME characters or MAX_DEPTH levels.

A name starting with "~" is a *foreign* mailbox, CommuniGate's convention: "~bob/Shared" is the mailbox
"Shared" of the account bob in the asking account's domain (shared through its ACL, see acl.py). An
account's own mailboxes therefore never start with "~"; the owner part is canonical lower-case.

LIST's patterns are matched by wildcard.py, which never backtracks (a regex did: issue 12), and hold at
most MAX_WILDCARDS wildcards.
"""

from __future__ import annotations

from polyport.mailstore.errors import InvalidMailboxName
from polyport.wildcard import Wildcard

SEPARATOR = "/"
INBOX = "INBOX"
MAX_NAME = 500
MAX_DEPTH = 32
# Matching costs no more with more wildcards (wildcard.py), but no client needs this many, and the limit
# keeps a 64 KB pattern from being mostly wildcards.
MAX_WILDCARDS = 64


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


def pattern(reference: str, wildcard: str) -> Wildcard:
    """LIST's reference + mailbox pattern (RFC 3501 6.3.8, RFC 9051 6.3.9) compiled: `*` matches anything,
    `%` anything but the separator; `fullmatch(name)` says whether a canonical name matches. INBOX matches
    without case, since the pattern is made canonical as names are. Matching never backtracks (wildcard.py),
    and a pattern with more than MAX_WILDCARDS wildcards is refused (InvalidMailboxName)."""
    text = canonical(reference + wildcard) if (reference + wildcard) else ""
    if text.count("*") + text.count("%") > MAX_WILDCARDS:
        raise InvalidMailboxName(f"a mailbox pattern holds at most {MAX_WILDCARDS} wildcards (* and %)")
    return Wildcard(text, level="%", separator=SEPARATOR)
