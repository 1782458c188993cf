"""What an IMAP conformance suite run against Polyport and Dovecot found in SEARCH, SORT and THREAD (issue 13):
HEADER <name> "" (RFC 9051 6.4.4), the base subject and its comparison (RFC 5256 2.1, 3), and THREAD=REFERENCES
(RFC 5256 4) with reference loops, duplicated Message-IDs and the subject gathering of its step 5."""

from __future__ import annotations

import random

import pytest

from polyport.imap import search
from polyport.mime.parse import base_subject_and_reply, parse
from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import deliver, logged_in, message
from tests.imap.test_search_limits import Mailbox, plain, query


def raw(*headers: str, body: str = "Hi.\r\n") -> bytes:
    """A message with exactly these header fields (support.message always writes From, To, Subject, Date)."""
    return ("".join(f"{h}\r\n" for h in headers) + "\r\n" + body).encode()


def numbers(w: Wire, command: str) -> list[int]:
    untagged, tagged = w.command(command)
    assert tagged.startswith(b"OK"), (command, tagged)
    (line,) = [u for u in untagged if u.startswith(b"* SEARCH") or u.startswith(b"* SORT")]
    return [int(n) for n in line.split()[2:]]


def threads(w: Wire, command: str) -> bytes:
    untagged, tagged = w.command(command)
    assert tagged == b"OK THREAD completed", (command, tagged)
    (line,) = untagged
    return line


# -- HEADER <name> "" ------------------------------------------------------------------------------------

HEADER_MESSAGES = [
    # 1: no Subject, no To/Cc/Bcc, no Message-ID; an X-Foo with an empty value.
    raw("From: a@example.org", "Date: Mon, 7 Feb 1994 10:00:00 +0000", "X-Foo:"),
    # 2: Subject, To and Cc present with empty or address-less values; a Message-ID; no X-Foo, no Bcc.
    raw("From: b@example.org", "Subject:", "To:", "Cc: undisclosed-recipients:;",
        "Message-ID: <two@example.org>", "Date: Mon, 7 Feb 1994 11:00:00 +0000"),
    # 3: the usual fields with values; no From, a Message-ID field that is no message id, a folded X-Foo.
    raw("Subject: hello", "To: c@example.org", "Bcc: d@example.org", "Message-ID:   ",
        "X-Foo: one", " two", "Date: Mon, 7 Feb 1994 12:00:00 +0000"),
    # 4: a whitespace-only Subject and From that cannot be read as an address.
    raw('From: "" <>', "Subject:    ", "Date: Mon, 7 Feb 1994 13:00:00 +0000"),
]


@pytest.fixture(scope="module")
def header_box(imap_node: ImapNode) -> Wire:
    w, address = logged_in(imap_node)
    for data in HEADER_MESSAGES:
        deliver(imap_node, address, data)
    w.ok("SELECT INBOX")
    return w


@pytest.mark.parametrize(("criteria", "expected"), [
    ('HEADER SUBJECT ""', [2, 3, 4]),
    ('NOT HEADER SUBJECT ""', [1]),
    ('HEADER FROM ""', [1, 2, 4]),
    ('HEADER TO ""', [2, 3]),
    ('HEADER CC ""', [2]),
    ('HEADER BCC ""', [3]),
    ('HEADER X-Foo ""', [1, 3]),
    ('HEADER Message-ID ""', [2, 3]),
    ('HEADER X-Absent ""', []),
    # A non-empty string still looks at the values.
    ("HEADER SUBJECT hello", [3]),
    ("HEADER X-Foo two", [3]),
    ('OR HEADER CC "" HEADER BCC ""', [2, 3]),
])
def test_header_with_an_empty_string_matches_the_messages_having_the_field(header_box: Wire, criteria: str,
                                                                           expected: list[int]) -> None:
    assert numbers(header_box, f"SEARCH {criteria}") == expected


# -- SORT SUBJECT and the base subject (RFC 5256 2.1, 3) -------------------------------------------------------

