"""The HTTP listener: aiohttp's request handling on a socket of our own, under the node's listener rules.

aiohttp's low-level `web.Server` is a protocol factory (its documented use is `loop.create_server(server)`).
We open the socket ourselves and put a thin admission protocol in front of each connection, so an HTTP
port obeys what every other port obeys: trusted-networks-only, connections in total and per address
(`TcpListener.refusal_for`), the shared TLS context (reloaded in place on SIGHUP), connection metrics, and
the node's shutdown order (stop accepting, let requests in flight finish for the grace period, cut the
rest). aiohttp's own runner and sites are not used: they bind their own sockets, and `web.run_app` takes
the process's signal handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from collections.abc import Callable, Sequence
from typing import Protocol, cast, runtime_checkable

from polyport import log, metrics
from polyport.net.listener import Limits, Refusal, TcpListener
from polyport.net.trusted import TrustedNetworks


@runtime_checkable
class HttpHandler(Protocol):
    """What a web service gives the node: aiohttp's protocol factory, and its start and shutdown hooks."""

    async def start(self) -> None:
        """Make the application ready (before any listener of the service opens)."""
        ...

    def protocol(self) -> asyncio.Protocol:
        """A new aiohttp request handler (one per connection)."""
        ...

    def refusal(self, reason: Refusal) -> bytes:
        """The whole HTTP response sent to a refused connection."""
        ...

    def stopping(self) -> None:
        """The node is stopping: end long-lived responses (event streams) now."""
        ...

    async def close(self) -> None:
        """After every listener of the service has finished: release what the application holds."""
        ...


def refusal_response(reason: Refusal) -> bytes:
    """A complete HTTP/1.1 response for a connection the listener turns away."""
    status, text = {
        Refusal.UNTRUSTED: ("403 Forbidden", "This service answers only the server's trusted networks."),
        Refusal.TOO_MANY: ("503 Service Unavailable", "Too many connections; try again later."),
        Refusal.TOO_MANY_FROM_ADDRESS: ("503 Service Unavailable",
                                        "Too many connections from your address; try again later."),
        Refusal.SHUTTING_DOWN: ("503 Service Unavailable", "The server is restarting; try again shortly."),
    }[reason]
    body = (text + "\n").encode()
    retry = "" if reason is Refusal.UNTRUSTED else "Retry-After: 5\r\n"
    return (f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
            f"{retry}Connection: close\r\n\r\n").encode() + body


EARLY_LIMIT = 65_536  # bytes a connection may send before it is admitted


class _Admitted(asyncio.Protocol):
    """One accepted connection: checked against the listener's rules, then handed to aiohttp."""

    __slots__ = ("early", "entered", "inner", "listener", "remote_ip", "transport")

    def __init__(self, listener: HttpListener) -> None:
        self.listener = listener
        self.inner: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.remote_ip = ""
        self.entered = False  # counted in the node's per-address counts (several workers)
        self.early = bytearray()  # what arrived while the node's counts were asked (microseconds)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCP and TLS transports do not subclass asyncio.Transport; they have its methods.
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername") or ("", 0)
        self.remote_ip = str(peer[0])
        self.listener.admit(self)

    def start(self) -> None:
        assert self.transport is not None
        self.inner = self.listener.handler.protocol()
        self.inner.connection_made(self.transport)
        if self.early:
            early, self.early = bytes(self.early), bytearray()
            self.inner.data_received(early)

    def data_received(self, data: bytes) -> None:
        if self.inner is not None:
            self.inner.data_received(data)
        elif len(self.early) + len(data) <= EARLY_LIMIT:
            self.early += data
        elif self.transport is not None:
            self.transport.close()  # a flood before admission: not a client

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.listener.release(self)
        if self.inner is not None:
            self.inner.connection_lost(exc)


class HttpListener(TcpListener):
    """One HTTP port (plain, or implicit TLS with the node's shared context)."""

    def __init__(self, service: str, handler: HttpHandler, *, host: str, port: int, limits: Limits,
                 trusted: TrustedNetworks, trusted_only: bool, tls: ssl.SSLContext | None = None,
                 sockets: Sequence[socket.socket] = ()) -> None:
        super().__init__(service, handler, host=host, port=port, limits=limits,  # type: ignore[arg-type]
                         trusted=trusted, trusted_only=trusted_only, tls=tls, sockets=sockets)
        self.handler: HttpHandler = handler  # type: ignore[assignment]
        self.open: set[_Admitted] = set()
        self._admitting: set[asyncio.Task[None]] = set()
        self._log = log.get(service=service)

    async def start(self) -> None:
        factory: Callable[[], asyncio.Protocol] = lambda: _Admitted(self)  # noqa: E731
        await self._listen(factory)
        self._log.info("listener.started", addr=self.host or "*", port=self.port, transport="tcp",
                       tls="implicit" if self.tls else "none", protocol="http")

    @property
    def connection_count(self) -> int:
        return len(self.open)

    def admit(self, conn: _Admitted) -> None:
        trusted = conn.remote_ip in self.trusted
        reason = self.refusal_for(conn.remote_ip, trusted, len(self.open))
        assert conn.transport is not None
        if reason is not None:
            self._refuse_http(conn, reason)
            return
        self.open.add(conn)
        self.count_in(conn.remote_ip)
        if self.shared is not None and not trusted:
            # A node of several workers: the address's connections in all of them, asked before the request
            # is parsed (what arrives meanwhile waits in `early`).
            self._admitting.add(asyncio.get_running_loop().create_task(self._admit_shared(conn)))
            return
        conn.start()

    async def _admit_shared(self, conn: _Admitted) -> None:
        assert self.shared is not None and conn.transport is not None
        try:
            admitted = await self.shared.enter(self.service, conn.remote_ip, self.limits.max_per_address)
        finally:
            task = asyncio.current_task()
            if task is not None:
                self._admitting.discard(task)
        if conn not in self.open:  # it went away meanwhile
            if admitted:
                self.shared.leave(self.service, conn.remote_ip)
            return
        if not admitted:
            metrics.connections_refused.labels(self.service, Refusal.TOO_MANY_FROM_ADDRESS.value).inc()
            self._refuse_http(conn, Refusal.TOO_MANY_FROM_ADDRESS)
            return
        conn.entered = True
        conn.start()

    def _refuse_http(self, conn: _Admitted, reason: Refusal) -> None:
        assert conn.transport is not None
        self._log.info("connection.refused", remote=conn.remote_ip, reason=reason.value)
        conn.transport.write(self.handler.refusal(reason))
        conn.transport.close()

    def release(self, conn: _Admitted) -> None:
        if conn in self.open:
            self.open.discard(conn)
            self.count_out(conn.remote_ip)
            if conn.entered and self.shared is not None:
                conn.entered = False
                self.shared.leave(self.service, conn.remote_ip)

    async def finish(self, grace: float) -> None:
        """Stop accepting; idle keep-alive connections close now, requests in flight get `grace` seconds
        (event streams are told to end), then whatever is left is cut."""
        await self.stop_accepting()
        self.handler.stopping()
        shutdowns = []
        for conn in list(self.open):
            shutdown = getattr(conn.inner, "shutdown", None)  # aiohttp's RequestHandler.shutdown(timeout)
            if shutdown is not None:
                shutdowns.append(asyncio.ensure_future(shutdown(grace)))
        if shutdowns:
            await asyncio.wait(shutdowns, timeout=grace + 1.0)
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.abort()
        if self._servers:
            with contextlib.suppress(Exception):
                await asyncio.wait([asyncio.ensure_future(server.wait_closed()) for server in self._servers],
                                   timeout=1.0)
