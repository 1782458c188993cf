"""Port pools: the data ports of the service table (RTP media pairs, FTP passive ports), leased per call or
transfer.

A `PortPool` hands out ports of one inclusive range on one address. A `Lease` holds one port, or an RTP
pair (an even port for RTP and the next, odd one for RTCP: RFC 3550 11, RFC 3605's default), already bound:
the pool binds through a `Binder` the caller chooses (a plain UDP socket, a listening TCP socket, an asyncio
datagram endpoint or server), so a lease never names a port that someone else could take first.

Invariants:

- A port is leased at most once at a time: it is reserved before the (awaited) bind, so two concurrent
  `lease()` calls never pick the same one, and a bind that fails or is cancelled gives it back.
- Every lease ends: by `release()`, by `close()` of the pool, or by expiry `ttl` seconds after it was
  taken or last renewed, so a call or transfer that ended without releasing its ports does not leak them.
  Ending a lease closes what its binder returned.
- Ports rotate: each search starts after the port last handed out and wraps around the range, so a port
  just released comes back only after every other free port has had its turn (late packets of an ended
  call must not reach the next one; rtpengine and rtpproxy allocate the same way). Only when it is the one
  free port is it handed out again at once: a call with a few stray packets is better than a refused one.
- A port another program holds (bind fails with EADDRINUSE) is skipped and not tried again for
  `busy_retry` seconds; any other bind error (the address is not on this host, no permission) is a
  configuration error and propagates as the OSError.
- `polyport_ports_leased{service}` is the number of ports leased now.

Expiry uses one timer per lease, re-armed only when it fires: `renew()` just moves the lease's deadline
(one store, no timer work, so a media relay may renew on activity), and a timer that fires before the
deadline sets itself again for the rest. A single sweeper would wake up periodically even with nothing
leased, and scan every lease each time.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import Generic, Protocol, TypeAlias, TypeVar

from polyport import log, metrics


class Closable(Protocol):
    """What a binder returns: a socket, transport or server that closing gives the port back."""

    def close(self) -> None: ...


B = TypeVar("B", bound=Closable)

# Binds (host, port) and returns what holds it; raises OSError (EADDRINUSE when the port is taken).
Binder: TypeAlias = Callable[[str, int], Awaitable[B]]


class PortPoolError(Exception):
    """A port pool's typed refusals."""


class PoolExhausted(PortPoolError):
    """Every port (or pair) of the range is leased, or held by another program."""


class PoolClosed(PortPoolError):
    """The pool was closed (the node is stopping): nothing more is leased."""


class LeaseReleased(PortPoolError):
    """The lease has ended (released, expired or its pool closed): its ports may belong to another owner."""


# -- binders --------------------------------------------------------------------------------------------

def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


async def udp_socket(host: str, port: int) -> socket.socket:
    """A non-blocking UDP socket bound to (host, port) (RTP, RTCP). Without SO_REUSEADDR: on Linux it lets
    two UDP sockets share a port, which would hide a port another program holds and split its traffic."""
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


