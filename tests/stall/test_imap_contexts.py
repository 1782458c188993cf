"""Updating SORT contexts (RFC 5267 CONTEXT=SORT) while another session changes every message: ten
contexts over a mailbox as large as the limits let them keep (contexts.MAX_BYTES), then every message
flagged \\Deleted (half the contexts lose their whole result on matching again) and expunged (the other
half lose theirs before the EXPUNGEs). Each removal was one bisection of Python comparisons per UID: ten
contexts of 100,000 held the loop about 20 s; now one pass a context, with turns between them."""

from __future__ import annotations

import pytest

from tests.stall.conftest import StallNode, fill
from tests.stall.harness import check, measure
from tests.stall.test_imap import Imap, thread_message

CONTEXTS = [f"UID SORT RETURN (UPDATE) ({criterion}) UTF-8 {query}"
            for criterion in ("ARRIVAL", "SIZE", "REVERSE ARRIVAL", "REVERSE SIZE", "DATE")
            for query in ("UNDELETED", "ALL")]


def untagged_until_tagged(client: Imap, command: str) -> tuple[list[bytes], bytes]:
    client.counter += 1
    tag = b"s%d " % client.counter
    client.send(tag + command.encode() + b"\r\n")
    lines = []
    while not (line := client.line()).startswith(tag):
        lines.append(line)
    return lines, line[len(tag):]


@pytest.fixture
def probe(node: StallNode) -> Imap:
    return Imap(node, node.account("prober"))


def test_mass_flag_change_and_expunge_seen_by_ten_sort_contexts(node: StallNode, probe: Imap) -> None:
    address = node.account()
    fill(node, address, [thread_message(n) for n in range(100)], 39)  # 4,000 messages
    client, other = Imap(node, address), Imap(node, address)
    assert client.command("SELECT INBOX").startswith(b"OK")
    for command in CONTEXTS:
        untagged, tagged = untagged_until_tagged(client, command)
        assert tagged.startswith(b"OK") and not any(b"NOUPDATE" in line for line in untagged), untagged
    assert other.command("SELECT INBOX").startswith(b"OK")
    assert other.command("STORE 1:* +FLAGS.SILENT (\\Deleted)").startswith(b"OK")
    stall = measure(probe.noop, lambda: untagged_until_tagged(client, "NOOP"))
    untagged, tagged = stall.value
    assert tagged.startswith(b"OK"), tagged
    assert sum(b"REMOVEFROM" in line for line in untagged) == len(CONTEXTS) // 2, untagged[-12:]
    check(stall)
    assert other.command("EXPUNGE").startswith(b"OK")
    stall = measure(probe.noop, lambda: untagged_until_tagged(client, "NOOP"))
    untagged, tagged = stall.value
    assert tagged.startswith(b"OK"), tagged
    assert sum(b"REMOVEFROM" in line for line in untagged) == len(CONTEXTS) // 2
    assert sum(line.endswith(b" EXPUNGE") for line in untagged) == 4000
    check(stall)
