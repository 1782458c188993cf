"""One web service of the service table (webuser, webadmin, http, https...): its aiohttp application, made
ready once and served by every port of the service (net/http.py's listener)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aiohttp import web

from polyport.config import ResolvedService
from polyport.net.http import refusal_response
from polyport.net.listener import Refusal
from polyport.runtime import Runtime

# Longest request line and header field: aiohttp's defaults (8 KiB) are what browsers stay within.
MAX_LINE = 8190
# Seconds an idle keep-alive connection is kept: browsers reuse theirs within a minute or so.
KEEPALIVE = 75.0


class WebService:
    def __init__(self, runtime: Runtime, service: ResolvedService,
                 build: Callable[[Runtime, ResolvedService, asyncio.Event], web.Application]) -> None:
        self.runtime = runtime
        self.service = service
        self._build = build
        self._stopping = asyncio.Event()  # set when the node stops: event streams end
        self._runner: web.AppRunner | None = None
        self._server: web.Server | None = None

    async def start(self) -> None:
        app = self._build(self.runtime, self.service, self._stopping)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None,
            keepalive_timeout=min(KEEPALIVE, self.service.idle_timeout),
            max_line_size=MAX_LINE, max_field_size=MAX_LINE)
        await self._runner.setup()
        self._server = self._runner.server

    def protocol(self) -> asyncio.Protocol:
        assert self._server is not None, "the web service was not started"
        return self._server()

    def refusal(self, reason: Refusal) -> bytes:
        return refusal_response(reason)

    def stopping(self) -> None:
        self._stopping.set()

    async def close(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None
