"""contexts.py's result updates as a client applies them (RFC 5267 4.3.3, 4.3.4): ADDTO and REMOVEFROM
pairs, each applied in turn, bring the client's copy of a result to the server's, for SEARCH (position 0,
mailbox order) and SORT (positions in sort order, REVERSE criteria, ties by UID)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from polyport.imap.contexts import Context
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


messages = st.dictionaries(st.integers(1, 60), st.tuples(st.integers(0, 4), st.integers(0, 4)), max_size=30)


@given(messages, st.lists(st.tuples(st.booleans(), st.sets(st.integers(1, 60), max_size=8)), max_size=6),
       st.booleans(), st.booleans())
def test_sort_updates_keep_the_clients_copy(universe: dict[int, tuple[int, int]],
                                            steps: list[tuple[bool, set[int]]], first_reverse: bool,
                                            second_reverse: bool) -> None:
    criteria = (SortCriterion("SIZE", first_reverse), SortCriterion("ARRIVAL", second_reverse))
    context = Context("t", True, SearchAll(), criteria)
    members = {uid: keys for uid, keys in universe.items() if uid % 2}
    context.order = reference_order(members, criteria)
    context.sort_keys = dict(members)
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


@given(st.sets(st.integers(1, 200), max_size=60),
       st.lists(st.tuples(st.booleans(), st.sets(st.integers(1, 200), max_size=20)), max_size=6))
def test_search_updates_keep_the_clients_copy(initial: set[int], steps: list[tuple[bool, set[int]]]) -> None:
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
