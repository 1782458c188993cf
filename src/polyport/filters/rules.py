"""CommuniGate-style account rules: (priority, name, (conditions), (actions)), highest priority first.

A rule applies when all its conditions hold. Conditions are (field, operation, value): fields From,
Sender, Return-Path, To, Cc, Any To or Cc, Subject, Message-ID, "Header Field" (value "Name: pattern"),
Size (value like 100K), and ("Human Generated", "---") for mail no program sent; operations "is", "is
not" (wildcards * and ?), "in", "not in" (comma-separated patterns; "#RepliedAddresses" and other
"#lists" are the vacation memory, which vacation.py keeps, so "not in" them holds), "greater than",
"less than". Actions: ("Store in", mailbox), ("Redirect to", addresses) (no copy kept), ("Forward to",
addresses) and ("Mirror to", ...) (a copy kept), ("Reply with", text) and ("Reply to All with", text)
(the vacation answer), ("Reject with", text), ("Discard"), ("Mark", flag), ("Stop Processing"),
("Remember 'From' in", list) (the vacation memory does this).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from polyport.filters import Decision, Facts, Vacation, matches

FIELDS = {"from", "sender", "return-path", "to", "cc", "any to or cc", "subject", "message-id", "header field",
          "size", "human generated"}
OPERATIONS = {"is", "is not", "in", "not in", "greater than", "less than"}
ACTIONS = {"store in", "redirect to", "forward to", "mirror to", "reply with", "reply to all with",
           "reject with", "discard", "mark", "stop processing", "remember 'from' in"}
SYSTEM_FLAGS = {"seen", "flagged", "deleted", "answered", "draft"}
SENDING = {"redirect to", "forward to", "mirror to", "reply with", "reply to all with"}
_SIZE = re.compile(r"\s*(\d+)\s*([KMG]?)\s*", re.IGNORECASE)
AUTOMATIC = ("auto-submitted", "list-id", "list-unsubscribe", "precedence")


def check_rule(rule: Sequence[Any]) -> str | None:
    """Why a normalized rule cannot run, or None."""
    _, _, conditions, actions = rule
    for condition in conditions:
        name = condition[0].lower()
        if name not in FIELDS:
            return f"unknown condition field {condition[0]!r}"
        if name != "human generated" and (len(condition) != 3 or condition[1].lower() not in OPERATIONS):
            return f"condition {condition!r} needs an operation ({', '.join(sorted(OPERATIONS))}) and a value"
    for action in actions:
        if action[0].lower() not in ACTIONS:
            return f"unknown action {action[0]!r}"
    return None


def _size(text: str) -> int:
    match = _SIZE.fullmatch(text)
    if not match:
        return 0
    return int(match.group(1)) * {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}[match.group(2).upper()]


def human_generated(facts: Facts) -> bool:
    if not facts.sender or facts.sender.lower().startswith(("mailer-daemon@", "owner-")):
        return False
    if "-request@" in facts.sender.lower():
        return False
    for name in AUTOMATIC:
        values = facts.header(name)
        if name == "auto-submitted" and any(v.lower() != "no" for v in values):
            return False
        if name == "precedence" and any(v.lower() in ("bulk", "list", "junk") for v in values):
            return False
        if name in ("list-id", "list-unsubscribe") and values:
            return False
    return True


def _values(facts: Facts, field: str, operand: str) -> tuple[list[str], str]:
    if field == "from":
        return facts.header("from") + facts.addresses("from"), operand
    if field == "sender":
        return facts.header("sender") + facts.addresses("sender"), operand
    if field == "return-path":
        return [facts.sender], operand
    if field in ("to", "cc"):
        return facts.header(field) + facts.addresses(field), operand
    if field == "any to or cc":
        return (facts.header("to") + facts.header("cc") + facts.addresses("to") + facts.addresses("cc")), operand
    if field == "subject":
        return facts.header("subject") or [""], operand
    if field == "message-id":
        return facts.header("message-id"), operand
    if field == "header field":
        name, _, pattern = operand.partition(":")
        return facts.header(name.strip()), pattern.strip()
    return [], operand


def _holds(facts: Facts, condition: list[str]) -> bool:
    field = condition[0].lower()
    if field == "human generated":
        return human_generated(facts)
    operation, operand = condition[1].lower(), condition[2]
    if field == "size":
        limit = _size(operand)
        return facts.size > limit if operation == "greater than" else facts.size < limit if \
            operation == "less than" else False
    values, pattern = _values(facts, field, operand)
    if operation in ("is", "is not"):
        found = any(matches(pattern, v) for v in values)
        return found if operation == "is" else not found
    if operation in ("in", "not in"):
        if pattern.strip().startswith("#"):
            return operation == "not in"  # the vacation memory: vacation.py answers once per period
        patterns = [p.strip() for p in pattern.split(",") if p.strip()]
        found = any(matches(p, v) for p in patterns for v in values)
        return found if operation == "in" else not found
    return False


def evaluate(rules: Sequence[Any], facts: Facts, decision: Decision, *, allowed: str = "Any") -> Decision:
    """Apply the rules to `decision`. `allowed` is the account's RulesAllowed: "None" runs nothing,
    "Filter Only" leaves out what sends mail (redirects, forwards, answers)."""
    if allowed == "None":
        return decision
    ordered = sorted(rules, key=lambda r: -int(r[0]))
    for _, _, conditions, actions in ordered:
        if not all(_holds(facts, c) for c in conditions):
            continue
        for action in actions:
            verb = action[0].lower()
            argument = action[1] if len(action) > 1 else ""
            if verb in SENDING and allowed != "Any":
                continue
            if verb == "store in":
                decision.fileinto.append(argument or "INBOX")
                decision.keep = False
            elif verb == "redirect to":
                decision.redirect.extend(a.strip() for a in argument.split(",") if a.strip())
                decision.keep = False
            elif verb in ("forward to", "mirror to"):
                decision.redirect.extend(a.strip() for a in argument.split(",") if a.strip())
            elif verb in ("reply with", "reply to all with"):
                decision.vacation = Vacation(argument)
            elif verb == "reject with":
                decision.reject = argument or "rejected by the recipient's rules"
                decision.keep = False
            elif verb == "discard":
                decision.keep = False
                decision.fileinto.clear()
            elif verb == "mark":
                system = argument.strip().lower()
                decision.flags.append(f"\\{system.capitalize()}" if system in SYSTEM_FLAGS else argument.strip())
            elif verb == "stop processing":
                decision.stopped = True
                return decision
    return decision
