"""The vacation answer and forwarding as account rules, the way CommuniGate's WebUser keeps them: one rule
named `#Vacation` (answer people, once per sender: rules.py runs it, vacation.py writes the answer) and
one named `#Redirect` (send every message on, keeping a copy or not), beside the user's other rules.
Pure: rules in, rules out; whoever stores them checks who may (RulesAllowed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

VACATION = "#Vacation"
REDIRECT = "#Redirect"
VACATION_PRIORITY = 2
REDIRECT_PRIORITY = 1
REPLIED = "RepliedAddresses"  # the vacation memory's list (senders already answered)
MIRROR = "Mirror to"  # a copy kept
REDIRECT_TO = "Redirect to"  # no copy kept


def rules_of(value: Any) -> list[Any]:
    """An account's Rules setting as a list (absent or malformed: none)."""
    return list(value) if isinstance(value, list | tuple) else []


def _named(rule: Any, name: str) -> bool:
    return isinstance(rule, list | tuple) and len(rule) >= 2 and rule[1] == name


def _actions(rule: Any) -> list[tuple[str, Any]]:
    """A rule's actions as (lower-case name, argument); malformed ones (set by hand through the CLI/API)
    are passed over."""
    actions = rule[3] if len(rule) >= 4 else ()
    if not isinstance(actions, list | tuple):
        return []
    return [(str(a[0]).lower(), a[1]) for a in actions if isinstance(a, list | tuple) and len(a) >= 2]


def vacation_of(rules: Iterable[Any]) -> str:
    """The vacation answer's text, or "" when there is none."""
    for rule in rules:
        if _named(rule, VACATION):
            for name, argument in _actions(rule):
                if name == "reply with":
                    return str(argument)
    return ""


def forwarding_of(rules: Iterable[Any]) -> tuple[str, bool]:
    """(where mail is forwarded, whether a copy is kept); ("", True) when it is not."""
    for rule in rules:
        if _named(rule, REDIRECT):
            for name, argument in _actions(rule):
                if name in (MIRROR.lower(), REDIRECT_TO.lower()):
                    return str(argument), name == MIRROR.lower()
    return "", True


def vacation_rule(text: str) -> list[Any]:
    """Answer mail people sent (not lists or programs), once per sender."""
    return [VACATION_PRIORITY, VACATION, [["Human Generated", "---"], ["From", "not in", f"#{REPLIED}"]],
            [["Reply with", text], ["Remember 'From' in", REPLIED]]]


def redirect_rule(target: str, keep_copy: bool) -> list[Any]:
    return [REDIRECT_PRIORITY, REDIRECT, [], [[MIRROR if keep_copy else REDIRECT_TO, target]]]


def _others(rules: Iterable[Any], name: str) -> list[Any]:
    """The rules but `name` (and any too short to name anything, which could not run)."""
    return [rule for rule in rules if isinstance(rule, list | tuple) and len(rule) >= 2 and rule[1] != name]


def with_vacation(rules: Iterable[Any], text: str | None) -> list[Any]:
    """The rules with the vacation answer set to `text` (None or empty: no vacation answer)."""
    kept = _others(rules, VACATION)
    return [*kept, vacation_rule(text)] if text else kept


def with_forwarding(rules: Iterable[Any], target: str | None, keep_copy: bool = True) -> list[Any]:
    """The rules with forwarding to `target` (None or empty: no forwarding)."""
    kept = _others(rules, REDIRECT)
    return [*kept, redirect_rule(target, keep_copy)] if target else kept