async def tcp_listening_socket(host: str, port: int) -> socket.socket:
    """A non-blocking TCP socket listening on (host, port) (FTP passive data: accept with
    `loop.sock_accept`). SO_REUSEADDR lets a port whose last data connection is in TIME_WAIT be used again;
    it still fails with EADDRINUSE while another socket listens there."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setblocking(False)
        sock.bind((host, port))
        sock.listen(8)  # one data connection is expected; a few more are refused by the protocol, not lost
    except BaseException:
        sock.close()
        raise
    return sock


def udp_endpoint(protocol_factory: Callable[[], asyncio.DatagramProtocol]) -> Binder[asyncio.DatagramTransport]:
    """A binder giving asyncio datagram transports (a media relay's RTP and RTCP sockets); the protocol is
    `transport.get_protocol()`."""

    async def bind(host: str, port: int) -> asyncio.DatagramTransport:
        sock = await udp_socket(host, port)
        try:
            transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(protocol_factory, sock=sock)
        except BaseException:
            sock.close()
            raise
        return transport

    return bind


def tcp_server(protocol_factory: Callable[[], asyncio.Protocol]) -> Binder[asyncio.Server]:
    """A binder giving asyncio servers. Releasing the lease closes the server, not the connections it
    accepted: a transfer under way goes on."""

    async def bind(host: str, port: int) -> asyncio.Server:
        sock = await tcp_listening_socket(host, port)
        try:
            return await asyncio.get_running_loop().create_server(protocol_factory, sock=sock)
        except BaseException:
            sock.close()
            raise

    return bind


# -- leases ---------------------------------------------------------------------------------------------

class Lease(Generic[B]):
    """One port or an RTP pair, bound, held by `owner` until released or expired. A context manager:
    `with await pool.lease(...) as lease:` releases on leaving the block."""

    __slots__ = ("_on_expire", "_pool", "_timer", "bindings", "expires_at", "owner", "ports", "ttl")

    def __init__(self, pool: PortPool[B], owner: str, ports: tuple[int, ...], bindings: tuple[B, ...],
                 ttl: float, expires_at: float, on_expire: Callable[[Lease[B]], None] | None) -> None:
        self._pool = pool
        self.owner = owner
        self.ports = ports  # (port,) or (even RTP port, RTCP port)
        self.bindings = bindings  # what the binder returned, one per port, in the same order
        self.ttl = ttl
        self.expires_at = expires_at  # the event loop's time
        self._on_expire = on_expire
        self._timer: asyncio.TimerHandle | None = None

    @property
    def port(self) -> int:
        """The (first) port: the one FTP's PASV or SDP's m= line names."""
        return self.ports[0]

    @property
    def active(self) -> bool:
        return self in self._pool._leases

    def renew(self, ttl: float | None = None) -> None:
        """Hold the ports `ttl` more seconds from now (the lease's own ttl by default); LeaseReleased if
        the lease has ended, since its ports may already be someone else's."""
        if not self.active:
            raise LeaseReleased(f"ports {self.ports} of {self.owner} were released")
        self._pool._renew(self, self.ttl if ttl is None else ttl)

    def release(self) -> None:
        """Close the bindings and give the ports back; again is a no-op."""
        self._pool._end(self)

    def __enter__(self) -> Lease[B]:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<Lease {self.owner} {self.ports}>"


class PortPool(Generic[B]):
    """The ports `first`..`last` (inclusive) on `host`, leased one by one or as RTP pairs."""

    def __init__(self, first: int, last: int, *, host: str, bind: Binder[B], service: str,
                 busy_retry: float = 30.0) -> None:
        if not 0 < first <= last <= 65_535:
            raise ValueError(f"port range {first}-{last} ({service}) is not within 1-65535")
        self.first = first
        self.last = last
        self.host = host
        self.service = service
        # Seconds before a port found held by another program is tried again: long enough not to pay a
        # failing bind on every lease, short enough to use the port soon after that program lets it go.
        self.busy_retry = busy_retry
        self._bind = bind
        self._holders: dict[int, Lease[B] | None] = {}  # leased ports; None while being bound
        self._busy_until: dict[int, float] = {}  # ports held by other programs, until when to skip them
        self._leases: set[Lease[B]] = set()
        self._next = first  # where the next search starts
        self._closed = False
        self._gauge = metrics.ports_leased.labels(service)
        self._log = log.get(service=service)

    @property
    def leased(self) -> int:
        """Ports leased now (a pair counts two)."""
        return sum(len(lease.ports) for lease in self._leases)

    @property
    def leases(self) -> frozenset[Lease[B]]:
        return frozenset(self._leases)

    async def lease(self, owner: str, *, pair: bool = False, ttl: float,
                    on_expire: Callable[[Lease[B]], None] | None = None) -> Lease[B]:
        """Bind and lease a port (or, with `pair`, an even port and the next) for `ttl` seconds.
        `on_expire(lease)` is called if the lease expires (not when it is released). Raises PoolExhausted,
        PoolClosed, or the OSError of a bind that failed otherwise than with EADDRINUSE."""
        if ttl <= 0:
            raise ValueError(f"a lease needs a positive ttl (got {ttl})")
        if self._closed:
            raise PoolClosed(f"the {self.service} port pool is closed")
        loop = asyncio.get_running_loop()
        for ports in self._candidates(pair):
            now = loop.time()
            if not self._free(ports, now):
                continue
            for port in ports:
                self._holders[port] = None
            self._next = ports[-1] + 1 if ports[-1] < self.last else self.first
            bindings = await self._bind_all(ports, now)
            if bindings is None:
                continue
            if self._closed:  # closed while binding
                self._unreserve(ports, bindings)
                raise PoolClosed(f"the {self.service} port pool is closed")
            lease = Lease(self, owner, ports, bindings, ttl, loop.time() + ttl, on_expire)
            for port in ports:
                self._holders[port] = lease
            self._leases.add(lease)
            lease._timer = loop.call_at(lease.expires_at, self._deadline, lease)
            self._gauge.inc(len(ports))
            self._log.debug("ports.leased", owner=owner, ports=ports)
            return lease
        busy = sum(1 for until in self._busy_until.values() if until > loop.time())
        what = "pair of ports" if pair else "port"
        raise PoolExhausted(f"no free {what} in {self.first}-{self.last} on {self.host or '*'} ({self.service}): "
                            f"{len(self._holders)} leased or being bound, {busy} held by other programs")

    def close(self) -> None:
        """End every lease and lease nothing more (the node is stopping)."""
        self._closed = True
        for lease in list(self._leases):
            self._end(lease)

    # -- inside --

    def _candidates(self, pair: bool) -> Iterator[tuple[int, ...]]:
        """Every port (or pair) of the range once, starting where the last search stopped."""
        size = self.last - self.first + 1
        start = self._next - self.first
        for step in range(size):
            port = self.first + (start + step) % size
            if not pair:
                yield (port,)
            elif port % 2 == 0 and port + 1 <= self.last:
                yield (port, port + 1)

    def _free(self, ports: tuple[int, ...], now: float) -> bool:
        for port in ports:
            if port in self._holders:
                return False
            until = self._busy_until.get(port)
            if until is not None:
                if until > now:
                    return False
                del self._busy_until[port]
        return True

    async def _bind_all(self, ports: tuple[int, ...], now: float) -> tuple[B, ...] | None:
        """Bind each of the reserved `ports`; None (and the reservation undone) if one is held by another
        program."""
        bindings: list[B] = []
        try:
            for port in ports:
                try:
                    bindings.append(await self._bind(self.host, port))
                except OSError as err:
                    if err.errno != errno.EADDRINUSE:
                        raise
                    self._busy_until[port] = now + self.busy_retry
                    self._log.info("ports.in_use_elsewhere", port=port, retry_after=self.busy_retry)
                    self._unreserve(ports, bindings)
                    return None
        except BaseException:  # another bind error, or cancelled while binding
            self._unreserve(ports, bindings)
            raise
        return tuple(bindings)

    def _unreserve(self, ports: tuple[int, ...], bindings: list[B] | tuple[B, ...]) -> None:
        for binding in bindings:
            _close(binding)
        for port in ports:
            if port in self._holders and self._holders[port] is None:
                del self._holders[port]

    def _renew(self, lease: Lease[B], ttl: float) -> None:
        if ttl <= 0:
            raise ValueError(f"a lease needs a positive ttl (got {ttl})")
        loop = asyncio.get_running_loop()
        lease.expires_at = loop.time() + ttl
        # The timer only moves when it fires; a shorter ttl than its deadline needs it set earlier now.
        if lease._timer is not None and lease.expires_at < lease._timer.when():
            lease._timer.cancel()
            lease._timer = loop.call_at(lease.expires_at, self._deadline, lease)

    def _deadline(self, lease: Lease[B]) -> None:
        if lease not in self._leases:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < lease.expires_at:  # renewed since the timer was set
            lease._timer = loop.call_at(lease.expires_at, self._deadline, lease)
            return
        lease._timer = None
        self._log.warning("ports.lease_expired", owner=lease.owner, ports=lease.ports)
        self._end(lease)
        if lease._on_expire is not None:
            try:
                lease._on_expire(lease)
            except Exception:
                self._log.exception("ports.on_expire_crashed", owner=lease.owner)

    def _end(self, lease: Lease[B]) -> None:
        if lease not in self._leases:
            return
        self._leases.discard(lease)
        if lease._timer is not None:
            lease._timer.cancel()
            lease._timer = None
        for binding in lease.bindings:
            _close(binding)
        for port in lease.ports:
            if self._holders.get(port) is lease:
                del self._holders[port]
        self._gauge.dec(len(lease.ports))
        self._log.debug("ports.released", owner=lease.owner, ports=lease.ports)


def _close(binding: Closable) -> None:
    # A socket or transport that fails to close has nothing left to tell us; the port is given back anyway.
    with contextlib.suppress(OSError):
        binding.close()
