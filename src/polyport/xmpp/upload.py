"""HTTP file upload (XEP-0363): the service `upload.<domain>` that hands out slots, and the web routes that
take the file (PUT) and serve it (GET) on the webmail's ports, at `/upload/<token>/<name>`. The token is the
secret: whoever has the URL reads the file, as the XEP intends (clients share it in messages). Files are
served so that they cannot act as pages of the webmail's origin: a sandboxing Content-Security-Policy,
`nosniff`, and anything but images, audio, video and plain text as an attachment. The records and files
are im/uploads.py's."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import quote
from xml.etree import ElementTree as ET

from aiohttp import web

from polyport.directory import settings as schema
from polyport.im.uploads import CHUNK, UploadRefused
from polyport.runtime import Runtime
from polyport.xmpp import wire
from polyport.xmpp.jid import Jid

if TYPE_CHECKING:
    from polyport.xmpp.session import XmppSession

NS = "urn:xmpp:http:upload:0"
C = "{" + wire.CLIENT_NS + "}"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DATA_NS = "jabber:x:data"
LABEL = "upload"
PREFIX = "/upload/"
INLINE = re.compile(r"^(image/(png|jpeg|gif|webp)|audio/[\w.+-]+|video/[\w.+-]+|text/plain)$")
UNSAFE_NAME = re.compile(r"[\x00-\x1f/\\]")


def service_jid(runtime: Runtime, domain: str) -> str | None:
    """The upload service of a domain, where uploads are on (`[xmpp] upload_max_size` above 0)."""
    return f"{LABEL}.{domain}" if runtime.config.xmpp.upload_max_size > 0 else None


def is_service(runtime: Runtime, jid: Jid, domain: str) -> bool:
    return not jid.local and not jid.resource and jid.domain == service_jid(runtime, domain)


def base_url(runtime: Runtime) -> str:
    """Where the web listener is, as clients are told: the https service, else the webmail's TLS or plain
    port, on the public host name."""
    from polyport.web.wellknown import advertised_ports, public_hostname

    config = runtime.config
    if config.xmpp.upload_url:
        return config.xmpp.upload_url
    host = public_hostname(config)
    ports = advertised_ports(config)
    for name, scheme, default in (("https", "https", 443), ("webusers", "https", 443), ("webuser", "http", 80)):
        if name in ports:
            return f"{scheme}://{host}" + ("" if ports[name] == default else f":{ports[name]}")
    return f"https://{host}"


async def answer(s: XmppSession, iq: ET.Element[str]) -> None:
    """An iq to the upload service: its discovery (XEP-0363 3), or a slot request (4)."""
    runtime = s.runtime
    kind = iq.get("type")
    payload = iq[0] if len(iq) else None
    limit = runtime.config.xmpp.upload_max_size
    if kind == "get" and payload is not None and payload.tag == "{" + DISCO_INFO_NS + "}query" \
            and not payload.get("node"):
        query = ET.Element("{" + DISCO_INFO_NS + "}query")
        ET.SubElement(query, "{" + DISCO_INFO_NS + "}identity", {"category": "store", "type": "file",
                                                                 "name": "HTTP File Upload"})
        for feature in (NS, DISCO_INFO_NS):
            ET.SubElement(query, "{" + DISCO_INFO_NS + "}feature", {"var": feature})
        form = ET.SubElement(query, "{" + DATA_NS + "}x", {"type": "result"})
        for name, value in (("FORM_TYPE", NS), ("max-file-size", str(limit))):
            field = ET.SubElement(form, "{" + DATA_NS + "}field", {"var": name})
            if name == "FORM_TYPE":
                field.set("type", "hidden")
            ET.SubElement(field, "{" + DATA_NS + "}value").text = value
        s.result(iq, query)
        return
    if kind != "get" or payload is None or payload.tag != "{" + NS + "}request":
        _refuse(s, iq, "service-unavailable" if kind in ("get", "set") else None)
        return
    filename = (payload.get("filename") or "").strip()
    size_text = payload.get("size") or ""
    content_type = (payload.get("content-type") or "application/octet-stream").strip()
    if not filename or UNSAFE_NAME.search(filename) or len(filename) > 255 \
            or not (size_text.isascii() and size_text.isdigit()) or int(size_text[:15]) < 1 \
            or len(content_type) > 255 or "\n" in content_type or "/" not in content_type:
        _refuse(s, iq, "bad-request", "name the file (no slashes), its size in bytes and its content type")
        return
    size = int(size_text[:15])
    assert s.identity is not None
    quota = runtime.config.xmpp.upload_quota
    # The account's files quota (MaxWebSize), where it is smaller, bounds its uploads too: a file shared
    # in a chat is one of the account's files, as CommuniGate keeps it in the account's file storage.
    settings = await runtime.directory.effective_account_settings_by_id(s.identity.account_id)
    files_quota = schema.size_limit(settings["MaxWebSize"])
    if files_quota is not None:
        quota, limit = min(quota, files_quota), min(limit, files_quota)
    try:
        token = await runtime.uploads.slot(s.identity.account_id, filename, size, content_type, max_size=limit,
                                           quota=quota)
    except UploadRefused as err:
        if err.why == "size":
            reply = wire.stanza_error(iq, "not-acceptable", f"files up to {limit} bytes")
            error = reply.find(C + "error")
            assert error is not None
            ET.SubElement(ET.SubElement(error, "{" + NS + "}file-too-large"), "{" + NS + "}max-file-size").text = \
                str(limit)
            s.send_stanza(s.stamped(reply))
        else:
            _refuse(s, iq, "resource-constraint", str(err))
        return
    url = f"{base_url(runtime)}{PREFIX}{token}/{quote(filename, safe='')}"
    slot = ET.Element("{" + NS + "}slot")
    ET.SubElement(slot, "{" + NS + "}put", {"url": url})
    ET.SubElement(slot, "{" + NS + "}get", {"url": url})
    s.result(iq, slot)


def _refuse(s: XmppSession, iq: ET.Element[str], condition: str | None, text: str | None = None) -> None:
    if condition is not None:
        s.send_stanza(s.stamped(wire.stanza_error(iq, condition, text)))


# -- the web side --

FILE_CSP = "default-src 'none'; sandbox"
CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, HEAD, PUT, OPTIONS",
        "Access-Control-Allow-Headers": "Content-Type"}


async def put(request: web.Request) -> web.StreamResponse:
    from polyport.web.app import runtime_of

    uploads = runtime_of(request).uploads
    slot = await uploads.find(request.match_info["token"])
    if slot is None:
        raise web.HTTPNotFound(text="No such upload slot (it expired, or was never given).", headers=CORS)
    if slot.complete:
        raise web.HTTPConflict(text="This slot's file came already.", headers=CORS)
    if request.content_length != slot.size:
        raise web.HTTPRequestEntityTooLarge(max_size=slot.size, actual_size=request.content_length or 0,
                                            headers=CORS) if (request.content_length or 0) > slot.size else \
            web.HTTPBadRequest(text=f"The slot is for {slot.size} bytes, with a Content-Length.", headers=CORS)
    sent_type = request.headers.get("Content-Type", "").split(";")[0].strip()
    if sent_type and sent_type != slot.content_type.split(";")[0].strip():
        raise web.HTTPBadRequest(text=f"The slot is for {slot.content_type}.", headers=CORS)
    if not await uploads.store(slot, request.content.iter_chunked(CHUNK)):
        raise web.HTTPBadRequest(text=f"The slot is for {slot.size} bytes.", headers=CORS)
    return web.Response(status=201, text="Stored.\n", headers=CORS)


async def get(request: web.Request) -> web.StreamResponse:
    from polyport.web.app import runtime_of

    uploads = runtime_of(request).uploads
    slot = await uploads.find(request.match_info["token"])
    if slot is None or not slot.complete:
        raise web.HTTPNotFound(text="No such file (it expired, or never came).", headers=CORS)
    inline = INLINE.match(slot.content_type.split(";")[0].strip().lower()) is not None
    response = web.StreamResponse(headers={
        **CORS, "Content-Type": slot.content_type if inline else "application/octet-stream",
        "Content-Length": str(slot.size), "Content-Security-Policy": FILE_CSP,
        "Content-Disposition": ("inline" if inline else "attachment") + f"; filename*=UTF-8''{quote(slot.filename)}",
        "Cache-Control": "private, max-age=86400"})
    await response.prepare(request)
    if request.method != "HEAD":
        async for chunk in uploads.read(slot):
            await response.write(chunk)
    await response.write_eof()
    return response


async def options(request: web.Request) -> web.StreamResponse:
    return web.Response(status=204, headers=CORS)


def add_routes(app: web.Application) -> None:
    path = PREFIX + "{token}/{name}"
    app.router.add_put(path, put)
    app.router.add_get(path, get)  # HEAD too (aiohttp adds it)
    app.router.add_route("OPTIONS", path, options)
