"""The webmail over HTTP with aiohttp's client: login, lists, reading, sending, actions, settings, security."""

from __future__ import annotations

import asyncio
import imaplib
import re

import pytest

from polyport.web import listing, webmail
from tests.web.conftest import PASSWORD, WebNode, browser, csrf_of, message, query


async def test_login_refuses_wrong_and_unknown_alike(web_node: WebNode) -> None:
    address = web_node.account("login")
    async with browser(web_node.base) as client:
        async with client.get("/mail/", allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"].startswith("/login")
        wrong = await client.post("/login", data={"name": address, "password": "nope"})
        unknown = await client.post("/login", data={"name": "nobody@example.com", "password": "nope"})
        assert wrong.status == unknown.status == 401
        assert "Wrong name or password." in await wrong.text()
        assert "Wrong name or password." in await unknown.text()
        async with client.post("/login", data={"name": address, "password": PASSWORD, "next": "//evil.example/"},
                               allow_redirects=False) as response:
            assert response.status == 303
            assert response.headers["Location"] == "/mail/"  # no open redirect
            cookie = response.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "pp_session=" in cookie
        async with client.get("/mail/") as response:
            assert response.status == 200
            csp = response.headers["Content-Security-Policy"]
            assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
            assert response.headers["X-Content-Type-Options"] == "nosniff"


async def test_cookie_is_secure_and_host_prefixed_over_tls(web_node: WebNode) -> None:
    address = web_node.account("tls")
    async with browser(web_node.tls_base) as client, \
            client.post("/login", data={"name": address, "password": PASSWORD}, allow_redirects=False) as r:
        assert r.status == 303
        cookie = r.headers["Set-Cookie"]
        assert cookie.startswith("__Host-pp_session=") and "Secure" in cookie and "Path=/" in cookie


async def test_logins_are_throttled(web_node: WebNode) -> None:
    address = web_node.account("throttled")
    statuses = []
    try:
        async with browser(web_node.base) as client:
            for _ in range(12):
                async with client.post("/login", data={"name": address, "password": "wrong"}) as response:
                    statuses.append(response.status)
            assert statuses[0] == 401 and 429 in statuses
            async with client.post("/login", data={"name": address, "password": PASSWORD}) as response:
                assert response.status == 429  # the right password waits out the lockout too
    finally:
        web_node.call(web_node.runtime.auth.throttle.clear())  # the other tests log in from the same address


async def test_list_pages_sorts_and_searches(web_node: WebNode) -> None:
    address = web_node.account("lister")
    for i in range(120):
        web_node.append(address, message(subject=f"Subject {i:03d}", body=f"body text {i}",
                                         sender=f"Sender{i % 7} <s{i % 7}@example.org>"))
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/list?" + query(box="INBOX")) as response:
            html = await response.text()
        assert html.count('name="uid"') == 50 and "Subject 119" in html and "Subject 069" not in html
        assert "page 1 of 3" in html
        async with client.get("/mail/list?" + query(box="INBOX", page=3)) as response:
            html = await response.text()
        assert html.count('name="uid"') == 20 and "Subject 000" in html
        async with client.get("/mail/list?" + query(box="INBOX", sort="subject", order="asc")) as response:
            html = await response.text()
        assert html.index("Subject 000") < html.index("Subject 001") and "Subject 050" not in html
        async with client.get("/mail/list?" + query(box="INBOX", sort="from", order="asc")) as response:
            assert "Sender0" in await response.text()
        async with client.get("/mail/list?" + query(box="INBOX", subject="Subject 04")) as response:
            html = await response.text()
        assert html.count('name="uid"') == 10
        async with client.get("/mail/list?" + query(box="INBOX", body="body text 77")) as response:
            html = await response.text()
        assert html.count('name="uid"') == 1 and "Subject 077" in html
        async with client.get("/mail/list?" + query(box="INBOX", q="s3@example.org")) as response:
            html = await response.text()
        assert html.count('name="uid"') == 17  # i % 7 == 3 for 17 of 120
        async with client.get("/mail/list?" + query(box="Nope")) as response:
            assert response.status == 404
        web_node.append(address, message(subject="<img src=x onerror=alert(1)>",
                                         sender='"<b>Mal</b>" <m@example.org>'))
        async with client.get("/mail/list?" + query(box="INBOX")) as response:
            html = await response.text()
        assert "&lt;img src=x onerror=alert(1)&gt;" in html and "<img src=x" not in html
        assert "&lt;b&gt;Mal&lt;/b&gt;" in html


@pytest.mark.one_process
async def test_lists_worked_in_slices_are_the_lists_worked_at_once(web_node: WebNode,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Summaries read a few at a time and rows arranged a few at a time, with a pause at every step (issue
    12: a large mailbox's list shares the loop), give the same lists as one read and one pass."""
    address = web_node.account("sliced")
    for i in range(40):
        web_node.append(address, message(subject=f"Topic {i % 6}", body=f"words {i % 3}",
                                         sender=f"S{i % 4} <s{i % 4}@example.org>"))
    asked = [{"sort": "subject", "order": "asc"}, {"sort": "from"}, {"threads": "1"}, {"q": "s2@example.org"},
             {"body": "words 1"}, {"subject": "topic 3", "sort": "size"}]
    client = await web_node.login(address)
    async with client:
        async def lists() -> list[list[str]]:
            found = []
            for values in asked:
                async with client.get("/mail/list?" + query(box="INBOX", **values)) as response:
                    found.append(re.findall(r'data-uid="(\d+)"', await response.text()))
            return found

        at_once = await lists()
        monkeypatch.setattr(webmail, "SUMMARY_SLICE", 3)
        monkeypatch.setattr(webmail, "TURN", 0.0)
        monkeypatch.setattr(listing, "STEP", 4)
        webmail.caches(web_node.runtime).orders = listing.OrderCache()  # computed again, in slices
        in_slices = await lists()
    assert in_slices == at_once
    counts = [len(found) for found in at_once]
    assert counts[:2] == [40, 40] and 0 < counts[2] < 40 and counts[3:] == [10, 13, 7]


async def test_html_mail_is_sanitised_in_a_sandboxed_frame(web_node: WebNode) -> None:
    address = web_node.account("reader")
    hostile = ('<p>Visible text</p><script>alert(1)</script><img src=x onerror="alert(2)">'
               '<a href="javascript:alert(3)">link</a><img src="https://evil.example/p.gif">'
               '<iframe src="https://evil.example/"></iframe><form action="https://evil.example/"><input></form>')
    uid = web_node.append(address, message(subject="Hostile", html=hostile))
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/read?" + query(box="INBOX", uid=uid)) as response:
            page = await response.text()
        assert 'sandbox="allow-popups allow-popups-to-escape-sandbox"' in page
        assert "Remote images were blocked" in page
        async with client.get("/mail/body?" + query(box="INBOX", uid=uid)) as response:
            frame = await response.text()
            csp = response.headers["Content-Security-Policy"]
        assert "Visible text" in frame
        for bad in ("<script", "onerror", "javascript:", "evil.example", "<iframe", "<form"):
            assert bad not in frame.lower(), bad
        assert "sandbox" in csp and "default-src 'none'" in csp and "script-src" not in csp
        assert "https:" not in csp  # remote images not allowed until asked
        async with client.get("/mail/body?" + query(box="INBOX", uid=uid, remote=1)) as response:
            assert "img-src 'self' data: https: http:" in response.headers["Content-Security-Policy"]
            assert "evil.example/p.gif" in await response.text()
        # Reading marked it seen.
        async with client.get("/mail/list?" + query(box="INBOX")) as response:
            assert 'class="unread' not in await response.text()


async def test_attachments_download_safely_and_raw_source(web_node: WebNode) -> None:
    from email.message import EmailMessage

    address = web_node.account("attach")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", address, "With files"
    msg.set_content("see attached")
    msg.add_attachment(b"<html><script>alert(1)</script></html>", maintype="text", subtype="html",
                       filename="evil.html")
    msg.add_attachment(b"%PDF-1.4 data", maintype="application", subtype="pdf", filename="r\u00e9sum\u00e9.pdf")
    uid = web_node.append(address, bytes(msg).replace(b"\n", b"\r\n"))
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/read?" + query(box="INBOX", uid=uid)) as response:
            page = await response.text()
        assert "evil.html" in page and "r\u00e9sum\u00e9.pdf" in page
        async with client.get("/mail/part?" + query(box="INBOX", uid=uid, part=2, inline=1)) as response:
            assert response.headers["Content-Disposition"].startswith("attachment;")
            assert response.headers["Content-Type"] == "application/octet-stream"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert await response.read() == b"<html><script>alert(1)</script></html>"
        async with client.get("/mail/part?" + query(box="INBOX", uid=uid, part=3)) as response:
            assert "filename*=UTF-8''r%C3%A9sum%C3%A9.pdf" in response.headers["Content-Disposition"]
        async with client.get("/mail/part?" + query(box="INBOX", uid=uid, part=9)) as response:
            assert response.status == 404
        async with client.get("/mail/raw?" + query(box="INBOX", uid=uid)) as response:
            assert response.headers["Content-Type"].startswith("text/plain")
            assert b"Subject: With files" in await response.read()


async def test_send_reply_reaches_inbox_sent_and_imap(web_node: WebNode) -> None:
    alice, bob = web_node.account("alice"), web_node.account("bob")
    uid = web_node.append(alice, message(subject="Lunch?", body="Shall we?", sender=f"Bob <{bob}>", to=alice))
    client = await web_node.login(alice)
    async with client:
        async with client.get("/mail/compose?" + query(mode="reply", box="INBOX", uid=uid)) as response:
            page = await response.text()
        assert "Re: Lunch?" in page and bob in page and "&gt; Shall we?" in page
        token = csrf_of(page)
        async with client.post("/mail/send", data={"csrf": token, "to": bob, "subject": "Re: Lunch?",
                                                   "body": "Yes, at noon.", "answered": f"{uid} INBOX",
                                                   "in_reply_to": "<x@example.org>", "send": "1"},
                               allow_redirects=False) as response:
            assert response.status == 303, await response.text()
        # Without the token nothing is sent.
        async with client.post("/mail/send", data={"to": bob, "subject": "forged", "body": "x", "send": "1"}) as r:
            assert r.status == 403
    received = web_node.messages(bob)
    assert len(received) == 1 and b"Yes, at noon." in received[0] and b"Subject: Re: Lunch?" in received[0]
    assert b"In-Reply-To: <x@example.org>" in received[0] and b"with HTTP (authenticated" in received[0]
    assert b"\n" not in received[0].replace(b"\r\n", b"")
    assert any(b"Yes, at noon." in m for m in web_node.messages(alice, "Sent"))
    with imaplib.IMAP4("127.0.0.1", web_node.ports["imap"]) as imap:
        imap.login(bob, PASSWORD)
        imap.select("INBOX")
        _, data = imap.search(None, "SUBJECT", '"Re: Lunch?"')
        assert data[0].split()
        imap.select("INBOX")
        imap.logout()
    with imaplib.IMAP4("127.0.0.1", web_node.ports["imap"]) as imap:
        imap.login(alice, PASSWORD)
        imap.select("INBOX")
        _, flags = imap.fetch(str(uid), "(FLAGS)")
        assert isinstance(flags[0], bytes) and b"\\Answered" in flags[0]


async def test_send_refuses_too_large_and_unknown_local_recipients(web_node: WebNode) -> None:
    alice = web_node.account("sender", MaxMailOutSize="1K")
    client = await web_node.login(alice)
    async with client:
        async with client.get("/mail/compose") as response:
            token = csrf_of(await response.text())
        async with client.post("/mail/send", data={"csrf": token, "to": "nobody-here@example.com", "subject": "s",
                                                   "body": "x", "send": "1"}) as response:
            assert response.status == 400 and "nobody-here@example.com" in await response.text()
        async with client.post("/mail/send", data={"csrf": token, "to": alice, "subject": "big",
                                                   "body": "x" * 5000, "send": "1"}) as response:
            assert response.status == 400 and "the limit is 1024" in await response.text()
    assert web_node.messages(alice) == []


async def test_drafts_attachments_and_forward_as_attachment(web_node: WebNode) -> None:
    import aiohttp

    alice, carol = web_node.account("drafter"), web_node.account("carol")
    client = await web_node.login(alice)
    async with client:
        async with client.get("/mail/compose") as response:
            token = csrf_of(await response.text())
        form = aiohttp.FormData()
        for key, value in {"csrf": token, "to": carol, "subject": "Plan", "body": "draft body", "save": "1"}.items():
            form.add_field(key, value)
        form.add_field("files", b"one", filename="a.txt", content_type="text/plain")
        form.add_field("files", b"two", filename="b.bin", content_type="application/octet-stream")
        async with client.post("/mail/send", data=form, allow_redirects=False) as response:
            assert response.status == 303
        drafts = web_node.messages(alice, "Drafts")
        assert len(drafts) == 1 and b"draft body" in drafts[0] and b"a.txt" in drafts[0]
        async with client.get("/mail/compose?" + query(mode="draft", box="Drafts", uid=1)) as response:
            page = await response.text()
        assert 'name="keep" value="2"' in page and "b.bin" in page and "draft body" in page
        async with client.post("/mail/send", data={"csrf": token, "to": carol, "subject": "Plan", "body": "final",
                                                   "draft_uid": "1", "keep": ["2", "3"], "send": "1"},
                               allow_redirects=False) as response:
            assert response.status == 303
        assert web_node.messages(alice, "Drafts") == []  # the sent draft is gone
        got = web_node.messages(carol)
        assert len(got) == 1 and b'filename="a.txt"' in got[0] and b'filename="b.bin"' in got[0]
        uid = web_node.append(alice, message(subject="Original", body="original text"))
        async with client.post("/mail/send", data={"csrf": token, "to": carol, "subject": "Fwd: Original",
                                                   "body": "see below", "source_box": "INBOX",
                                                   "source_uid": str(uid), "attach_source": "1", "send": "1"},
                               allow_redirects=False) as response:
            assert response.status == 303
        forwarded = web_node.messages(carol)[-1]
        assert b"Content-Type: message/rfc822" in forwarded and b"original text" in forwarded


async def test_flags_move_delete_trash_and_folders(web_node: WebNode) -> None:
    address = web_node.account("mover")
    uids = [web_node.append(address, message(subject=f"m{i}")) for i in range(4)]
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/list?" + query(box="INBOX")) as response:
            token = csrf_of(await response.text())

        async def act(**form: object) -> int:
            async with client.post("/mail/act", data={"csrf": token, **form}, allow_redirects=False) as r:
                return r.status

        assert await act(box="INBOX", uid=[str(uids[0])], do="flag") == 303
        assert await act(box="INBOX", uid=[str(uids[1])], do="delete") == 303
        assert await act(box="INBOX", uid=[str(uids[2])], do="junk") == 303
        async with client.post("/mail/folders", data={"csrf": token, "do": "create", "name": "Projects"}) as r:
            assert r.status == 200
        assert await act(box="INBOX", uid=[str(uids[3])], do="move", to="Projects") == 303
        assert await act(box="INBOX", uid=[str(uids[0])], do="bogus") == 400
        assert len(web_node.messages(address)) == 1
        assert len(web_node.messages(address, "Trash")) == 1
        assert len(web_node.messages(address, "Junk")) == 1
        assert len(web_node.messages(address, "Projects")) == 1
        async with client.post("/mail/empty", data={"csrf": token, "box": "Trash"}, allow_redirects=False) as r:
            assert r.status == 303
        assert web_node.messages(address, "Trash") == []
        async with client.post("/mail/empty", data={"csrf": token, "box": "INBOX"}) as r:
            assert r.status == 400
        async with client.post("/mail/folders", data={"csrf": token, "do": "rename", "name": "Projects",
                                                      "to": "Work"}) as r:
            assert r.status == 200
        assert len(web_node.messages(address, "Work")) == 1
        async with client.post("/mail/folders", data={"csrf": token, "do": "delete", "name": "Work"}) as r:
            assert r.status == 200
        async with client.post("/mail/folders", data={"csrf": token, "do": "delete", "name": "INBOX"}) as r:
            assert r.status == 400
        async with client.get("/mail/folders") as r:
            page = await r.text()
        assert "Work" not in page and "Junk" in page


async def test_settings_vacation_forwarding_identity_password(web_node: WebNode) -> None:
    address, other = web_node.account("settled"), web_node.account("target")
    client = await web_node.login(address)
    second = await web_node.login(address)
    async with client, second:
        async with client.get("/mail/settings") as response:
            token = csrf_of(await response.text())

        async def change(**form: str) -> str:
            async with client.post("/mail/settings", data={"csrf": token, **form}) as r:
                return await r.text()

        assert "Saved." in await change(do="identity", real_name="Settle Smith", signature="-- S")
        assert "Saved." in await change(do="vacation", enabled="on", vacation="Away until Monday")
        assert "Saved." in await change(do="forwarding", forward=other, keep="on")
        rules = web_node.call(web_node.runtime.directory.account_settings(address))["Rules"]
        names = [r[1] for r in rules]
        assert "#Vacation" in names and "#Redirect" in names
        assert "Mirror to" in str(rules)
        page = await change(do="password", current="wrong", new="n3w-pass", again="n3w-pass")
        assert "current password is wrong" in page
        page = await change(do="password", current=PASSWORD, new="n3w-pass-2", again="n3w-pass-2")
        assert "Password changed" in page
        async with second.get("/mail/", allow_redirects=False) as r:
            assert r.status == 303  # the other session was ended
        async with client.get("/mail/compose") as r:
            assert "Settle Smith" in await r.text()  # the page's own session was renewed with a new cookie
    # Delivery follows the new rules: a copy forwarded, a vacation answer.
    import smtplib

    with smtplib.SMTP("127.0.0.1", web_node.ports["smtp"]) as smtp:
        smtp.sendmail("sender@example.com", [address],
                      f"From: sender@example.com\r\nTo: {address}\r\nSubject: hi\r\n\r\nhello\r\n")
    assert len(web_node.messages(address)) == 1 and len(web_node.messages(other)) == 1


async def test_a_real_name_with_a_line_end_is_refused(web_node: WebNode) -> None:
    """Issue 12 item 6: the name was stored, and every send then failed with a 500."""
    address = web_node.account("crlfname")
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/settings") as response:
            token = csrf_of(await response.text())
        async with client.post("/mail/settings", data={"csrf": token, "do": "identity",
                                                        "real_name": "Alice\r\nBcc: spy@evil.test"}) as r:
            assert r.status == 400
            assert "control characters" in await r.text()
        assert "RealName" not in web_node.call(web_node.runtime.directory.account_settings(address))


async def test_rules_not_allowed_are_refused(web_node: WebNode) -> None:
    address = web_node.account("ruleless", RulesAllowed="None")
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/settings") as response:
            token = csrf_of(await response.text())
        async with client.post("/mail/settings", data={"csrf": token, "do": "vacation", "enabled": "on",
                                                        "vacation": "away"}) as r:
            assert r.status == 400
    assert not web_node.call(web_node.runtime.directory.account_settings(address)).get("Rules")


async def test_contacts_and_address_completion(web_node: WebNode) -> None:
    address = web_node.account("social")
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/contacts") as response:
            token = csrf_of(await response.text())
        async with client.post("/mail/contacts", data={"csrf": token, "do": "add", "name": "Zoë Quinn",
                                                       "email": "zoe@example.net", "phone": "+1 555"}) as r:
            assert r.status == 200 and "Zoë Quinn" in await r.text()
        async with client.get("/mail/complete?q=zo") as r:
            assert "Zoë Quinn <zoe@example.net>" in await r.json()
        async with client.get("/mail/complete?q=social") as r:
            assert address in await r.json()
        async with client.get("/mail/contacts") as r:
            page = await r.text()
        uid = page.split('name="uid" value="')[1].split('"')[0]
        async with client.post("/mail/contacts", data={"csrf": token, "do": "delete", "uid": uid}) as r:
            assert "Zoë" not in await r.text()


async def test_new_mail_event_stream(web_node: WebNode) -> None:
    address = web_node.account("events")
    client = await web_node.login(address)
    async with client, client.get("/mail/events?" + query(box="INBOX")) as response:
        assert response.headers["Content-Type"] == "text/event-stream"
        assert b"connected" in await response.content.readuntil(b"\n\n")
        web_node.append(address, message(subject="ping"))
        chunk = await asyncio.wait_for(response.content.readuntil(b"\n\n"), 10)
        assert chunk.startswith(b"event: changed")


async def test_untrusted_plain_http_refuses_passwords(web_node: WebNode) -> None:
    from polyport.admin import set_trusted_networks
    from polyport.admin.rights import SERVER

    address = web_node.account("plain")
    saved = [str(n) for n in web_node.runtime.trusted.networks]
    # Through the administration API, as SETLANIPS does: every worker of the node hears of it.
    web_node.call(set_trusted_networks(web_node.runtime, SERVER, []))
    await asyncio.sleep(0.3)
    try:
        async with browser(web_node.base) as client, \
                client.post("/login", data={"name": address, "password": PASSWORD}) as response:
            assert response.status == 401 and "TLS" in await response.text()
        async with browser(web_node.tls_base) as client, \
                client.post("/login", data={"name": address, "password": PASSWORD}, allow_redirects=False) as response:
            assert response.status == 303  # the TLS port takes it
        async with browser(web_node.admin) as client, client.get("/metrics") as response:
            assert response.status == 403
    finally:
        web_node.call(set_trusted_networks(web_node.runtime, SERVER, saved))
        await asyncio.sleep(0.3)
    async with browser(web_node.admin) as client, client.get("/metrics") as response:
        assert response.status == 200 and "polyport_connections_open" in await response.text()


async def test_sessions_survive_a_restart(tmp_path: pytest.TempPathFactory) -> None:
    from tests.node_thread import ThreadedNode, free_port, node_config

    config = node_config(tmp_path, "webuser", free_port(), '[network]\ntrusted = ["127.0.0.0/8"]\n')  # type: ignore[arg-type]
    first = ThreadedNode(config).start()
    try:
        first.call(first.runtime.directory.create_account("keep@example.com", password=PASSWORD))
        port = {b.service: b.port for b in first.node.bound_listeners()}["webuser"]
        client = browser(f"http://127.0.0.1:{port}")
        async with client.post("/login", data={"name": "keep@example.com", "password": PASSWORD,
                                               "remember": "on"}, allow_redirects=False) as response:
            assert response.status == 303 and "Max-Age=" in response.headers["Set-Cookie"]
        cookies = client.cookie_jar
        await client.close()
    finally:
        first.stop()
    second = ThreadedNode(config).start()
    try:
        import aiohttp

        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", cookie_jar=cookies) as again, \
                again.get("/mail/", allow_redirects=False) as response:
            assert response.status == 200
    finally:
        second.stop()


async def test_send_refuses_addresses_rcpt_would_refuse(web_node: WebNode) -> None:
    alice = web_node.account("strict")
    client = await web_node.login(alice)
    async with client:
        async with client.get("/mail/compose") as response:
            token = csrf_of(await response.text())
        for bad in ("foo", "x <a@example.org> NOTIFY=SUCCESS", "a@b.c\x00"):
            async with client.post("/mail/send", data={"csrf": token, "to": bad, "subject": "s", "body": "x",
                                                       "send": "1"}) as response:
                assert response.status == 400 and "Not a mail address" in await response.text(), bad
        async with client.post("/mail/send", data={"csrf": token, "to": alice, "subject": "two\r\nBcc: x@evil",
                                                   "body": "x", "send": "1"}, allow_redirects=False) as response:
            assert response.status == 303
    delivered = web_node.messages(alice)
    assert len(delivered) == 1 and b"Subject: two Bcc: x@evil" in delivered[0]


async def test_cross_site_posts_and_tricky_redirects_are_refused(web_node: WebNode) -> None:
    address = web_node.account("origin")
    async with browser(web_node.base) as client:
        async with client.post("/login", data={"name": address, "password": PASSWORD},
                               headers={"Origin": "https://evil.example"}) as response:
            assert response.status == 403
        async with client.post("/login", data={"name": address, "password": PASSWORD},
                               headers={"Sec-Fetch-Site": "cross-site"}) as response:
            assert response.status == 403
        async with client.post("/login", data={"name": address, "password": PASSWORD, "next": "/\t/evil.example/"},
                               headers={"Sec-Fetch-Site": "same-origin"}, allow_redirects=False) as response:
            assert response.status == 303 and response.headers["Location"] == "/mail/"


async def test_inline_images_are_data_urls_in_the_frame(web_node: WebNode) -> None:
    from email.message import EmailMessage

    address = web_node.account("inline")
    png = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4"
           b"\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND"
           b"\xaeB`\x82")
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@example.org", address, "Logo"
    msg.set_content("text")
    msg.add_alternative('<p>Logo: <img src="cid:logo@x"></p>', subtype="html")
    html_part = msg.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    html_part.add_related(png, maintype="image", subtype="png", cid="<logo@x>")
    uid = web_node.append(address, bytes(msg).replace(b"\n", b"\r\n"))
    client = await web_node.login(address)
    async with client, client.get("/mail/body?" + query(box="INBOX", uid=uid)) as response:
        frame = await response.text()
    assert 'src="data:image/png;base64,' in frame


async def test_forwarding_target_must_be_an_address(web_node: WebNode) -> None:
    address = web_node.account("fwdcheck")
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/settings") as response:
            token = csrf_of(await response.text())
        async with client.post("/mail/settings", data={"csrf": token, "do": "forwarding",
                                                        "forward": 'fw"<x>@example.org'}) as response:
            assert response.status == 400 and "Not a mail address" in await response.text()
        async with client.post("/login", data={"name": "x", "password": "y" * 300_000}) as response:
            assert response.status == 413


async def test_malformed_forms_and_a_client_vanishing_mid_upload_leave_nothing(web_node: WebNode) -> None:
    import socket

    from yarl import URL

    address = web_node.account("vanish")
    client = await web_node.login(address)
    async with client:
        async with client.get("/mail/compose") as response:
            token = csrf_of(await response.text())
        cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookie_jar.filter_cookies(URL(web_node.base)).items())
    head = (f"POST /mail/send HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n"
            "Content-Type: multipart/form-data; boundary=x\r\n").encode()
    part = b'--x\r\nContent-Disposition: form-data; name="csrf"\r\n\r\n' + token.encode()
    for body in (b"no boundary anywhere", part + b"\r\n--x\r\ngarbage without headers or end"):
        with socket.create_connection(("127.0.0.1", web_node.ports["webuser"])) as sock:
            sock.sendall(head + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            assert sock.recv(100).startswith(b"HTTP/1.1 400")
    with socket.create_connection(("127.0.0.1", web_node.ports["webuser"])) as sock:
        sock.sendall(head + b"Content-Length: 100000\r\n\r\n" + part + b'\r\n--x\r\nContent-Disposition: form-data; '
                     b'name="to"\r\n\r\n' + address.encode())  # and gone, 99 KB short
    async with browser(web_node.base) as check, check.get("/login") as response:
        assert response.status == 200  # the node still serves
    assert web_node.messages(address) == [] and web_node.messages(address, "Sent") == []