@pytest.mark.parametrize(("subject", "base"), [
    ("Re: [list] Fwd: Hello (fwd)", "Hello"),
    ("[fwd: Hello]", "Hello"),
    ("RE:   hello", "hello"),
    ("[x]", "[x]"),
    ("[x] ", "[x]"),
    ("Re: [x]", "[x]"),
    ("[a] [b]", "[b]"),
    ("[a][b] c", "c"),
    ("[x] Re: y", "y"),
    ("Re [blob]: y", "y"),
    ("fw:x", "x"),
    ("Re:Re:  x \t (fwd) (FWD)  ", "x"),
    ("Fwd: [fwd: Re: hi (fwd)]", "hi"),
    ("[fwd: [fwd: a]]", "a"),
    ("[fwd:]", ""),
    ("Re: (fwd)", ""),
    ("=?utf-8?q?Re=3A_Caf=C3=A9?=", "Café"),
    ("=?utf-8?q?Re:?= =?utf-8?q?_two_?=  =?utf-8?b?d29yZHM=?=", "two words"),
    ("Regarding: x", "Regarding: x"),
    ("Re x", "Re x"),
    ("hello\t world", "hello world"),
    ("a\u00a0 b", "a\u00a0 b"),  # only SP and HTAB are white space
    ("", ""),
])
def test_base_subject(subject: str, base: str) -> None:
    assert base_subject_and_reply(subject)[0] == base
    # SORT reads the one stored at delivery; THREAD computes it with whether it is a reply: the same.
    assert parse(f"Subject: {subject}\r\n\r\n".encode()).base_subject == base


@pytest.mark.parametrize(("subject", "reply"), [
    ("Hello", False), ("[list] Hello", False), ("Re: Hello", True), ("Hello (fwd)", True), ("[fwd: Hello]", True),
    ("[list] Fw: Hello", True), ("(fwd)", True), ("", False),
])
def test_base_subject_says_whether_a_reply_or_forward(subject: str, reply: bool) -> None:
    assert base_subject_and_reply(subject)[1] is reply


def test_sort_key_is_ascii_casemap() -> None:
    """i;ascii-casemap (RFC 4790 9.2): a-z as A-Z, every other octet as it is, in octet order."""
    key = search.subject_key
    assert key("hello") == key("HELLO") == key("HeLLo")
    assert key("apple") < key("_under") < key("éclair")  # "_" is 0x5F, after "A" to "Z"
    assert key("Éclair") < key("éclair")  # U+00C9 and U+00E9 are other octets, not case variants
    assert key("straße") != key("STRASSE")


SORT_SUBJECTS = [
    "Re: [list] Fwd: Hello (fwd)",   # 1: hello
    "éclair",                        # 2
    "[fwd: Hello]",                  # 3: hello
    "_under",                        # 4
    "RE:   hello",                   # 5: hello
    "[x]",                           # 6: [x], the whole subject
    "Éclair",                        # 7
    "=?utf-8?q?Re=3A_Apple?=",       # 8: apple
    "zebra",                         # 9
    "[x] Banana",                    # 10: banana
]


@pytest.fixture(scope="module")
def subject_box(imap_node: ImapNode) -> Wire:
    w, address = logged_in(imap_node)
    for n, subject in enumerate(SORT_SUBJECTS, 1):
        deliver(imap_node, address, message(subject, message_id=f"<s{n}@x>",
                                            date=f"Mon, 7 Feb 1994 {n:02d}:00:00 +0000"))
    w.ok("SELECT INBOX")
    return w


def test_sort_subject_uses_the_base_subject_and_ascii_casemap(subject_box: Wire) -> None:
    # APPLE BANANA HELLO(1 3 5) ZEBRA [X] _UNDER ÉCLAIR éCLAIR: "[" (5B) and "_" (5F) come after "Z" (5A), and
    # non-ASCII letters after ASCII, each by its own octets. Ties by sequence number.
    assert numbers(subject_box, "SORT (SUBJECT) UTF-8 ALL") == [8, 10, 1, 3, 5, 9, 6, 4, 7, 2]
    # REVERSE reverses the order of the key; ties stay in sequence order (RFC 5256 3).
    assert numbers(subject_box, "SORT (REVERSE SUBJECT) UTF-8 ALL") == [2, 7, 4, 6, 9, 1, 3, 5, 10, 8]
    assert numbers(subject_box, "SORT (SUBJECT REVERSE DATE) UTF-8 ALL") == [8, 10, 5, 3, 1, 9, 6, 4, 7, 2]


