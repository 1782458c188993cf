"""XMPP on a node of two worker processes: clients of different workers reach each other (messages to bare
JIDs, subscriptions and presence) through the routers' view of every worker's resources (xmpp/router.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from polyport.node import POSTMASTER_PASSWORD_ENV
from polyport.workers.supervisor import Supervisor
from tests.node_thread import POSTMASTER_PASSWORD, node_config
from tests.xmpp.conftest import PASSWORD, Stream, bound
from tests.xmpp.test_presence import heard, presences
from tests.xmpp.test_routing import available

pytestmark = [pytest.mark.slow, pytest.mark.processes]


class Node:
    """What tests.xmpp.conftest.bound needs of a node: its port and new accounts."""

    def __init__(self, port: int, addresses: list[str]) -> None:
        self.port = port
        self._addresses = iter(addresses)

    def account(self) -> str:
        return next(self._addresses)


@pytest.fixture
async def supervisor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Supervisor]:
    monkeypatch.setenv(POSTMASTER_PASSWORD_ENV, POSTMASTER_PASSWORD)
    config = node_config(tmp_path / "data", "xmpp", 0)
    sup = Supervisor(config, 2, in_process=True)
    await sup.start()
    try:
        yield sup
    finally:
        await sup.stop(grace=1.0)


async def test_clients_of_different_workers_reach_each_other(supervisor: Supervisor) -> None:
    assert supervisor.local_node is not None and supervisor.local_node.runtime is not None
    directory = supervisor.local_node.runtime.directory
    addresses = [f"w{n}@example.com" for n in range(8)]
    for address in addresses:
        await directory.create_account(address, password=PASSWORD)
    node = Node(next(b.port for b in supervisor.bound if b.service == "xmpp"), addresses)

    def connect() -> list[Stream]:
        streams = [bound(node, "r")[0] for _ in addresses]  # type: ignore[arg-type]
        for stream in streams:
            available(stream)
        return streams

    streams = await asyncio.to_thread(connect)
    answers = await supervisor.ask("stats")
    spread = {index: (answer or {}).get("connections", {}).get("xmpp", 0) for index, answer in answers.items()}
    assert all(spread.get(i, 0) > 0 for i in (0, 1)), spread  # all on one: a chance of 2 in 256
    await asyncio.sleep(0.3)  # the routers hear of each other's resources

    def talk() -> None:
        for stream in streams:
            heard(stream)  # presences of the account's own? none: one resource each
        for i, sender in enumerate(streams):
            for j, address in enumerate(addresses):
                if i != j:
                    sender.send(f"<message to='{address}' type='chat' id='{i}-{j}'><body>hi</body></message>")
        for j, receiver in enumerate(streams):
            got = sorted(s.get("id", "") for s in heard(receiver) if s.tag == "{jabber:client}message")
            assert got == sorted(f"{i}-{j}" for i in range(len(streams)) if i != j), (j, got)
        # A subscription across whichever workers these two are on, and presence after it.
        first, second = streams[0], streams[1]
        first.send(f"<presence type='subscribe' to='{addresses[1]}'/>")
        assert ("subscribe", addresses[0]) in presences(heard(second))
        second.send(f"<presence type='subscribed' to='{addresses[0]}'/>")
        assert (None, f"{addresses[1]}/r") in presences(heard(first))
        second.send("<presence><show>away</show></presence>")
        assert presences(heard(first)) == [(None, f"{addresses[1]}/r")]
        for stream in streams:
            stream.close()

    await asyncio.to_thread(talk)


async def test_a_room_is_held_by_one_worker_and_reached_from_both(supervisor: Supervisor) -> None:
    """Clients of both workers in one chat room (XEP-0045): its holder orders what they say; the other
    worker hands its clients' stanzas over, and the room's answers reach them through their router."""
    from tests.xmpp.test_muc import create, enter, until

    assert supervisor.local_node is not None and supervisor.local_node.runtime is not None
    directory = supervisor.local_node.runtime.directory
    addresses = [f"m{n}@example.com" for n in range(24)]
    for address in addresses:
        await directory.create_account(address, password=PASSWORD)
    node = Node(next(b.port for b in supervisor.bound if b.service == "xmpp"), addresses)
    room = "spread@conference.example.com"
    streams: list[Stream] = []
    spread: dict[int, int] = {}
    while len(streams) < 6 or not all(spread.get(i, 0) > 0 for i in (0, 1)):  # clients of both workers
        assert len(streams) < len(addresses), spread
        streams.append((await asyncio.to_thread(bound, node, "r"))[0])  # type: ignore[arg-type]
        answers = await supervisor.ask("stats")
        spread = {index: (answer or {}).get("connections", {}).get("xmpp", 0) for index, answer in answers.items()}
    await asyncio.sleep(0.3)  # the routers hear of each other's resources

    def talk() -> None:
        create(streams[0], room, "n0")
        for n, stream in enumerate(streams[1:], start=1):
            got = enter(stream, room, f"n{n}")
            assert [e.get("from") for e in got if e.tag == "{jabber:client}presence"] == \
                [f"{room}/n{k}" for k in range(n + 1)]
        for n, stream in enumerate(streams):
            stream.send(f"<message to='{room}' type='groupchat' id='g{n}'><body>from {n}</body></message>")
        orders = []
        for stream in streams:
            said = [until(stream, lambda e: (e.get("id") or "").startswith("g")) for _ in streams]
            orders.append([e.get("id", "") for e in said])
        # Every occupant hears every message, all in one order: the holder's.
        assert sorted(orders[0]) == sorted(f"g{n}" for n in range(len(streams)))
        assert all(order == orders[0] for order in orders), orders
        for stream in streams:
            stream.close()

    await asyncio.to_thread(talk)
