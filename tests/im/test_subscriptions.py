"""The subscription state machine against RFC 6121 Appendix A's tables, state by state."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.im.subscriptions import KINDS, State, inbound, outbound

# RFC 6121's names of the nine states.
N = {
    "None": State(), "None+Out": State(ask=True), "None+In": State(pending_in=True),
    "None+Out+In": State(ask=True, pending_in=True), "To": State("to"), "To+In": State("to", pending_in=True),
    "From": State("from"), "From+Out": State("from", ask=True), "Both": State("both"),
}

# (state before, state after, whether the stanza goes on), per Appendix A.2 (outbound) and A.3 (inbound).
OUTBOUND = {
    "subscribe": {"None": ("None+Out", True), "None+Out": ("None+Out", True), "None+In": ("None+Out+In", True),
                  "None+Out+In": ("None+Out+In", True), "To": ("To", False), "To+In": ("To+In", False),
                  "From": ("From+Out", True), "From+Out": ("From+Out", True), "Both": ("Both", False)},
    "unsubscribe": {"None": ("None", True), "None+Out": ("None", True), "None+In": ("None+In", True),
                    "None+Out+In": ("None+In", True), "To": ("None", True), "To+In": ("None+In", True),
                    "From": ("From", True), "From+Out": ("From", True), "Both": ("From", True)},
    "subscribed": {"None+In": ("From", True), "None+Out+In": ("From+Out", True), "To+In": ("Both", True),
                   "From": ("From", False), "From+Out": ("From+Out", False), "Both": ("Both", False)},
    "unsubscribed": {"None": ("None", False), "None+Out": ("None+Out", False), "None+In": ("None", True),
                     "None+Out+In": ("None+Out", True), "To": ("To", False), "To+In": ("To", True),
                     "From": ("None", True), "From+Out": ("None+Out", True), "Both": ("To", True)},
}
INBOUND = {
    "subscribe": {"None": ("None+In", True), "None+Out": ("None+Out+In", True), "None+In": ("None+In", False),
                  "None+Out+In": ("None+Out+In", False), "To": ("To+In", True), "To+In": ("To+In", False),
                  "From": ("From", False), "From+Out": ("From+Out", False), "Both": ("Both", False)},
    "unsubscribe": {"None": ("None", False), "None+Out": ("None+Out", False), "None+In": ("None", True),
                    "None+Out+In": ("None+Out", True), "To": ("To", False), "To+In": ("To", True),
                    "From": ("None", True), "From+Out": ("None+Out", True), "Both": ("To", True)},
    "subscribed": {"None": ("None", False), "None+Out": ("To", True), "None+In": ("None+In", False),
                   "None+Out+In": ("To+In", True), "To": ("To", False), "To+In": ("To+In", False),
                   "From": ("From", False), "From+Out": ("Both", True), "Both": ("Both", False)},
    "unsubscribed": {"None": ("None", False), "None+Out": ("None", True), "None+In": ("None+In", False),
                     "None+Out+In": ("None+In", True), "To": ("None", True), "To+In": ("None+In", True),
                     "From": ("From", False), "From+Out": ("From", True), "Both": ("From", True)},
}


@pytest.mark.parametrize(("kind", "before"), [(k, s) for k, table in OUTBOUND.items() for s in table])
def test_outbound_as_appendix_a2_says(kind: str, before: str) -> None:
    after, goes_on = OUTBOUND[kind][before]
    outcome = outbound(N[before], kind)
    assert (outcome.state, outcome.goes_on) == (N[after], goes_on)


@pytest.mark.parametrize(("kind", "before"), [(k, s) for k, table in INBOUND.items() for s in table])
def test_inbound_as_appendix_a3_says(kind: str, before: str) -> None:
    after, goes_on = INBOUND[kind][before]
    outcome = inbound(N[before], kind)
    assert (outcome.state, outcome.goes_on) == (N[after], goes_on)
    assert outcome.auto_reply == ("subscribed" if kind == "subscribe" and N[before].from_ else None)


def test_a_pre_approval_is_kept_then_answers_the_request() -> None:
    approved = outbound(N["None"], "subscribed")  # RFC 6121 3.4
    assert approved.state == State(approved=True) and not approved.goes_on
    request = inbound(approved.state, "subscribe")
    assert request.state == State("from") and request.auto_reply == "subscribed" and not request.goes_on
    assert outbound(approved.state, "unsubscribed").state == State()  # withdrawn


@given(st.sampled_from(list(N.values())), st.lists(st.tuples(st.booleans(), st.sampled_from(KINDS)), max_size=12))
def test_any_sequence_keeps_a_state_the_rfc_names(start: State, steps: list[tuple[bool, str]]) -> None:
    state = start
    for is_outbound, kind in steps:
        state = (outbound if is_outbound else inbound)(state, kind).state
        named = State(state.subscription, state.ask, state.pending_in)
        assert named in N.values() or (named.ask and named.subscription in ("to", "both")) is False
        assert not (state.to and state.ask)  # Pending Out only while not subscribed "to"
        assert not (state.from_ and state.pending_in)  # Pending In only while not subscribed "from"
