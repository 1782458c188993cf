"""The message list's ordering and paging (pure)."""

from __future__ import annotations

from array import array
from unittest.mock import patch

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


def _reference(metas: list[MessageMeta], summaries: dict[int, Summary], query: listing.Query) -> listing.Order:
    """The general rule, written plainly: filter, keep each thread's newest, sort by (value, uid)."""
    rows = [listing.Row(m, summaries.get(m.uid)) for m in metas]
    if query.searching:
        rows = [r for r in rows if listing._matches(r, query)]
    sizes = None
    if query.threads:
        threads: dict[int, list[listing.Row]] = {}
        for row in rows:
            threads.setdefault(row.meta.thread_id or -row.uid, []).append(row)
        rows = [max(found, key=lambda r: (r.meta.internal_date, r.uid)) for found in threads.values()]
        sizes = {max(found, key=lambda r: (r.meta.internal_date, r.uid)).uid: len(found)
                 for found in threads.values()}
    rows.sort(key=lambda r: listing._sort_key(r, query.sort), reverse=query.descending)
    return listing.Order(array("I", (r.uid for r in rows)), sizes)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 9), st.integers(0, 31), st.integers(0, 4)), max_size=60),
       st.sampled_from(listing.SORTS), st.booleans(), st.booleans(), st.sampled_from(["", "n1", "s3", "zz"]),
       st.booleans())
def test_lists_in_steps_follow_the_general_rule(raw: list[tuple[int, int, int, int]], sort: str, descending: bool,
                                                threads: bool, text: str, unread: bool) -> None:
    metas = [MessageMeta(uid, uid, flags, "", date, 0, size, uid, thread)
             for uid, (date, size, flags, thread) in enumerate(raw, start=1)]
    # Few distinct subjects and senders, some missing: ties, and rows without a summary.
    summaries = {m.uid: Summary(m.uid, None, f"Re: s{m.size % 4}", f"from:N{m.size % 3} <a{m.uid}@x>\nto:t@x")
                 for m in metas if m.uid % 5}
    query = listing.Query(sort=sort, descending=descending, threads=threads, text=text, unread=unread)
    with patch.object(listing, "STEP", 7):  # many steps, one cut anywhere
        steps = listing.arranging(metas, summaries, query)
        paused = 0
        while True:
            try:
                next(steps)
            except StopIteration as done:
                order = done.value
                break
            paused += 1
    assert order == _reference(metas, summaries, query)
    assert order == listing.arrange(metas, summaries, query)
    if len(metas) > 7 and (threads or text or unread or sort in ("from", "subject")):
        assert paused > len(metas) // 7  # a pause at least every STEP rows
