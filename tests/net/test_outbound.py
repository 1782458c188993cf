"""Connections we open ourselves (`net.connection.connect`): the same framer as an accepted one, STARTTLS
as the client with the certificate's name checked, and the failures a caller must see."""

from __future__ import annotations

import ssl

import pytest

from polyport.net.connection import ConnectionClosed, connect
from polyport.net.tls import TlsManager
from tests.net.echo_protocol import start_echo
from tests.node_thread import free_port


async def test_an_outbound_connection_reads_lines_and_upgrades_to_tls(
        server_tls: TlsManager, client_tls: ssl.SSLContext) -> None:
    listener, _ = await start_echo(starttls=server_tls.context)
    try:
        conn = await connect("127.0.0.1", listener.port)
        assert await conn.read_line() == b"HELLO\r\n"
        conn.write(b"ECHO out\r\n")
        assert await conn.read_line() == b"out\r\n"
        conn.write(b"STARTTLS\r\n")
        assert await conn.read_line() == b"OK go\r\n"
        await conn.start_tls(client_tls, server_side=False, server_hostname="localhost")
        assert conn.tls
        assert (await conn.read_line()).startswith(b"TLS TLSv1.")
        conn.close()
    finally:
        await listener.finish(1.0)


async def test_a_certificate_for_another_name_fails_the_handshake(
        server_tls: TlsManager, client_tls: ssl.SSLContext) -> None:
    listener, _ = await start_echo(starttls=server_tls.context)
    try:
        conn = await connect("127.0.0.1", listener.port)
        await conn.read_line()
        conn.write(b"STARTTLS\r\n")
        await conn.read_line()
        with pytest.raises(ConnectionClosed, match="TLS handshake failed"):
            await conn.start_tls(client_tls, server_side=False, server_hostname="mail.example.net")
    finally:
        await listener.finish(1.0)


async def test_a_refused_connection_is_the_callers_oserror() -> None:
    with pytest.raises(OSError):
        await connect("127.0.0.1", free_port(), connect_timeout=5)
