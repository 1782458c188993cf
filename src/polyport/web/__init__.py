"""The web services: WebUser (webmail), WebAdmin, autoconfig, MTA-STS policy and metrics, over HTTP(S).

aiohttp serves the requests, on sockets our own listener opens (net/http.py), so every web port keeps the
node's limits, trusted-networks rule, shared TLS context and shutdown order.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from polyport.config import ResolvedService
from polyport.kernel.protocol import ProtocolModule
from polyport.runtime import Runtime
from polyport.web.service import WebService

# What each web row of the service table serves.
WEBMAIL = frozenset({"webuser", "webusers", "https"})
ADMIN = frozenset({"webadmin", "webadmins"})
REDIRECT = frozenset({"http"})  # port 80: autoconfig and ACME here, every page moved to HTTPS


def build(runtime: Runtime, service: ResolvedService, stopping: asyncio.Event) -> web.Application:
    from polyport.web import app as common
    from polyport.web import errors, wellknown

    application = web.Application(middlewares=[common.security_headers, errors.service_errors],
                                  client_max_size=common.FORM_LIMIT, handler_args=None)
    application[common.RUNTIME] = runtime
    application[common.SERVICE] = service.name
    application[common.STOPPING] = stopping
    wellknown.add_autoconfig_routes(application)
    common.static_routes(application)
    if service.name in ADMIN:
        from polyport.web import admin

        application[common.KIND] = "admin"
        application[common.COOKIE] = "pp_admin"
        application.router.add_get("/metrics", wellknown.metrics_page)
        admin.add_routes(application)
    elif service.name in REDIRECT:
        application[common.KIND] = "user"
        application[common.COOKIE] = "pp_session"
        application.router.add_route("*", "/{tail:.*}", _to_https)
    else:
        from polyport.web import webmail
        from polyport.xmpp import upload, websocket

        application[common.KIND] = "user"
        application[common.COOKIE] = "pp_session"
        webmail.add_routes(application)
        websocket.add_routes(application)  # XMPP over WebSocket (RFC 7395) for browser clients
        upload.add_routes(application)  # files XMPP clients share (XEP-0363)
    return application


async def _to_https(request: web.Request) -> web.StreamResponse:
    """Port 80: every page is on HTTPS (the https service's port); a GET or HEAD is redirected there, on the
    same path and query. Autoconfig, MTA-STS and ACME's challenges are answered here without a redirect."""
    from polyport.web.app import runtime_of

    config = runtime_of(request).config
    https = config.service("https")
    if request.method not in ("GET", "HEAD") or not https.listening:
        raise web.HTTPNotFound(text="This server's pages are on HTTPS.")
    host = await _our_name(request)
    port = https.ports[0] if https.ports else 443
    where = host if port in (0, 443) else f"{host}:{port}"
    raise web.HTTPMovedPermanently(f"https://{where}{request.path_qs}")


# Names under a hosted domain that this server answers for (wellknown.py), so certificates carry them.
_SERVICE_PREFIXES = ("autoconfig.", "mta-sts.")


async def _our_name(request: web.Request) -> str:
    """The host name to send a browser to: the one it asked for when that is a name of ours (the public
    name, a hosted domain or domain alias, or its autoconfig. or mta-sts. name), else the public name.
    Never whatever Host the client sent: that would be an open redirect, and a shared cache's poison."""
    from polyport.directory import DirectoryError
    from polyport.web.app import runtime_of
    from polyport.web.wellknown import public_hostname

    runtime = runtime_of(request)
    public = public_hostname(runtime.config)
    raw = request.headers.get("Host", "")
    asked = (raw if raw.endswith("]") else raw.rsplit(":", 1)[0]).lower().rstrip(".")
    if asked == public.lower().rstrip("."):
        return asked
    domain = next((asked[len(p):] for p in _SERVICE_PREFIXES if asked.startswith(p)), asked)
    if not domain or domain.startswith("["):
        return public
    try:
        await runtime.directory.domain(domain)  # refuses what is no domain name, too
    except DirectoryError:
        return public
    return asked


def make_handler(runtime: Runtime, service: ResolvedService) -> WebService:
    return WebService(runtime, service, build)


PROTOCOL = ProtocolModule(http=make_handler)
