"""The UDP listener and the contract between it and the datagram protocols (DNS, SIP, TFTP).

A protocol gives its listener a `DatagramHandler`: one call per datagram, with the bytes, the sender's
address and a `DatagramEndpoint` to answer through. The handler answers cheap requests at once (a DNS
answer from cache) and returns None, or returns an awaitable for work that waits (the store, another
server), which the listener runs as a task.

Invariants the listener keeps, for every protocol alike:

- Every datagram that arrives is counted once in `polyport_datagrams_received`; one that does not reach
  the handler is also counted once in `polyport_datagrams_dropped{reason}`. Nothing is ever queued: a
  datagram is handled at once or dropped, since a client that gets no answer retransmits (DNS after about
  a second, SIP's T1 of 500 ms, TFTP's timeout), and an answer that comes after that is wasted work.
- A trusted-only service drops datagrams from untrusted addresses before the handler sees a byte (also
  counted in `polyport_connections_refused{reason="untrusted"}`, as the TCP listeners count it).
- Datagrams over `max_datagram` bytes are dropped.
- Each source (an IPv4 address, or an IPv6 /64) has a token bucket; over its rate, datagrams are dropped.
  Trusted networks are exempt, as they are from the TCP listeners' per-address limit. The buckets live in
  a bounded LRU (`TokenBuckets`), so a flood from spoofed addresses costs bounded memory.
- At most `max_in_flight` awaitables run at once. A handler's synchronous answer is not bounded (it is
  done by the time the listener sees it); an awaitable returned beyond the bound is closed unstarted (a
  coroutine) or cancelled (a future), and the datagram counted as dropped "busy". So a cached DNS answer
  is still given while slow lookups fill the bound; a handler must therefore do in its synchronous part
  only what it would not mind being the whole answer.
- On stop: `stop_accepting()` drops whatever arrives from then on but keeps the socket open, so handlers
  still running can answer; `finish(grace)` waits up to `grace` seconds for them, cancels the rest, then
  closes the socket.
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import socket
from collections import OrderedDict
from collections.abc import Awaitable, Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from polyport import log, metrics
from polyport.net.listener import Refusal, bind_error
from polyport.net.trusted import TrustedNetworks

# -- the contract ---------------------------------------------------------------------------------------


class DatagramEndpoint(Protocol):
    """Where a handler sends its answers: the listener's own socket (so the answer comes from the port
    the client wrote to), or any other socket with the same shape (a TFTP transfer's own port)."""

    def send(self, data: bytes, addr: tuple[str, int], /) -> None:
        """Send one datagram to `addr`; never blocks, and a lost datagram is not an error (UDP)."""
        ...


class DatagramHandler(Protocol):
    """What a datagram protocol gives its UDP listeners."""

    def datagram(self, data: bytes, source: tuple[str, int], reply: DatagramEndpoint, /) -> Awaitable[None] | None:
        """Handle one datagram from `source`. Return None when done (answered through `reply`, or
        ignored), or an awaitable for the rest of the work: it counts against the listener's in-flight
        bound until it is done, and is closed unstarted if the bound is reached (see the module's notes)."""
        ...


class DropReason(enum.StrEnum):
    """Why a datagram never reached the handler: the `reason` label of `polyport_datagrams_dropped`."""

    BUSY = "busy"  # max_in_flight awaitables are running
    RATE = "rate"  # its source is over its token bucket's rate
    TOO_LARGE = "too-large"  # over max_datagram bytes
    UNTRUSTED = "untrusted"  # a trusted-only service, and the source is not trusted
    SHUTTING_DOWN = "shutting-down"  # arrived after stop_accepting(), while handlers finish


@dataclass(frozen=True, slots=True)
class DatagramLimits:
    """The limits of one UDP listener (`max_datagram`, a property of the protocol, is the listener's own
    constructor keyword, as it was before these limits existed)."""

    # Handlers waiting at once. A waiting handler holds its datagram (up to 64 KiB) and a task (a few KiB):
    # 256 bound that to about 17 MiB in the worst case. On this project's 2 cores a waiting handler does
    # about a millisecond of store or network work, so 256 is about a quarter of a second of work queued;
    # clients retransmit after 0.5 s (SIP T1) to 1 s (DNS), so answers beyond that would come too late.
    max_in_flight: int = 256
    # Datagrams a second per source, after a burst. A SIP phone sends a few per call and one REGISTER a few
    # minutes apart; a DNS resolver asking about our domains caches the answers. 50/s leaves room for a small
    # PBX trunk behind one address (bigger ones belong in the trusted networks), and cuts a single flooding
    # address down to a trickle.
    per_source_rate: float = 50.0
    # Two seconds' worth at the rate: a phone rebooting sends its REGISTER and SUBSCRIBEs together, a
    # provisioning client asks for several TFTP files at once.
    per_source_burst: int = 100
    # Sources remembered. A bucket that has refilled (after burst/rate = 2 s of quiet) is forgotten, so this
    # only has to hold the sources of the last two seconds: 10,000 is 5,000 new sources a second. Each costs
    # about 180 bytes (measured: 100,000 took 17.8 MB), so 1.8 MB per listener at most, where 100,000 would
    # cost a fifth of the node's 80 MB memory target per UDP listener under a spoofed flood. Past it, the
    # least recently seen source is forgotten and starts again with a full bucket.
    max_sources: int = 10_000

    def __post_init__(self) -> None:
        if self.max_in_flight < 1 or self.per_source_rate <= 0 or self.per_source_burst < 1 or self.max_sources < 1:
            raise ValueError(f"datagram limits must be positive: {self}")


# -- per-source rate ------------------------------------------------------------------------------------

Key = TypeVar("Key", bound=Hashable)


class TokenBuckets(Generic[Key]):
    """A token bucket per key (`rate` tokens a second, holding at most `burst`), in an LRU of at most
    `max_keys` keys. Pure: the caller passes the time, so it is tested without clocks or sockets.

    Each bucket is kept as one number, the time at which it will be full again (the GCRA form of a token
    bucket): it holds `burst - (full_at - now) * rate` tokens, and a datagram takes one. So over any
    interval of t seconds a key is admitted at most `burst + rate * t` times, and a key admitted no faster
    than `rate` is never refused. A bucket that is full again is the same as none, so it is forgotten: memory
    follows the keys seen recently, not all keys ever seen."""

    __slots__ = ("_full_at", "_interval", "_slack", "_tolerance", "burst", "max_keys", "rate")

    def __init__(self, rate: float, burst: int, max_keys: int) -> None:
        if rate <= 0 or burst < 1 or max_keys < 1:
            raise ValueError(f"token buckets need rate > 0, burst >= 1, max_keys >= 1 (got {rate}, {burst}, "
                             f"{max_keys})")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._interval = 1.0 / rate  # the time one token takes to come back
        self._tolerance = (burst - 1) * self._interval  # how far ahead of now full_at may be, and still admit
        # full_at grows by repeated addition, which rounds; without this the burst-th datagram of a burst
        # could be refused by a rounding error. A 1/1024 of a token is far below anything measurable.
        self._slack = self._interval / 1024
        self._full_at: OrderedDict[Key, float] = OrderedDict()  # least recently seen first

    def __len__(self) -> int:
        return len(self._full_at)

    def admit(self, key: Key, now: float) -> bool:
        """Take a token from `key`'s bucket at time `now` (seconds, monotonic): True if there was one."""
        full_at = self._full_at
        # Forget the least recently seen buckets that have refilled: amortised O(1), one check when none has.
        while full_at:
            oldest_key = next(iter(full_at))
            if full_at[oldest_key] > now:
                break
            del full_at[oldest_key]
        then = full_at.get(key)
        start = now if then is None or then < now else then
        if start - now > self._tolerance + self._slack:
            # Refused, but seen: a flooding source must stay at the recent end, or other sources would push
            # it out and it would come back with a full bucket.
            full_at.move_to_end(key)
            return False
        full_at[key] = start + self._interval
        full_at.move_to_end(key)
        if len(full_at) > self.max_keys:
            full_at.popitem(last=False)
        return True


_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"


def rate_key(host: str) -> str | bytes:
    """The rate limit's notion of one source: an IPv4 address, or an IPv6 /64. One IPv6 host or site
    usually holds a whole /64 and can send from any of its 2**64 addresses, so a per-address bucket would
    not limit it at all. IPv4-mapped addresses (a dual-stack socket) count as their IPv4 address."""
    if ":" not in host:
        return host
    try:
        packed = socket.inet_pton(socket.AF_INET6, host.split("%", 1)[0])
    except OSError:
        return host
    if packed[:12] == _V4_MAPPED:
        return socket.inet_ntop(socket.AF_INET, packed[12:])
    return packed[:8]


# -- the listener ---------------------------------------------------------------------------------------


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, listener: UdpListener) -> None:
        self.listener = listener

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.listener.received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable after an answer to a client that has gone): nothing to do.
        self.listener._log.debug("udp.error", error=str(exc))


