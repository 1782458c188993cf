"""The `*` and `?` wildcards of account rules and Sieve's :matches (filters.matches): the answers fnmatch
gave before (issue 12), and no pattern an account writes makes delivery wait on a long header."""

from __future__ import annotations

import fnmatch
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.filters import Decision, Facts, matches, rules, sieve


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="aAbB*?[]!\\.-/", max_size=10), st.text(alphabet="aAbB?*[]!\\.-/\n", max_size=14))
def test_the_same_answers_as_fnmatch(pattern: str, value: str) -> None:
    expected = fnmatch.fnmatchcase(value.lower(), pattern.lower().replace("[", "[[]"))  # the code it replaced
    assert matches(pattern, value) == expected


def test_wildcards_and_case() -> None:
    assert matches("*@Corp.test", "boss@corp.TEST") and not matches("*@corp.test", "boss@corp.test.evil")
    assert matches("b?ss@*", "boss@x") and not matches("b?ss@*", "bss@x")
    assert matches("[list] *", "[List] news") and not matches("[list] *", "l news")  # brackets are literal
    assert matches("*", "") and matches("", "") and not matches("", "x")


# A sender controls the value (a header field as long as the message); the account's owner the pattern.
# A segment with `?` still costs O(n * m) (a regex of literals and ".", as fnmatch's was), so the last
# one is kept short: "?a" * 100 takes 0.07 s here, "?a" * 500 0.33 s (fnmatch the same).
LONG = "a" * 200_000
HOSTILE = ["*a" * 64 + "*b", "*a?" * 64 + "*b", "*" + "a" * 10_000 + "b*", "*" + "a" * 5_000 + "?" + "b*",
           "*" + "?a" * 100 + "b*"]


def test_hostile_patterns_on_a_long_header() -> None:
    for pattern in HOSTILE:
        started = time.perf_counter()
        assert not matches(pattern, LONG)
        assert time.perf_counter() - started < 0.5, pattern[:20]  # fnmatch: 2.2 s for the literal one


def test_a_hostile_rule_and_script_at_delivery() -> None:
    message = b"From: x@y.test\r\nSubject: " + LONG.encode() + b"\r\n\r\nbody\r\n"
    facts = Facts("x@y.test", "bob@example.com", message)
    started = time.perf_counter()
    decision = rules.evaluate([["5", "r", [["Subject", "is", "*" + "a" * 10_000 + "b*"]], [["Discard"]]]], facts,
                              Decision())
    script = 'if header :matches "subject" "*' + "a" * 10_000 + 'b*" { discard; }'
    sieve.evaluate(script, facts, decision)
    assert time.perf_counter() - started < 1.0
    assert decision.mailboxes() == ["INBOX"]
