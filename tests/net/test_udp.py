"""The UDP listener's limits over real loopback sockets, and its token buckets as a pure class.

Sources are told apart by address: 127.0.0.1 and 127.0.0.2 are untrusted here, 127.0.0.3 is the
trusted network (every 127/8 address is this host's on Linux)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Awaitable, Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from polyport import metrics
from polyport.net.listener import ListenError
from polyport.net.trusted import TrustedNetworks
from polyport.net.udp import (
    DatagramEndpoint,
    DatagramLimits,
    DropReason,
    TokenBuckets,
    UdpListener,
    rate_key,
)

TRUSTED_SOURCE = "127.0.0.3"


class EchoHandler:
    """`slow...` waits for `gate` then answers `done:...`; `boom` raises; anything else is echoed at once."""

    def __init__(self) -> None:
        self.seen: list[bytes] = []
        self.gate = asyncio.Event()
        self.cancelled = 0

    def datagram(self, data: bytes, source: tuple[str, int], reply: DatagramEndpoint, /) -> Awaitable[None] | None:
        self.seen.append(data)
        if data == b"boom":
            raise RuntimeError("handler bug")
        if data == b"async-boom":
            return self._fail()
        if data.startswith(b"slow"):
            return self._slow(data, source, reply)
        reply.send(b"echo:" + data, source)
        return None

    async def _slow(self, data: bytes, source: tuple[str, int], reply: DatagramEndpoint) -> None:
        try:
            await self.gate.wait()
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        reply.send(b"done:" + data, source)

    async def _fail(self) -> None:
        raise RuntimeError("async handler bug")


class Client:
    """A UDP socket on one loopback address, collecting what comes back."""

    def __init__(self, transport: asyncio.DatagramTransport, replies: asyncio.Queue[bytes]) -> None:
        self.transport = transport
        self.replies = replies

    @classmethod
    async def open(cls, port: int, source: str = "127.0.0.1") -> Client:
        replies: asyncio.Queue[bytes] = asyncio.Queue()

        class Receiver(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                replies.put_nowait(data)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            Receiver, local_addr=(source, 0), remote_addr=("127.0.0.1", port))
        return cls(transport, replies)

    def send(self, data: bytes) -> None:
        self.transport.sendto(data)

    async def reply(self, timeout: float = 2.0) -> bytes | None:
        try:
            return await asyncio.wait_for(self.replies.get(), timeout)
        except TimeoutError:
            return None

    async def all_replies(self, settle: float = 0.2) -> list[bytes]:
        """Everything that arrives until nothing has for `settle` seconds."""
        got = []
        while (data := await self.reply(settle)) is not None:
            got.append(data)
        return got

    def close(self) -> None:
        self.transport.close()


def dropped(service: str, reason: DropReason) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "polyport_datagrams_dropped_total", {"service": service, "reason": reason.value})
    return value or 0.0


def received(service: str) -> float:
    return metrics.REGISTRY.get_sample_value("polyport_datagrams_received_total", {"service": service}) or 0.0


async def until(condition: Callable[[], bool], timeout: float = 2.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    assert condition()


@pytest.fixture
def service() -> str:
    return f"udp-test-{uuid.uuid4().hex[:8]}"  # its own metric labels


async def start(service: str, handler: EchoHandler, *, trusted_only: bool = False, max_datagram: int = 65_535,
                limits: DatagramLimits | None = None) -> UdpListener:
    listener = UdpListener(service, handler, host="127.0.0.1", port=0,
                           trusted=TrustedNetworks.from_config([f"{TRUSTED_SOURCE}/32"]),
                           trusted_only=trusted_only, max_datagram=max_datagram, limits=limits)
    await listener.start()
    return listener


async def test_answers_reach_each_sender_synchronous_or_awaited(service: str) -> None:
    handler = EchoHandler()
    handler.gate.set()
    listener = await start(service, handler)
    assert listener.bound == [("127.0.0.1", listener.port)]
    one, two = await Client.open(listener.port), await Client.open(listener.port, "127.0.0.2")
    one.send(b"ping")
    two.send(b"slow pong")
    assert await one.reply() == b"echo:ping"
    assert await two.reply() == b"done:slow pong"
    assert received(service) == 2
    assert sum(dropped(service, reason) for reason in DropReason) == 0
    one.close()
    two.close()
    await listener.finish(1)
    assert listener.bound == []


async def test_in_flight_bound_drops_the_excess_and_cheap_answers_go_on(service: str) -> None:
    handler = EchoHandler()
    listener = await start(service, handler, limits=DatagramLimits(max_in_flight=4))
    client = await Client.open(listener.port)
    for n in range(6):
        client.send(b"slow %d" % n)
    await until(lambda: dropped(service, DropReason.BUSY) == 2)
    assert listener.in_flight == 4
    # Answered synchronously while the bound is full: it costs no task.
    client.send(b"cached")
    assert await client.reply() == b"echo:cached"
    handler.gate.set()
    assert sorted(await client.all_replies()) == [b"done:slow %d" % n for n in range(4)]
    await until(lambda: listener.in_flight == 0)
    # Room again.
    client.send(b"slow again")
    assert await client.reply() == b"done:slow again"
    assert dropped(service, DropReason.BUSY) == 2
    client.close()
    await listener.finish(1)


async def test_one_flooding_source_is_limited_and_another_is_not(service: str) -> None:
    # A slow refill so that only the burst counts, however slow the machine.
    listener = await start(service, EchoHandler(),
                           limits=DatagramLimits(per_source_rate=0.5, per_source_burst=5))
    flooder, other = await Client.open(listener.port), await Client.open(listener.port, "127.0.0.2")
    for n in range(20):
        flooder.send(b"flood %d" % n)
    await until(lambda: received(service) == 20)
    for n in range(3):
        other.send(b"polite %d" % n)
    assert await flooder.all_replies() == [b"echo:flood %d" % n for n in range(5)]
    assert await other.all_replies() == [b"echo:polite %d" % n for n in range(3)]
    assert dropped(service, DropReason.RATE) == 15
    # A second socket on the flooder's address shares its bucket: the source is the address, not the port.
    same_address = await Client.open(listener.port)
    same_address.send(b"again")
    assert await same_address.reply(0.3) is None
    assert dropped(service, DropReason.RATE) == 16
    for client in (flooder, other, same_address):
        client.close()
    await listener.finish(1)


async def test_trusted_networks_are_exempt_from_the_rate(service: str) -> None:
    listener = await start(service, EchoHandler(), limits=DatagramLimits(per_source_rate=0.5, per_source_burst=5))
    trusted = await Client.open(listener.port, TRUSTED_SOURCE)
    for n in range(20):
        trusted.send(b"%d" % n)
    assert len(await trusted.all_replies()) == 20
    assert dropped(service, DropReason.RATE) == 0
    trusted.close()
    await listener.finish(1)


async def test_an_oversized_datagram_is_dropped(service: str) -> None:
    handler = EchoHandler()
    listener = await start(service, handler, max_datagram=100)
    client = await Client.open(listener.port)
    client.send(b"x" * 101)
    client.send(b"y" * 100)
    assert await client.reply() == b"echo:" + b"y" * 100
    assert await client.reply(0.2) is None
    assert handler.seen == [b"y" * 100]
    assert dropped(service, DropReason.TOO_LARGE) == 1
    client.close()
    await listener.finish(1)


async def test_trusted_only_drops_untrusted_datagrams_unread(service: str) -> None:
    handler = EchoHandler()
    listener = await start(service, handler, trusted_only=True)
    stranger, trusted = await Client.open(listener.port), await Client.open(listener.port, TRUSTED_SOURCE)
    stranger.send(b"let me in")
    trusted.send(b"hello")
    assert await trusted.reply() == b"echo:hello"
    assert await stranger.reply(0.2) is None
    assert handler.seen == [b"hello"]
    assert dropped(service, DropReason.UNTRUSTED) == 1
    assert metrics.REGISTRY.get_sample_value(
        "polyport_connections_refused_total", {"service": service, "reason": "untrusted"}) == 1
    stranger.close()
    trusted.close()
    await listener.finish(1)


async def test_handler_errors_do_not_stop_the_listener(service: str) -> None:
    listener = await start(service, EchoHandler())
    client = await Client.open(listener.port)
    client.send(b"boom")
    client.send(b"async-boom")
    client.send(b"still here")
    assert await client.reply() == b"echo:still here"
    await until(lambda: listener.in_flight == 0)
    client.close()
    await listener.finish(1)


async def test_stopping_drops_new_datagrams_and_running_handlers_may_still_answer(service: str) -> None:
    handler = EchoHandler()
    listener = await start(service, handler)
    client = await Client.open(listener.port)
    client.send(b"slow inside")
    await until(lambda: listener.in_flight == 1)
    await listener.stop_accepting()
    client.send(b"too late")
    await until(lambda: dropped(service, DropReason.SHUTTING_DOWN) == 1)
    finishing = asyncio.ensure_future(listener.finish(5))
    await asyncio.sleep(0.05)
    assert not finishing.done()
    handler.gate.set()
    assert await client.reply() == b"done:slow inside"
    await asyncio.wait_for(finishing, 2)
    assert handler.seen == [b"slow inside"]
    assert handler.cancelled == 0
    client.close()


async def test_finish_cancels_what_outlives_the_grace(service: str) -> None:
    handler = EchoHandler()
    listener = await start(service, handler)
    client = await Client.open(listener.port)
    client.send(b"slow forever")
    await until(lambda: listener.in_flight == 1)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await listener.finish(0.1)
    assert loop.time() - began < 1.0
    assert handler.cancelled == 1
    assert listener.in_flight == 0
    assert listener.bound == []
    listener.send(b"after the end", ("127.0.0.1", 9))  # dropped quietly: the socket is closed
    client.close()


async def test_new_limits_apply_from_the_next_datagram(service: str) -> None:
    listener = await start(service, EchoHandler(), limits=DatagramLimits(per_source_rate=0.5, per_source_burst=1))
    client = await Client.open(listener.port)
    client.send(b"one")
    client.send(b"two")
    assert await client.all_replies() == [b"echo:one"]
    listener.limits = DatagramLimits(per_source_rate=0.5, per_source_burst=3)
    for data in (b"three", b"four", b"five", b"six"):
        client.send(data)
    assert await client.all_replies() == [b"echo:three", b"echo:four", b"echo:five"]
    client.close()
    await listener.finish(1)


async def test_a_port_in_use_is_named_with_the_fix(service: str) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind(("127.0.0.1", 0))
    port = holder.getsockname()[1]
    try:
        listener = UdpListener(service, EchoHandler(), host="127.0.0.1", port=port,
                               trusted=TrustedNetworks([]), trusted_only=False)
        with pytest.raises(ListenError, match=rf"port {port}/udp \({service}\).*already in use"):
            await listener.start()
    finally:
        holder.close()


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DatagramLimits(max_in_flight=0)
    with pytest.raises(ValueError, match="positive"):
        DatagramLimits(per_source_rate=0)


def test_a_source_is_an_ipv4_address_or_an_ipv6_64() -> None:
    assert rate_key("192.0.2.1") == "192.0.2.1"
    assert rate_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert rate_key("2001:db8:1:2::1") == rate_key("2001:db8:1:2:ffff::99") == rate_key("2001:db8:1:2::1%eth0")
    assert rate_key("2001:db8:1:2::1") != rate_key("2001:db8:1:3::1")


# -- the token buckets, without sockets -----------------------------------------------------------------

def test_a_new_source_gets_its_burst_then_one_token_per_interval() -> None:
    buckets: TokenBuckets[str] = TokenBuckets(rate=50, burst=100, max_keys=10)
    now = 1_000_000.0  # a monotonic clock after days of uptime: where rounding bites
    assert sum(buckets.admit("a", now) for _ in range(150)) == 100
    assert not buckets.admit("a", now + 0.019)
    assert buckets.admit("a", now + 0.02)
    assert buckets.admit("b", now)  # its own bucket


def test_refilled_buckets_are_forgotten_and_the_least_recent_source_goes_first() -> None:
    buckets: TokenBuckets[str] = TokenBuckets(rate=1, burst=2, max_keys=3)
    for key in "abc":
        buckets.admit(key, 0.0)
    buckets.admit("a", 0.0)  # a's bucket is empty now, and a is the most recent
    assert not buckets.admit("a", 0.1)
    buckets.admit("d", 0.1)  # over max_keys: b, the least recently seen, goes
    assert len(buckets) == 3
    assert not buckets.admit("a", 0.2)  # a kept its state
    buckets.admit("e", 100.0)  # every other bucket has refilled
    assert len(buckets) == 1


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=1000),
    burst=st.integers(min_value=1, max_value=30),
    arrivals=st.lists(
        st.tuples(st.integers(min_value=0, max_value=2),
                  st.one_of(st.just(0.0), st.floats(min_value=0, max_value=0.5))),
        max_size=200),
)
def test_no_source_is_admitted_more_than_burst_plus_rate_times_t(
        rate: float, burst: int, arrivals: list[tuple[int, float]]) -> None:
    buckets: TokenBuckets[int] = TokenBuckets(rate, burst, max_keys=3)
    now = 5000.0
    admitted: dict[int, list[float]] = {0: [], 1: [], 2: []}
    for key, gap in arrivals:
        now += gap
        if buckets.admit(key, now):
            admitted[key].append(now)
    for times in admitted.values():
        for i in range(len(times)):
            for j in range(i, len(times)):
                assert j - i + 1 <= burst + rate * (times[j] - times[i]) + 0.01


@settings(max_examples=200, deadline=None)
@given(rate=st.floats(min_value=0.5, max_value=1000), burst=st.integers(min_value=1, max_value=30),
       gaps=st.lists(st.floats(min_value=1.0, max_value=3.0), max_size=100))
def test_a_source_within_its_rate_is_never_refused(rate: float, burst: int, gaps: list[float]) -> None:
    buckets: TokenBuckets[str] = TokenBuckets(rate, burst, max_keys=1)
    now = 5000.0
    assert buckets.admit("a", now)
    for gap in gaps:
        now += gap / rate  # at least one interval apart
        assert buckets.admit("a", now)
