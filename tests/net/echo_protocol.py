"""A tiny line protocol for testing the listener and connection plumbing with real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass, field

from polyport.net.connection import Connection, IdleTimeout, LineTooLong, ServerShutdown
from polyport.net.listener import Limits, Refusal, TcpListener
from polyport.net.trusted import TrustedNetworks


@dataclass
class EchoHandler:
    tls: ssl.SSLContext | None = None
    sessions: list[Connection] = field(default_factory=list)

    def session(self, conn: Connection) -> EchoSession:
        self.sessions.append(conn)
        return EchoSession(conn, self.tls)

    def refusal(self, reason: Refusal) -> bytes:
        return f"NO {reason.value}\r\n".encode()


class EchoSession:
    """HELLO greeting; ECHO x -> x; LIT n -> reads n bytes, answers their length; SLOW s -> sleeps s then
    OK; STARTTLS; QUIT."""

    def __init__(self, conn: Connection, tls: ssl.SSLContext | None) -> None:
        self.conn = conn
        self.tls = tls

    async def run(self) -> None:
        conn = self.conn
        conn.write(b"HELLO\r\n")
        while True:
            try:
                line = await conn.read_line()
            except LineTooLong:
                conn.write(b"ERR too long\r\n")
                continue
            except IdleTimeout:
                conn.write(b"BYE idle\r\n")
                return
            except ServerShutdown:
                conn.write(b"BYE shutdown\r\n")
                return
            command, _, argument = line.rstrip(b"\r\n").partition(b" ")
            verb = command.upper()
            if verb == b"ECHO":
                conn.write(argument + b"\r\n")
            elif verb == b"LIT":
                data = await conn.read_exactly(int(argument))
                conn.write(b"GOT %d\r\n" % len(data))
            elif verb == b"SLOW":
                await asyncio.sleep(float(argument))
                conn.write(b"OK slow\r\n")
            elif verb == b"STARTTLS" and self.tls is not None:
                conn.write(b"OK go\r\n")
                dropped = await conn.start_tls(self.tls)
                conn.write(b"TLS %s dropped=%d\r\n" % ((conn.tls_version or "").encode(), dropped))
            elif verb == b"QUIT":
                conn.write(b"BYE\r\n")
                return
            else:
                conn.write(b"ERR unknown\r\n")
            await conn.drain()


async def start_echo(*, limits: Limits | None = None, trusted: list[str] | None = None, trusted_only: bool = False,
                     implicit: ssl.SSLContext | None = None, starttls: ssl.SSLContext | None = None,
                     ) -> tuple[TcpListener, EchoHandler]:
    handler = EchoHandler(tls=starttls)
    listener = TcpListener("echo", handler, host="127.0.0.1", port=0, limits=limits or Limits(),
                           trusted=TrustedNetworks.from_config(trusted if trusted is not None else ["127.0.0.0/8"]),
                           trusted_only=trusted_only, tls=implicit)
    await listener.start()
    return listener, handler


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int, ssl_context: ssl.SSLContext | None = None) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=ssl_context,
                                                       server_hostname="localhost" if ssl_context else None)
        return cls(reader, writer)

    async def line(self) -> bytes:
        return await asyncio.wait_for(self.reader.readline(), 5)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def ask(self, data: bytes) -> bytes:
        await self.send(data)
        return await self.line()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
