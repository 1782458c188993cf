"""The webmail and WebAdmin in a real browser: Debian's Chromium driven by Playwright (never a downloaded
browser). Each test is a whole user flow over HTTP, with mail coming in over SMTP and read back over IMAP:
log in, read, reply; an HTML message's scripts and remote images stay blocked; WebAdmin makes a domain and
an account that can then log in; a phone-sized window; keyboard shortcuts; new mail shown without reload.

Screenshots of the main pages go to the test's tmp_path and to /tmp/web-screens/ for a human to look at.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import imaplib
import os
import re
import shutil
import smtplib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, Route, expect, sync_playwright

from tests.web import conftest as web_conftest
from tests.web.conftest import PASSWORD, POSTMASTER_PASSWORD, WebNode

# The shared node of tests/web/ (module-scoped: one per module), brought into this module for pytest.
web_node = web_conftest.web_node

CHROMIUM = "/usr/bin/chromium"
SCREENS = Path("/tmp/web-screens")
TIMEOUT_MS = 10_000

pytestmark = [
    pytest.mark.interop,
    pytest.mark.slow,
    pytest.mark.skipif(not Path(CHROMIUM).exists(),
                       reason=f"{CHROMIUM} is missing (Debian package: chromium); these tests never download one"),
]


# -- the browser ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for the module; each test gets its own context (cookies, storage)."""
    args = ["--no-sandbox"] if os.geteuid() == 0 else []
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        yield launched
        launched.close()


@dataclass
class Tab:
    """A page in a fresh context, with what it did recorded: script errors, console lines, requests."""

    page: Page
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


@pytest.fixture
def tab(browser: Browser) -> Iterator[Tab]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watched = Tab(page)
    page.on("pageerror", lambda error: watched.errors.append(str(error)))
    page.on("console", lambda line: watched.console.append(f"{line.type}: {line.text}"))
    page.on("request", lambda request: watched.requests.append(request.url))
    yield watched
    context.close()
    assert not watched.errors, f"script errors on the page: {watched.errors}"


def shot(page: Page, tmp_path: Path, name: str) -> Path:
    """A full-page screenshot in the test's folder, copied to /tmp/web-screens/ for a human."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(path, SCREENS / path.name)
    return path


# -- the node ------------------------------------------------------------------------------------------

def login(page: Page, node: WebNode, address: str, password: str = PASSWORD) -> None:
    page.goto(f"{node.base}/login")
    page.fill("input[name=name]", address)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/mail/"))
    expect(page.locator(".who")).to_have_text(address)


def mail(subject: str, to: str, *, sender: str = "Bob <bob@example.org>", text: str = "Hello there.",
         html: str | None = None, message_id: str | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = message_id or email.utils.make_msgid(domain="example.org")
    message.set_content(text)
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def deliver(node: WebNode, message: EmailMessage, recipient: str, sender: str = "bob@example.org") -> None:
    """Over SMTP (port 25 from loopback), as another server would."""
    with smtplib.SMTP("127.0.0.1", node.ports["smtp"], timeout=30) as client:
        refused = client.send_message(message, from_addr=sender, to_addrs=[recipient])
    assert not refused, refused


def wait_for(what: str, check: Callable[[], bool], seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what} after {seconds} s")
        time.sleep(0.05)


def delivered(node: WebNode, address: str, subject: str, mailbox: str = "INBOX") -> list[bytes]:
    """The messages with this subject in an account's mailbox, once there is at least one."""
    found: list[bytes] = []

    def check() -> bool:
        found[:] = [m for m in node.messages(address, mailbox) if subject.encode() in m]
        return bool(found)

    wait_for(f"{subject!r} in {address}'s {mailbox}", check)
    return found


def imap_login(node: WebNode, address: str, password: str = PASSWORD) -> imaplib.IMAP4:
    """Plain IMAP on port 143: LOGIN without TLS is allowed from the trusted loopback."""
    client = imaplib.IMAP4("127.0.0.1", node.ports["imap"], timeout=30)
    typ, detail = client.login(address, password)
    assert typ == "OK", detail
    return client


# -- 1. read and reply ---------------------------------------------------------------------------------

