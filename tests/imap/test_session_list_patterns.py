"""Issue 12: LIST and LSUB patterns that made the regex behind them backtrack. `LIST "" "*a*a*a*a*a*a*a*b"`
against a 60-character name held the event loop 5.9 s, and every other session with it; now such a
pattern is answered at once, and one with more than 64 wildcards is refused."""

from __future__ import annotations

import time

from tests.imap.conftest import ImapNode, Wire
from tests.imap.support import logged_in

LONG = "/".join(["a" * 15] * 30)  # 479 characters, 30 levels: near MAX_NAME and MAX_DEPTH
HOSTILE = ['"*a*a*a*a*a*a*a*b"', '"' + "*a" * 63 + '*b"', '"' + "%a" * 63 + '%b"', '"' + "*a%" * 32 + 'b"',
           '"' + "%a" * 14 + '%b"']  # at most 15 "a"s in a level


def test_hostile_patterns_are_answered_at_once(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok('CREATE "' + "a" * 60 + '"')
    w.ok(f'CREATE "{LONG}"')
    for pattern in HOSTILE:
        started = time.perf_counter()
        assert w.command(f'LIST "" {pattern}') == ([], b"OK LIST completed")
        assert w.command(f'LSUB "" {pattern}') == ([], b"OK LSUB completed")
        assert time.perf_counter() - started < 0.5, pattern  # was 5.9 s for the first, forever for the rest
    w.close()


def test_another_session_does_not_wait(imap_node: ImapNode) -> None:
    hostile, _ = logged_in(imap_node)
    hostile.ok('CREATE "' + "a" * 60 + '"')
    other, _ = logged_in(imap_node)
    hostile.send(b'h1 LIST "" "' + b"*a" * 20 + b'*b"\r\n')  # at most 60 "a"s, or the regex gave up at once
    started = time.perf_counter()
    assert other.command("NOOP") == ([], b"OK NOOP completed")
    assert time.perf_counter() - started < 0.5
    assert hostile.until(b"h1") == ([], b"OK LIST completed")
    hostile.close()
    other.close()


def test_at_most_64_wildcards(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    refusal = b"NO [CANNOT] a mailbox pattern holds at most 64 wildcards (* and %)"
    assert w.command('LIST "" "' + "*" * 65 + '"') == ([], refusal)
    assert w.command('LIST "' + "%" * 40 + '" "' + "*" * 25 + '"') == ([], refusal)  # reference and pattern
    assert w.command('LIST "" (INBOX "' + "%a" * 65 + '")') == ([], refusal)
    assert w.command('LSUB "" "' + "*a" * 65 + '"') == ([], refusal)
    assert w.command('LIST "" "' + "*" * 64 + '"')[1] == b"OK LIST completed"
    assert w.command("NOOP") == ([], b"OK NOOP completed")  # the session goes on
    w.close()


def test_patterns_still_list_what_they_did(imap_node: ImapNode) -> None:
    w, _ = logged_in(imap_node)
    w.ok("CREATE a/b/c")
    w.ok("CREATE ab")
    assert listing(w, 'LIST "" *a*a*') == []
    assert listing(w, 'LIST "" %b%') == [b'* LIST (\\HasNoChildren) "/" ab']
    assert listing(w, 'LIST "" *b*') == [b'* LIST (\\HasChildren) "/" a/b', b'* LIST (\\HasNoChildren) "/" a/b/c',
                                         b'* LIST (\\HasNoChildren) "/" ab']
    assert listing(w, 'LIST "" %/%/%') == [b'* LIST (\\HasNoChildren) "/" a/b/c']
    assert listing(w, 'LIST "" InBoX') == [b'* LIST (\\HasNoChildren) "/" INBOX']
    w.close()


def listing(w: Wire, command: str) -> list[bytes]:
    untagged, tagged = w.command(command)
    assert tagged.startswith(b"OK "), (command, tagged)
    return untagged
