"""Listener and connection plumbing over real loopback sockets: framing, limits, TLS, shutdown."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import pytest

from polyport.net.connection import READ_PAUSE_AT
from polyport.net.listener import Limits
from polyport.net.tls import TlsManager
from tests.net.echo_protocol import Client, start_echo


async def test_lines_with_crlf_or_lf_and_pipelining() -> None:
    listener, _ = await start_echo()
    client = await Client.connect(listener.port)
    assert await client.line() == b"HELLO\r\n"
    await client.send(b"ECHO one\r\nECHO two\nECHO three\r\n")
    assert [await client.line() for _ in range(3)] == [b"one\r\n", b"two\r\n", b"three\r\n"]
    await client.send(b"ECHO spl")
    await asyncio.sleep(0.05)
    assert await client.ask(b"it\r\n") == b"split\r\n"
    assert await client.ask(b"QUIT\r\n") == b"BYE\r\n"
    assert await client.reader.read() == b""
    await client.close()
    await listener.stop_accepting()
    await listener.finish(1)


async def test_an_oversized_line_is_refused_unbuffered_and_the_session_goes_on() -> None:
    listener, handler = await start_echo(limits=Limits(max_line=1024))
    client = await Client.connect(listener.port)
    await client.line()
    await client.send(b"ECHO " + b"x" * 2000 + b"\r\n")
    assert await client.line() == b"ERR too long\r\n"
    # Several megabytes with no line end: dropped as they come, never buffered whole.
    chunk = b"y" * 65536
    for _ in range(80):
        await client.send(chunk)
    await asyncio.sleep(0.1)
    conn = handler.sessions[0]
    assert len(conn._buffer) < 4096
    await client.send(b"\r\nECHO after\r\n")
    assert await client.line() == b"ERR too long\r\n"
    assert await client.line() == b"after\r\n"
    await client.close()
    await listener.finish(1)


async def test_literals_across_packets_and_beyond_the_read_pause() -> None:
    listener, _ = await start_echo()
    client = await Client.connect(listener.port)
    await client.line()
    size = READ_PAUSE_AT * 3 + 17
    await client.send(b"LIT %d\r\n" % size)
    for start in range(0, size, 100_000):
        await client.send(b"z" * min(100_000, size - start))
    assert await client.line() == b"GOT %d\r\n" % size
    assert await client.ask(b"ECHO still here\r\n") == b"still here\r\n"
    await client.close()
    await listener.finish(1)


async def test_a_client_vanishing_mid_literal_ends_the_session_cleanly() -> None:
    listener, _ = await start_echo()
    client = await Client.connect(listener.port)
    await client.line()
    await client.send(b"LIT 100000\r\n" + b"a" * 500)
    await client.close()
    for _ in range(50):
        if not listener.connections:
            break
        await asyncio.sleep(0.02)
    assert not listener.connections
    await listener.finish(1)


async def test_idle_timeout_says_goodbye() -> None:
    listener, _ = await start_echo(limits=Limits(idle_timeout=0.2))
    client = await Client.connect(listener.port)
    await client.line()
    assert await client.line() == b"BYE idle\r\n"
    assert await client.reader.read() == b""
    await client.close()
    await listener.finish(1)


async def test_per_address_limit_refuses_with_the_protocols_message() -> None:
    listener, _ = await start_echo(limits=Limits(max_per_address=2), trusted=[])
    clients = [await Client.connect(listener.port) for _ in range(2)]
    for client in clients:
        assert await client.line() == b"HELLO\r\n"
    third = await Client.connect(listener.port)
    assert await third.line() == b"NO too-many-from-address\r\n"
    assert await third.reader.read() == b""
    await clients[0].ask(b"QUIT\r\n")
    await clients[0].close()
    await asyncio.sleep(0.05)
    fourth = await Client.connect(listener.port)
    assert await fourth.line() == b"HELLO\r\n"
    for client in (clients[1], third, fourth):
        await client.close()
    await listener.finish(1)


async def test_trusted_addresses_are_exempt_from_the_per_address_limit() -> None:
    listener, _ = await start_echo(limits=Limits(max_per_address=1), trusted=["127.0.0.1/32"])
    clients = [await Client.connect(listener.port) for _ in range(3)]
    for client in clients:
        assert await client.line() == b"HELLO\r\n"
        await client.close()
    await listener.finish(1)


async def test_total_limit() -> None:
    listener, _ = await start_echo(limits=Limits(max_connections=1))
    first = await Client.connect(listener.port)
    assert await first.line() == b"HELLO\r\n"
    second = await Client.connect(listener.port)
    assert await second.line() == b"NO too-many\r\n"
    await first.close()
    await second.close()
    await listener.finish(1)


async def test_trusted_only_services_refuse_other_addresses() -> None:
    listener, _ = await start_echo(trusted=["10.0.0.0/8"], trusted_only=True)
    client = await Client.connect(listener.port)
    assert await client.line() == b"NO untrusted\r\n"
    await client.close()
    await listener.finish(1)
    listener, _ = await start_echo(trusted=["127.0.0.0/8"], trusted_only=True)
    client = await Client.connect(listener.port)
    assert await client.line() == b"HELLO\r\n"
    await client.close()
    await listener.finish(1)


async def test_starttls_drops_plaintext_sent_before_the_handshake(server_tls: TlsManager,
                                                                client_tls: ssl.SSLContext) -> None:
    listener, _ = await start_echo(starttls=server_tls.context)
    client = await Client.connect(listener.port)
    await client.line()
    # The injection: a command pipelined after STARTTLS in the same packet, in plaintext.
    await client.send(b"STARTTLS\r\nECHO injected\r\n")
    assert await client.line() == b"OK go\r\n"
    await client.writer.start_tls(client_tls, server_hostname="localhost")
    reply = await client.line()
    assert reply.startswith(b"TLS TLSv1.") and reply.endswith(b"dropped=15\r\n")
    assert await client.ask(b"ECHO secure\r\n") == b"secure\r\n"
    await client.close()
    await listener.finish(1)


async def test_a_failed_handshake_ends_only_that_session(server_tls: TlsManager) -> None:
    listener, _ = await start_echo(starttls=server_tls.context)
    client = await Client.connect(listener.port)
    await client.line()
    await client.ask(b"STARTTLS\r\n")
    await client.send(b"this is not a TLS client hello\r\n" * 4)
    assert await asyncio.wait_for(client.reader.read(), 5) == b""
    await client.close()
    other = await Client.connect(listener.port)
    assert await other.line() == b"HELLO\r\n"
    await other.close()
    await listener.finish(1)


async def test_implicit_tls_with_modern_versions_only(server_tls: TlsManager, client_tls: ssl.SSLContext) -> None:
    listener, _ = await start_echo(implicit=server_tls.context)
    client = await Client.connect(listener.port, client_tls)
    assert await client.line() == b"HELLO\r\n"
    ssl_object = client.writer.get_extra_info("ssl_object")
    assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
    await client.close()
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    with pytest.warns(DeprecationWarning):
        old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    old.set_ciphers("ALL:@SECLEVEL=0")
    with pytest.raises((ssl.SSLError, ConnectionError)):
        await Client.connect(listener.port, old)
    await listener.finish(1)


async def test_shutdown_says_goodbye_to_idle_sessions_and_lets_busy_ones_finish() -> None:
    listener, _ = await start_echo()
    idle = await Client.connect(listener.port)
    busy = await Client.connect(listener.port)
    await idle.line()
    await busy.line()
    await busy.send(b"SLOW 0.3\r\n")
    await asyncio.sleep(0.05)
    await listener.stop_accepting()
    finishing = asyncio.ensure_future(listener.finish(5))
    assert await idle.line() == b"BYE shutdown\r\n"
    assert await busy.line() == b"OK slow\r\n"
    assert await busy.line() == b"BYE shutdown\r\n"
    await finishing
    assert not listener.connections
    with pytest.raises(OSError):
        await Client.connect(listener.port)
    await idle.close()
    await busy.close()


async def test_shutdown_cuts_sessions_that_outlive_the_grace() -> None:
    listener, _ = await start_echo()
    stuck = await Client.connect(listener.port)
    await stuck.line()
    await stuck.send(b"SLOW 30\r\n")
    await asyncio.sleep(0.05)
    await listener.stop_accepting()
    started = asyncio.get_running_loop().time()
    await listener.finish(0.2)
    assert asyncio.get_running_loop().time() - started < 3
    assert await asyncio.wait_for(stuck.reader.read(), 5) == b""
    await stuck.close()


async def test_a_client_that_never_reads_is_cut_after_the_idle_timeout() -> None:
    listener, _ = await start_echo(limits=Limits(idle_timeout=0.5))
    client = await Client.connect(listener.port)
    client.writer.transport.pause_reading()  # type: ignore[attr-defined]
    payload = b"ECHO " + b"y" * 60_000 + b"\n"
    for _ in range(200):  # far more than the socket buffers hold: the server blocks in drain()
        client.writer.write(payload)
    deadline = asyncio.get_running_loop().time() + 10
    while listener.connections:
        assert asyncio.get_running_loop().time() < deadline, "the stuck session was never cut"
        await asyncio.sleep(0.1)
    client.writer.transport.abort()
    await listener.finish(1)


async def test_discard_reads_into_nothing() -> None:
    """A refused literal or BDAT chunk: its bytes are read and dropped, and what follows is intact."""
    from polyport.net.memory import MemoryClient

    class Discarder:
        def __init__(self) -> None:
            self.after = b""

        def session(self, conn: Any) -> Any:
            self.conn = conn
            return self

        def refusal(self, reason: Any) -> bytes:
            return b""

        async def run(self) -> None:
            await self.conn.discard(100_000)
            self.after = await self.conn.read_line()

    handler = Discarder()
    client = MemoryClient(handler)
    for _ in range(10):
        client.send(b"x" * 10_000)
    client.send(b"NEXT\r\n")
    await client.close()
    assert handler.after == b"NEXT\r\n"
