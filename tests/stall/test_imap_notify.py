"""NOTIFY (RFC 5465) over many mailboxes: `NOTIFY SET STATUS` over an account of 2,000 mailboxes watched
by 100 SUBTREE groups of 10 names, then a burst of changes in them seen by the watching session. Each
coverage question was a scan of every group and every name: the SET held the loop 7.4 s and each event
cost 1.2 ms; now the names are indexed, and the STATUS answers give the loop turns."""

from __future__ import annotations

import pytest

from tests.stall.conftest import StallNode
from tests.stall.harness import check, measure
from tests.stall.test_imap import Imap
from tests.stall.test_imap_contexts import untagged_until_tagged

MAILBOXES = 2000
GROUPS = 100


@pytest.fixture
def probe(node: StallNode) -> Imap:
    return Imap(node, node.account("notify-prober"))


def test_notify_set_status_over_two_thousand_mailboxes(node: StallNode, probe: Imap) -> None:
    address = node.account()
    account = node.account_id(address)

    async def create() -> None:
        for n in range(MAILBOXES):
            await node.mailstore.create(account, f"Lists/l{n:04d}")

    node.call(create(), timeout=300)
    client, other = Imap(node, address), Imap(node, address)
    names = [f"Lists/l{n:04d}" for n in range(0, MAILBOXES, MAILBOXES // (GROUPS * 10))]
    groups = " ".join(f"(SUBTREE ({' '.join(names[g * 10:(g + 1) * 10])}) (MessageNew MessageExpunge))"
                      for g in range(GROUPS))
    stall = measure(probe.noop, lambda: untagged_until_tagged(client, f"NOTIFY SET STATUS {groups}"))
    untagged, tagged = stall.value
    assert tagged.startswith(b"OK"), tagged
    assert len([line for line in untagged if line.startswith(b"* STATUS ")]) == len(names)
    check(stall)

    def burst() -> None:
        for n in range(0, 200, 2):
            assert other.command(f"APPEND Lists/l{n:04d} {{5+}}\r\nHi.\r\n").startswith(b"OK")

    stall = measure(probe.noop, burst)
    check(stall)
    news = untagged_until_tagged(client, "NOOP")[0]
    assert sum(line.startswith(b"* STATUS ") for line in news) == 100, news[-3:]
