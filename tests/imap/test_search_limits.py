"""SEARCH's limits (issue 12): the keys of one command, the work of one command (NO [LIMIT] past them),
turns of the loop inside long evaluations, and that searching a large part or header a piece at a time
finds what searching it at once finds. SORT and THREAD over many or deeply threaded messages."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest

from polyport.imap import search, wire
from polyport.mailstore import MessageFull
from polyport.mailstore.sections import header_lines as _header_lines
from polyport.mime import structure as st
from polyport.mime.parse import parse
from tests.imap.conftest import ImapNode
from tests.imap.support import deliver, logged_in, message, selected
from tests.node_thread import eventually


def query(text: str | bytes) -> wire.SearchKey:
    command = wire.parse_command(b"a SEARCH " + (text if isinstance(text, bytes) else text.encode()))
    assert isinstance(command, wire.Search)
    return command.query


def candidate(number: int, data: bytes) -> search.Candidate:
    s = parse(data)
    row = MessageFull(number, number, 0, "", 1_600_000_000 + number, 0, len(data), number, number, f"blob{number}",
                      st.encode(s).decode(), s.sent, "", "")
    return search.Candidate(number, row)


class Mailbox:
    """Messages to search without a node: candidates, their bytes, and a count of the loop's turns."""

    def __init__(self, *messages: bytes) -> None:
        self.messages = {f"blob{n}": data for n, data in enumerate(messages, 1)}
        self.turns = 0

    async def read(self, blob: str, size: int) -> bytes:
        return self.messages[blob]

    async def batches(self) -> AsyncIterator[Sequence[search.Candidate]]:
        yield [candidate(n, self.messages[f"blob{n}"]) for n in range(1, len(self.messages) + 1)]

    def searcher(self, budget: int | None = None) -> search.Searcher:
        return search.Searcher(self.read, largest_uid=len(self.messages), count=len(self.messages), saved=[],
                               now=time.time(), budget=budget)

    async def search(self, text: str | bytes, budget: int | None = None) -> list[int]:
        """The UIDs matching; counts the loop's turns meanwhile (self.turns)."""
        ticking = True

        async def tick() -> None:
            while ticking:
                self.turns += 1
                await asyncio.sleep(0)

        ticker = asyncio.create_task(tick())
        try:
            found = await self.searcher(budget).run(query(text), self.batches(), search.hit)
        finally:
            ticking = False
            await ticker
        return [uid for _number, uid, _modseq in found]


def plain(body: bytes, *headers: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in ("From: a@example.org", "Subject: s", *headers))
    return head.encode() + b"\r\n" + body


# -- the keys of one command -------------------------------------------------------------------------------

def test_keys_are_counted_with_their_operators() -> None:
    search.check_keys(query(" ".join(["ALL"] * search.MAX_KEYS)[:-4]))  # MAX_KEYS - 1 keys and their AND
    with pytest.raises(search.SearchLimit, match="1001 keys"):
        search.check_keys(query(" ".join(["ALL"] * search.MAX_KEYS)))
    with pytest.raises(search.SearchLimit):
        search.check_keys(query(" ".join(["NOT SEEN"] * 500)))  # 500 NOT, 500 SEEN and the AND


def test_too_many_keys_are_refused_before_the_messages_are_read(imap_node: ImapNode) -> None:
    w, address = selected(imap_node)
    deliver(imap_node, address, message("x"))
    # The session hears of the delivery (from another worker, over the bus, when the node is two) before
    # the search, so that no EXISTS comes with the refusal.
    eventually(lambda: any(b"EXISTS" in line for line in w.command("NOOP")[0]))
    w.ok("SEARCH RETURN (SAVE) ALL")
    keys = " ".join(f"NOT BODY q{n}" for n in range(600))
    untagged, tagged = w.command(f"SEARCH RETURN (SAVE) {keys}")
    assert tagged == b"NO [LIMIT] the search has 1201 keys; at most 1000 are evaluated at once"
    assert untagged == []
    assert w.command("SEARCH $")[0] == [b"* SEARCH"]  # RFC 5182 2.1: a failed SAVE empties "$"
    assert w.command(f"SORT (DATE) UTF-8 {keys}")[1].startswith(b"NO [LIMIT]")
    assert w.command(f"THREAD REFERENCES UTF-8 {keys}")[1].startswith(b"NO [LIMIT]")
    w.close()


# -- the work of one command -------------------------------------------------------------------------------

async def test_the_work_budget_ends_the_search() -> None:
    box = Mailbox(plain(b"lorem ipsum " * 100_000))  # 1.2 MB of text
    assert await box.search("NOT BODY q1 NOT BODY q2", budget=8 << 20) == [1]
    with pytest.raises(search.SearchLimit, match="more than 2 MiB"):
        await box.search("NOT BODY q1 NOT BODY q2", budget=2 << 20)