def test_thread_orderedsubject_groups_by_the_same_base_subject(subject_box: Wire) -> None:
    # One thread for "hello" (1 3 5); "éclair" and "Éclair" are two base subjects under i;ascii-casemap.
    assert threads(subject_box, "THREAD ORDEREDSUBJECT UTF-8 ALL") == (
        b"* THREAD (1 (3)(5))(2)(4)(6)(7)(8)(9)(10)")


# -- THREAD=REFERENCES (RFC 5256 4) ----------------------------------------------------------------------------

def thread_box(imap_node: ImapNode, *messages: tuple[str, str | None, list[str]]) -> Wire:
    """A new mailbox with these (subject, Message-ID, more header fields), sent an hour apart in this order."""
    w, address = logged_in(imap_node)
    for n, (subject, message_id, headers) in enumerate(messages, 1):
        deliver(imap_node, address, message(subject, message_id=message_id, headers=headers,
                                            date=f"Mon, 7 Feb 1994 {n:02d}:00:00 +0000"))
    w.ok("SELECT INBOX")
    return w


def test_thread_references_loop_between_two_messages(imap_node: ImapNode) -> None:
    w = thread_box(imap_node, ("One", "<a@x>", ["References: <b@x>"]), ("Two", "<b@x>", ["References: <a@x>"]))
    # Linking 1 under 2 came first; linking 2 under 1 would close a loop and is not made.
    assert threads(w, "THREAD REFERENCES UTF-8 ALL") == b"* THREAD (2 1)"
    w.close()


def test_thread_references_loop_along_the_references_chains(imap_node: ImapNode) -> None:
    w = thread_box(imap_node,
                   ("One", "<a@x>", ["References: <c@x> <b@x>"]),
                   ("Two", "<b@x>", ["References: <a@x> <c@x>"]),
                   ("Three", "<c@x>", ["References: <b@x> <a@x>"]),
                   ("Four", "<d@x>", ["References: <d@x> <a@x> <d@x>"]))
    line = threads(w, "THREAD REFERENCES UTF-8 ALL")
    assert sorted(int(n) for n in line[len(b"* THREAD "):].replace(b"(", b" ").replace(b")", b" ").split()) == [
        1, 2, 3, 4]
    w.close()


