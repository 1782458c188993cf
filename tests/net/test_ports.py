"""Port pools over real sockets on 127.0.0.1, in a small range found free below the ephemeral ports (so the
kernel does not hand them to outgoing connections meanwhile)."""

from __future__ import annotations

import asyncio
import errno
import random
import socket
import uuid
from collections.abc import Callable

import pytest

from polyport import metrics
from polyport.net.ports import (
    Binder,
    Lease,
    LeaseReleased,
    PoolClosed,
    PoolExhausted,
    PortPool,
    tcp_listening_socket,
    tcp_server,
    udp_endpoint,
    udp_socket,
)

HOST = "127.0.0.1"


def _bindable(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((HOST, port))
            except OSError:
                return False
    return True


def free_range(size: int) -> int:
    """The first port of `size` consecutive free ports, the first one even."""
    for _ in range(200):
        first = random.randrange(20_000, 30_000, 2)
        if all(_bindable(port) for port in range(first, first + size)):
            return first
    pytest.skip("no free port range on 127.0.0.1")


def leased_gauge(service: str) -> float:
    return metrics.REGISTRY.get_sample_value("polyport_ports_leased", {"service": service}) or 0.0


def make_pool(size: int, bind: Binder[socket.socket] = udp_socket, *, first_offset: int = 0,
              busy_retry: float = 30.0) -> PortPool[socket.socket]:
    first = free_range(size + first_offset) + first_offset
    return PortPool(first, first + size - 1, host=HOST, bind=bind, service=f"ports-{uuid.uuid4().hex[:8]}",
                    busy_retry=busy_retry)


async def until(condition: Callable[[], bool], timeout: float = 3.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition()


async def test_a_lease_is_bound_and_released() -> None:
    pool = make_pool(4)
    lease = await pool.lease("call-1", ttl=60)
    sock = lease.bindings[0]
    assert lease.ports == (pool.first,) and lease.port == pool.first
    assert sock.getsockname() == (HOST, lease.port)
    assert not _bindable(lease.port)
    assert pool.leased == 1 and leased_gauge(pool.service) == 1
    lease.release()
    lease.release()  # again: nothing
    assert not lease.active
    assert sock.fileno() == -1
    assert _bindable(lease.port)
    assert pool.leased == 0 and leased_gauge(pool.service) == 0


async def test_ports_rotate_and_a_released_port_comes_back_last() -> None:
    pool = make_pool(4)
    first, second = await pool.lease("a", ttl=60), await pool.lease("b", ttl=60)
    assert (first.port, second.port) == (pool.first, pool.first + 1)
    first.release()
    third = await pool.lease("c", ttl=60)
    assert third.port == pool.first + 2  # not the lowest free port, which was just released
    fourth = await pool.lease("d", ttl=60)
    assert fourth.port == pool.first + 3
    fifth = await pool.lease("e", ttl=60)  # wrapped around: the one free port
    assert fifth.port == pool.first
    pool.close()


async def test_rtp_pairs_are_an_even_port_and_the_next() -> None:
    # The range starts on an odd port: the first pair is the next even one.
    pool = make_pool(6, first_offset=1)
    assert pool.first % 2 == 1
    pair = await pool.lease("call-1", pair=True, ttl=60)
    assert pair.ports == (pool.first + 1, pool.first + 2)
    assert [sock.getsockname()[1] for sock in pair.bindings] == list(pair.ports)
    second = await pool.lease("call-2", pair=True, ttl=60)
    assert second.ports == (pool.first + 3, pool.first + 4)
    # The last port, pool.first + 5, is even but has no odd partner in the range.
    with pytest.raises(PoolExhausted, match="pair of ports"):
        await pool.lease("call-3", pair=True, ttl=60)
    assert pool.leased == 4 and leased_gauge(pool.service) == 4
    single = await pool.lease("ftp", ttl=60)  # a single port fits where a pair does not
    assert single.ports == (pool.first + 5,)
    pool.close()


async def test_exhaustion_is_typed_and_names_the_range() -> None:
    pool = make_pool(2)
    await pool.lease("a", ttl=60)
    await pool.lease("b", ttl=60)
    with pytest.raises(PoolExhausted, match=rf"no free port in {pool.first}-{pool.last} on 127\.0\.0\.1"):
        await pool.lease("c", ttl=60)
    pool.close()


async def test_an_unreleased_lease_expires_and_its_ports_come_back() -> None:
    pool = make_pool(4)
    expired: list[Lease[socket.socket]] = []
    lease = await pool.lease("forgotten call", pair=True, ttl=0.1, on_expire=expired.append)
    ports = lease.ports
    await until(lambda: not lease.active)
    assert expired == [lease]
    assert all(_bindable(port) for port in ports)
    assert pool.leased == 0 and leased_gauge(pool.service) == 0
    with pytest.raises(LeaseReleased):
        lease.renew()


async def test_renewing_keeps_a_lease_past_its_first_ttl() -> None:
    pool = make_pool(2)
    loop = asyncio.get_running_loop()
    lease = await pool.lease("long call", ttl=0.5)
    first_deadline = lease.expires_at
    await asyncio.sleep(0.2)
    lease.renew(1.0)
    assert lease.expires_at > first_deadline
    await asyncio.sleep(0.4)  # past the first deadline, well before the new one
    assert loop.time() > first_deadline
    assert lease.active
    await until(lambda: not lease.active)
    assert loop.time() >= lease.expires_at


async def test_renewing_with_a_shorter_ttl_ends_the_lease_sooner() -> None:
    pool = make_pool(2)
    lease = await pool.lease("call", ttl=60)
    lease.renew(0.05)
    await until(lambda: not lease.active, timeout=1.0)


async def test_a_port_held_by_another_program_is_skipped_and_tried_later() -> None:
    pool = make_pool(3, busy_retry=0.5)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind((HOST, pool.first))
    try:
        first = await pool.lease("a", ttl=60)
        second = await pool.lease("b", ttl=60)
        assert (first.port, second.port) == (pool.first + 1, pool.first + 2)
        with pytest.raises(PoolExhausted, match="1 held by other programs"):
            await pool.lease("c", ttl=60)
    finally:
        holder.close()
    with pytest.raises(PoolExhausted):  # not tried again before busy_retry
        await pool.lease("c", ttl=60)
    await asyncio.sleep(0.6)
    third = await pool.lease("c", ttl=60)
    assert third.port == pool.first
    pool.close()


async def test_a_pair_whose_odd_port_is_taken_is_skipped_whole() -> None:
    pool = make_pool(4)
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind((HOST, pool.first + 1))
    try:
        pair = await pool.lease("call", pair=True, ttl=60)
        assert pair.ports == (pool.first + 2, pool.first + 3)
        assert _bindable(pool.first)  # the even port bound on the way was given back
    finally:
        holder.close()
    pool.close()


async def test_tcp_ports_for_ftp_passive_data() -> None:
    pool = make_pool(3, bind=tcp_listening_socket)
    holder = socket.socket()
    holder.bind((HOST, pool.first))
    holder.listen()
    try:
        lease = await pool.lease("ftp transfer", ttl=60)
    finally:
        holder.close()
    assert lease.port == pool.first + 1
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection(HOST, lease.port)
    accepted, _ = await asyncio.wait_for(loop.sock_accept(lease.bindings[0]), 2)
    await loop.sock_sendall(accepted, b"data")
    assert await reader.readexactly(4) == b"data"
    lease.release()  # the listening socket goes; the data connection stays
    await loop.sock_sendall(accepted, b"more")
    assert await reader.readexactly(4) == b"more"
    accepted.close()
    writer.close()
    pool.close()


async def test_asyncio_binders_datagram_endpoint_and_server() -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    class Media(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            received.put_nowait(data)

    first = free_range(4)
    media = PortPool(first, first + 1, host=HOST, bind=udp_endpoint(Media), service=f"rtp-{uuid.uuid4().hex[:8]}")
    pair = await media.lease("call", pair=True, ttl=60)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as phone:
        phone.sendto(b"rtp", (HOST, pair.ports[0]))
        phone.sendto(b"rtcp", (HOST, pair.ports[1]))
        assert {await asyncio.wait_for(received.get(), 2) for _ in range(2)} == {b"rtp", b"rtcp"}
    media.close()
    assert all(transport.is_closing() for transport in pair.bindings)

    connected = asyncio.Event()

    class Data(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            connected.set()

    passive = PortPool(first + 2, first + 3, host=HOST, bind=tcp_server(Data), service=f"ftp-{uuid.uuid4().hex[:8]}")
    lease = await passive.lease("transfer", ttl=60)
    _, writer = await asyncio.open_connection(HOST, lease.port)
    await asyncio.wait_for(connected.wait(), 2)
    writer.close()
    lease.release()
    passive.close()


async def test_concurrent_leases_never_share_a_port() -> None:
    async def slow_udp(host: str, port: int) -> socket.socket:
        await asyncio.sleep(random.random() / 50)
        return await udp_socket(host, port)

    pool = make_pool(8, bind=slow_udp)
    leases = await asyncio.gather(*(pool.lease(f"call-{n}", ttl=60) for n in range(8)))
    assert sorted(lease.port for lease in leases) == list(range(pool.first, pool.last + 1))
    with pytest.raises(PoolExhausted):
        await pool.lease("one more", ttl=60)
    pool.close()


async def test_a_lease_cancelled_while_binding_gives_its_port_back() -> None:
    gate = asyncio.Event()

    async def stuck(host: str, port: int) -> socket.socket:
        await gate.wait()
        return await udp_socket(host, port)

    pool = make_pool(1, bind=stuck)
    pending = asyncio.ensure_future(pool.lease("call", ttl=60))
    await asyncio.sleep(0.01)
    pending.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pending
    gate.set()
    lease = await pool.lease("next call", ttl=60)
    assert lease.port == pool.first
    pool.close()


async def test_other_bind_errors_are_not_skipped() -> None:
    pool = PortPool(20_000, 20_001, host="192.0.2.77", bind=udp_socket, service=f"ports-{uuid.uuid4().hex[:8]}")
    with pytest.raises(OSError) as raised:
        await pool.lease("call", ttl=60)
    assert raised.value.errno == errno.EADDRNOTAVAIL
    assert pool.leased == 0


async def test_close_ends_every_lease_and_refuses_more() -> None:
    pool = make_pool(4)
    leases = [await pool.lease("a", pair=True, ttl=60), await pool.lease("b", ttl=60)]
    pool.close()
    assert not any(lease.active for lease in leases)
    assert all(sock.fileno() == -1 for lease in leases for sock in lease.bindings)
    assert pool.leased == 0 and leased_gauge(pool.service) == 0
    with pytest.raises(PoolClosed):
        await pool.lease("c", ttl=60)


async def test_closing_while_a_bind_is_under_way() -> None:
    gate = asyncio.Event()

    async def slow(host: str, port: int) -> socket.socket:
        await gate.wait()
        return await udp_socket(host, port)

    pool = make_pool(2, bind=slow)
    pending = asyncio.ensure_future(pool.lease("call", ttl=60))
    await asyncio.sleep(0.01)
    pool.close()
    gate.set()
    with pytest.raises(PoolClosed):
        await pending
    assert _bindable(pool.first)


async def test_a_lease_as_a_context_manager() -> None:
    pool = make_pool(2)
    with await pool.lease("transfer", ttl=60) as lease:
        assert lease.active
    assert not lease.active
    pool.close()


def test_ranges_and_ttls_are_checked() -> None:
    with pytest.raises(ValueError, match="1-65535"):
        PortPool(10, 9, host=HOST, bind=udp_socket, service="x")
    with pytest.raises(ValueError, match="1-65535"):
        PortPool(65_535, 65_536, host=HOST, bind=udp_socket, service="x")


async def test_a_ttl_must_be_positive() -> None:
    pool = make_pool(1)
    with pytest.raises(ValueError, match="positive ttl"):
        await pool.lease("call", ttl=0)
    lease = await pool.lease("call", ttl=60)
    with pytest.raises(ValueError, match="positive ttl"):
        lease.renew(-1)
    pool.close()