async def test_equal_strings_are_scanned_once_per_message() -> None:
    box = Mailbox(plain(b"lorem ipsum " * 100_000))
    # 300 equal keys on 1.2 MB would be 360 MB of scanning; one scan is well under a 4 MiB budget.
    assert await box.search(" ".join(["NOT BODY absent"] * 300), budget=4 << 20) == [1]


@pytest.mark.one_process
async def test_a_long_evaluation_lets_the_loop_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys on one large message: the loop turns while its parts are decoded and while each key scans it,
    and the message's answer is the same as without turns."""
    body = b"lorem ipsum dolor sit amet " * 40_000 + b"needle"  # about 1 MB
    box = Mailbox(plain(body), plain(b"short"))
    expected = await box.search("BODY needle NOT BODY absent1 NOT BODY absent2")
    assert expected == [1]
    monkeypatch.setattr(search, "SLICE", 64 * 1024)
    monkeypatch.setattr(search, "PIECE", 16 * 1024)
    box.turns = 0
    assert await box.search("BODY needle NOT BODY absent1 NOT BODY absent2") == expected
    # about 1 MB decoded in 16 KiB pieces, then three scans of 1 MB in windows: a turn every 64 KiB of work
    # (and of room for the small texts scanned again, search.SMALL_TEXT a key)
    assert box.turns > 20


@pytest.mark.one_process
async def test_records_only_searches_turn_by_work_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "SLICE", search.KEY_COST * 2 * 100)  # "ALL" costs 2 KEY_COST a message
    box = Mailbox(*[plain(b"x")] * 1000)
    assert len(await box.search("ALL")) == 1000
    assert box.turns >= 5


# -- a large part or header, a piece at a time ---------------------------------------------------------------

def mime(body: bytes, *, charset: str = "utf-8", encoding: str = "8bit") -> bytes:
    return plain(body, "MIME-Version: 1.0", f"Content-Type: text/plain; charset={charset}",
                 f"Content-Transfer-Encoding: {encoding}")


TEXT = ("Grüße aus Köln, ÆØÅ, ΣΊΣΥΦΟΣ, ﬁne straße; " * 40 + "\r\n") * 30


@pytest.mark.parametrize("make", [
    lambda: mime(TEXT.encode()),
    lambda: mime(TEXT.encode("utf-16"), charset="utf-16", encoding="binary"),
    lambda: mime(TEXT.encode("latin-1", "replace"), charset="iso-8859-1"),
    lambda: mime(TEXT.encode(), charset="x-unknown-charset"),
    lambda: mime(TEXT.encode(), charset="base64"),  # a codec that is no text encoding: read as UTF-8
    lambda: mime(TEXT.encode(), charset="idna"),  # a codec that refuses "replace": read as UTF-8
    lambda: mime(binascii.b2a_qp(TEXT.encode()), encoding="quoted-printable"),
    lambda: mime(base64.encodebytes(TEXT.encode()), encoding="base64"),
    lambda: mime(base64.b64encode(TEXT.encode()), encoding="base64"),  # one line: pieces cut inside it
    lambda: mime(base64.encodebytes(TEXT.encode())[:-7], encoding="base64"),  # damaged: searched as written
    lambda: mime(TEXT.encode(), encoding="x-unknown"),
], ids=["utf-8", "utf-16", "latin-1", "unknown-charset", "non-text-codec", "idna", "qp", "base64", "base64-one-line",
        "base64-damaged", "unknown-encoding"])
@pytest.mark.one_process
async def test_a_large_part_reads_as_a_small_one(monkeypatch: pytest.MonkeyPatch, make: object) -> None:
    data = make()  # type: ignore[operator]
    structure = parse(data)
    whole = search.body_text(data, structure)
    monkeypatch.setattr(search, "PIECE", 1000)
    searcher = Mailbox().searcher()
    pieces = await searcher._body_text(data, structure)
    assert pieces == whole
    assert searcher.work >= len(data) - structure.root.body_start


def test_base64_a_piece_at_a_time() -> None:
    encoded = base64.encodebytes(bytes(range(256)) * 50)
    for cut in (1, 2, 3, 77, 1001, len(encoded) - 3):
        undo = search._Unbase64()
        assert undo(encoded[:cut]) + undo(encoded[cut:], final=True) == binascii.a2b_base64(encoded)
    undo = search._Unbase64()
    assert undo(b"YWJj\r\nYQ==\r\n") + undo(b"junk after the padding", final=True) == b"abca"
    with pytest.raises(search._Damaged):
        search._Unbase64()(b"YWJjY", final=True)


HEADER = (b"Received: from a by b;\r\n\tMon, 7 Feb 1994 21:52:25 -0800\r\nSubject: =?utf-8?q?Caf=C3=A9?=\r\n"
          b"X-Long: " + b"word " * 3000 + b"\r\n" + b"X-Folded: one\r\n two\r\n\tthree\r\n"
          b"Received: second\r\nFrom: a@example.org\r\n\r\n")


