"""The message list's ordering and paging (pure)."""

from __future__ import annotations

from array import array

from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.mailstore import MessageMeta, Summary
from polyport.web import listing

metas_strategy = st.lists(st.tuples(st.integers(0, 50), st.integers(1, 50), st.integers(0, 31)), max_size=60)


def _metas(raw: list[tuple[int, int, int]]) -> list[MessageMeta]:
    return [MessageMeta(uid, uid, flags, "", date, 0, size, uid, 0)
            for uid, (date, size, flags) in enumerate(raw, start=1)]


@settings(max_examples=200, deadline=None)
@given(metas_strategy, st.sampled_from(listing.SORTS), st.booleans())
def test_fast_orders_match_the_general_rule(raw: list[tuple[int, int, int]], sort: str, descending: bool) -> None:
    metas = _metas(raw)
    summaries = {m.uid: Summary(m.uid, None, f"s{m.size % 7}", f"from:N{m.size % 5} <a{m.uid}@x>") for m in metas}
    query = listing.Query(sort=sort, descending=descending)
    order = listing.arrange(metas, summaries, query)
    rows = [listing.Row(m, summaries[m.uid]) for m in metas]
    expected = [r.uid for r in sorted(rows, key=lambda r: listing._sort_key(r, sort), reverse=descending)]
    assert list(order.uids) == expected


def test_threads_search_and_paging() -> None:
    metas = [MessageMeta(uid, uid, 0 if uid % 2 else 1, "", 100 + uid, 0, 10, uid, 1 if uid <= 3 else 0)
             for uid in range(1, 8)]
    summaries = {m.uid: Summary(m.uid, None, f"Re: topic {m.uid}", f"from:Ann <ann{m.uid}@x>") for m in metas}
    order = listing.arrange(metas, summaries, listing.Query(threads=True))
    assert list(order.uids) == [7, 6, 5, 4, 3] and order.thread_sizes == {7: 1, 6: 1, 5: 1, 4: 1, 3: 3}
    unread = listing.arrange(metas, summaries, listing.Query(unread=True))
    assert list(unread.uids) == [7, 5, 3, 1]
    assert listing.depends_on_flags(listing.Query(unread=True))
    found = listing.arrange(metas, summaries, listing.Query(from_="ann5"))
    assert list(found.uids) == [5]
    uids, number, pages = listing.paginate(order, 9, 2)
    assert (uids, number, pages) == ([3], 3, 3)
    assert order.position(5) == 2 and order.position(99) is None
    assert listing.runs([1, 2, 70, 300, 301]) == [(1, 2), (70, 70), (300, 301)]
    assert listing.display_name('"<b>Mal</b>" <m@x>') == "<b>Mal</b>"


def test_order_cache_is_bounded_by_uids_held() -> None:
    cache = listing.OrderCache(budget=10)
    for i in range(5):
        cache.put((i,), listing.Order(array("I", range(4))))
    assert cache.held <= 10 and cache.get((4,)) is not None and cache.get((0,)) is None
