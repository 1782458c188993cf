"""Account rules and Sieve, pure: facts in, decisions out."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.filters import Decision, Facts, Vacation, rules, sieve, vacation

MESSAGE = (b"From: Boss <boss@corp.test>\r\nTo: Bob <bob@example.com>\r\nCc: team@example.com\r\n"
           b"Subject: =?utf-8?q?Caf=C3=A9?= money\r\nMessage-ID: <m1@corp.test>\r\nX-Spam: yes\r\n\r\nbody\r\n")


def facts(message: bytes = MESSAGE, sender: str = "boss@corp.test") -> Facts:
    return Facts(sender, "bob@example.com", message)


def test_facts_decode_and_unfold() -> None:
    f = facts(b"Subject: a\r\n b\r\nFrom: x@y.z\r\n\r\n")
    assert f.header("subject") == ["a b"] and f.addresses("from") == ["x@y.z"]
    assert facts().header("subject") == ["Café money"]


def test_rules_store_redirect_forward_discard_reject_stop() -> None:
    store = [["5", "junk", [["Header Field", "is", "X-Spam: yes"]], [["Store in", "Junk"], ["Stop Processing"]]],
             ["1", "never", [], [["Discard"]]]]
    d = rules.evaluate(store, facts(), Decision())
    assert d.mailboxes() == ["Junk"] and d.stopped  # the lower rule never ran
    d = rules.evaluate([["5", "r", [["From", "is", "*@corp.test"]], [["Redirect to", "a@x.test, b@x.test"]]]],
                       facts(), Decision())
    assert d.redirect == ["a@x.test", "b@x.test"] and d.mailboxes() == []
    d = rules.evaluate([["5", "f", [["Any To or Cc", "in", "nobody@x, team@example.com"]],
                         [["Forward to", "a@x.test"]]]], facts(), Decision())
    assert d.redirect == ["a@x.test"] and d.mailboxes() == ["INBOX"]  # forwarding keeps a copy
    d = rules.evaluate([["5", "x", [["Subject", "is", "*money*"]], [["Reject with", "no thanks"]]]], facts(),
                       Decision())
    assert d.reject == "no thanks" and d.mailboxes() == []
    d = rules.evaluate([["5", "big", [["Size", "greater than", "1K"]], [["Discard"]]]], facts(), Decision())
    assert d.mailboxes() == ["INBOX"]
    d = rules.evaluate([["5", "m", [], [["Mark", "Flagged"], ["Mark", "Work"]]]], facts(), Decision())
    assert d.flags == ["\\Flagged", "Work"]


def test_rules_allowed() -> None:
    redirect = [["5", "r", [], [["Redirect to", "a@x.test"], ["Store in", "Kept"]]]]
    assert rules.evaluate(redirect, facts(), Decision(), allowed="None").mailboxes() == ["INBOX"]
    d = rules.evaluate(redirect, facts(), Decision(), allowed="Filter Only")
    assert d.redirect == [] and d.mailboxes() == ["Kept"]


def test_check_rule() -> None:
    assert rules.check_rule(["1", "ok", [["From", "is", "*"]], [["Discard"]]]) is None
    assert "unknown action" in (rules.check_rule(["1", "x", [], [["Explode"]]]) or "")
    assert "operation" in (rules.check_rule(["1", "x", [["From", "equals", "a"]], []]) or "")


def test_sieve_script() -> None:
    script = """require ["fileinto", "copy", "envelope", "reject"];
    if address :domain :is "from" "corp.test" { fileinto :copy "Work"; }
    if header :matches "subject" "*money*" { redirect "accounts@x.test"; }
    if envelope :is "to" "nobody@x" { reject "no"; }
    if not exists "x-missing" { keep; }
    """
    d = sieve.evaluate(script, facts(), Decision())
    assert d.mailboxes() == ["INBOX", "Work"] and d.redirect == ["accounts@x.test"]
    assert sieve.evaluate('require "fileinto"; fileinto "A"; stop; fileinto "B";', facts(),
                          Decision()).mailboxes() == ["A"]
    assert sieve.evaluate("discard;", facts(), Decision()).mailboxes() == []
    assert sieve.evaluate('if size :over 1K { discard; } else { keep; }', facts(), Decision()).keep


@pytest.mark.parametrize(("script", "problem"), [
    ('require "imap4flags";', "not supported"), ("if foo { keep; }", "not Sieve"),
    ('require "fileinto"; fileinto;', "not Sieve"),
])
def test_sieve_refusals(script: str, problem: str) -> None:
    assert problem in (sieve.check_script(script) or "")


@given(st.text(max_size=200))
def test_any_script_text_is_checked_without_crashing(text: str) -> None:
    problem = sieve.check_script(text)
    if problem is None and text.strip():
        sieve.evaluate(text, facts(), Decision())


def test_vacation_rules() -> None:
    own = {"bob@example.com"}
    assert vacation.should_answer(facts(), own)
    assert not vacation.should_answer(facts(sender=""), own)
    assert not vacation.should_answer(facts(sender="mailer-daemon@corp.test"), own)
    assert not vacation.should_answer(facts(b"To: bob@example.com\r\nList-Id: <l.x>\r\n\r\n"), own)
    assert not vacation.should_answer(facts(b"To: bob@example.com\r\nPrecedence: bulk\r\n\r\n"), own)
    assert not vacation.should_answer(facts(b"To: bob@example.com\r\nAuto-Submitted: auto-replied\r\n\r\n"), own)
    assert not vacation.should_answer(facts(b"To: someone@else.test\r\n\r\n"), own)  # Bcc'd: no answer
    reply = vacation.answer(facts(), Vacation("Away until Monday.", None), "bob@example.com",
                            "mx.example.com", 0)
    assert b"Auto-Submitted: auto-replied" in reply and b"In-Reply-To: <m1@corp.test>" in reply
    assert b"To: <boss@corp.test>" in reply and reply.endswith(b"Away until Monday.\r\n")
    assert b"Subject: =?utf-8?q?Auto=3A_Caf=C3=A9_money?=" in reply  # the non-ASCII subject, encoded


def test_an_explicit_keep_stays() -> None:
    assert sieve.evaluate('require "fileinto"; keep; fileinto "X";', facts(), Decision()).mailboxes() == ["INBOX", "X"]
    assert sieve.evaluate("keep; discard;", facts(), Decision()).mailboxes() == ["INBOX"]


def test_vacation_answer_takes_message_ids_raw() -> None:
    evil = (b"From: a@b.test\r\nTo: bob@example.com\r\nMessage-ID: =?utf-8?q?<x@y>=0D=0AFrom:_ceo@example.test"
            b"=0D=0A=0D=0APay?=\r\nReferences: <r1@b.test> <r2@b.test>\r\n\r\nbody\r\n")
    reply = vacation.answer(Facts("a@b.test", "bob@example.com", evil), Vacation("Away."), "bob@example.com",
                            "mx.example.com", 0)
    assert b"From: ceo" not in reply and b"Pay" not in reply  # nothing injected: only <x@y> was taken
    assert b"References: <r1@b.test> <r2@b.test> <x@y>\r\n" in reply


def test_sieve_limits() -> None:
    assert "nest" in (sieve.check_script("if anyof(" * 40 + "true" + ")" * 40 + " { keep; }") or "")
    d = sieve.evaluate('require "vacation"; vacation :days 9999 "x";', facts(), Decision())
    assert d.vacation is not None and d.vacation.days == 365
