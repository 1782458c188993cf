"""Bulk changes of updating contexts (contexts.py): many results leaving or joining at once are done in one
linear pass, with the same ADDTO and REMOVEFROM items as one at a time; the selection's view forgets a
mass expunge in one pass with the same EXPUNGE numbers; the loop turns while ten contexts follow it."""

from __future__ import annotations

import asyncio
import bisect
import types
from array import array
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.imap import contexts, responses
from polyport.imap.contexts import Context, Contexts
from polyport.imap.selected import Selected
from polyport.imap.wire import SearchAll, SortCriterion
from polyport.kernel.turns import Turns
from tests.imap.test_contexts import reference_order

CRITERIA = (SortCriterion("SUBJECT", False), SortCriterion("SIZE", True))
N = 5000


def sorted_context(count: int) -> Context:
    context = Context("t", True, SearchAll(), CRITERIA)
    keys = {uid: (f"subject {uid % 97}", uid % 13) for uid in range(1, count + 1)}
    context.fill([(uid, keys[uid]) for uid in reference_order(keys, CRITERIA)])
    return context


@pytest.fixture
def comparisons(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How often two SORT results are compared in Python (contexts._Order), the cost the bulk path avoids."""
    counted = [0]
    compare = contexts._Order.__lt__

    def counting(self: contexts._Order, other: contexts._Order) -> bool:
        counted[0] += 1
        return compare(self, other)

    monkeypatch.setattr(contexts._Order, "__lt__", counting)
    yield counted


def test_removing_a_whole_sorted_result_is_linear(comparisons: list[int]) -> None:
    """Before, each leaving UID was placed by a bisection of Python comparisons: N log N of them (about
    65,000 here; 1.96 s for 100,000 results)."""
    context = sorted_context(N)
    order = list(context.order)
    item = context.remove(range(1, N + 1), int)
    assert comparisons[0] < N
    assert context.order == [] and context.sort_keys == {} and context.footprint == 0
    assert item == b"REMOVEFROM (1 " + responses.ordered_set(order) + b")"


def test_adding_many_to_a_sorted_result_is_linear(comparisons: list[int]) -> None:
    """Before, the joiners were sorted and each bisected with Python comparisons (1.3 s for 100,000)."""
    context = sorted_context(N)
    joining = {uid: (f"subject {uid % 89}", uid % 7) for uid in range(N + 1, 2 * N + 1)}
    context.add(list(joining.items()), int)
    assert comparisons[0] < N
    assert context.order == reference_order(context.sort_keys, CRITERIA)


@pytest.mark.one_process
def test_removing_a_whole_search_result_is_linear(monkeypatch: pytest.MonkeyPatch) -> None:
    """A SEARCH result's mass removal: no bisection per UID."""
    counted = [0]

    def bisect_left(*args: Any, **kwargs: Any) -> int:
        counted[0] += 1
        return bisect.bisect_left(*args, **kwargs)

    monkeypatch.setattr(contexts, "bisect", types.SimpleNamespace(bisect_left=bisect_left))
    context = Context("t", True, SearchAll(), None)
    context.fill([(uid, ()) for uid in range(1, N + 1)])
    assert context.remove(range(2, N + 1, 2), int).startswith(b"REMOVEFROM (0 2,4,6,")
    context.add([(uid, ()) for uid in range(2, N + 1, 2)], int)
    assert counted[0] < 10
    assert list(context.uids) == list(range(1, N + 1))


steps = st.lists(st.tuples(st.booleans(), st.sets(st.integers(1, 150), max_size=90)), max_size=5)


@given(st.dictionaries(st.integers(1, 150), st.tuples(st.integers(0, 3), st.text(max_size=1)), min_size=1),
       steps, st.booleans())
def test_bulk_and_one_at_a_time_give_the_same_items(universe: dict[int, tuple[int, str]],
                                                    changes: list[tuple[bool, set[int]]], sort: bool) -> None:
    criteria = (SortCriterion("SIZE", True), SortCriterion("SUBJECT", False)) if sort else None
    made: list[list[bytes]] = []
    for few in (0, 10**9):  # every change done in one pass; every change placed by bisection
        saved, contexts.FEW_CHANGES = contexts.FEW_CHANGES, few
        try:
            context = Context("t", False, SearchAll(), criteria)
            first = {u: k for u, k in universe.items() if u % 3} if sort else {u: () for u in universe if u % 3}
            context.fill([(u, first[u]) for u in (reference_order(first, criteria) if criteria else first)])
            items = []
            for adding, uids in changes:
                chosen = [u for u in uids if u in universe]
                found = [(u, universe[u] if sort else ()) for u in chosen]
                items.append(context.add(found, int) if adding else context.remove(chosen, int))
            made.append(items)
        finally:
            contexts.FEW_CHANGES = saved
    assert made[0] == made[1]


def view(uids: list[int]) -> Selected:
    selected = Selected.__new__(Selected)  # only the view: no mailbox behind it
    selected.uids = array("I", uids)
    return selected


@given(st.sets(st.integers(1, 300), max_size=200), st.sets(st.integers(1, 320), max_size=200))
def test_forgetting_many_gives_the_numbers_of_one_at_a_time(uids: set[int], gone: set[int]) -> None:
    ordered, leaving = sorted(uids), sorted(gone)
    one_by_one = view(ordered)
    expected = [one_by_one.remove(uid) for uid in leaving]
    at_once = view(ordered)
    assert at_once.forget(leaving) == expected
    assert at_once.uids == one_by_one.uids


@pytest.mark.one_process
def test_expunging_turns_the_loop_between_contexts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ten sorted contexts seeing every result expunged: the loop is given turns between them (Turns by
    time: here every time, TURN set to 0), and each REMOVEFROM names the message numbers before the
    expunge."""
    monkeypatch.setattr(Turns.__init__, "__defaults__", (0.0,))
    selected = view(list(range(1, 2001)))
    live = Contexts()
    for n in range(contexts.MAX_CONTEXTS):
        context = sorted_context(2000)
        context.tag, context.uid = f"t{n}", bool(n % 2)
        live.live[context.tag] = context
    turns = 0

    async def run() -> list[bytes]:
        nonlocal turns
        task = asyncio.ensure_future(live.expunging(selected, list(range(1, 2001))))
        while not task.done():
            turns += 1
            await asyncio.sleep(0)
        return task.result()

    out = asyncio.run(run())
    assert len(out) == contexts.MAX_CONTEXTS and turns >= contexts.MAX_CONTEXTS
    assert all(c.size == 0 for c in live.live.values())
    assert out[0].startswith(b'* ESEARCH (TAG "t0") REMOVEFROM (1 ')


@pytest.mark.one_process
def test_start_refuses_past_the_selections_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    live = Contexts()
    selected = view(list(range(1, 101)))
    found = [(uid, ("a" * 1000,)) for uid in range(1, 101)]
    assert live.start(selected, "a", True, SearchAll(), CRITERIA[:1], found) == b""
    monkeypatch.setattr(contexts, "MAX_BYTES", live.footprint + 1000)
    assert live.start(selected, "b", True, SearchAll(), CRITERIA[:1], found).startswith(b'* NO [NOUPDATE "b"]')
    assert live.start(selected, "c", True, SearchAll(), None, [(uid, ()) for uid in range(1, 101)]) == b""
    monkeypatch.setattr(contexts, "MAX_RESULTS", 250)
    assert live.start(selected, "d", True, SearchAll(), None,
                      [(uid, ()) for uid in range(1, 101)]).startswith(b'* NO [NOUPDATE "d"]')
    monkeypatch.setattr(contexts, "MAX_BYTES", 8 << 20)
    monkeypatch.setattr(contexts, "MAX_SORTED", 99)
    assert live.start(selected, "e", True, SearchAll(), CRITERIA[:1], found[:50]) == b""
    assert live.start(selected, "f", True, SearchAll(), CRITERIA[:1], found).startswith(b'* NO [NOUPDATE "f"]')
    assert sorted(live.live) == ["a", "c", "e"]
