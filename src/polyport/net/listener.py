"""Listeners: TCP (plain, STARTTLS-capable, implicit TLS) and Unix sockets, with their limits (UDP: udp.py).

A protocol registers a `StreamHandler`: it makes one session per accepted connection and words the refusal a
client gets when a limit turns it away. The listener enforces, for every protocol alike: trusted
networks only (where the service table or config says so), connections in total and per remote address
(trusted networks exempt from the latter), and on stop: no new connections, sessions told to finish,
a bounded wait, then whatever is left is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import errno
import socket
import ssl
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from polyport import log, metrics
from polyport.net.connection import (
    Connection,
    ConnectionClosed,
    IdleTimeout,
    ServerShutdown,
)
from polyport.net.trusted import TrustedNetworks


class Refusal(enum.StrEnum):
    UNTRUSTED = "untrusted"  # a trusted-only service, and the address is not trusted
    TOO_MANY = "too-many"  # the listener's total is reached
    TOO_MANY_FROM_ADDRESS = "too-many-from-address"
    SHUTTING_DOWN = "shutting-down"


class Session(Protocol):
    async def run(self) -> None:
        """The whole conversation; return (or raise) to end it."""
        ...


class StreamHandler(Protocol):
    """What a stream protocol gives its listeners: one session per connection, and the words a refused
    connection gets."""

    def session(self, conn: Connection) -> Session: ...

    def refusal(self, reason: Refusal) -> bytes:
        """What to send before closing a refused connection (b"" for nothing)."""
        ...


class SharedCounts(Protocol):
    """Connections per remote address counted across the processes that share a port (a node's workers):
    each worker admits by its own counts first, then by the node's."""

    async def enter(self, service: str, address: str, limit: int) -> bool:
        """Count one more connection from `address`, unless `limit` are open already; whether it was."""
        ...

    def leave(self, service: str, address: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Limits:
    max_connections: int = 10_000
    max_per_address: int = 50
    idle_timeout: float = 1800.0
    max_line: int = 65_536


class ListenError(Exception):
    """A listener could not start; the message names the port, the cause and the fix."""


def bind_error(err: OSError, service: str, host: str, port: int, transport: str) -> ListenError:
    where = f"port {port}/{transport} ({service}) on {host or 'every address'}"
    if err.errno == errno.EADDRINUSE:
        fix = (f"{where} is already in use by another program; stop it, or change "
               f"[services.{service}] ports or --port-offset")
    elif err.errno == errno.EACCES:
        fix = (f"{where} needs root or CAP_NET_BIND_SERVICE; run as root, or use --port-offset 10000 "
               f"(25 becomes 10025)")
    elif err.errno == errno.EADDRNOTAVAIL:
        fix = f"{where}: address {host} is not on this host; fix --bind or [services.{service}] bind"
    else:
        fix = f"{where} cannot be opened: {err.strerror or err}"
    return ListenError(fix)


class TcpListener:
    def __init__(self, service: str, handler: StreamHandler, *, host: str, port: int, limits: Limits,
                 trusted: TrustedNetworks, trusted_only: bool,
                 tls: ssl.SSLContext | None = None, sockets: Sequence[socket.socket] = ()) -> None:
        self.service = service
        self.handler = handler
        self.host = host
        self.port = port
        self.limits = limits
        self.trusted = trusted
        self.trusted_only = trusted_only
        self.tls = tls  # implicit TLS when set
        self.connections: set[Connection] = set()
        self._per_address: Counter[str] = Counter()
        # Bound by a supervisor for this worker (net/sockets.py); empty: start() binds host and port.
        self.sockets = list(sockets)
        self._servers: list[asyncio.Server] = []
        self.shared: SharedCounts | None = None  # a node of several workers: per-address counts of all
        self._stopping = False
        self._log = log.get(service=service)

    @property
    def bound(self) -> list[tuple[str, int]]:
        return [(str(s.getsockname()[0]), int(s.getsockname()[1])) for server in self._servers
                for s in server.sockets]

    async def _listen(self, factory: Callable[[], asyncio.Protocol]) -> None:
        loop = asyncio.get_running_loop()
        handshake = 30.0 if self.tls else None
        if self.sockets:
            for sock in self.sockets:
                self._servers.append(await loop.create_server(
                    factory, sock=sock, backlog=1024, ssl=self.tls, ssl_handshake_timeout=handshake))
        else:
            try:
                self._servers.append(await loop.create_server(
                    factory, host=self.host or None, port=self.port, reuse_address=True, backlog=1024,
                    ssl=self.tls, ssl_handshake_timeout=handshake))
            except OSError as err:
                raise bind_error(err, self.service, self.host, self.port, "tcp") from None
        if self.port == 0:
            self.port = self.bound[0][1]

    async def start(self) -> None:
        await self._listen(self._connection)
        self._log.info("listener.started", addr=self.host or "*", port=self.port, transport="tcp",
                       tls="implicit" if self.tls else "none/starttls")

    def _connection(self) -> Connection:
        limits = self.limits  # read per connection: the CLI/API may change them while the node runs
        return Connection(self, max_line=limits.max_line, idle_timeout=limits.idle_timeout)

    # -- called by Connection (the ConnectionOwner protocol) --

    def refusal_for(self, remote_ip: str, trusted: bool, open_now: int) -> Refusal | None:
        """Why a new connection from `remote_ip` is turned away, or None: the one admission rule of
        every TCP listener (the HTTP listener's too)."""
        reason: Refusal | None = None
        if self._stopping:
            reason = Refusal.SHUTTING_DOWN
        elif self.trusted_only and not trusted:
            reason = Refusal.UNTRUSTED
        elif open_now >= self.limits.max_connections:
            reason = Refusal.TOO_MANY
        elif not trusted and self._per_address[remote_ip] >= self.limits.max_per_address:
            reason = Refusal.TOO_MANY_FROM_ADDRESS
        if reason is not None:
            metrics.connections_refused.labels(self.service, reason.value).inc()
        return reason

    def count_in(self, remote_ip: str) -> None:
        self._per_address[remote_ip] += 1
        metrics.connections.labels(self.service).inc()
        metrics.connections_open.labels(self.service).inc()

    def count_out(self, remote_ip: str) -> None:
        self._per_address[remote_ip] -= 1
        if self._per_address[remote_ip] <= 0:
            del self._per_address[remote_ip]
        metrics.connections_open.labels(self.service).dec()

    def accepted(self, conn: Connection) -> None:
        conn.trusted = conn.remote_ip in self.trusted
        reason = self.refusal_for(conn.remote_ip, conn.trusted, len(self.connections))
        if reason is not None:
            self._refuse(conn, reason)
            return
        self.connections.add(conn)
        self.count_in(conn.remote_ip)
        conn.task = asyncio.get_running_loop().create_task(self._run(conn))

    def _refuse(self, conn: Connection, reason: Refusal) -> None:
        self._log.info("connection.refused", conn=conn.id, remote=conn.remote_ip, reason=reason.value)
        message = self.handler.refusal(reason)
        if message:
            conn.write(message)
        conn.close()

    def released(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            self.count_out(conn.remote_ip)

    async def _run(self, conn: Connection) -> None:
        shared = None if conn.trusted else self.shared
        if shared is not None and not await shared.enter(self.service, conn.remote_ip, self.limits.max_per_address):
            metrics.connections_refused.labels(self.service, Refusal.TOO_MANY_FROM_ADDRESS.value).inc()
            self._refuse(conn, Refusal.TOO_MANY_FROM_ADDRESS)
            return
        self._log.debug("connection.open", conn=conn.id, remote=conn.remote_ip, port=conn.remote_port,
                        tls=conn.tls_version)
        try:
            await self.handler.session(conn).run()
        except (ConnectionClosed, IdleTimeout, ServerShutdown, ConnectionError):
            pass
        except Exception:
            self._log.exception("session.crashed", conn=conn.id)
        finally:
            conn.close()
            if shared is not None:
                shared.leave(self.service, conn.remote_ip)
            self._log.debug("connection.closed", conn=conn.id)

    # -- stopping --

    async def stop_accepting(self) -> None:
        self._stopping = True
        for server in self._servers:
            server.close()

    async def finish(self, grace: float) -> None:
        """Tell sessions to finish, wait up to `grace` seconds, then cut the rest."""
        await self.stop_accepting()
        for conn in list(self.connections):
            conn.shut_down()
        tasks = [c.task for c in self.connections if c.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            for conn in list(self.connections):
                conn.abort()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._servers:
            # wait_closed would also wait for connections on some loops; they are gone by now.
            await asyncio.wait([asyncio.ensure_future(server.wait_closed()) for server in self._servers],
                               timeout=1.0)


class _LocalClients(TrustedNetworks):
    """Everyone who can open a Unix socket is a local client: trusted, and not limited per address."""

    def __init__(self) -> None:
        super().__init__([])

    def __contains__(self, address: str) -> bool:
        return True


class UnixListener(TcpListener):
    """The same service on a Unix-domain socket (LMTP for an MTA on this host): whoever may open the socket
    file (its permissions, 0660 by default) is trusted, as a local client on a trusted network is."""

    def __init__(self, service: str, handler: StreamHandler, *, path: str, limits: Limits, mode: int = 0o660,
                 sockets: Sequence[socket.socket] = ()) -> None:
        super().__init__(service, handler, host=path, port=0, limits=limits, trusted=_LocalClients(),
                         trusted_only=False, sockets=sockets)
        self.path = path
        self.mode = mode

    @property
    def bound(self) -> list[tuple[str, int]]:
        return [(self.path, 0)] if self._servers else []

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        if self.sockets:  # the supervisor's, shared by every worker; it removes the file
            for sock in self.sockets:
                self._servers.append(await loop.create_unix_server(self._connection, sock=sock, backlog=1024))
            self._log.info("listener.started", addr=self.path, transport="unix")
            return
        try:
            await asyncio.to_thread(self._clear_stale)
            self._servers.append(await loop.create_unix_server(self._connection, path=self.path, backlog=1024))
            await asyncio.to_thread(Path(self.path).chmod, self.mode)
        except OSError as err:
            raise ListenError(f"Unix socket {self.path} ({self.service}) cannot be opened: "
                              f"{err.strerror or err}; fix [services.{self.service}] socket") from None
        self._log.info("listener.started", addr=self.path, transport="unix")

    def accepted(self, conn: Connection) -> None:
        conn.remote_ip = "local"
        super().accepted(conn)

    async def finish(self, grace: float) -> None:
        await super().finish(grace)
        if self.sockets:
            return
        with contextlib.suppress(OSError):
            await asyncio.to_thread(Path(self.path).unlink)

    def _clear_stale(self) -> None:
        path = Path(self.path)
        if path.is_socket():
            path.unlink()  # a socket left by a node that died