def test_read_and_reply(web_node: WebNode, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    me = web_node.account("reader")
    friend = web_node.account("friend")
    subject = f"Lunch on {me.split('@')[0]}?"
    original_id = email.utils.make_msgid(domain="example.org")
    deliver(web_node, mail(subject, me, text="Shall we have lunch on Friday?", message_id=original_id), me)
    delivered(web_node, me, subject)

    login(page, web_node, me)
    row = page.locator("#rows tr", has_text=subject)
    expect(row).to_be_visible()
    expect(row.locator("td.from")).to_contain_text("Bob")
    expect(row).to_have_class(re.compile(r"\bunread\b"))
    shot(page, tmp_path, "message-list")

    row.locator("td.subject a").click()
    page.wait_for_url(re.compile(r"/mail/read\?"))
    expect(page.locator("h1.subject")).to_have_text(subject)
    expect(page.locator(".body.text")).to_contain_text("Shall we have lunch on Friday?")

    page.get_by_role("link", name="Reply", exact=True).click()
    page.wait_for_url(re.compile(r"/mail/compose\?mode=reply"))
    to = page.locator("input[name=to]")
    expect(to).to_have_value(re.compile(r"bob@example\.org"))
    expect(page.locator("input[name=subject]")).to_have_value(f"Re: {subject}")
    quoted = page.locator("textarea[name=body]").input_value()
    assert "> Shall we have lunch on Friday?" in quoted, quoted
    # Answer a second local account instead of Bob (whose mail would go out to the world), to check it.
    to.fill(friend)
    page.locator("textarea[name=body]").fill("Friday works for me.\n" + quoted)
    shot(page, tmp_path, "compose-reply")
    page.click("button[name=send]")
    page.wait_for_url(re.compile(r"/mail/list\?box=INBOX&sent=1"))

    sent = delivered(web_node, me, f"Re: {subject}", "Sent")
    assert len(sent) == 1
    copy = email.message_from_bytes(sent[0], policy=email.policy.default)
    assert copy["In-Reply-To"] == original_id
    assert friend in copy["To"]

    client = imap_login(web_node, friend)
    try:
        numbers: list[bytes] = []

        def arrived() -> bool:
            client.select("INBOX", readonly=True)
            typ, data = client.search(None, "SUBJECT", f'"Re: {subject}"')
            assert typ == "OK", data
            numbers[:] = data[0].split()
            return bool(numbers)

        wait_for("the reply in the friend's INBOX over IMAP", arrived)
        typ, data = client.fetch(numbers[0].decode(), "(BODY.PEEK[])")
        assert typ == "OK", data
        first = data[0]
        assert isinstance(first, tuple)
        received = email.message_from_bytes(first[1], policy=email.policy.default)
        assert received["From"].addresses[0].addr_spec == me
        assert received["In-Reply-To"] == original_id
        assert "Friday works for me." in received.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    finally:
        client.logout()


def test_reply_marks_the_original_answered(web_node: WebNode, tab: Tab) -> None:
    """The compose form names the original in a hidden field; browsers send a form's line breaks as CRLF,
    which once made the server miss the original (a "box\\nuid" value) and skip \\Answered without a word."""
    page = tab.page
    me = web_node.account("answerer")
    friend = web_node.account("asker")
    subject = f"Question for {me.split('@')[0]}"
    web_node.append(me, bytes(mail(subject, me, sender=friend)))
    login(page, web_node, me)
    page.goto(f"{web_node.base}/mail/compose?mode=reply&box=INBOX&uid=1")
    expect(page.locator("input[name=to]")).to_have_value(friend)
    with page.expect_request(lambda r: r.url.endswith("/mail/send")) as sending:
        page.click("button[name=send]")
    page.wait_for_url(re.compile(r"sent=1"))
    form = sending.value.post_data_buffer or b""
    assert b'name="answered"' in form
    delivered(web_node, friend, f"Re: {subject}")

    client = imap_login(web_node, me)
    try:
        client.select("INBOX", readonly=True)
        typ, data = client.fetch("1", "(FLAGS)")
        assert typ == "OK", data
        flags = data[0]
        assert isinstance(flags, bytes), data
        assert b"\\Answered" in flags, f"the original is not marked answered: {flags!r}"
    finally:
        client.logout()


# -- 2. hostile HTML -----------------------------------------------------------------------------------

HOSTILE = """<html><body>
<p id="hello">The visible HTML paragraph.</p>
<script>window.__pwned=1</script>
<img src=x onerror="window.__pwned=2">
<svg onload="window.__pwned=3"><circle r="4"></circle></svg>
<p><img src="https://evil.example/p.gif" alt="tracker"> after the tracker</p>
</body></html>"""


def test_hostile_html_is_inert(web_node: WebNode, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    me = web_node.account("html")
    subject = "Your invoice (HTML)"
    tried: list[str] = []

    def evil(route: Route, request: Request) -> None:
        tried.append(request.url)
        route.abort()

    page.context.route(re.compile(r"^https?://([^/]*\.)?evil\.example(/|$)"), evil)
    deliver(web_node, mail(subject, me, text="The plain-text alternative.", html=HOSTILE), me)
    delivered(web_node, me, subject)

    login(page, web_node, me)
    page.locator("#rows tr", has_text=subject).locator("td.subject a").click()
    page.wait_for_url(re.compile(r"/mail/read\?"))
    expect(page.locator("p.notice")).to_contain_text("Remote images were blocked")
    iframe = page.locator("iframe.body")
    expect(iframe).to_be_visible()
    sandbox = iframe.get_attribute("sandbox") or ""
    assert "allow-scripts" not in sandbox and "allow-same-origin" not in sandbox, sandbox
    frame = page.frame_locator("iframe.body")
    expect(frame.locator("body")).to_contain_text("The visible HTML paragraph.")
    expect(frame.locator("body")).to_contain_text("after the tracker")
    expect(frame.locator("body")).not_to_contain_text("The plain-text alternative.")
    # Whatever slipped through would have run by now.
    page.wait_for_timeout(300)
    shot(page, tmp_path, "html-message")

    assert page.evaluate("typeof window.__pwned") == "undefined"
    body_frames = [f for f in page.frames if "/mail/body" in f.url]
    assert len(body_frames) == 1, [f.url for f in page.frames]
    # Playwright reaches into the frame through the DevTools protocol; the page's own script cannot: the
    # frame is a unique opaque origin.
    assert body_frames[0].evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("""() => { try { return String(document.querySelector('iframe.body')
        .contentWindow.__pwned); } catch (e) { return 'unreachable'; } }""") == "unreachable"
    shown = frame.locator("body").inner_html().lower()
    for hostile in ("<script", "onerror", "onload", "evil.example", "__pwned"):
        assert hostile not in shown, f"{hostile!r} left in the message's HTML: {shown}"
    # The frame's document has its own policy: no script source at all, a sandbox, no remote images.
    answer = page.context.request.get(body_frames[0].url)
    assert answer.status == 200
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "sandbox" in policy and "script-src" not in policy, policy
    assert "https:" not in policy, policy

    assert not tried, f"requests to evil.example: {tried}"
    assert not [u for u in tab.requests if "evil.example" in u], tab.requests
    assert not [line for line in tab.console if "pwned" in line], tab.console


# -- 3. WebAdmin ---------------------------------------------------------------------------------------

def test_webadmin_domain_and_account(web_node: WebNode, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    web_node.counter += 1
    domain = f"shop{web_node.counter}.test"
    address = f"clerk@{domain}"
    password = "Clerk-pass-42"

    page.goto(f"{web_node.admin}/login")
    expect(page.locator("h1")).to_have_text("Polyport WebAdmin")
    page.fill("input[name=name]", "postmaster@example.com")
    page.fill("input[name=password]", POSTMASTER_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{web_node.admin}/")
    expect(page.locator("h1")).to_have_text("Server")

    page.get_by_role("link", name="Domains", exact=True).click()
    page.wait_for_url(re.compile(r"/domains$"))
    page.fill("input[name=name]", domain)
    page.locator("button[name=do][value=create]").click()
    page.wait_for_url(re.compile(r"/domain\?d=" + re.escape(domain) + "$"))
    expect(page.locator("h1")).to_have_text(domain)
    expect(page.locator("table.grid").first).to_contain_text("MX")
    shot(page, tmp_path, "admin-domain")

    page.get_by_role("link", name="Accounts and aliases").click()
    page.wait_for_url(re.compile(r"/accounts\?d="))
    expect(page.locator("h1")).to_contain_text(domain)
    create = page.locator("form:has(button[value=create])")
    create.locator("input[name=name]").fill("clerk")
    create.locator("input[name=password]").fill(password)
    create.locator("button[value=create]").click()
    page.wait_for_url(re.compile(r"/account\?a="))
    expect(page.locator("h1")).to_have_text(address)
    page.get_by_role("link", name=domain).click()
    expect(page.locator("table.grid")).to_contain_text("clerk")

    client = imap_login(web_node, address, password)
    try:
        typ, data = client.select("INBOX")
        assert typ == "OK", data
    finally:
        client.logout()


def test_webadmin_refuses_a_plain_user(web_node: WebNode, tab: Tab) -> None:
    page = tab.page
    user = web_node.account("plain")
    page.goto(f"{web_node.admin}/login")
    page.fill("input[name=name]", user)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_response(lambda r: r.url.endswith("/login") and r.request.method == "POST") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 403
    expect(page.locator(".error")).to_contain_text("does not administer")
    # No session was made: the dashboard still asks for a login.
    page.goto(f"{web_node.admin}/")
    page.wait_for_url(re.compile(r"/login\?next="))


# -- 4. a phone --------------------------------------------------------------------------------------

def test_phone_sized_window(web_node: WebNode, tab: Tab, tmp_path: Path) -> None:
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 844})
    me = web_node.account("phone")
    long_subject = "A rather long subject line " * 6 + "Supercalifragilisticexpialidocious" * 3
    deliver(web_node, mail(long_subject.strip(), me, sender="Someone With A Very Long Display Name "
                           "<someone.with.a.long.address@example.org>"), me)
    deliver(web_node, mail("Short one", me), me)
    wait_for("two messages", lambda: len(web_node.messages(me)) == 2)

    login(page, web_node, me)
    expect(page.locator("#rows tr[data-uid]")).to_have_count(2)
    boxes = page.locator("aside.boxes")
    expect(boxes).to_be_visible()
    expect(boxes.get_by_role("link", name=re.compile(r"^INBOX"))).to_be_visible()
    inbox = boxes.get_by_role("link", name=re.compile(r"^INBOX")).bounding_box()
    assert inbox is not None and inbox["x"] >= 0 and inbox["x"] + inbox["width"] <= 390, inbox
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    shot(page, tmp_path, "phone-list")
    assert widths[0] <= widths[1] + 1, f"horizontal overflow on a phone: scrollWidth {widths[0]} > {widths[1]}"
    # The subject cell is cut with an ellipsis rather than widening the page.
    expect(page.locator("#rows tr", has_text="Short one")).to_be_visible()


# -- 5. keyboard -------------------------------------------------------------------------------------

def test_keyboard_shortcuts(web_node: WebNode, tab: Tab) -> None:
    page = tab.page
    me = web_node.account("keys")
    web_node.append(me, bytes(mail("Keyboard test", me)))
    login(page, web_node, me)
    page.locator("#rows tr", has_text="Keyboard test").locator("td.subject a").click()
    page.wait_for_url(re.compile(r"/mail/read\?"))
    page.wait_for_load_state("load")  # app.js is deferred
    page.keyboard.press("u")
    page.wait_for_url(re.compile(r"/mail/list\?box=INBOX$"))
    expect(page.locator("#rows")).to_contain_text("Keyboard test")
    page.wait_for_load_state("load")
    page.keyboard.press("c")
    page.wait_for_url(re.compile(r"/mail/compose$"))
    expect(page.locator("textarea[name=body]")).to_be_visible()
    # Typing in a field is typing, not a shortcut.
    page.locator("input[name=subject]").press("u")
    expect(page.locator("input[name=subject]")).to_have_value("u")
    assert page.url.endswith("/mail/compose")


# -- 6. new mail without reload ------------------------------------------------------------------------

def test_new_mail_appears_without_reload(web_node: WebNode, tab: Tab) -> None:
    page = tab.page
    me = web_node.account("live")
    web_node.append(me, bytes(mail("Already here", me)))
    with page.expect_response(lambda r: "/mail/events" in r.url, timeout=TIMEOUT_MS) as stream:
        login(page, web_node, me)
    assert stream.value.status == 200
    assert (stream.value.headers.get("content-type") or "").startswith("text/event-stream")
    expect(page.locator("#rows")).to_contain_text("Already here")
    page.evaluate("window.__sameDocument = 'yes'")
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)

    started = time.monotonic()
    deliver(web_node, mail("Fresh off the wire", me), me)
    expect(page.locator("#rows")).to_contain_text("Fresh off the wire", timeout=10_000)
    took = time.monotonic() - started
    assert page.evaluate("window.__sameDocument") == "yes", "the page was reloaded"
    assert not navigations, navigations
    expect(page.locator("#rows tr[data-uid]")).to_have_count(2)
    expect(page.locator(".pages")).to_contain_text("2 messages")
    assert took < 10, took


def test_drag_a_message_onto_a_mailbox(web_node: WebNode, tab: Tab) -> None:
    page = tab.page
    me = web_node.account("dragger")
    web_node.append(me, bytes(mail("Drag me", me)))
    web_node.append(me, bytes(mail("Stay here", me)))
    login(page, web_node, me)
    page.locator("#rows tr", has_text="Drag me").drag_to(page.locator(".boxes a", has_text="Archive"))
    wait_for("the message to move", lambda: len(web_node.messages(me, "Archive")) == 1)
    assert b"Drag me" in web_node.messages(me, "Archive")[0]
    assert len(web_node.messages(me)) == 1
