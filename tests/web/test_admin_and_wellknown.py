"""WebAdmin (rights through the CLI/API's commands), autoconfig, MTA-STS, port 80 and the HTTP listener."""

from __future__ import annotations

import asyncio
import imaplib
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.web.conftest import PASSWORD, POSTMASTER_PASSWORD, WebNode, browser, csrf_of, query


async def test_admin_creates_domain_and_account_that_logs_in_over_imap(web_node: WebNode) -> None:
    client = await web_node.login("postmaster@example.com", POSTMASTER_PASSWORD, base=web_node.admin)
    async with client:
        async with client.get("/") as response:
            page = await response.text()
        assert "WebUser (webmail)" in page and "listening" in page
        token = csrf_of(page)
        async with client.post("/domains", data={"csrf": token, "do": "create", "name": "shop.test"},
                               allow_redirects=False) as response:
            assert response.status == 303
        async with client.get("/domain?" + query(d="shop.test")) as response:
            page = await response.text()
        assert "_domainkey.shop.test" in page and "v=DKIM1" in page and "_dmarc.shop.test" in page
        async with client.post("/accounts", data={"csrf": token, "d": "shop.test", "name": "clerk",
                                                  "password": "clerk-pass-1"}, allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/account?")
        async with client.get("/accounts?" + query(d="shop.test", q="cler")) as response:
            page = await response.text()
        assert ">clerk</a>" in page and ">postmaster</a>" not in page
        async with client.post("/account", data={"csrf": token, "a": "clerk@shop.test", "do": "settings",
                                                 "set.RealName": "The Clerk"}) as response:
            assert "Saved." in await response.text()
        async with client.post("/domains", data={"csrf": token, "do": "create", "name": "bad..name"}) as response:
            assert response.status == 400
    with imaplib.IMAP4("127.0.0.1", web_node.ports["imap"]) as imap:
        assert imap.login("clerk@shop.test", "clerk-pass-1")[0] == "OK"
        imap.logout()
    assert web_node.call(web_node.runtime.directory.account_settings("clerk@shop.test"))["RealName"] == "The Clerk"


async def test_admin_refuses_plain_users_and_keeps_domain_admins_in_their_domain(web_node: WebNode) -> None:
    user = web_node.account("plainuser")
    async with browser(web_node.admin) as client:
        async with client.post("/login", data={"name": user, "password": PASSWORD}) as response:
            assert response.status == 403
        async with client.get("/domains", allow_redirects=False) as response:
            assert response.status == 303
    web_node.call(web_node.runtime.directory.create_domain("other.test"))
    boss = web_node.account("boss")
    web_node.call(web_node.runtime.directory.set_account_rights(boss, ["Domain"]))
    client = await web_node.login(boss, base=web_node.admin)
    async with client:
        async with client.get("/domains") as response:
            page = await response.text()
        assert "example.com" in page and "other.test" not in page
        async with client.get("/domain?" + query(d="other.test")) as response:
            assert response.status == 404
        async with client.get("/queue") as response:
            assert response.status == 403
        token = csrf_of(page)
        async with client.post("/accounts", data={"csrf": token, "d": "other.test", "name": "x",
                                                  "password": "p-123456"}) as response:
            assert response.status in (400, 404)
        async with client.post("/account", data={"csrf": token, "a": "postmaster@example.com", "do": "password",
                                                 "password": "taken-over"}) as response:
            assert response.status in (400, 404)  # a domain administrator cannot take over the server's one
    assert web_node.call(web_node.runtime.directory.verify_password("postmaster@example.com", POSTMASTER_PASSWORD))


async def test_admin_pages_need_csrf(web_node: WebNode) -> None:
    client = await web_node.login("postmaster@example.com", POSTMASTER_PASSWORD, base=web_node.admin)
    async with client, client.post("/domains", data={"do": "create", "name": "nocsrf.test"}) as response:
        assert response.status == 403
    assert "nocsrf.test" not in web_node.call(web_node.runtime.directory.domains())


async def test_thunderbird_autoconfig_and_autodiscover(web_node: WebNode) -> None:
    async with browser(web_node.base) as client:
        async with client.get("/.well-known/autoconfig/mail/config-v1.1.xml?"
                              + query(emailaddress="someone@example.com")) as response:
            assert response.status == 200
            root = ET.fromstring(await response.read())
        assert root.find("emailProvider").get("id") == "example.com"  # type: ignore[union-attr]
        assert root.find("emailProvider/incomingServer/hostname").text == "mail.example.com"  # type: ignore[union-attr]
        async with client.get("/mail/config-v1.1.xml?" + query(emailaddress="x@unknown.test")) as response:
            assert response.status == 404
        request = (b'<?xml version="1.0"?><Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/'
                   b'outlook/requestschema/2006"><Request><EMailAddress>someone@example.com</EMailAddress>'
                   b'<AcceptableResponseSchema>http://schemas.microsoft.com/exchange/autodiscover/outlook/'
                   b'responseschema/2006a</AcceptableResponseSchema></Request></Autodiscover>')
        async with client.post("/autodiscover/autodiscover.xml", data=request) as response:
            answer = await response.read()
            assert response.status == 200 and b"<AccountType>email</AccountType>" in answer
            assert b"<Server>mail.example.com</Server>" in answer
        async with client.post("/autodiscover/autodiscover.xml",
                               data=b'<!DOCTYPE x [<!ENTITY a "b">]><x/>') as response:
            assert response.status == 400


async def test_mta_sts_policy_and_acme_on_port_80(web_node: WebNode) -> None:
    plain = f"http://127.0.0.1:{web_node.ports['http']}"
    async with browser(plain) as client:
        async with client.get("/.well-known/mta-sts.txt", headers={"Host": "mta-sts.example.com"}) as response:
            assert response.status == 200
            text = await response.text()
        assert text.startswith("version: STSv1\r\nmode: testing\r\n") and "max_age:" in text
        async with client.get("/.well-known/mta-sts.txt", headers={"Host": "mta-sts.unknown.test"}) as response:
            assert response.status == 404
        async with client.get("/mail/list?box=INBOX", allow_redirects=False) as response:
            assert response.status == 301
            # An address is no name of ours: the redirect goes to the public name ([web] hostname).
            assert response.headers["Location"] == "https://mail.example.com/mail/list?box=INBOX"
        async with client.post("/login", allow_redirects=False) as response:
            assert response.status == 404
        folder = web_node.running.config.data_dir / "acme-challenge"
        folder.mkdir(exist_ok=True)
        (folder / "tok-123_x").write_text("tok-123_x.thumbprint")
        async with client.get("/.well-known/acme-challenge/tok-123_x") as response:
            assert await response.text() == "tok-123_x.thumbprint"
        async with client.get("/.well-known/acme-challenge/..%2Fsecret.key") as response:
            assert response.status == 404


@pytest.mark.parametrize(("host", "location"), [
    ("evil.test", "mail.example.com"),
    ("evil.test:8080", "mail.example.com"),
    ("127.0.0.1", "mail.example.com"),
    ("[::1]:80", "mail.example.com"),
    ("other.example.com", "mail.example.com"),  # a name under a hosted domain, but none that we serve
    ("example.com@evil.test", "mail.example.com"),
    ("mail.example.com", "mail.example.com"),
    ("example.com", "example.com"),  # a hosted domain
    ("EXAMPLE.com.:80", "example.com"),
    ("autoconfig.example.com", "autoconfig.example.com"),
    ("mta-sts.example.com", "mta-sts.example.com"),
    ("autoconfig.unknown.test", "mail.example.com"),
])
async def test_port_80_redirects_to_our_own_names_only(web_node: WebNode, host: str, location: str) -> None:
    """Issue 12: the redirect to HTTPS reflected whatever Host the client sent (an open redirect, and a
    cache's poison). It keeps a name of ours (the public name, a hosted domain, its autoconfig and
    MTA-STS names, which certificates carry); any other goes to the public name."""
    plain = f"http://127.0.0.1:{web_node.ports['http']}"
    async with browser(plain) as client, client.get("/mail/list?box=INBOX&x=1", headers={"Host": host},
                                                     allow_redirects=False) as response:
        assert response.status == 301
        assert response.headers["Location"] == f"https://{location}/mail/list?box=INBOX&x=1"


async def test_static_files_and_unknown_paths(web_node: WebNode) -> None:
    async with browser(web_node.base) as client:
        async with client.get("/static/app.js") as response:
            assert response.status == 200 and "EventSource" in await response.text()
        async with client.get("/static/../secret.key") as response:
            assert response.status in (403, 404)
        async with client.get("/nope") as response:
            assert response.status == 404
            assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_oversized_request_line_and_headers_are_refused(web_node: WebNode) -> None:
    with socket.create_connection(("127.0.0.1", web_node.ports["webuser"])) as sock:
        sock.sendall(b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = sock.recv(1000)
    assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4"))
    with socket.create_connection(("127.0.0.1", web_node.ports["webuser"])) as sock:
        sock.sendall(b"GET /login HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 20_000 + b"\r\n\r\n")
        answer = sock.recv(1000)
    assert answer.startswith((b"HTTP/1.1 4", b"HTTP/1.0 4"))


async def test_admin_forwarders_groups_template_and_log(web_node: WebNode) -> None:
    member = web_node.account("member")
    client = await web_node.login("postmaster@example.com", POSTMASTER_PASSWORD, base=web_node.admin)
    async with client:
        async with client.get("/forwarders?" + query(d="example.com")) as response:
            token = csrf_of(await response.text())
        async with client.post("/forwarders", data={"csrf": token, "d": "example.com", "do": "create",
                                                    "name": "fwd", "to": "far@example.org"}) as response:
            page = await response.text()
        assert "far@example.org" in page
        async with client.post("/groups", data={"csrf": token, "d": "example.com", "do": "create", "name": "team",
                                                "real_name": "The Team", "members": member}) as response:
            page = await response.text()
        assert "The Team" in page and member.split("@")[0] in page
        group = web_node.call(web_node.runtime.directory.group("team@example.com"))
        assert group.members
        async with client.post("/template", data={"csrf": token, "d": "example.com",
                                                  "set.MaxAccountSize": "100M"}) as response:
            assert "Saved." in await response.text()
        assert web_node.call(web_node.runtime.directory.account_template("example.com"))["MaxAccountSize"]
        async with client.post("/forwarders", data={"csrf": token, "d": "example.com", "do": "delete",
                                                    "name": "fwd"}) as response:
            assert "far@example.org" not in await response.text()
        async with client.get("/log?" + query(q="auth.ok")) as response:
            assert response.status == 200


async def test_a_password_reset_by_an_administrator_ends_the_users_sessions(web_node: WebNode) -> None:
    user = web_node.account("reset")
    victim = await web_node.login(user)
    admin = await web_node.login("postmaster@example.com", POSTMASTER_PASSWORD, base=web_node.admin)
    async with victim, admin:
        async with victim.get("/mail/", allow_redirects=False) as response:
            assert response.status == 200
        async with admin.get("/account?" + query(a=user)) as response:
            token = csrf_of(await response.text())
        async with admin.post("/account", data={"csrf": token, "a": user, "do": "password",
                                                "password": "new-pass-99"}) as response:
            assert "Saved." in await response.text()
        # At once in the worker that made the change; in the others when the bus brings the event (a node
        # of several workers: milliseconds).
        for _ in range(40):
            async with victim.get("/mail/", allow_redirects=False) as response:
                if response.status == 303:
                    break
            await asyncio.sleep(0.05)
        assert response.status == 303


async def test_admin_edits_trusted_networks(web_node: WebNode) -> None:
    client = await web_node.login("postmaster@example.com", POSTMASTER_PASSWORD, base=web_node.admin)
    trusted = web_node.runtime.trusted
    saved = [str(n) for n in trusted.networks]
    async with client:
        async with client.get("/") as response:
            page = await response.text()
        assert "127.0.0.0/8" in page
        token = csrf_of(page)
        async with client.post("/", data={"csrf": token, "networks": "127.0.0.0/8\n10.9.0.0/16"},
                               allow_redirects=False) as response:
            assert response.status == 303
        for _ in range(40):  # this process's worker hears of it over the bus if another one took the form
            if "10.9.0.0/16" in [str(n) for n in trusted.networks]:
                break
            await asyncio.sleep(0.05)
        assert "10.9.0.0/16" in [str(n) for n in trusted.networks]
        async with client.post("/", data={"csrf": token, "networks": "not a network"}) as response:
            assert response.status == 400
        async with client.post("/", data={"csrf": token, "networks": "\n".join(saved)},
                               allow_redirects=False) as response:
            assert response.status == 303


async def test_saving_an_account_keeps_a_multiline_sieve_script(web_node: WebNode) -> None:
    import re

    user = web_node.account("sieved")
    script = 'require ["fileinto"];\nif header :contains "subject" "spam" { fileinto "Junk"; }\n'
    web_node.call(web_node.runtime.directory.update_account_settings(user, {"SieveScript": script}))
    client = await web_node.login("postmaster@example.com", POSTMASTER_PASSWORD, base=web_node.admin)
    async with client:
        async with client.get("/account?" + query(a=user)) as response:
            page = await response.text()
        assert '<textarea id="set-SieveScript"' in page
        # What a browser sends back unchanged: text areas with CRLF, hidden fields as they were, inputs as shown.
        import html as html_module

        fields: dict[str, str] = {"csrf": csrf_of(page), "a": user, "do": "settings"}
        for name, value in re.findall(r'<input[^>]* name="((?:set|orig)\.[A-Za-z]+)" value="([^"]*)"', page):
            fields[name] = html_module.unescape(value)
        for name, value in re.findall(r'<textarea[^>]* name="(set\.[A-Za-z]+)"[^>]*>([^<]*)</textarea>', page):
            fields[name] = html_module.unescape(value).replace("\n", "\r\n")
        fields["set.RealName"] = "Sieve Owner"
        async with client.post("/account", data=fields) as response:
            assert "Saved." in await response.text()
    settings = web_node.call(web_node.runtime.directory.account_settings(user))
    assert settings["SieveScript"] == script and settings["RealName"] == "Sieve Owner"


def test_acme_tokens_never_leave_their_folder(tmp_path: Path) -> None:
    from polyport import datadir

    (tmp_path / "ok-token_1").write_bytes(b"thumb")
    (tmp_path.parent / "secret").write_bytes(b"no")
    assert datadir.acme_challenge(tmp_path, "ok-token_1") == b"thumb"
    for token in ("", "..", "../secret", "a/b", "x.y", "missing", "a" * 300):
        assert datadir.acme_challenge(tmp_path, token) is None


async def test_settings_polyport_does_not_use_are_listed_on_the_account_page(web_node: WebNode) -> None:
    """A CommuniGate setting Polyport keeps but does not use shows on WebAdmin's account page as such, and
    saving the page's form leaves it as it is."""
    user = web_node.account("unused")
    web_node.call(web_node.runtime.directory.update_account_settings(user, {"MailInpFlow": ["5", "60"]}))
    admin = await web_node.login("postmaster@example.com", POSTMASTER_PASSWORD, base=web_node.admin)
    async with admin:
        async with admin.get("/account?" + query(a=user)) as response:
            page = await response.text()
        assert "MailInpFlow" in page and "Not used by Polyport" in page and "(5,60)" in page
        async with admin.post("/account?" + query(a=user), data={"csrf": csrf_of(page), "do": "settings",
                                                                 "set.MaxAccountSize": "10M"}) as response:
            assert response.status in (200, 303)
    settings = web_node.call(web_node.runtime.directory.account_settings(user))
    assert settings["MailInpFlow"] == ["5", "60"] and settings["MaxAccountSize"] == "10M"
