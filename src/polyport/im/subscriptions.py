"""Presence subscriptions' state machine (RFC 6121 3 and Appendix A), pure: what a subscription stanza does
to one side's roster item, and whether it goes on.

A state is the item's subscription ("none", "to": the user sees the contact's presence, "from": the
contact sees the user's, "both"), with `ask` (the user's request waits for the contact: Pending Out) and
`pending_in` (the contact's request waits for the user: Pending In), and `approved` (the user approved the
contact's request before it came: RFC 6121 3.4). Outbound stanzas are the user's own (A.2), inbound ones
the contact's arriving (A.3).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

KINDS = ("subscribe", "subscribed", "unsubscribe", "unsubscribed")


@dataclass(frozen=True, slots=True)
class State:
    subscription: str = "none"
    ask: bool = False
    pending_in: bool = False
    approved: bool = False

    @property
    def to(self) -> bool:
        return self.subscription in ("to", "both")

    @property
    def from_(self) -> bool:
        return self.subscription in ("from", "both")


def _subscription(to: bool, from_: bool) -> str:
    return "both" if to and from_ else "to" if to else "from" if from_ else "none"


@dataclass(frozen=True, slots=True)
class Outcome:
    state: State
    goes_on: bool  # outbound: route the stanza to the contact; inbound: deliver it to the user
    auto_reply: str | None = None  # inbound: the answer the user's server sends for the user ("subscribed")


def outbound(state: State, kind: str) -> Outcome:
    """The user sent `kind` to the contact (RFC 6121 A.2)."""
    if kind == "subscribe":  # A.2.1
        if state.to:
            return Outcome(state, False)  # subscribed already: nothing to ask
        return Outcome(replace(state, ask=True), True)
    if kind == "unsubscribe":  # A.2.2
        return Outcome(replace(state, subscription=_subscription(False, state.from_), ask=False), True)
    if kind == "subscribed":  # A.2.3
        if state.from_:
            return Outcome(state, False)
        if state.pending_in:
            return Outcome(replace(state, subscription=_subscription(state.to, True), pending_in=False,
                                   approved=False), True)
        return Outcome(replace(state, approved=True), False)  # a pre-approval (3.4), kept here
    if kind == "unsubscribed":  # A.2.4
        changed = state.from_ or state.pending_in or state.approved
        new = replace(state, subscription=_subscription(state.to, False), pending_in=False, approved=False)
        return Outcome(new, changed and (state.from_ or state.pending_in))
    raise ValueError(f"not a subscription stanza: {kind}")


def inbound(state: State, kind: str) -> Outcome:
    """The contact's `kind` arrived for the user (RFC 6121 A.3)."""
    if kind == "subscribe":  # A.3.1
        if state.from_:
            return Outcome(state, False, "subscribed")  # approved already: answered for the user
        if state.approved:
            return Outcome(replace(state, subscription=_subscription(state.to, True), approved=False), False,
                           "subscribed")
        if state.pending_in:
            return Outcome(state, False)  # waiting already: not delivered again
        return Outcome(replace(state, pending_in=True), True)
    if kind == "unsubscribe":  # A.3.2: the contact no longer wants the user's presence
        if not (state.from_ or state.pending_in):
            return Outcome(state, False)
        return Outcome(replace(state, subscription=_subscription(state.to, False), pending_in=False), True)
    if kind == "subscribed":  # A.3.3: the contact approved the user's request
        if not state.ask:
            return Outcome(state, False)  # nothing was asked: ignored
        return Outcome(replace(state, subscription=_subscription(True, state.from_), ask=False), True)
    if kind == "unsubscribed":  # A.3.4: the contact refused or cancelled the user's subscription
        if not (state.to or state.ask):
            return Outcome(state, False)
        return Outcome(replace(state, subscription=_subscription(False, state.from_), ask=False), True)
    raise ValueError(f"not a subscription stanza: {kind}")
