"""A client of the CLI/API: what `polyport ... --server` and, later, cluster nodes use to talk to a node.

Logs in with USER/PASS (after STARTTLS when asked), switches to INLINE, then sends one command at a time
and parses the reply with the same data format module the server uses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl

from polyport.cliapi import wire

CONNECT_TIMEOUT = 10.0
REPLY_TIMEOUT = 60.0
MAX_REPLY = 64 * 1024 * 1024


class CliClientError(Exception):
    """The node could not be reached, or the conversation broke; the message says which."""


class CliReplyError(Exception):
    """The node refused a command: its code and text."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


def command_line(verb: str, *args: wire.Value) -> str:
    """A command with its arguments in the data format (names quoted when they need it)."""
    return " ".join([verb, *(wire.serialize(a) for a in args)])


class CliClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str) -> None:
        self._reader = reader
        self._writer = writer
        self.where = where
        self.greeting = ""

    @classmethod
    async def connect(cls, host: str, port: int, *, tls: ssl.SSLContext | None = None) -> CliClient:
        where = f"{host}:{port}"
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=MAX_REPLY),
                                                    CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as err:
            raise CliClientError(f"cannot reach the CLI/API at {where}: {getattr(err, 'strerror', None) or err}; "
                                 f"is the node running, and is this address trusted?") from None
        client = cls(reader, writer, where)
        code, text = await client._reply()
        if code != 200:
            raise CliClientError(f"the CLI/API at {where} refused the connection: {code} {text}")
        client.greeting = text
        if tls is not None:
            await client._starttls(tls, host)
        return client

    async def _starttls(self, context: ssl.SSLContext, host: str) -> None:
        self._writer.write(b"STARTTLS\n")
        code, text = await self._reply()
        if code != 200:
            raise CliClientError(f"STARTTLS refused by {self.where}: {code} {text}")
        # Anything already received would be plaintext read as if it came over TLS (an injection).
        if getattr(self._reader, "_buffer", b""):
            raise CliClientError(f"{self.where} sent data after agreeing to STARTTLS; not trusting it")
        try:
            await self._writer.start_tls(context, server_hostname=host)
        except (OSError, ssl.SSLError) as err:
            raise CliClientError(f"TLS with {self.where} failed: {err}") from None

    async def _line(self) -> str:
        try:
            raw = await asyncio.wait_for(self._reader.readline(), REPLY_TIMEOUT)
        except (OSError, TimeoutError, asyncio.LimitOverrunError, ValueError) as err:
            raise CliClientError(f"the connection to {self.where} failed: {err}") from None
        if not raw.endswith(b"\n"):
            raise CliClientError(f"{self.where} closed the connection")
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def _reply(self) -> tuple[int, str]:
        line = await self._line()
        code, _, text = line.partition(" ")
        if not code.isdigit():
            raise CliClientError(f"{self.where} sent a line that is not a reply: {line[:80]!r}")
        return int(code), text

    async def login(self, user: str, password: str) -> None:
        if any(ch in user + password for ch in "\r\n\0"):
            raise CliClientError("a user name or password cannot hold a line break or NUL")
        self._writer.write(f"USER {user}\n".encode())
        code, text = await self._reply()
        if code != 300:
            raise CliReplyError(code, text)
        # As is, like every CLI client; quoted only when spaces at its ends or a leading quote would be lost.
        sent = wire.quote(password) if password != password.strip() or password.startswith('"') else password
        self._writer.write(f"PASS {sent}\n".encode())
        code, text = await self._reply()
        if code != 200:
            raise CliReplyError(code, text)
        await self.command("INLINE")

    async def command(self, line: str) -> wire.Value:
        """Send one command; its data (None when the reply was a plain OK), or CliReplyError."""
        if "\n" in line or "\r" in line:
            raise ValueError("a command is one line")
        self._writer.write(line.encode() + b"\n")
        code, text = await self._reply()
        if code == 201:
            return wire.parse(text)
        if code == 200:
            if text == "data follow":
                return wire.parse(await self._line())
            return None
        raise CliReplyError(code, text)

    async def call(self, verb: str, *args: wire.Value) -> wire.Value:
        return await self.command(command_line(verb, *args))

    async def close(self) -> None:
        try:
            self._writer.write(b"QUIT\n")
            await asyncio.wait_for(self._reply(), 5)
        except (CliClientError, OSError, TimeoutError):
            pass
        self._writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await self._writer.wait_closed()
