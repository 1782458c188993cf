"""FETCH's plan and budget, pure (issue 12): each data item answered once, the section bytes one FETCH
renders for a message bounded, and a large message's answer laid out as spans of it that are sent from
the store, which must come out byte for byte as the answer rendered from the message in memory."""

from __future__ import annotations

import pytest

from polyport.imap import fetch, wire
from polyport.mailstore import MessageFull, MessageMeta
from polyport.mime import structure as st
from polyport.mime.parse import parse
from tests.imap.test_session_fetch import NESTED


def items(text: str) -> tuple[wire.FetchItem, ...]:
    command = wire.parse_command(f"a FETCH 1 {text}\r\n".encode())
    assert isinstance(command, wire.Fetch)
    return command.items


def full(data: bytes) -> MessageFull:
    return MessageFull(7, 12, 1, "$Work", 1_700_000_000, 1_700_000_001, len(data), 3, 4, "ab" * 32,
                       st.encode(parse(data)).decode(), None, "", "")


def render(plan: fetch.Plan, data: bytes, meta: MessageMeta | None = None) -> bytes:
    return fetch.render(3, meta or full(data), plan, message=data, with_modseq=False, utf8=False, extra_flags=False)


def assembled(plan: fetch.Plan, data: bytes) -> bytes:
    """What the command sends for `layout`'s pieces, the spans filled from `data` as the store would."""
    out: list[bytes] = []
    for piece in fetch.layout(3, full(data), plan, with_modseq=False, utf8=False, extra_flags=False):
        if isinstance(piece, bytes):
            out.append(piece)
        elif isinstance(piece, fetch.Span):
            out.append(piece.head + b"{%d}\r\n" % (piece.end - piece.start) + data[piece.start:piece.end])
        else:
            out.append(piece.finish(data[piece.start:piece.end]))
    return b"* 3 FETCH (%s)\r\n" % b" ".join(out)


def test_repeats_are_answered_once_under_their_name() -> None:
    plan = fetch.plan(items("(BODY.PEEK[] FLAGS BODY[] " + "BODY.PEEK[] " * 400 + "FLAGS UID)"), uid=True)
    assert [w.name or w.head for w in plan.wants] == ["UID", b"BODY[] ", "FLAGS"]
    assert render(plan, b"Subject: x\r\n\r\nhi\r\n") == (b"* 3 FETCH (UID 7 BODY[] {18}\r\nSubject: x\r\n\r\nhi\r\n "
                                                         b"FLAGS (\\Seen $Work))\r\n")


def test_different_names_and_partial_lengths_are_different_answers() -> None:
    plan = fetch.plan(items("(RFC822 BODY[] BODY[]<0.4> BODY.PEEK[]<0.4> BODY[]<0.6> BINARY[] BINARY.SIZE[])"))
    assert [w.head for w in plan.wants] == [b"RFC822 ", b"BODY[] ", b"BODY[]<0> ", b"BODY[]<0> ", b"BINARY[] ",
                                            b"BINARY.SIZE[] "]
    assert render(plan, b"Subject: x\r\n\r\nhi\r\n").count(b"{") == 5


SECTIONS = (
    "BODY[]", "RFC822", "RFC822.HEADER", "RFC822.TEXT", "BODY[HEADER]", "BODY[TEXT]", "BODY[1]", "BODY[1.MIME]",
    "BODY[2]", "BODY[3]", "BODY[3.HEADER]", "BODY[3.TEXT]", "BODY[3.1]", "BODY[3.2.MIME]",
    "BODY[HEADER.FIELDS (Subject From)]", "BODY[3.HEADER.FIELDS.NOT (Subject)]", "BODY[]<10.20>",
    "BODY[TEXT]<5.1000000>", "BODY[]<100000.5>", "BODY[9]", "BODY[1.TEXT]", "BINARY[1]", "BINARY[2]",
    "BINARY[2]<1.3>", "BINARY[3]", "BINARY[]", "BINARY.SIZE[1]", "BINARY.SIZE[2]", "BINARY.SIZE[3]",
    "BINARY.SIZE[9]", "ENVELOPE", "BODYSTRUCTURE", "BODY", "FLAGS", "INTERNALDATE", "RFC822.SIZE",
)


@pytest.mark.parametrize("data", [NESTED, b"Subject: plain\r\n\r\nJust text.\r\n", b"Subject: no body\r\n"],
                         ids=["nested", "plain", "header-only"])
def test_a_layout_sends_what_render_would(data: bytes) -> None:
    for item in SECTIONS:
        plan = fetch.plan(items(f"({item})"), uid=True)
        assert assembled(plan, data) == render(plan, data), item
    everything = fetch.plan(items(f"({' '.join(SECTIONS)})"))
    assert assembled(everything, data) == render(everything, data)


def test_a_layout_sends_plain_sections_as_spans_and_reads_only_what_it_works_on() -> None:
    plan = fetch.plan(items("(BODY[] BODY[2] BODY[]<10.20> BODY[HEADER.FIELDS (Subject)] BINARY[1] BINARY.SIZE[3])"))
    pieces = fetch.layout(3, full(NESTED), plan, with_modseq=False, utf8=False, extra_flags=False)
    kinds = [type(p).__name__ for p in pieces]
    assert kinds == ["Span", "Span", "Span", "Derived", "Derived", "bytes"]
    assert pieces[2] == fetch.Span(b"BODY[]<10> ", 10, 30)
    header = pieces[3]
    assert isinstance(header, fetch.Derived)
    assert (header.start, header.end) == (0, NESTED.index(b"\r\n\r\n") + 4)  # the header alone is read


def test_the_budget_bounds_the_sections_rendered_for_one_message() -> None:
    small = b"Subject: s\r\n\r\n" + b"x" * 1000
    distinct = fetch.plan(items("(" + " ".join(f"BODY[]<0.{900 + n}>" for n in range(fetch.MAX_ITEMS)) + ")"))
    render(distinct, small)  # far under the floor: a small message may be asked for in any pieces
    large = b"Subject: l\r\n\r\n" + b"x" * 300_000
    four = fetch.plan(items("(RFC822 BODY[] BODY[TEXT] BODY[HEADER] BINARY.SIZE[])"))
    render(four, large)
    fetch.layout(3, full(large), four, with_modseq=False, utf8=False, extra_flags=False)
    five = fetch.plan(items("(RFC822 BODY[] BODY[TEXT] BODY[1] BODY[]<1.300000>)"))
    with pytest.raises(fetch.AnswerTooLarge, match="message 3 would pass 1200056 bytes"):
        render(five, large)
    with pytest.raises(fetch.AnswerTooLarge):  # before anything is read
        fetch.layout(3, full(large), five, with_modseq=False, utf8=False, extra_flags=False)
