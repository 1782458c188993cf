"""HTTP file upload (XEP-0363) on a node: the service in discovery with its limit, a slot, the file PUT and
read back over the webmail's port with headers that keep it from acting as a page, a slot used once, the
refusals (too large, the account's quota, a wrong size)."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.xmpp.conftest import XmppNode, bound, start_node
from tests.xmpp.test_routing import error_condition

DISCO_INFO = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS = "http://jabber.org/protocol/disco#items"
UPLOAD = "urn:xmpp:http:upload:0"


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XmppNode]:
    running = start_node(tmp_path_factory, "[xmpp]\nupload_max_size = 1000\nupload_quota = 1500\n")
    yield running
    running.running.stop()


async def test_upload_then_fetch(node: XmppNode) -> None:
    import asyncio

    stream, _ = await asyncio.to_thread(bound, node)

    def ask(xml: str) -> object:
        stream.send(xml)
        return stream.stanza()

    items = await asyncio.to_thread(ask, f"<iq type='get' id='i' to='example.com'><query xmlns='{DISCO_ITEMS}'/></iq>")
    assert "upload.example.com" in [i.get("jid") for i in items.element.iter(f"{{{DISCO_ITEMS}}}item")]  # type: ignore[attr-defined]
    info = await asyncio.to_thread(ask, f"<iq type='get' id='d' to='upload.example.com'><query xmlns='{DISCO_INFO}'/>"
                                        f"</iq>")
    element = info.element  # type: ignore[attr-defined]
    assert UPLOAD in [f.get("var") for f in element.iter(f"{{{DISCO_INFO}}}feature")]
    assert [v.text for f in element.iter("{jabber:x:data}field") if f.get("var") == "max-file-size"
            for v in f] == ["1000"]

    body = b"hello, file\n" * 50  # 600 bytes
    slot = (await asyncio.to_thread(
        ask, f"<iq type='get' id='s' to='upload.example.com'><request xmlns='{UPLOAD}' filename='notes one.txt' "
             f"size='{len(body)}' content-type='text/plain'/></iq>")).element  # type: ignore[attr-defined]
    put_url = slot.find(f"{{{UPLOAD}}}slot/{{{UPLOAD}}}put").get("url")
    get_url = slot.find(f"{{{UPLOAD}}}slot/{{{UPLOAD}}}get").get("url")
    assert put_url == get_url and put_url.endswith("/notes%20one.txt")
    port = next(b.port for b in node.running.node.bound_listeners() if b.service == "webuser")
    path = urlsplit(put_url).path
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
        async with client.get(path) as response:
            assert response.status == 404  # not there until it came
        async with client.put(path, data=body[:10], headers={"Content-Type": "text/plain"}) as response:
            assert response.status == 400  # not the slot's size
        async with client.put(path, data=body, headers={"Content-Type": "text/plain",
                                                        "Origin": "https://chat.elsewhere.example"}) as response:
            assert response.status == 201  # a browser client of another site may PUT (the URL is the secret)
        async with client.put(path, data=body, headers={"Content-Type": "text/plain"}) as response:
            assert response.status == 409  # once
        async with client.get(path) as response:
            assert response.status == 200 and await response.read() == body
            assert response.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
            assert response.headers["Content-Disposition"].startswith("inline")
            assert response.headers["Access-Control-Allow-Origin"] == "*"
        async with client.get(path.rsplit("/", 2)[0] + "/nonsense/x") as response:
            assert response.status == 404

    page = (await asyncio.to_thread(
        ask, f"<iq type='get' id='h' to='upload.example.com'><request xmlns='{UPLOAD}' filename='x.html' size='22' "
             f"content-type='text/html'/></iq>")).element  # type: ignore[attr-defined]
    html_path = urlsplit(page.find(f"{{{UPLOAD}}}slot/{{{UPLOAD}}}put").get("url")).path
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as client:
        async with client.put(html_path, data=b"<script>1</script>\n\n\n\n",
                              headers={"Content-Type": "text/html"}) as response:
            assert response.status == 201
        async with client.get(html_path) as response:  # never a page of the webmail's origin
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers["Content-Disposition"].startswith("attachment")
    too_large = await asyncio.to_thread(
        ask, f"<iq type='get' id='t' to='upload.example.com'><request xmlns='{UPLOAD}' filename='big.bin' "
             f"size='1001' content-type='application/octet-stream'/></iq>")
    assert error_condition(too_large) == "not-acceptable"
    assert too_large.element.findtext(f".//{{{UPLOAD}}}max-file-size") == "1000"  # type: ignore[attr-defined]
    full = await asyncio.to_thread(
        ask, f"<iq type='get' id='q' to='upload.example.com'><request xmlns='{UPLOAD}' filename='more.bin' "
             f"size='1000' content-type='application/octet-stream'/></iq>")
    assert error_condition(full) == "resource-constraint"  # 622 + 1000 > the quota of 1500
    bad = await asyncio.to_thread(
        ask, f"<iq type='get' id='b' to='upload.example.com'><request xmlns='{UPLOAD}' filename='../x' size='1' "
             f"content-type='text/plain'/></iq>")
    assert error_condition(bad) == "bad-request"
    stream.close()


def test_the_accounts_files_quota_bounds_its_uploads(node: XmppNode) -> None:
    """An account whose MaxWebSize is below the server's upload quota gets no slot past it."""
    from tests.cliapi.conftest import Cli
    from tests.xmpp.test_admin import cli_port

    stream, address = bound(node)
    admin = Cli(cli_port(node)).login()
    try:
        admin.ok(f"UPDATEACCOUNTSETTINGS {address} {{MaxWebSize=500;}}")
    finally:
        admin.close()

    def slot(size: int) -> object:
        stream.send(f"<iq type='get' id='q{size}' to='upload.example.com'><request xmlns='{UPLOAD}' "
                    f"filename='f.bin' size='{size}' content-type='application/octet-stream'/></iq>")
        return stream.stanza()

    too_large = slot(600)  # within the server's 1,000 a file, over the account's 500
    assert error_condition(too_large) == "not-acceptable"
    assert too_large.element.findtext(f".//{{{UPLOAD}}}max-file-size") == "500"  # type: ignore[attr-defined]
    assert slot(400).element.get("type") == "result"  # type: ignore[attr-defined]
    assert error_condition(slot(200)) == "resource-constraint"  # 400 + 200 > the account's 500
    stream.close()
