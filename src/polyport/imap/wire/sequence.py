"""Sequence sets as written (RFC 3501 and RFC 9051 section 9 sequence-set, RFC 5182 "$"), parsed once per
distinct text (clients repeat them) and resolved against the mailbox by the server.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

MAX_SEQUENCE_ITEMS: Final = 100_000  # comma-separated items in one sequence set
MAX_NUMBER: Final = 4_294_967_295  # RFC 9051 section 9: number and nz-number are unsigned 32-bit
STAR: Final = 0  # "*" in SequenceSet.ranges: the largest number in use (0 is no valid number)
_SEQUENCE: Final = re.compile(rb"[0-9*:,$]+")  # the bytes a sequence-set is made of


@dataclass(frozen=True, slots=True)
class SequenceSet:
    """A sequence-set as written: `ranges` of (first, last), either order, STAR (0) for "*", single
    numbers as (n, n); `saved` when it includes "$", the result an earlier SEARCH saved (RFC 5182).
    Nothing is expanded: the server resolves it against the mailbox (message count or largest UID)."""

    ranges: tuple[tuple[int, int], ...]
    saved: bool = False

    @property
    def has_star(self) -> bool:
        return any(first == STAR or last == STAR for first, last in self.ranges)

    @property
    def highest(self) -> int:
        """The largest number written out (not "*"), 0 when none: a sequence number above the message
        count is a BAD (RFC 9051 section 9, seq-number)."""
        return max((max(first, last) for first, last in self.ranges), default=0)

    def resolve(self, largest: int) -> list[tuple[int, int]]:
        """Ascending, merged, inclusive (low, high) spans with "*" as `largest` (the message count or the
        largest UID; 0 for an empty mailbox, which matches nothing). "$" is not included: see `saved`."""
        spans: list[tuple[int, int]] = []
        for first, last in self.ranges:
            low = largest if first == STAR else first
            high = largest if last == STAR else last
            if low > high:
                low, high = high, low
            low = max(low, 1)
            if high >= low:
                spans.append((low, high))
        spans.sort()
        merged: list[tuple[int, int]] = []
        for low, high in spans:
            if merged and low <= merged[-1][1] + 1:
                if high > merged[-1][1]:
                    merged[-1] = (merged[-1][0], high)
            else:
                merged.append((low, high))
        return merged

    def contains(self, number: int, largest: int) -> bool:
        for first, last in self.ranges:
            low = largest if first == STAR else first
            high = largest if last == STAR else last
            if low <= number <= high or high <= number <= low:
                return True
        return False

    def numbers(self, largest: int) -> Iterator[int]:
        """The numbers in ascending order, lazily (a huge range costs nothing until iterated)."""
        for low, high in self.resolve(largest):
            yield from range(low, high + 1)

    def to_bytes(self) -> bytes:
        items = [b"%d" % first if first == last and first != STAR else
                 b"%s:%s" % (_seq_text(first), _seq_text(last)) for first, last in self.ranges]
        items = [b"*" if item == b"*:*" else item for item in items]
        if self.saved:
            items.append(b"$")
        return b",".join(items)


def _seq_text(number: int) -> bytes:
    return b"*" if number == STAR else b"%d" % number


def _seq_number(text: bytes) -> int | str:
    """RFC 3501 section 9: seq-number = nz-number / "*". The number, or the reason it is not one."""
    if text == b"*":
        return STAR
    if not text.isdigit():
        return f"bad sequence number {text[:20].decode('ascii', 'replace')!r}"  # text is [0-9*:,$]: ASCII
    if len(text) > 10 or int(text) > MAX_NUMBER:
        return f"sequence number {text[:20].decode()} is out of range (1 to {MAX_NUMBER})"
    value = int(text)
    return value if value else "sequence numbers start at 1, not 0"


def _parse_sequence_set(text: bytes) -> SequenceSet | str:
    """RFC 3501 section 9 sequence-set (RFC 5182: "$" as an item). The set, or the reason it is not one."""
    if text.count(b",") >= MAX_SEQUENCE_ITEMS:
        return f"sequence set longer than {MAX_SEQUENCE_ITEMS} items"
    ranges: list[tuple[int, int]] = []
    saved = False
    for item in text.split(b","):
        if item == b"$":  # RFC 5182 section 2.1: seq-last-command
            saved = True
            continue
        first_text, colon, last_text = item.partition(b":")
        first = _seq_number(first_text)
        if isinstance(first, str):
            return first
        if not colon:
            ranges.append((first, first))
            continue
        last = _seq_number(last_text)  # seq-range = seq-number ":" seq-number
        if isinstance(last, str):
            return last
        ranges.append((first, last))
    return SequenceSet(tuple(ranges), saved)


_cached_sequence_set = functools.lru_cache(maxsize=4096)(_parse_sequence_set)


def parse_sequence_set(text: bytes) -> SequenceSet:
    """A sequence set on its own (the server's saved results, tests). Raises ValueError."""
    if not _SEQUENCE.fullmatch(text):
        raise ValueError(f"bad sequence set {text[:20].decode('ascii', 'replace')!r}")
    result = _parse_sequence_set(text)
    if isinstance(result, SequenceSet):
        return result
    raise ValueError(result)
