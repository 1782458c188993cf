"""The HTTP listener: aiohttp's request handling behind the node's admission rules and shutdown."""

from __future__ import annotations

import asyncio

import aiohttp
from aiohttp import web

from polyport.net.http import HttpListener, refusal_response
from polyport.net.listener import Limits, Refusal
from polyport.net.trusted import TrustedNetworks, parse_networks


class SlowApp:
    """A tiny HttpHandler: "/" answers at once, "/slow" after a moment."""

    def __init__(self) -> None:
        self.server: web.Server | None = None
        self.told_to_stop = False

    async def start(self) -> None:
        async def handle(request: web.BaseRequest) -> web.StreamResponse:
            if request.path == "/slow":
                await asyncio.sleep(0.3)
            return web.Response(text="hello")

        self.server = web.Server(handle)

    def protocol(self) -> asyncio.Protocol:
        assert self.server is not None
        return self.server()

    def refusal(self, reason: Refusal) -> bytes:
        return refusal_response(reason)

    def stopping(self) -> None:
        self.told_to_stop = True

    async def close(self) -> None:
        pass


async def _listener(*, trusted: list[str], trusted_only: bool = False, per_address: int = 50) -> HttpListener:
    app = SlowApp()
    await app.start()
    listener = HttpListener("webuser", app, host="127.0.0.1", port=0,
                            limits=Limits(max_per_address=per_address, idle_timeout=5),
                            trusted=TrustedNetworks(parse_networks(trusted)), trusted_only=trusted_only)
    await listener.start()
    return listener


async def test_requests_are_served_and_counted() -> None:
    listener = await _listener(trusted=[])
    try:
        async with aiohttp.ClientSession() as client, client.get(f"http://127.0.0.1:{listener.port}/") as r:
            assert r.status == 200 and await r.text() == "hello"
            assert listener.connection_count == 1
    finally:
        await listener.finish(1.0)


async def test_trusted_only_refuses_others_with_403() -> None:
    listener = await _listener(trusted=["10.0.0.0/8"], trusted_only=True)
    try:
        async with aiohttp.ClientSession() as client, client.get(f"http://127.0.0.1:{listener.port}/") as r:
            assert r.status == 403
            assert "trusted networks" in await r.text()
    finally:
        await listener.finish(1.0)


async def test_connections_per_address_are_limited_with_503() -> None:
    listener = await _listener(trusted=[], per_address=1)
    try:
        first_reader, first_writer = await asyncio.open_connection("127.0.0.1", listener.port)
        second_reader, second_writer = await asyncio.open_connection("127.0.0.1", listener.port)
        answer = await asyncio.wait_for(second_reader.read(200), 5)
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 5" in answer
        first_writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await asyncio.wait_for(first_reader.read(200), 5)).startswith(b"HTTP/1.1 200")
        for writer in (first_writer, second_writer):
            writer.close()
    finally:
        await listener.finish(1.0)


async def test_stopping_lets_a_request_in_flight_finish_and_closes_idle_ones() -> None:
    listener = await _listener(trusted=[])
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", listener.port)
    idle_writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.wait_for(idle_reader.readuntil(b"hello"), 5)  # now an idle keep-alive connection
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", listener.port)
    busy_writer.write(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    await asyncio.sleep(0.05)
    await listener.finish(2.0)
    assert listener.handler.told_to_stop  # type: ignore[attr-defined]
    assert b"hello" in await asyncio.wait_for(busy_reader.read(), 5)
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""
    assert listener.connection_count == 0
    for writer in (idle_writer, busy_writer):
        writer.close()


def test_refusals_are_whole_http_responses() -> None:
    for reason in Refusal:
        text = refusal_response(reason)
        head, _, body = text.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 ") and b"Connection: close" in head
        assert int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]) == len(body)
