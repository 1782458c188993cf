"""The HTTP services beside the pages: mail client autoconfiguration (Thunderbird, Outlook's Autodiscover,
an Apple profile), the MTA-STS policy, ACME HTTP-01 challenge files and the Prometheus metrics."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from polyport import datadir
from polyport.auth.websessions import WebSession
from polyport.config import Config
from polyport.directory import DirectoryError
from polyport.web import autoconfig
from polyport.web.app import BODY_SECONDS, client_ip, runtime_of

MTA_STS_MAX_AGE = 7 * 86400


def public_hostname(config: Config) -> str:
    return config.web.hostname or config.mail.hostname or socket.gethostname()


def advertised_ports(config: Config) -> dict[str, int]:
    """The port clients are told for each listening service: its first configured port (one configured as 0,
    any free port, is advertised as the service's standard port)."""
    return {service.name: service.ports[0] or service.spec.ports[0]
            for service in config.resolved_services() if service.listening and service.ports}


def _host(request: web.Request) -> str:
    return (request.host or "").rsplit(":", 1)[0].strip("[]").lower().rstrip(".")


async def _hosted(request: web.Request, domain: str) -> str | None:
    """The primary name of a hosted domain (or domain alias), or None."""
    if not domain:
        return None
    try:
        return (await runtime_of(request).directory.domain(domain)).name
    except DirectoryError:
        return None


def _setup(config: Config, domain: str) -> autoconfig.MailSetup:
    return autoconfig.default_setup(domain, public_hostname(config), advertised_ports(config))


async def _domain_from(request: web.Request, address: str | None, host_prefix: str) -> str | None:
    if address and "@" in address:
        return await _hosted(request, address.rpartition("@")[2].lower())
    host = _host(request)
    if host.startswith(host_prefix):
        host = host[len(host_prefix):]
    return await _hosted(request, host)


async def thunderbird(request: web.Request) -> web.StreamResponse:
    address = request.query.get("emailaddress")
    domain = await _domain_from(request, address, "autoconfig.")
    if domain is None:
        raise web.HTTPNotFound(text="No mail domain of that name is hosted here.")
    body = autoconfig.thunderbird_config(_setup(runtime_of(request).config, domain), address)
    return web.Response(body=body, content_type="application/xml", charset="utf-8")


async def autodiscover(request: web.Request) -> web.StreamResponse:
    try:
        async with asyncio.timeout(BODY_SECONDS):
            body = await request.content.read(autoconfig.MAX_AUTODISCOVER_REQUEST + 1)
    except TimeoutError:
        raise web.HTTPRequestTimeout() from None
    address = autoconfig.parse_autodiscover_request(body)
    if address is None:
        raise web.HTTPBadRequest(text="Expected an Outlook Autodiscover (POX) request.")
    domain = await _hosted(request, address.rpartition("@")[2].lower())
    if domain is None:
        raise web.HTTPNotFound(text="No mail domain of that name is hosted here.")
    answer = autoconfig.autodiscover_response(_setup(runtime_of(request).config, domain), address)
    return web.Response(body=answer, content_type="application/xml", charset="utf-8")


def mobileconfig_response(config: Config, session: WebSession, real_name: str) -> web.StreamResponse:
    domain = session.address.rpartition("@")[2]
    try:
        body = autoconfig.apple_mobileconfig(_setup(config, domain), session.address,
                                             real_name or session.address, uuid_seed=public_hostname(config))
    except ValueError:  # no IMAP/POP3 or no submission service listening here
        raise web.HTTPNotFound(text="This server offers no IMAP and SMTP submission to set up.") from None
    response = web.Response(body=body, content_type="application/x-apple-aspen-config")
    response.headers["Content-Disposition"] = f'attachment; filename="{domain}.mobileconfig"'
    return response


async def mta_sts(request: web.Request) -> web.StreamResponse:
    """RFC 8461 3.2: the policy of the domain whose mta-sts.<domain> host was asked."""
    host = _host(request)
    domain = await _hosted(request, host[len("mta-sts."):]) if host.startswith("mta-sts.") else None
    if domain is None:
        raise web.HTTPNotFound(text="No MTA-STS policy for this host name.")
    config = runtime_of(request).config
    try:
        body = autoconfig.mta_sts_policy(config.web.mta_sts_mode, [public_hostname(config)], MTA_STS_MAX_AGE)
    except ValueError:
        raise web.HTTPServiceUnavailable(text="Set [web] hostname (or [mail] hostname) to this server's public "
                                              "name to publish an MTA-STS policy.") from None
    response = web.Response(body=body, content_type="text/plain", charset="utf-8")
    response.headers["Cache-Control"] = "max-age=3600"
    return response


async def acme_challenge(request: web.Request) -> web.StreamResponse:
    data = datadir.acme_challenge(runtime_of(request).config.acme_path, request.match_info["token"])
    if data is None:
        raise web.HTTPNotFound()
    return web.Response(body=data, content_type="application/octet-stream")


async def metrics_page(request: web.Request) -> web.StreamResponse:
    """Prometheus' scrape target: trusted networks only, whatever the listener's own rule."""
    if client_ip(request) not in runtime_of(request).trusted:
        raise web.HTTPForbidden(text="Metrics are served to the trusted networks only.")
    return web.Response(body=await runtime_of(request).view.metrics(), content_type="text/plain", charset="utf-8",
                        headers={"X-Prometheus-Format": "0.0.4"})


def add_autoconfig_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/.well-known/autoconfig/mail/config-v1.1.xml", thunderbird)
    r.add_get("/mail/config-v1.1.xml", thunderbird)
    r.add_post("/autodiscover/autodiscover.xml", autodiscover)
    r.add_post("/Autodiscover/Autodiscover.xml", autodiscover)
    r.add_get("/.well-known/mta-sts.txt", mta_sts)
    r.add_get("/.well-known/acme-challenge/{token}", acme_challenge)