def test_thread_references_self_reference(imap_node: ImapNode) -> None:
    w = thread_box(imap_node, ("One", "<a@x>", ["References: <a@x>"]), ("Two", "<b@x>", ["In-Reply-To: <b@x>"]),
                   ("Re: One", "<c@x>", ["References: <a@x> <c@x>"]))
    assert threads(w, "THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1 3)(2)"
    w.close()


def test_thread_references_duplicated_and_missing_message_ids(imap_node: ImapNode) -> None:
    w = thread_box(imap_node, ("One", "<d@x>", []), ("Two", "<d@x>", []), ("Three", None, []),
                   ("Four", None, ["References: <d@x>"]), ("Five", None, []))
    # The first message keeps the id; the second, and those without one, each get an id of their own.
    assert threads(w, "THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1 4)(2)(3)(5)"
    w.close()


def test_thread_references_uses_the_last_reference_then_in_reply_to(imap_node: ImapNode) -> None:
    w = thread_box(imap_node,
                   ("Root", "<r@x>", []),
                   ("Other", "<o@x>", []),
                   ("Re: Root", "<c@x>", ["References: <r@x>", "In-Reply-To: <o@x>"]),
                   ("Re: Other", "<e@x>", ["In-Reply-To: <o@x> <r@x>"]))
    assert threads(w, "THREAD REFERENCES UTF-8 ALL") == b"* THREAD (1 3)(2 4)"
    w.close()


def test_thread_references_a_message_without_references_has_no_parent(imap_node: ImapNode) -> None:
    """RFC 5256 4 step 1 C: the link to the last reference (NIL when there is none) replaces a parent that
    another message's References presumed."""
    w = thread_box(imap_node,
                   ("Re: Alpha", "<x@x>", ["References: <p@x> <a@x>"]),
                   ("Parent", "<p@x>", []),
                   ("Alpha", "<a@x>", []))
    # Alpha (3) heads its own thread with its reply (1), dated by 3; Parent (2) is alone and older.
    assert threads(w, "THREAD REFERENCES UTF-8 ALL") == b"* THREAD (2)(3 1)"
    w.close()


def test_thread_references_gathers_roots_by_subject(imap_node: ImapNode) -> None:
    """RFC 5256 4 step 5: two unrelated messages with the same base subject become siblings under a dummy,
    unless one is a reply or forward and the other not (then the reply goes under the other); a message goes
    under a dummy of the same subject."""
    w = thread_box(imap_node,
                   ("Topic", "<t1@x>", []),
                   ("Topic", "<t2@x>", []),
                   ("Re: Query", "<q1@x>", []),
                   ("Query", "<q2@x>", []),
                   ("Lost", "<l1@x>", ["References: <gone@x>"]),
                   ("Re: Lost", "<l2@x>", ["References: <gone@x>"]),
                   ("Lost", "<l3@x>", []),
                   ("Fwd: Mixed", "<m1@x>", []),
                   ("Re: Mixed", "<m2@x>", []))
    assert threads(w, "THREAD REFERENCES UTF-8 ALL") == (
        b"* THREAD ((1)(2))(4 3)((5)(6)(7))((8)(9))")
    w.close()


def test_thread_references_sorts_by_sent_date(imap_node: ImapNode) -> None:
    w, address = logged_in(imap_node)
    day = "Mon, 7 Feb 1994 {:02d}:00:00 +0000"
    deliver(imap_node, address, message("Late", message_id="<l@x>", date=day.format(20)))
    deliver(imap_node, address, message("Early", message_id="<e@x>", date=day.format(1)))
    deliver(imap_node, address, message("Re: Early", message_id="<r2@x>", date=day.format(9),
                                        headers=["References: <e@x>"]))
    deliver(imap_node, address, message("Re: Early", message_id="<r1@x>", date=day.format(5),
                                        headers=["References: <e@x>"]))
    deliver(imap_node, address, message("No date", message_id="<n@x>", date="not a date"))
    w.ok("SELECT INBOX")
    # A message whose Date cannot be read is dated by its arrival (today: after 1994).
    assert threads(w, "THREAD REFERENCES UTF-8 ALL") == b"* THREAD (2 (4)(3))(1)(5)"
    w.close()


# -- \Recent, for the session to give -----------------------------------------------------------------------------

async def test_recent_is_what_the_searcher_is_told() -> None:
    box = Mailbox(plain(b"one"), plain(b"two"), plain(b"three"))

    async def uids(text: str, **kwargs: object) -> list[int]:
        searcher = search.Searcher(box.read, largest_uid=3, count=3, saved=[], now=0.0, **kwargs)  # type: ignore[arg-type]
        return [uid for _, uid, _ in await searcher.run(query(text), box.batches(), search.hit)]

    assert await uids("RECENT") == []
    assert await uids("OLD") == [1, 2, 3]
    assert await uids("RECENT", recent=frozenset({2, 3})) == [2, 3]
    assert await uids("OLD", recent={2, 3}) == [1]
    assert await uids("NEW", recent=[1, 3]) == [1, 3]
    assert await uids("NOT RECENT", recent=range(1, 3)) == [3]


async def test_thread_references_of_random_links_has_every_message_once() -> None:
    """References drawn at random among a few ids (loops, self-references, duplicated and missing
    Message-IDs, references to messages not there): every message is in the answer exactly once."""
    rng = random.Random(13)
    for _ in range(200):
        count = rng.randint(1, 30)
        ids = [f"<i{n}@x>" for n in range(rng.randint(1, 12))]
        found: list[search.Threadable] = [
            (n, n, (rng.randint(0, 5), n), rng.choice(["A", "B", ""]), rng.choice([*ids, f"<polyport-uid-{n}>"]),
             tuple(rng.choice(ids) for _ in range(rng.randint(0, 6))), rng.random() < 0.5)
            for n in range(1, count + 1)]
        searcher = Mailbox().searcher()
        body = await search.format_tree(await search.thread_references(found, searcher), True, searcher)
        assert sorted(int(n) for n in body.replace(b"(", b" ").replace(b")", b" ").split()) == list(
            range(1, count + 1)), (found, body)
        assert body.count(b"(") == body.count(b")")