def _discard(result: Awaitable[None]) -> None:
    """Drop an awaitable that will not be run, without the 'never awaited' warning or a leaked future."""
    if inspect.iscoroutine(result):
        result.close()
    elif isinstance(result, asyncio.Future):
        result.cancel()


class UdpListener:
    """One UDP socket of a service, with the limits in the module's notes; also the `DatagramEndpoint`
    its handler answers through."""

    def __init__(self, service: str, handler: DatagramHandler, *, host: str, port: int,
                 trusted: TrustedNetworks, trusted_only: bool, max_datagram: int = 65_535,
                 limits: DatagramLimits | None = None, sockets: Sequence[socket.socket] = ()) -> None:
        self.service = service
        self.sockets = list(sockets)  # bound by a supervisor for this worker (net/sockets.py)
        self.handler = handler
        self.host = host
        self.port = port
        self.trusted = trusted
        self.trusted_only = trusted_only
        self.max_datagram = max_datagram
        self._limits = limits or DatagramLimits()
        self._buckets: TokenBuckets[str | bytes] = self._new_buckets(self._limits)
        self._transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._receiving = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._log = log.get(service=service)
        # Labelled children looked up once: a lookup per datagram would cost more than a cached DNS answer.
        self._received = metrics.datagrams_received.labels(service)
        self._dropped = {reason: metrics.datagrams_dropped.labels(service, reason.value) for reason in DropReason}
        self._refused_untrusted = metrics.connections_refused.labels(service, Refusal.UNTRUSTED.value)

    @staticmethod
    def _new_buckets(limits: DatagramLimits) -> TokenBuckets[str | bytes]:
        return TokenBuckets(limits.per_source_rate, limits.per_source_burst, limits.max_sources)

    @property
    def limits(self) -> DatagramLimits:
        return self._limits

    @limits.setter
    def limits(self, limits: DatagramLimits) -> None:
        """New limits, in effect from the next datagram (the CLI/API may change them while the node runs).
        The buckets start again full: their stored times mean other token counts at another rate."""
        self._limits = limits
        self._buckets = self._new_buckets(limits)

    @property
    def in_flight(self) -> int:
        """Awaitables returned by the handler and not done yet."""
        return len(self._tasks)

    @property
    def bound(self) -> list[tuple[str, int]]:
        if self._transport is None:
            return []
        host, port = self._transport.get_extra_info("sockname")[:2]
        return [(str(host), int(port))]

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            sock = self.sockets[0] if self.sockets else await self._bound_socket(loop)
        except OSError as err:
            raise bind_error(err, self.service, self.host, self.port, "udp") from None
        try:
            transport, _ = await loop.create_datagram_endpoint(lambda: _UdpProtocol(self), sock=sock)
        except BaseException:
            sock.close()
            raise
        self._loop = loop
        self._transport = transport
        self._receiving = True
        if self.port == 0:
            self.port = transport.get_extra_info("sockname")[1]
        self._log.info("listener.started", addr=self.host or "*", port=self.port, transport="udp")

    async def _bound_socket(self, loop: asyncio.AbstractEventLoop) -> socket.socket:
        """The socket, bound here rather than by `create_datagram_endpoint(local_addr=...)`: uvloop's
        error for a port in use carries no errno, and the errno is what names the fix (bind_error).
        No SO_REUSEADDR: on Linux it would let a second UDP socket share the port unnoticed."""
        family, kind, proto, _, address = (await loop.getaddrinfo(
            self.host or "0.0.0.0", self.port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE))[0]
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            sock.bind(address)
        except BaseException:
            sock.close()
            raise
        return sock

    # -- receiving --

    def _drop(self, reason: DropReason) -> None:
        self._dropped[reason].inc()

    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        """One datagram from the socket: through the limits, in the order of their cost, to the handler."""
        self._received.inc()
        if not self._receiving or self._loop is None:
            self._drop(DropReason.SHUTTING_DOWN)
            return
        trusted = addr[0] in self.trusted
        if self.trusted_only and not trusted:
            self._refused_untrusted.inc()
            self._drop(DropReason.UNTRUSTED)
            return
        if len(data) > self.max_datagram:
            self._drop(DropReason.TOO_LARGE)
            return
        if not trusted and not self._buckets.admit(rate_key(addr[0]), self._loop.time()):
            self._drop(DropReason.RATE)
            return
        try:
            result = self.handler.datagram(data, addr, self)
        except Exception:
            self._log.exception("datagram.crashed", remote=addr[0])
            return
        if result is None:
            return
        if len(self._tasks) >= self._limits.max_in_flight:
            _discard(result)
            self._drop(DropReason.BUSY)
            return
        task = self._loop.create_task(self._finish_handling(result, addr[0]))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _finish_handling(self, work: Awaitable[None], remote: str) -> None:
        try:
            await work
        except Exception:
            self._log.exception("datagram.crashed", remote=remote)

    # -- the DatagramEndpoint --

    def send(self, data: bytes, addr: tuple[str, int], /) -> None:
        """Answer from this listener's socket; after finish() the answer is dropped."""
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(data, addr)

    # -- stopping --

    async def stop_accepting(self) -> None:
        """Drop datagrams from now on; the socket stays open for the answers of handlers still running."""
        self._receiving = False

    async def finish(self, grace: float) -> None:
        """Let running handlers finish for up to `grace` seconds, cancel the rest, close the socket."""
        await self.stop_accepting()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._transport is not None:
            self._transport.close()
            self._transport = None
