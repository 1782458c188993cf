"""Helpers for the IMAP session tests: messages to store, deliveries behind the sessions' backs, TLS,
waiting for untagged responses (IDLE), and a COMPRESS=DEFLATE wrapper for the raw client."""

from __future__ import annotations

import socket
import ssl
import time
import zlib
from collections.abc import Iterable

from tests.imap.conftest import ImapNode, Wire


def message(subject: str = "Hello", *, sender: str = "Alice <alice@example.org>", to: str = "bob@example.com",
            body: str = "Hi there.\r\n", date: str = "Mon, 7 Feb 1994 21:52:25 -0800",
            message_id: str | None = None, headers: Iterable[str] = ()) -> bytes:
    """A small RFC 5322 message with CRLF line ends."""
    lines = [f"From: {sender}", f"To: {to}", f"Subject: {subject}", f"Date: {date}"]
    if message_id is not None:
        lines.append(f"Message-ID: {message_id}")
    lines.extend(headers)
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def account_id(node: ImapNode, address: str) -> int:
    return node.running.call(node.running.runtime.directory.account(address)).id


def deliver(node: ImapNode, address: str, data: bytes, mailbox: str = "INBOX", flags: Iterable[str] = ()) -> int:
    """Store a message as delivery does (mailstore.append, no IMAP session); returns its UID."""
    owner = account_id(node, address)
    node.running.call(node.mailstore.ensure_defaults(owner))
    return node.running.call(node.mailstore.append(owner, mailbox, data, list(flags))).uid


def client_context() -> ssl.SSLContext:
    """A TLS client for the node's self-signed certificate."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def starttls(w: Wire) -> None:
    """STARTTLS on a raw client, then the handshake."""
    assert w.command("STARTTLS")[1].startswith(b"OK")
    w.file.close()
    w.sock = client_context().wrap_socket(w.sock, server_hostname="example.com")
    w.file = w.sock.makefile("rb")


def logged_in(node: ImapNode, address: str | None = None) -> tuple[Wire, str]:
    """A new account and a raw client logged in to it."""
    address = address or node.account()
    return Wire(node.port).login(address), address


def selected(node: ImapNode, mailbox: str = "INBOX", address: str | None = None) -> tuple[Wire, str]:
    w, address = logged_in(node, address)
    w.ok(f"SELECT {mailbox}")
    return w, address


def append(w: Wire, data: bytes, mailbox: str = "INBOX", flags: str = "") -> bytes:
    """APPEND with a non-synchronizing literal; returns the tagged line."""
    options = f" ({flags})" if flags else ""
    untagged, tagged = w.command(f"APPEND {mailbox}{options} {{{len(data)}+}}\r\n".encode() + data)
    assert tagged.startswith(b"OK"), (tagged, untagged)
    return tagged


def wait_for(w: Wire, wanted: bytes, timeout: float = 1.0) -> list[bytes]:
    """Read untagged responses until one contains `wanted`; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    lines: list[bytes] = []
    try:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no {wanted!r} within {timeout} s; got {lines!r}"
            w.sock.settimeout(left)
            line = w.response()
            lines.append(line)
            if wanted in line:
                return lines
    except TimeoutError:
        raise AssertionError(f"no {wanted!r} within {timeout} s; got {lines!r}") from None
    finally:
        w.sock.settimeout(10)


def nothing_pending(w: Wire, wait: float = 0.2) -> bool:
    """Whether the server sends nothing within `wait` seconds."""
    w.sock.settimeout(wait)
    try:
        data = w.sock.recv(1, socket.MSG_PEEK)
    except TimeoutError:
        return True
    finally:
        w.sock.settimeout(10)
    return not data


class Deflated:
    """A file-like socket wrapper speaking raw DEFLATE both ways (RFC 4978), for Wire after COMPRESS."""

    def __init__(self, sock: socket.socket, *, owns_socket: bool = True) -> None:
        self.sock = sock
        self.owns_socket = owns_socket  # False where it stands in for a client's file only (imaplib)
        self.compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.decompressor = zlib.decompressobj(-15)
        self.buffer = b""
        self.sent_raw = 0
        self.received_raw = 0

    # the socket interface Wire uses
    def sendall(self, data: bytes) -> None:
        packed = self.compressor.compress(data) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        self.sent_raw += len(packed)
        self.sock.sendall(packed)

    def settimeout(self, value: float) -> None:
        self.sock.settimeout(value)

    def recv(self, size: int, flags: int = 0) -> bytes:
        if self.buffer:
            return self.buffer[:size]
        return self.sock.recv(size, flags)

    def close(self) -> None:
        if self.owns_socket:
            self.sock.close()

    def makefile(self, mode: str) -> Deflated:
        return self

    # the file interface Wire uses
    def _fill(self) -> None:
        raw = self.sock.recv(65536)
        if not raw:
            raise ConnectionError("the server closed the connection")
        self.received_raw += len(raw)
        self.buffer += self.decompressor.decompress(raw)

    def readline(self, limit: int = -1) -> bytes:
        while b"\n" not in self.buffer:
            self._fill()
        end = self.buffer.index(b"\n") + 1
        line, self.buffer = self.buffer[:end], self.buffer[end:]
        return line

    def read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self._fill()
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def compress(w: Wire) -> Deflated:
    """COMPRESS DEFLATE on a raw client; from the tagged OK on, both directions are deflated."""
    untagged, tagged = w.command("COMPRESS DEFLATE")
    assert tagged.startswith(b"OK"), (untagged, tagged)
    deflated = Deflated(w.sock)
    w.file.close()
    w.sock = deflated  # type: ignore[assignment]
    w.file = deflated  # type: ignore[assignment]
    return deflated
