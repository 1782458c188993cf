"""contexts.py's result updates as a client applies them (RFC 5267 4.3.3, 4.3.4): ADDTO and REMOVEFROM
pairs, each applied in turn, bring the client's copy of a result to the server's, for SEARCH (position 0,
mailbox order) and SORT (positions in sort order, REVERSE criteria, ties by UID). Changes of every size: a
few placed by bisection, many in one linear pass (FEW_CHANGES drawn, down to 0, so both ways are tried on
the same steps)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from polyport.imap import contexts
from polyport.imap.contexts import Context, sort_bytes
from polyport.imap.wire import SearchAll, SortCriterion


def numbers(text: bytes) -> list[int]:
    """A sequence set in its order (only ascending ranges are written)."""
    out: list[int] = []
    for item in text.split(b","):
        first, _, last = item.partition(b":")
        out += range(int(first), int(last or first) + 1)
    return out


def apply(result: list[int], item: bytes) -> None:
    """A client applying one ADDTO or REMOVEFROM return data item to its copy of the result."""
    name, _, rest = item.partition(b" (")
    words = rest.rstrip(b")").split(b" ")
    for position, values in zip(words[::2], words[1::2], strict=True):
        place, found = int(position), numbers(values)
        if name == b"ADDTO":
            if place == 0:
                result[:] = sorted({*result, *found})
            else:
                result[place - 1:place - 1] = found
        elif place == 0:
            result[:] = [v for v in result if v not in found]
        else:
            assert result[place - 1:place - 1 + len(found)] == found
            del result[place - 1:place - 1 + len(found)]


def reference_order(keys: dict[int, tuple[Any, ...]], criteria: tuple[SortCriterion, ...]) -> list[int]:
    """search.sort's order: stable sorts from the last criterion to the first, over UID order."""
    ordered = sorted(keys)
    for position in reversed(range(len(criteria))):
        ordered.sort(key=lambda uid: keys[uid][position], reverse=criteria[position].reverse)
    return ordered


messages = st.dictionaries(st.integers(1, 120), st.tuples(st.integers(0, 4), st.text(max_size=2)), max_size=80)
few_changes = st.sampled_from([0, 1, 3, contexts.FEW_CHANGES])


@given(messages, st.lists(st.tuples(st.booleans(), st.sets(st.integers(1, 120), max_size=60)), max_size=6),
       st.booleans(), st.booleans(), few_changes)
def test_sort_updates_keep_the_clients_copy(universe: dict[int, tuple[int, str]],
                                            steps: list[tuple[bool, set[int]]], first_reverse: bool,
                                            second_reverse: bool, few: int) -> None:
    saved, contexts.FEW_CHANGES = contexts.FEW_CHANGES, few
    try:
        _sort_steps(universe, steps, first_reverse, second_reverse)
    finally:
        contexts.FEW_CHANGES = saved


def _sort_steps(universe: dict[int, tuple[int, str]], steps: list[tuple[bool, set[int]]], first_reverse: bool,
                second_reverse: bool) -> None:
    criteria = (SortCriterion("SIZE", first_reverse), SortCriterion("SUBJECT", second_reverse))
    context = Context("t", True, SearchAll(), criteria)
    members = {uid: keys for uid, keys in universe.items() if uid % 2}
    initial = reference_order(members, criteria)
    context.fill([(uid, members[uid]) for uid in initial])
    client = list(context.order)
    for adding, uids in steps:
        chosen = [u for u in uids if u in universe]
        if adding:
            item = context.add([(u, universe[u]) for u in chosen], int)
            members.update({u: universe[u] for u in chosen})
        else:
            item = context.remove(chosen, int)
            for uid in chosen:
                members.pop(uid, None)
        if item:
            apply(client, item)
        assert context.order == reference_order(members, criteria)
        assert client == context.order
        assert context.footprint == sum(map(sort_bytes, members.values()))


@given(st.sets(st.integers(1, 200), max_size=60),
       st.lists(st.tuples(st.booleans(), st.sets(st.integers(1, 200), max_size=80)), max_size=6), few_changes)
def test_search_updates_keep_the_clients_copy(initial: set[int], steps: list[tuple[bool, set[int]]],
                                              few: int) -> None:
    saved, contexts.FEW_CHANGES = contexts.FEW_CHANGES, few
    try:
        _search_steps(initial, steps)
    finally:
        contexts.FEW_CHANGES = saved


def _search_steps(initial: set[int], steps: list[tuple[bool, set[int]]]) -> None:
    context = Context("t", True, SearchAll(), None)
    context.add([(u, ()) for u in initial], int)
    client = sorted(initial)
    members = set(initial)
    for adding, uids in steps:
        item = context.add([(u, ()) for u in uids], int) if adding else context.remove(uids, int)
        members = members | uids if adding else members - uids
        if item:
            apply(client, item)
            assert item.split(b" (")[1].startswith(b"0 ")
        assert list(context.uids) == sorted(members) == client
        assert context.footprint == contexts.UID_BYTES * len(members)
