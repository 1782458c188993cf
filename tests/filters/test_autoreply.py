"""The vacation answer and forwarding as the #Vacation and #Redirect rules WebUser edits: set, read back,
replaced, removed, the user's other rules kept; and the rules run as delivery runs them."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polyport.filters import Decision, Facts, autoreply, rules

OTHER = [5, "junk", [["Header Field", "is", "X-Spam: yes"]], [["Store in", "Junk"]]]
MESSAGE = b"From: Ann <ann@example.org>\r\nTo: bob@example.com\r\nSubject: hi\r\n\r\nhello\r\n"


def test_nothing_set_reads_as_nothing() -> None:
    assert autoreply.vacation_of([]) == "" and autoreply.forwarding_of([]) == ("", True)
    assert autoreply.rules_of(None) == [] and autoreply.rules_of("nonsense") == []
    assert autoreply.rules_of((OTHER,)) == [OTHER]


def test_vacation_is_set_read_replaced_and_removed_keeping_other_rules() -> None:
    set_once = autoreply.with_vacation([OTHER], "Away until Monday")
    assert set_once[0] == OTHER and autoreply.vacation_of(set_once) == "Away until Monday"
    replaced = autoreply.with_vacation(set_once, "Back on Tuesday")
    assert [r[1] for r in replaced] == ["junk", "#Vacation"] and autoreply.vacation_of(replaced) == "Back on Tuesday"
    assert autoreply.with_vacation(replaced, None) == [OTHER]
    assert autoreply.with_vacation(replaced, "") == [OTHER]


def test_the_vacation_rule_is_communigates() -> None:
    assert autoreply.vacation_rule("away") == [
        2, "#Vacation", [["Human Generated", "---"], ["From", "not in", "#RepliedAddresses"]],
        [["Reply with", "away"], ["Remember 'From' in", "RepliedAddresses"]]]


def test_forwarding_keeps_a_copy_or_not() -> None:
    mirrored = autoreply.with_forwarding([OTHER], "far@example.org", keep_copy=True)
    assert mirrored[-1] == [1, "#Redirect", [], [["Mirror to", "far@example.org"]]]
    assert autoreply.forwarding_of(mirrored) == ("far@example.org", True)
    redirected = autoreply.with_forwarding(mirrored, "other@example.org", keep_copy=False)
    assert [r[1] for r in redirected] == ["junk", "#Redirect"]
    assert autoreply.forwarding_of(redirected) == ("other@example.org", False)
    assert autoreply.with_forwarding(redirected, None) == [OTHER]


def test_vacation_and_forwarding_live_side_by_side() -> None:
    both = autoreply.with_forwarding(autoreply.with_vacation([], "away"), "far@example.org")
    assert autoreply.vacation_of(both) == "away" and autoreply.forwarding_of(both) == ("far@example.org", True)
    assert autoreply.vacation_of(autoreply.with_forwarding(both, None)) == "away"


def test_rules_too_short_to_name_anything_are_dropped() -> None:
    assert autoreply.with_vacation([["broken"], OTHER], "away")[:1] == [OTHER]


def test_delivery_runs_them() -> None:
    facts = Facts("ann@example.org", "bob@example.com", MESSAGE)
    both = autoreply.with_forwarding(autoreply.with_vacation([], "Away"), "far@example.org", keep_copy=False)
    decision = rules.evaluate(both, facts, Decision())
    assert decision.redirect == ["far@example.org"] and not decision.keep
    assert decision.vacation is not None and decision.vacation.reason == "Away"


@given(st.text(min_size=1, max_size=200))
def test_any_text_reads_back(text: str) -> None:
    assert autoreply.vacation_of(autoreply.with_vacation([OTHER], text)) == text


def test_malformed_rules_set_by_hand_are_passed_over() -> None:
    """Rules written through the CLI/API by hand: a one-element action, a string for the action list,
    a short rule. The webmail's settings page reads them without failing."""
    from polyport.filters.autoreply import forwarding_of, vacation_of

    rules = [
        [1, "#Vacation", [], [["Reply with"]]],
        [1, "#Vacation", [], "Reply with"],
        [1, "#Redirect"],
        [1, "#Redirect", [], [["Mirror to"], "x", ["Redirect to", "a@example.org"]]],
    ]
    assert vacation_of(rules) == ""
    assert forwarding_of(rules) == ("a@example.org", False)
