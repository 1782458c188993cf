"""Message flags: the five system flags as bits of one integer, everything else as keywords.

Keeping system flags in an integer makes the common questions (unseen? deleted?) a bit test in SQL and in
memory. Keywords (RFC 3501 flag-keyword, `$Forwarded`, `$Junk`, user labels) are kept as given, compared
without case, at most MAX_KEYWORDS per message.
"""

from __future__ import annotations

from collections.abc import Iterable

SEEN = 1
ANSWERED = 2
FLAGGED = 4
DELETED = 8
DRAFT = 16

SYSTEM = {"\\seen": SEEN, "\\answered": ANSWERED, "\\flagged": FLAGGED, "\\deleted": DELETED, "\\draft": DRAFT}
NAMES = {SEEN: "\\Seen", ANSWERED: "\\Answered", FLAGGED: "\\Flagged", DELETED: "\\Deleted", DRAFT: "\\Draft"}
PERMANENT = ("\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft")
MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 100
# Keywords a client may give one mailbox (records.note_keywords): every SELECT lists them all in FLAGS. Cyrus
# keeps 128 user flags a mailbox; a list this long is already unusual.
MAX_MAILBOX_KEYWORDS = 1000


class FlagError(ValueError):
    pass


def split(names: Iterable[str]) -> tuple[int, list[str]]:
    """Flags as (system bits, keywords); \\Recent and other backslash names are refused."""
    bits = 0
    keywords: dict[str, str] = {}
    for name in names:
        bit = SYSTEM.get(name.lower())
        if bit is not None:
            bits |= bit
        elif name.startswith("\\"):
            raise FlagError(f"{name} is not a flag that can be set")
        elif not name or len(name) > MAX_KEYWORD_LENGTH or any(c in name for c in ' ()%*"]{\\') \
                or not name.isprintable():  # RFC 9051 atom: no CTL (a CR/LF would break FLAGS lines)
            raise FlagError(f"{name!r} is not a valid keyword")
        else:
            keywords.setdefault(name.lower(), name)
    if len(keywords) > MAX_KEYWORDS:
        raise FlagError(f"at most {MAX_KEYWORDS} keywords a message")
    return bits, list(keywords.values())


def join(bits: int, keywords: str) -> list[str]:
    """The flags of a message as names: system flags first, then keywords."""
    names = [name for bit, name in NAMES.items() if bits & bit]
    if keywords:
        names.extend(keywords.split(" "))
    return names


def keywords_text(keywords: Iterable[str]) -> str:
    return " ".join(keywords)


def merge_keywords(current: str, add: Iterable[str], remove: Iterable[str]) -> str:
    present = {k.lower(): k for k in current.split(" ") if k}
    for name in add:
        present.setdefault(name.lower(), name)
    for name in remove:
        present.pop(name.lower(), None)
    if len(present) > MAX_KEYWORDS:
        raise FlagError(f"at most {MAX_KEYWORDS} keywords a message")
    return " ".join(present.values())


def union_keywords(current: str, more: Iterable[str]) -> str:
    """A set of keywords (space-separated, compared without case) with `more` added: the spelling first
    seen is kept, the order is that of first use."""
    present = {k.lower(): k for k in current.split(" ") if k}
    for name in more:
        present.setdefault(name.lower(), name)
    return " ".join(present.values())