@pytest.mark.parametrize("piece", [10_000_000, 700, 64])
@pytest.mark.one_process
async def test_header_fields_a_piece_at_a_time(monkeypatch: pytest.MonkeyPatch, piece: int) -> None:
    monkeypatch.setattr(search, "PIECE", piece)
    data = HEADER + b"body\r\n"
    fields = await Mailbox().searcher()._header_fields(data, len(HEADER))
    assert fields == [(name, text) for name, text in _header_lines(HEADER)]


async def test_header_searches_look_at_the_start_of_a_huge_field() -> None:
    box = Mailbox(plain(b"body", "X-Huge: " + "filler " * 30_000 + "late", "X-Other: early"))
    assert await box.search('HEADER X-Huge "filler filler"') == [1]
    assert await box.search("HEADER X-Huge late") == []  # past search.MAX_FIELD_TEXT
    assert await box.search("HEADER X-Other early") == [1]
    assert await box.search("TEXT early") == [1]
    assert await box.search("OR TEXT absent HEADER X-Other early") == [1]  # the whole header's text, then a field
    assert await box.search("OR HEADER X-Other absent TEXT early") == [1]  # a field, then the whole header's text


async def test_text_and_header_keys_on_one_message() -> None:
    box = Mailbox(plain(b"the body", "X-Mood: happy"))
    assert await box.search("OR TEXT absent HEADER X-Mood happy") == [1]
    assert await box.search("HEADER X-Mood happy TEXT body NOT TEXT absent NOT HEADER X-Mood sad") == [1]
    assert await box.search('HEADER X-None ""') == []
    assert await box.search('HEADER X-Mood ""') == [1]


# -- SORT and THREAD ------------------------------------------------------------------------------------------

@pytest.mark.one_process
async def test_sort_in_runs_is_a_stable_sort(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(search, "SORT_RUN", 7)
    searcher = Mailbox().searcher()
    items: list[search.Sortable] = [(n, n, (n * 7919 % 13, f"s{n % 5}")) for n in range(1, 200)]

    def key_at(position: int) -> Callable[[search.Sortable], Any]:
        return lambda item: item[2][position]

    for criteria in ([wire.SortCriterion("SIZE")], [wire.SortCriterion("SIZE", reverse=True)],
                     [wire.SortCriterion("FROM"), wire.SortCriterion("SIZE", reverse=True)]):
        got = await search.sort(list(reversed(items)), criteria, searcher)
        expected = sorted(items, key=lambda item: item[1])
        for position in reversed(range(len(criteria))):
            expected.sort(key=key_at(position), reverse=criteria[position].reverse)
        assert got == expected


async def test_thread_of_a_reply_chain_thousands_deep() -> None:
    """Each message answers the one before: the containers nest 3,000 deep, deeper than Python's
    recursion limit, which the recursive pruning and ordering used to reach."""
    found: list[search.Threadable] = [
        (n, n, (n, n), "CHAIN", f"<m{n}@x>", tuple(f"<m{k}@x>" for k in range(max(1, n - 5), n)), n > 1)
        for n in range(1, 3001)]
    searcher = Mailbox().searcher()
    body = await search.format_tree(await search.thread_references(found, searcher), True, searcher)
    assert body == b"(" + b" ".join(b"%d" % n for n in range(1, 3001)) + b")"


async def test_thread_links_the_last_references_in_linear_time() -> None:
    references = " ".join(f"<r{k}@x>" for k in range(5000))
    c = candidate(2, plain(b"body", "Message-ID: <child@x>", f"References: {references}"))
    searcher = Mailbox().searcher()
    kept = search.threadable(searcher)(c)
    assert kept[search.REFERENCES] == tuple(f"<r{k}@x>" for k in range(5000 - search.MAX_REFERENCES, 5000))
    # Linking fresh ids walks no thread up (a container without children is no one's ancestor): 5,000
    # references cost 5,000 steps, where walking up each time would cost 12.5 million.
    many = tuple(f"<r{k}@x>" for k in range(5000))
    found: list[search.Threadable] = [(1, 1, (1, 1), "A", "<r4999@x>", (), False),
                                      (2, 2, (2, 2), "B", "<child@x>", many, False)]
    searcher = Mailbox().searcher()
    body = await search.format_tree(await search.thread_references(found, searcher), True, searcher)
    assert body == b"(1 2)"
    assert searcher.work < 3 * 5000 * search.KEY_COST


def test_sort_and_thread_over_a_session(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    for n in range(3):
        deliver(imap_node, address, message(f"Re: topic {n % 2}", message_id=f"<t{n}@x>",
                                            headers=[f"In-Reply-To: <t{n - 1}@x>"] if n else []))
    w.ok("SELECT INBOX")
    assert w.command("SORT (REVERSE SUBJECT) UTF-8 ALL")[0] == [b"* SORT 2 1 3"]
    assert w.command("THREAD REFERENCES UTF-8 ALL")[0] == [b"* THREAD (1 2 3)"]
    assert w.command("THREAD ORDEREDSUBJECT UTF-8 ALL")[0] == [b"* THREAD (1 3)(2)"]
    w.close()
