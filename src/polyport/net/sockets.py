"""Listening sockets opened before the event loop's listeners, for a node of several worker processes.

The supervisor binds every port once for each worker, with SO_REUSEPORT, so the kernel spreads new
connections (and UDP datagrams, by their addresses) over the workers' sockets, and hands each worker its
own. The supervisor keeps its copies: a worker that dies leaves its socket open, the connections queued
on it wait for the worker that replaces it instead of being reset, and ports below 1024 and port 0 (any
free one, for tests) are bound once, by the supervisor. A Unix socket cannot be shared that way; its one
socket is inherited by every worker, which all accept on it.

SO_REUSEPORT also lets another process of the same user bind the same port unnoticed, so before the
group is bound a probe socket without it checks that nobody else holds the port: the error then names
the port as bind_error does for a single node.
"""

from __future__ import annotations

import contextlib
import socket
import stat
from pathlib import Path

from polyport.net.listener import ListenError, bind_error

BACKLOG = 1024


def _addresses(host: str, port: int, kind: socket.SocketKind) -> list[tuple[socket.AddressFamily, tuple]]:  # type: ignore[type-arg]
    """The addresses create_server would bind for `host` (empty: every address, IPv4 and IPv6)."""
    infos = socket.getaddrinfo(host or None, port, socket.AF_UNSPEC, kind, 0, socket.AI_PASSIVE)
    seen: list[tuple[socket.AddressFamily, tuple]] = []  # type: ignore[type-arg]
    for family, _, _, _, address in infos:
        if (family, address) not in seen:
            seen.append((family, address))
    return seen


def _socket(family: socket.AddressFamily, kind: socket.SocketKind, *, reuse_port: bool) -> socket.socket:
    sock = socket.socket(family, kind)
    try:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as create_server does
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.set_inheritable(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _with_port(address: tuple, port: int) -> tuple:  # type: ignore[type-arg]
    return (address[0], port, *address[2:])


def bind_group(service: str, host: str, port: int, kind: socket.SocketKind, copies: int) -> list[list[socket.socket]]:
    """`copies` sockets for each address of `host`, all bound (and for TCP listening) on one port with
    SO_REUSEPORT: element i of the result is worker i's sockets. Port 0 takes one free port, the same for
    every address. A ListenError names the port and the fix, as a single node's listener would."""
    transport = "tcp" if kind == socket.SOCK_STREAM else "udp"
    opened: list[socket.socket] = []
    try:
        try:
            addresses = _addresses(host, port, kind)
        except OSError as err:
            raise bind_error(OSError(0, str(err)), service, host, port, transport) from None
        if kind == socket.SOCK_DGRAM:
            addresses = addresses[:1]  # as UdpListener binds (host "" is 0.0.0.0)
        groups: list[list[socket.socket]] = [[] for _ in range(copies)]
        for family, address in addresses:
            if port != 0:
                _probe(service, host, family, kind, address, transport)
            for worker in range(copies):
                sock = _socket(family, kind, reuse_port=True)
                opened.append(sock)
                try:
                    sock.bind(_with_port(address, port))
                except OSError as err:
                    raise bind_error(err, service, host, port, transport) from None
                if port == 0:
                    port = sock.getsockname()[1]
                if kind == socket.SOCK_STREAM:
                    sock.listen(BACKLOG)
                sock.setblocking(False)
                groups[worker].append(sock)
    except BaseException:
        for sock in opened:
            sock.close()
        raise
    return groups


def _probe(service: str, host: str, family: socket.AddressFamily, kind: socket.SocketKind,
           address: tuple, transport: str) -> None:  # type: ignore[type-arg]
    """Fail as a single node would if another program holds the port (with or without SO_REUSEPORT)."""
    probe = _socket(family, kind, reuse_port=False)
    try:
        probe.bind(address)
    except OSError as err:
        raise bind_error(err, service, host, address[1], transport) from None
    finally:
        probe.close()


def bind_unix(service: str, path: str, mode: int = 0o660) -> socket.socket:
    """One listening Unix socket at `path`, shared by every worker (a stale socket file is replaced)."""
    target = Path(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(target.lstat().st_mode):
                target.unlink()  # a socket left by a node that died
        sock.bind(path)
        target.chmod(mode)
        sock.listen(BACKLOG)
        sock.setblocking(False)
    except OSError as err:
        sock.close()
        raise ListenError(f"Unix socket {path} ({service}) cannot be opened: {err.strerror or err}; "
                          f"fix [services.{service}] socket") from None
    return sock
