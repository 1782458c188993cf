"""Wildcard patterns matched without backtracking: IMAP LIST's `*` and `%` (RFC 9051 6.3.9, RFC 3501
6.3.8), and the `*` and `?` of CommuniGate rules and Sieve's :matches (RFC 5228 2.7.1).

A regex made from such a pattern (`*` as `.*`) backtracks: against a name it cannot match, `.*a.*a.*b`
tries every way of cutting the name into pieces, a number exponential in the wildcards (issue 12: eight
`*`s and a 60-character name held the event loop for 5.9 s). Here nothing backtracks. For a text of n
characters and a pattern of m:

- `*` alone: the pattern is cut at its `*`s into segments. The first must start the text, the last end
  it, and each one between is placed where it *ends* earliest, which is exact: the `*` after a segment
  takes whatever an earlier end leaves over, so a later end never allows a match an earlier one does
  not. Segments are found by `str.find`, which CPython keeps linear (it turns to the two-way algorithm
  when a needle is long or a search does too much work; 2 MB searched in 20 ms for any needle): O(n + m).
- `*` and `?`: a segment with `?` has a fixed length and is found by a regex of literals and `.`, which
  has no choice to undo (each start costs at most one comparison of the segment's length): O(n * m) at
  worst, in C.
- `%` alone (anything but the separator): no wildcard reads the separator, so the text's levels are the
  pattern's levels one for one, and within a level `%` is `*`: O(n + m).
- `%` with `*` or `?`: a segment with `%` can end in many places, so the pattern runs as a
  nondeterministic automaton over the text, its states the bits of one integer (shift-and): n steps of
  O(m / 64) word operations. A text shorter than the characters the pattern needs is refused before the
  automaton is built, so m is at most 2n + 1. Only mailbox names (at most 500 characters,
  mailstore/names.py) meet `%`.

Matching is exact, code point for code point; callers fold case first where their protocol says so.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable

Matcher = Callable[[str], bool]


class Wildcard:
    """A compiled pattern: `*` is always a wildcard; `level` (IMAP's `%`) and `one` (`?`) are when given.
    Every other character matches itself. `fullmatch(text)` says whether the whole text matches."""

    __slots__ = ("fullmatch",)

    def __init__(self, pattern: str, *, level: str | None = None, one: str | None = None,
                 separator: str = "/") -> None:
        self.fullmatch: Matcher
        has_level = level is not None and level in pattern
        has_one = one is not None and one in pattern
        if not has_level:
            if "*" not in pattern and not has_one:
                self.fullmatch = _exact(pattern)
            elif not has_one:
                self.fullmatch = _glob(pattern.split("*"))
            else:
                assert one is not None
                self.fullmatch = _glob_one(pattern.split("*"), one)
        elif "*" not in pattern and not has_one:
            assert level is not None
            self.fullmatch = _levels(pattern, level, separator)
        else:
            self.fullmatch = _general(_tokens(pattern, level, one), separator)


def _exact(pattern: str) -> Matcher:
    return lambda text: text == pattern


def _glob(pieces: list[str]) -> Matcher:
    """Literal segments between `*`s (at least two: a pattern starting or ending with `*` has an empty
    first or last one; empty ones between, from `**`, are dropped)."""
    first, last, middle = pieces[0], pieces[-1], [piece for piece in pieces[1:-1] if piece]
    least = sum(map(len, pieces))  # the characters a match needs: the first and last cannot overlap
    if not (first or last or middle):
        return lambda text: True
    if not (first or last) and len(middle) == 1:
        (inside,) = middle
        return lambda text: inside in text
    if not middle:
        return lambda text: len(text) >= least and text.startswith(first) and text.endswith(last)

    def match(text: str) -> bool:
        if len(text) < least or not (text.startswith(first) and text.endswith(last)):
            return False
        pos, end = len(first), len(text) - len(last)
        for piece in middle:
            found = text.find(piece, pos, end)
            if found < 0:
                return False
            pos = found + len(piece)  # its earliest end: see the module's docstring
        return True

    return match


def _glob_one(pieces: list[str], one: str) -> Matcher:
    """Segments between `*`s that hold `?`: each a (length, literal or None, regex or None)."""
    compiled: dict[str, re.Pattern[str]] = {}  # a hostile pattern repeats its segments
    segments: list[tuple[int, str | None, re.Pattern[str] | None]] = []
    for piece in pieces:
        if one not in piece:
            segments.append((len(piece), piece, None))
            continue
        if piece not in compiled:
            compiled[piece] = re.compile(".".join(re.escape(part) for part in piece.split(one)), re.DOTALL)
        segments.append((len(piece), None, compiled[piece]))
    least = sum(length for length, _, _ in segments)

    def at(segment: tuple[int, str | None, re.Pattern[str] | None], text: str, start: int) -> bool:
        _, literal, regex = segment
        if literal is not None:
            return text.startswith(literal, start)
        assert regex is not None
        return regex.match(text, start) is not None

    def match(text: str) -> bool:
        if len(text) < least:
            return False
        first, last = segments[0], segments[-1]
        if len(segments) == 1:  # no `*`
            return len(text) == least and at(first, text, 0)
        end = len(text) - last[0]
        if not (at(first, text, 0) and at(last, text, end)):
            return False
        pos = first[0]
        for length, literal, regex in segments[1:-1]:
            if literal is not None:
                found = text.find(literal, pos, end)
            else:
                assert regex is not None
                hit = regex.search(text, pos, end)
                found = -1 if hit is None else hit.start()
            if found < 0:
                return False
            pos = found + length
        return True

    return match


def _levels(pattern: str, level: str, separator: str) -> Matcher:
    """Literals and `%` only: level by level, `%` as `*` within one."""
    matchers = [_glob(part.split(level)) if level in part else _exact(part) for part in pattern.split(separator)]
    if len(matchers) == 1:
        only = matchers[0]
        return lambda text: separator not in text and only(text)
    separators = len(matchers) - 1
    prefix = pattern[:pattern.index(level)]  # a cheap first test: most names fail it

    def match(text: str) -> bool:
        if not text.startswith(prefix) or text.count(separator) != separators:
            return False
        return all(m(part) for m, part in zip(matchers, text.split(separator), strict=True))

    return match


class _Wild(enum.Enum):
    ANY = "*"  # any characters, none too
    LEVEL = "%"  # any characters but the separator
    ONE = "?"  # exactly one character


_Token = str | _Wild  # a str is a run of literal characters, never empty
_RUNS = (_Wild.ANY, _Wild.LEVEL)


def _tokens(pattern: str, level: str | None, one: str | None) -> list[_Token]:
    """Literal runs and wildcards; a run of `*` and `%` that holds a `*` becomes one `*`, a run of `%`
    one `%` (each matches what the run matches)."""
    wild = {"*": _Wild.ANY}
    if level is not None:
        wild[level] = _Wild.LEVEL
    if one is not None:
        wild[one] = _Wild.ONE
    tokens: list[_Token] = []
    for part in re.split("([" + re.escape("".join(wild)) + "])", pattern):
        token = wild.get(part, part) if len(part) == 1 else part
        if token == "":
            continue
        if token in _RUNS and tokens and tokens[-1] in _RUNS:
            if token is _Wild.ANY:
                tokens[-1] = _Wild.ANY
            continue
        tokens.append(token)
    return tokens


def _general(tokens: list[_Token], separator: str) -> Matcher:
    """Any mix: the literal ends compared as strings, the automaton for what lies between them, once the
    literals are found in their order (every wildcard taken as `*`: a cheap test most texts fail)."""
    least = sum(len(t) if isinstance(t, str) else t is _Wild.ONE for t in tokens)
    prefix = tokens[0] if isinstance(tokens[0], str) else ""  # a wildcard lies between the two
    suffix = tokens[-1] if isinstance(tokens[-1], str) else ""
    middle = tokens[(1 if prefix else 0):(-1 if suffix else None)]
    in_order = _glob([prefix, *(t for t in middle if isinstance(t, str)), suffix])
    automaton: list[_Automaton] = []  # built once a text is long enough to need it (the module's docstring)

    def match(text: str) -> bool:
        if len(text) < least or not in_order(text):
            return False  # and as len(text) >= least, the prefix and suffix do not overlap
        if not automaton:
            automaton.append(_Automaton(middle, separator))
        return automaton[0].run(text, len(prefix), len(text) - len(suffix))

    return match


class _Automaton:
    """Shift-and over the pattern's characters: bit i of the state is set when the first i tokens can
    match what has been read. No two of `*` and `%` are neighbours (_tokens), so the closure over their
    empty matches is one shift."""

    __slots__ = ("_accept", "_literals", "_one", "_runs", "_separator", "_stay", "_stay_at_separator")

    def __init__(self, tokens: list[_Token], separator: str) -> None:
        literals: dict[str, int] = {}
        one = runs = stars = 0
        i = 0
        for token in tokens:
            if isinstance(token, str):
                for ch in token:
                    literals[ch] = literals.get(ch, 0) | (1 << i)
                    i += 1
                continue
            bit = 1 << i
            if token is _Wild.ANY:
                stars |= bit
                runs |= bit
            elif token is _Wild.LEVEL:
                runs |= bit
            else:
                one |= bit
            i += 1
        self._literals, self._one, self._runs = literals, one, runs
        self._stay = runs  # `*` and `%` read a character and stay where they are...
        self._stay_at_separator = stars  # ... but `%` never reads the separator
        self._accept = 1 << i
        self._separator = separator

    def run(self, text: str, start: int, end: int) -> bool:
        literals, one, runs, separator = self._literals, self._one, self._runs, self._separator
        stay, stay_at_separator = self._stay, self._stay_at_separator
        state = 1 | ((1 & runs) << 1)
        for ch in text[start:end]:
            kept = state & (stay_at_separator if ch == separator else stay)
            state = ((state & (literals.get(ch, 0) | one)) << 1) | kept
            state |= (state & runs) << 1
            if not state:
                return False
        return bool(state & self._accept)
