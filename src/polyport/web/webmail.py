"""WebUser, the webmail: login, mailboxes, message lists, reading, writing, folders, settings, contacts.

Reads go through the mailstore service; mail is sent through the submission rules SMTP's port 587 uses
(`Delivery.check_sender`, `send_limit`, `submission_recipient`, `deliver` with the account as the
authenticated sender, so it is DKIM-signed and counted the same way); settings change through the
administration API (polyport.admin) as the account, so the CLI/API's rights apply (RulesAllowed, password
rules). Refusals are answered by the web's error middleware (errors.py): a mailbox that is not there is a
404; a page with a form shows it again with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime
import email.utils
import json
import re
import time
import urllib.parse
import weakref
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP
from html import escape
from typing import Any
from urllib.parse import quote, quote_plus

from aiohttp import web
from multidict import MultiDictProxy

from polyport import admin, log
from polyport.auth.login import Identity
from polyport.auth.websessions import USER, WebSession
from polyport.bus import topics as bus_topics
from polyport.bus.events import MailboxChanged
from polyport.delivery import Trace
from polyport.directory import DirectoryError
from polyport.directory.names import mail_address
from polyport.directory.records import ACCOUNT, ALIAS, FORWARDER
from polyport.filters import autoreply
from polyport.kernel.turns import TURN, Turns
from polyport.mailstore import Mailbox, MailstoreError, Summary
from polyport.mailstore import flags as fl
from polyport.runtime import Runtime
from polyport.web import contacts as contacts_module
from polyport.web import listing, render
from polyport.web.app import (
    NEW_SESSION,
    SESSION,
    actor_of,
    client_ip,
    current_session,
    form_with_csrf,
    human_size,
    log_in,
    log_out,
    login_context,
    page,
    runtime_of,
    safe_next,
    session_required,
    set_session_cookie,
    short_time,
)
from polyport.web.errors import FormError, redisplay, settled
from polyport.web.sanitize import text_to_html

ACCESS_MODE = "WebMail"
SPECIAL = ("\\Sent", "\\Drafts", "\\Trash", "\\Junk", "\\Archive")
DEFAULT_NAMES = {"\\Sent": "Sent", "\\Drafts": "Drafts", "\\Trash": "Trash", "\\Junk": "Junk",
                 "\\Archive": "Archive"}
MESSAGE_CSP_BASE = ("default-src 'none'; style-src 'unsafe-inline'; font-src 'none'; frame-ancestors 'self'; "
                    "base-uri 'none'; form-action 'none'; sandbox allow-popups allow-popups-to-escape-sandbox")
# Inline parts shown as images; anything else is a download (SVG can carry script, so it is one too).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/gif", "image/jpeg", "image/webp"})
INLINE_IMAGE_MAX = 4 * 1024 * 1024  # an inline image larger than this is left out of the message view
# A body search reads and parses messages: at most this many, the first in the list's order.
BODY_SEARCH_MAX = 5000
# Summaries read in one statement when a list needs every message's (sorts by sender or subject, threads,
# searches): a few milliseconds each; a 50,000-message mailbox's in one read held the loop for 0.3 s.
SUMMARY_SLICE = 1000
_log = log.get(service="webmail")


# -- session plumbing --------------------------------------------------------------------------------

# Frames, downloads and the event stream answer 401 without a session: a redirect to the login page would
# land inside an iframe or a download.
login_required = session_required(ACCESS_MODE, no_redirect=("/mail/body", "/mail/part", "/mail/events"))


# -- login ---------------------------------------------------------------------------------------------

async def login_page(request: web.Request) -> web.StreamResponse:
    if await current_session(request, ACCESS_MODE) is not None:
        raise web.HTTPSeeOther("/mail/")
    return page(request, "login.html", title="Log in", error=None, name="", admin=False,
                next=safe_next(request.query.get("next"), "/mail/"))


async def login_submit(request: web.Request) -> web.StreamResponse:
    async def prepare(identity: Identity) -> None:
        await runtime_of(request).mailstore.ensure_defaults(identity.account_id)

    return await log_in(request, ACCESS_MODE, home="/mail/", admin=False, prepare=prepare)


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPSeeOther("/mail/")


# -- mailboxes -----------------------------------------------------------------------------------------

async def _mailboxes(runtime: Runtime, session: WebSession) -> list[Mailbox]:
    boxes = [m for m in await runtime.mailstore.mailboxes(session.account_id) if m.mailbox_class is None]
    order = {"INBOX": 0}
    for i, special in enumerate(SPECIAL, 1):
        for box in boxes:
            if box.special_use == special:
                order.setdefault(box.name, i)
    boxes.sort(key=lambda b: (order.get(b.name, 99), b.name.casefold()))
    return boxes


async def _special(runtime: Runtime, session: WebSession, use: str) -> str:
    """The account's mailbox for a special use (\\Sent...), made if missing."""
    for box in await runtime.mailstore.mailboxes(session.account_id):
        if box.special_use == use:
            return box.name
    name = DEFAULT_NAMES[use]
    with contextlib.suppress(MailstoreError):
        await runtime.mailstore.create(session.account_id, name, use)
    return name


async def _mailbox(runtime: Runtime, session: WebSession, name: str) -> Mailbox:
    return await runtime.mailstore.mailbox(session.account_id, name)


def _query(request: web.Request) -> listing.Query:
    q = request.query

    def day(text: str | None) -> datetime.date | None:
        try:
            return datetime.date.fromisoformat(text) if text else None
        except ValueError:
            return None

    sort = q.get("sort", "date")
    return listing.Query(
        sort=sort if sort in listing.SORTS else "date", descending=q.get("order", "desc") != "asc",
        threads=q.get("threads") == "1", text=q.get("q", "")[:200], from_=q.get("from", "")[:200],
        to=q.get("to", "")[:200], subject=q.get("subject", "")[:200], body=q.get("body", "")[:200],
        since=day(q.get("since")), before=day(q.get("before")), unread=q.get("unread") == "1",
        flagged=q.get("flagged") == "1")


async def _order(runtime: Runtime, box: Mailbox, query: listing.Query) -> tuple[listing.Order, Any]:
    """The list's order (cached: see listing.OrderCache) and the mailbox's current index."""
    index = await runtime.mailstore.index(box.id)
    version = index.highestmodseq if listing.depends_on_flags(query) else index.shape
    key = (box.id, box.uidvalidity, version, query)  # ids of deleted mailboxes may be used again
    node = caches(runtime)
    order = node.orders.get(key)
    if order is not None:
        return order, index
    turns = Turns(TURN)  # a module global here, for tests that want a turn at every step
    metas = index.range(1, 2**32 - 1)
    summaries = None
    if query.needs_summaries:
        summaries = await _summaries(runtime, box, index.uids, turns)
    order = await turns.finish(listing.arranging(metas, summaries, query))
    if query.body:
        kept = await _body_filter(runtime, box, list(order.uids[:BODY_SEARCH_MAX]), query.body, turns)
        order = listing.Order(array("I", kept), order.thread_sizes)
    node.orders.put(key, order)
    await turns.share()  # before the caller's page, which is work of its own
    return order, index


async def _summaries(runtime: Runtime, box: Mailbox, uids: Sequence[int], turns: Turns) -> dict[int, Summary]:
    """The summaries of the messages with these UIDs (ascending: an index's), by UID, read SUMMARY_SLICE
    messages at a time. A message gone meanwhile has none; one arrived meanwhile may have one."""
    found: dict[int, Summary] = {}
    for start in range(0, len(uids), SUMMARY_SLICE):
        first, last = uids[start], uids[min(start + SUMMARY_SLICE, len(uids)) - 1]
        found.update((s.uid, s) for s in await runtime.mailstore.summaries(box.id, first, last))
        await turns.share()
    return found


async def _body_filter(runtime: Runtime, box: Mailbox, uids: list[int], text: str, turns: Turns) -> list[int]:
    """The UIDs whose text holds `text`, in the order given. Reads and parses each message: the caller
    limits how many (BODY_SEARCH_MAX, newest first in the usual order)."""
    wanted = text.casefold()
    kept = []
    for start in range(0, len(uids), 200):
        chunk = uids[start:start + 200]
        fulls = {}
        for first, last in listing.runs(chunk):
            fulls.update({m.uid: m for m in await runtime.mailstore.full(box.id, first, last)})
        for uid in chunk:
            full = fulls.get(uid)
            if full is None:
                continue
            data = await runtime.mailstore.read(full.blob, size=full.size)
            if wanted in render.text_of(data, full.structure()).casefold():
                kept.append(uid)
            await turns.share()
    return kept


# What a list row shows of a message that never changes (sender or recipient, subject, both escaped; size)
# by (mailbox id, UIDVALIDITY, UID, which address): paging through a list reads and escapes a message once.
ROW_TEXTS_MAX = 200_000


class NodeCaches:
    """The webmail's caches of one node (its mailstore): sorted orders, list row texts, rendered messages.
    Per node, not per process: mailbox ids of two nodes in one process (tests) must not meet."""

    def __init__(self) -> None:
        self.orders = listing.OrderCache()
        self.row_texts: dict[tuple[int, int, int, str], tuple[str, str, str]] = {}
        self.rendered = RenderCache()


_CACHES: weakref.WeakKeyDictionary[object, NodeCaches] = weakref.WeakKeyDictionary()


def caches(runtime: Runtime) -> NodeCaches:
    found = _CACHES.get(runtime.mailstore)
    if found is None:
        found = _CACHES[runtime.mailstore] = NodeCaches()
    return found


async def _page_rows(runtime: Runtime, box: Mailbox, index: Any, order: listing.Order, uids: list[int]
                     ) -> list[listing.RowView]:
    if not uids:
        return []
    label = "to" if box.special_use in ("\\Sent", "\\Drafts") else "from"
    row_texts = caches(runtime).row_texts
    missing = [uid for uid in uids if (box.id, box.uidvalidity, uid, label) not in row_texts]
    if missing:
        if len(row_texts) > ROW_TEXTS_MAX:
            row_texts.clear()
        for summary in await runtime.mailstore.summaries_of(box.id, missing):
            found = listing.addresses_of(summary, label)
            meta = index.get(summary.uid)
            row_texts[(box.id, box.uidvalidity, summary.uid, label)] = (
                escape(listing.display_name(found[0]) if found else "(nobody)"),
                escape(summary.subject or "(no subject)"), human_size(meta.size) if meta is not None else "")
    views = []
    sizes = order.thread_sizes
    for uid in uids:
        meta = index.get(uid)
        texts = row_texts.get((box.id, box.uidvalidity, uid, label))
        if meta is None or texts is None:
            continue
        flags = meta.flags
        css = " ".join(c for c, on in (("unread", not flags & fl.SEEN), ("flagged", flags & fl.FLAGGED),
                                       ("deleted", flags & fl.DELETED)) if on)
        views.append(listing.RowView(uid, css, texts[0], texts[1], short_time(meta.internal_date), texts[2],
                                     sizes.get(uid, 1) if sizes else 1))
    return views


@login_required
async def message_list(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    name = request.query.get("box", "INBOX")
    box = await _mailbox(runtime, session, name)
    query = _query(request)
    try:
        number = int(request.query.get("page", "1"))
    except ValueError:
        number = 1
    order, index = await _order(runtime, box, query)
    uids, number, pages = listing.paginate(order, number, runtime.config.web.page_size)
    current = listing.Page(await _page_rows(runtime, box, index, order, uids), number, pages, len(order.uids))
    template = "list_rows.html" if request.query.get("partial") == "1" else "list.html"
    opens = "compose?mode=draft&amp;" if box.special_use == "\\Drafts" else "read?"
    return page(request, template, title=name, box=box, boxes=await _mailboxes(runtime, session), query=query,
                current=current, listing=listing, params=_params(request), in_trash=box.special_use == "\\Trash",
                in_junk=box.special_use == "\\Junk",
                rows_html=listing.rows_html(current.rows, f"/mail/{opens}box={quote(box.name, safe='')}&amp;uid="))


_PLAIN = re.compile(r"[A-Za-z0-9_.-]*")


def _query_part(value: str) -> str:
    # urlencode quotes every value the slow way; list links are mostly "INBOX", "date", "2".
    return value if _PLAIN.fullmatch(value) else quote_plus(value)


def _params(request: web.Request, **changes: Any) -> Any:
    """The list's query string with some values changed (links for sorting and paging)."""
    base = {k: v for k, v in request.query.items() if k != "partial"}

    def build(**more: Any) -> str:
        values = {**base, **{k: str(v) for k, v in {**changes, **more}.items()}}
        return "&".join(f"{_query_part(k)}={_query_part(v)}" for k, v in values.items())

    return build


# -- reading -------------------------------------------------------------------------------------------

async def _full(runtime: Runtime, box: Mailbox, uid: int) -> Any:
    found = await runtime.mailstore.full(box.id, uid, uid)
    if not found:
        raise web.HTTPNotFound(text="That message is no longer there.")
    return found[0]


async def _message(runtime: Runtime, box: Mailbox, uid: int) -> tuple[Any, bytes]:
    full = await _full(runtime, box, uid)
    return full, await runtime.mailstore.read(full.blob, size=full.size)


async def _asked(request: web.Request) -> tuple[Runtime, Mailbox, int]:
    """The mailbox (?box=, INBOX by default; the account's rights checked) and message (?uid=) a page is
    about."""
    runtime = runtime_of(request)
    box = await _mailbox(runtime, request[SESSION], request.query.get("box", "INBOX"))
    return runtime, box, _uid(request)


def _uid(request: web.Request) -> int:
    try:
        uid = int(request.query.get("uid", ""))
    except ValueError:
        raise web.HTTPBadRequest(text="uid must be a number") from None
    if not 0 < uid < 2**32:
        raise web.HTTPBadRequest(text="uid out of range")
    return uid


def _part_url(box: str, uid: int) -> Any:
    def url(section: str) -> str:
        return "/mail/part?" + urllib.parse.urlencode({"box": box, "uid": uid, "part": section, "inline": 1})

    return url


class RenderCache:
    """Messages as shown, by (content hash, remote images allowed): the reading page and its frame render
    a message once, and reading it again costs no parse or sanitising. Bounded by the text held."""

    def __init__(self, budget: int = 32 * 1024 * 1024) -> None:
        self.budget = budget
        self.held = 0
        self.entries: OrderedDict[tuple[str, bool], tuple[int, render.RenderedMessage]] = OrderedDict()

    async def get(self, runtime: Runtime, full: Any, allow_remote: bool) -> render.RenderedMessage:
        key = (full.blob, allow_remote)
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
            return found[1]
        data = await runtime.mailstore.read(full.blob, size=full.size)
        structure = full.structure()
        message = render.render_message(data, structure, allow_remote=allow_remote,
                                        part_url=_inline_images(data, structure))
        size = len(message.text or "") + (len(message.html.html) if message.html is not None else 0) + 1024
        self.entries[key] = (size, message)
        self.held += size
        while self.held > self.budget and len(self.entries) > 1:
            _, (dropped, _) = self.entries.popitem(last=False)
            self.held -= dropped
        return message




@login_required
async def read(request: web.Request) -> web.StreamResponse:
    runtime, box, uid = await _asked(request)
    session: WebSession = request[SESSION]
    full = await _full(runtime, box, uid)
    allow_remote = request.query.get("remote") == "1"
    message = await caches(runtime).rendered.get(runtime, full, allow_remote)
    if (not full.flags & fl.SEEN and "w" in box.rights) or "s" in box.rights:
        with contextlib.suppress(MailstoreError):
            if not full.flags & fl.SEEN:
                await runtime.mailstore.store_flags(box, [uid], "add", ["\\Seen"])
    body_url = "/mail/body?" + urllib.parse.urlencode({"box": box.name, "uid": uid, "remote": int(allow_remote)})
    neighbours = await _neighbours(runtime, box, uid, _query(request))
    return page(request, "read.html", title=message.subject or "(no subject)", box=box, uid=uid, message=message,
                boxes=await _mailboxes(runtime, session), body_url=body_url, allow_remote=allow_remote,
                text_html=text_to_html(message.text) if message.text and message.html is None else None,
                flagged=bool(full.flags & fl.FLAGGED), neighbours=neighbours,
                remote_url="/mail/read?" + urllib.parse.urlencode({"box": box.name, "uid": uid, "remote": 1}))


async def _neighbours(runtime: Runtime, box: Mailbox, uid: int, query: listing.Query) -> tuple[int | None, int | None]:
    order, _ = await _order(runtime, box, query)
    i = order.position(uid)
    if i is None:
        return None, None
    uids = order.uids
    return (uids[i - 1] if i > 0 else None, uids[i + 1] if i + 1 < len(uids) else None)


def _inline_images(data: bytes, structure: Any) -> Any:
    """cid: images as data: URLs inside the frame's document: the sandboxed frame has an opaque origin,
    so the browser would send no session cookie with a request for the part."""
    def url(section: str) -> str:
        try:
            content, content_type, _ = render.part_bytes(data, structure, section)
        except KeyError:
            return ""
        if content_type not in INLINE_IMAGE_TYPES or len(content) > INLINE_IMAGE_MAX:
            return ""
        return f"data:{content_type};base64,{base64.b64encode(content).decode()}"

    return url


@login_required
async def body(request: web.Request) -> web.StreamResponse:
    """The HTML of a message, alone, for the reading page's sandboxed frame: its own strict policy (no
    script at all, images only from us unless the user allowed remote ones, a sandbox = a unique origin)."""
    runtime, box, uid = await _asked(request)
    full = await _full(runtime, box, uid)
    allow_remote = request.query.get("remote") == "1"
    message = await caches(runtime).rendered.get(runtime, full, allow_remote)
    html = message.html.html if message.html is not None else text_to_html(message.text or "")
    images = "img-src 'self' data: https: http:" if allow_remote else "img-src 'self' data:"
    document = ("<!doctype html><html><head><meta charset=\"utf-8\"><base target=\"_blank\">"
                "<style>body{font-family:system-ui,sans-serif;margin:0;padding:8px;overflow-wrap:anywhere;contain:paint}"
                "pre.text,pre.plain{white-space:pre-wrap;font-family:inherit}.quote{color:#555}img{max-width:100%;"
                "height:auto}</style></head><body>"
                + (html if message.html is not None else f'<pre class="text">{html}</pre>') + "</body></html>")
    response = web.Response(text=document, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = f"{MESSAGE_CSP_BASE}; {images}"
    return response


@login_required
async def part(request: web.Request) -> web.StreamResponse:
    """An attachment (always a download) or an inline image (shown only when it is a plain image type)."""
    runtime, box, uid = await _asked(request)
    full, data = await _message(runtime, box, uid)
    try:
        content, content_type, filename = render.part_bytes(data, full.structure(), request.query.get("part", ""))
    except KeyError:
        raise web.HTTPNotFound(text="No such part") from None
    inline = request.query.get("inline") == "1" and content_type in INLINE_IMAGE_TYPES
    response = web.Response(body=content, content_type=content_type if inline else "application/octet-stream")
    disposition = "inline" if inline else "attachment"
    response.headers["Content-Disposition"] = (f"{disposition}; filename*=UTF-8''"
                                               f"{urllib.parse.quote(filename or 'attachment')}")
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


@login_required
async def raw(request: web.Request) -> web.StreamResponse:
    runtime, box, uid = await _asked(request)
    _, data = await _message(runtime, box, uid)
    response = web.Response(body=data, content_type="text/plain", charset="utf-8")
    if request.query.get("download") == "1":
        response.headers["Content-Disposition"] = "attachment; filename=message.eml"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# -- acting on messages --------------------------------------------------------------------------------

def _uids(form: MultiDictProxy[Any]) -> list[int]:
    uids = []
    for value in form.getall("uid", []):
        with contextlib.suppress(ValueError):
            uid = int(value)
            if 0 < uid < 2**32:
                uids.append(uid)
    return sorted(set(uids))


@login_required
async def act(request: web.Request) -> web.StreamResponse:
    """Mark read/unread, flag, move, delete (to Trash; for good from Trash), junk: on the checked messages."""
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    form = await form_with_csrf(request)
    box = await _mailbox(runtime, session, str(form.get("box", "INBOX")))
    uids = _uids(form)
    what = str(form.get("do", ""))
    back = safe_next(str(form.get("back", "")), "/mail/list?" + urllib.parse.urlencode({"box": box.name}))
    store = runtime.mailstore
    if what not in ("read", "unread", "flag", "unflag", "delete", "junk", "notjunk", "move"):
        raise web.HTTPBadRequest(text="Unknown action")
    if not uids:
        pass
    elif what in ("read", "unread", "flag", "unflag"):
        flag = "\\Seen" if what in ("read", "unread") else "\\Flagged"
        await store.store_flags(box, uids, "add" if what in ("read", "flag") else "remove", [flag])
    elif what == "delete":
        if box.special_use in ("\\Trash", "\\Junk"):
            await store.store_flags(box, uids, "add", ["\\Deleted"])
            await store.expunge(box, uids)
        else:
            await store.copy(session.account_id, box, uids, await _special(runtime, session, "\\Trash"), move=True)
    elif what == "junk":
        await store.store_flags(box, uids, "add", ["$Junk"])
        await store.store_flags(box, uids, "remove", ["$NotJunk"])
        await store.copy(session.account_id, box, uids, await _special(runtime, session, "\\Junk"), move=True)
    elif what == "notjunk":
        await store.store_flags(box, uids, "add", ["$NotJunk"])
        await store.store_flags(box, uids, "remove", ["$Junk"])
        await store.copy(session.account_id, box, uids, "INBOX", move=True)
    elif what == "move":
        target = str(form.get("to", ""))
        if target and target != box.name:
            await store.copy(session.account_id, box, uids, target, move=True)
    raise web.HTTPSeeOther(back)


@login_required
async def empty(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    form = await form_with_csrf(request)
    box = await _mailbox(runtime, session, str(form.get("box", "")))
    if box.special_use not in ("\\Trash", "\\Junk"):
        raise web.HTTPBadRequest(text="Only Trash and Junk are emptied")
    index = await runtime.mailstore.index(box.id)
    uids = [m.uid for m in index.range(1, 2**32 - 1)]
    if uids:
        await runtime.mailstore.store_flags(box, uids, "add", ["\\Deleted"])
        await runtime.mailstore.expunge(box, uids)
    raise web.HTTPSeeOther("/mail/list?" + urllib.parse.urlencode({"box": box.name}))


# -- writing -------------------------------------------------------------------------------------------

async def _settings(runtime: Runtime, session: WebSession) -> tuple[dict[str, Any], dict[str, Any]]:
    settings = await runtime.directory.effective_account_settings_by_id(session.account_id)
    prefs = await runtime.directory.effective_account_prefs(session.address)
    return settings, prefs


def _re(subject: str, prefix: str) -> str:
    return subject if subject.lower().startswith(prefix.lower()) else f"{prefix} {subject}".strip()


def _quoted(text: str) -> str:
    return "\n".join("> " + line if line else ">" for line in text.strip("\n").split("\n"))


@login_required
async def compose(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    settings, prefs = await _settings(runtime, session)
    mode = request.query.get("mode", "new")
    draft: dict[str, Any] = {"to": request.query.get("to", "")[:1000], "cc": "", "bcc": "", "subject": "",
                             "body": "", "in_reply_to": "", "references": "", "source_box": "", "source_uid": "",
                             "parts": [], "attach_source": False, "draft_uid": "", "answered": ""}
    signature = str(prefs.get("Signature") or "")
    if mode != "new" and request.query.get("uid"):
        box = await _mailbox(runtime, session, request.query.get("box", "INBOX"))
        uid = _uid(request)
        full, data = await _message(runtime, box, uid)
        structure = full.structure()
        original = render.render_message(data, structure, allow_remote=False, part_url=_part_url(box.name, uid))
        text = render.text_of(data, structure)
        draft["source_box"], draft["source_uid"] = box.name, uid
        if mode in ("reply", "replyall"):
            to = original.reply_to or original.from_
            draft["to"] = ", ".join(str(a) for a in to)
            if mode == "replyall":
                me = session.address.casefold()
                others = [a for a in [*original.to, *original.cc]
                          if a.email.casefold() != me and all(a.email != t.email for t in to)]
                draft["cc"] = ", ".join(str(a) for a in others)
            draft["subject"] = _re(original.subject, "Re:")
            draft["in_reply_to"] = original.message_id or ""
            draft["references"] = " ".join([*original.references, original.message_id or ""]).strip()
            who = str(original.from_[0]) if original.from_ else "someone"
            sign_off = f"-- \n{signature}\n" if signature else ""
            draft["body"] = f"\n\n{sign_off}\nOn {original.date}, {who} wrote:\n{_quoted(text)}\n"
            draft["answered"] = f"{uid} {box.name}"  # UID first: a mailbox name may hold any character
        elif mode in ("forward", "forward-attach"):
            draft["subject"] = _re(original.subject, "Fwd:")
            if mode == "forward":
                header = (f"---------- Forwarded message ----------\nFrom: {', '.join(map(str, original.from_))}\n"
                          f"Date: {original.date}\nSubject: {original.subject}\n"
                          f"To: {', '.join(map(str, original.to))}\n\n")
                draft["body"] = f"\n\n{header}{text}"
                draft["parts"] = [a for a in original.attachments if not a.inline]
            else:
                draft["attach_source"] = True
                draft["body"] = f"\n\n-- \n{signature}\n" if signature else ""
        elif mode == "draft":
            draft.update(to=", ".join(map(str, original.to)), cc=", ".join(map(str, original.cc)),
                         subject=original.subject, body=text, in_reply_to=original.in_reply_to or "",
                         references=" ".join(original.references), parts=original.attachments, draft_uid=uid)
    elif signature:
        draft["body"] = f"\n\n-- \n{signature}\n"
    limit = await runtime.delivery.send_limit(session.account_id, runtime.config.mail.max_message_size)
    return page(request, "compose.html", title="Write", draft=draft, mode=mode, limit=limit,
                boxes=await _mailboxes(runtime, session), sender=_from_line(settings, session), error=None)


def _from_line(settings: dict[str, Any], session: WebSession) -> str:
    # One line even for a RealName stored before settings refused control characters.
    name = _one_line(settings.get("RealName") or "", 200)
    return email.utils.formataddr((name, session.address)) if name else session.address


def _one_line(value: Any, limit: int) -> str:
    """A form field for a header: one line (a CR or LF would end the header), at most `limit` characters."""
    return " ".join(str(value).splitlines())[:limit]


def _split_addresses(text: str) -> list[str]:
    return [address for _, address in email.utils.getaddresses([text.replace(";", ",")]) if address]


def _bad_addresses(addresses: list[str]) -> list[str]:
    """Those that are not local@domain as the directory writes addresses (what SMTP's RCPT would refuse
    too: "NOTIFY=SUCCESS", "foo", control characters...)."""
    bad = []
    for address in addresses:
        try:
            mail_address(address, "")
        except DirectoryError:
            bad.append(address)
    return bad


@login_required
async def send(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    limit = await runtime.delivery.send_limit(session.account_id, runtime.config.mail.max_message_size)
    # Uploads may be as large as the account may send (base64 adds a third), and no larger: refused on
    # Content-Length before anything is read, and by the reader past it.
    body_limit = min(runtime.config.web.max_upload, limit * 4 // 3 + 1024 * 1024)
    if request.content_length is not None and request.content_length > body_limit:
        raise web.HTTPRequestEntityTooLarge(max_size=body_limit, actual_size=request.content_length)
    form = await form_with_csrf(request, body_limit)
    settings, _ = await _settings(runtime, session)
    saving = form.get("save") is not None
    to, cc, bcc = (_one_line(form.get(k, ""), 10000) for k in ("to", "cc", "bcc"))
    message = EmailMessage(policy=SMTP)
    message["From"] = _from_line(settings, session)
    if to.strip():
        message["To"] = to
    if cc.strip():
        message["Cc"] = cc
    message["Subject"] = _one_line(form.get("subject", ""), 1000)
    message["Date"] = email.utils.formatdate(localtime=True)
    message["Message-ID"] = email.utils.make_msgid(domain=session.address.rpartition("@")[2])
    for field in ("in_reply_to", "references"):
        value = _one_line(form.get(field, ""), 4000).strip()
        if value:
            message["In-Reply-To" if field == "in_reply_to" else "References"] = value[:4000]
    message["User-Agent"] = "Polyport WebUser"
    message.set_content(str(form.get("body", "")).replace("\r\n", "\n"))
    await _attach(runtime, session, form, message)
    data = _crlf(bytes(message))
    if saving:
        drafts = await _special(runtime, session, "\\Drafts")
        if bcc.strip():
            message["Bcc"] = bcc
            data = _crlf(bytes(message))
        await runtime.mailstore.append(session.account_id, drafts, data, ["\\Draft", "\\Seen"])
        await _drop_old_draft(runtime, session, form)
        raise web.HTTPSeeOther("/mail/list?" + urllib.parse.urlencode({"box": drafts}))

    async def again(error: str) -> web.StreamResponse:
        """The form as it was sent, with the reason it was not."""
        draft: dict[str, Any] = {k: str(form.get(k, "")) for k in ("to", "cc", "bcc", "subject", "body", "in_reply_to",
                                                   "references", "source_box", "source_uid", "draft_uid",
                                                   "answered")}
        draft["parts"] = []
        draft["attach_source"] = False
        return page(request, "compose.html", status=400, title="Write", draft=draft, mode="new", limit=limit,
                    boxes=await _mailboxes(runtime, session), sender=_from_line(settings, session), error=error)

    redisplay(request, again)
    recipients = _split_addresses(to) + _split_addresses(cc) + _split_addresses(bcc)
    bad = _bad_addresses(recipients)
    if bad:
        raise FormError(f"Not a mail address: {', '.join(bad[:5])}")
    if not recipients:
        raise FormError("Add at least one recipient.")
    if len(recipients) > runtime.config.mail.max_recipients:
        raise FormError(f"At most {runtime.config.mail.max_recipients} recipients per message.")
    if len(data) > limit:
        raise FormError(f"The message is {len(data)} bytes; the limit is {limit}.")
    await runtime.delivery.check_sender(session.account_id, session.address, session.address)
    resolved = [await runtime.delivery.submission_recipient(r, len(data)) for r in recipients]
    trace = Trace("webmail", client_ip(request), "HTTPS" if request.secure else "HTTP",
                  authenticated=session.address, verified=True)
    delivered = await runtime.delivery.deliver(session.address, resolved, data, trace)
    _log.info("webmail.sent", account=session.address, id=delivered.id, recipients=len(recipients), size=len(data))
    settled(request)  # sent: nothing after this may look like a failure to send
    sent = await _special(runtime, session, "\\Sent")
    with contextlib.suppress(MailstoreError):
        await runtime.mailstore.append(session.account_id, sent, data, ["\\Seen"])
    answered = str(form.get("answered", ""))
    if " " in answered:
        uid_text, _, name = answered.partition(" ")
        with contextlib.suppress(MailstoreError, ValueError):
            box = await _mailbox(runtime, session, name)
            await runtime.mailstore.store_flags(box, [int(uid_text)], "add", ["\\Answered"])
    await _drop_old_draft(runtime, session, form)
    raise web.HTTPSeeOther("/mail/list?box=INBOX&sent=1")


_BARE_LF = re.compile(rb"(?<!\r)\n")


def _crlf(data: bytes) -> bytes:
    """The email package folds base64 bodies with bare LF even under the SMTP policy: mail has CRLF."""
    return _BARE_LF.sub(b"\r\n", data)


async def _attach(runtime: Runtime, session: WebSession, form: MultiDictProxy[Any], message: EmailMessage) -> None:
    """Uploaded files, parts kept from the source message (a draft, a forward), the whole source (forward as
    attachment)."""
    for upload in form.getall("files", []):
        if isinstance(upload, web.FileField) and upload.filename:
            content = upload.file.read()
            maintype, _, subtype = (upload.content_type or "application/octet-stream").partition("/")
            message.add_attachment(content, maintype=maintype or "application",
                                   subtype=subtype or "octet-stream", filename=upload.filename[:200])
    source_box, source_uid = str(form.get("source_box", "")), str(form.get("source_uid", ""))
    draft_uid = str(form.get("draft_uid", ""))
    keep = [str(k) for k in form.getall("keep", [])]
    source = None
    if draft_uid.isdigit():
        source = (await _special(runtime, session, "\\Drafts"), int(draft_uid))
    elif source_box and source_uid.isdigit():
        source = (source_box, int(source_uid))
    if source is None or not (keep or form.get("attach_source") == "1"):
        return
    box = await _mailbox(runtime, session, source[0])
    full, data = await _message(runtime, box, source[1])
    if form.get("attach_source") == "1":
        message.add_attachment(email.message_from_bytes(data, policy=SMTP))
        return
    structure = full.structure()
    for section in keep:
        with contextlib.suppress(KeyError):
            content, content_type, filename = render.part_bytes(data, structure, section)
            maintype, _, subtype = content_type.partition("/")
            message.add_attachment(content, maintype=maintype, subtype=subtype, filename=filename or "attachment")


async def _drop_old_draft(runtime: Runtime, session: WebSession, form: MultiDictProxy[Any]) -> None:
    draft_uid = str(form.get("draft_uid", ""))
    if not draft_uid.isdigit():
        return
    with contextlib.suppress(MailstoreError):
        box = await _mailbox(runtime, session, await _special(runtime, session, "\\Drafts"))
        await runtime.mailstore.store_flags(box, [int(draft_uid)], "add", ["\\Deleted"])
        await runtime.mailstore.expunge(box, [int(draft_uid)])


@login_required
async def complete(request: web.Request) -> web.StreamResponse:
    """Address suggestions: the account's contacts, then accounts of its domain."""
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    wanted = request.query.get("q", "").strip().casefold()[:100]
    found: list[str] = []
    if len(wanted) >= 1:
        for contact in await contacts_module.load(runtime.mailstore, session.account_id):
            for address in contact.emails:
                line = f"{contact.name} <{address}>" if contact.name else address
                if wanted in line.casefold():
                    found.append(line)
        domain = session.address.rpartition("@")[2]
        with contextlib.suppress(DirectoryError):
            listed = await runtime.directory.list_objects(domain, filter=wanted, limit=20,
                                                          kinds=(ACCOUNT, ALIAS, FORWARDER))
            for entry in listed.objects:
                address = f"{entry.name}@{domain}"
                if address not in found:
                    found.append(address)
    return web.json_response(found[:20])


# -- events --------------------------------------------------------------------------------------------

@login_required
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: "changed" whenever the shown mailbox or INBOX changes (new mail, flags)."""
    from polyport.web.app import STOPPING

    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    box = await _mailbox(runtime, session, request.query.get("box", "INBOX"))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    wanted = {bus_topics.mailbox(box.id)}
    if box.name != "INBOX":
        with contextlib.suppress(MailstoreError):
            wanted.add(bus_topics.mailbox((await _mailbox(runtime, session, 'INBOX')).id))
    subscriptions = [runtime.bus.subscribe(t, queue_size=100) for t in wanted]
    stopping: asyncio.Event = request.app[STOPPING]  # type: ignore[assignment]
    try:
        await response.write(b"retry: 5000\n: connected\n\n")
        waits: dict[asyncio.Future[Any], Any] = {asyncio.ensure_future(s.get()): s for s in subscriptions}
        stop: asyncio.Future[Any] = asyncio.ensure_future(stopping.wait())
        deadline = time.monotonic() + 3600
        while time.monotonic() < deadline:
            done, _ = await asyncio.wait([*waits, stop], timeout=25, return_when=asyncio.FIRST_COMPLETED)
            if stop in done:
                break
            if not done:
                # Still logged in? (logout, a new password or a removed account end the stream too)
                if await runtime.websessions.find(session.token, USER, access_mode=ACCESS_MODE) is None:
                    break
                await response.write(b": keep-alive\n\n")
                continue
            for finished in done:
                subscription = waits.pop(finished)
                if finished.exception() is not None:
                    continue
                event = finished.result()
                payload = json.dumps({"event": event.change if isinstance(event, MailboxChanged) else ""})
                await response.write(f"event: changed\ndata: {payload}\n\n".encode())
                waits[asyncio.ensure_future(subscription.get())] = subscription
        for pending in [*waits, stop]:
            pending.cancel()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        for subscription in subscriptions:
            subscription.close()
    return response


# -- folders -------------------------------------------------------------------------------------------

@login_required
async def folders(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]

    async def show(error: str | None = None) -> web.StreamResponse:
        return page(request, "folders.html", status=400 if error else 200, title="Folders", error=error,
                    boxes=await _mailboxes(runtime, session))

    if request.method == "POST":
        form = await form_with_csrf(request)
        redisplay(request, show)
        what = str(form.get("do", ""))
        name = str(form.get("name", "")).strip()[:500]
        if what == "create" and name:
            await runtime.mailstore.create(session.account_id, name)
        elif what == "rename" and name:
            await runtime.mailstore.rename(session.account_id, name, str(form.get("to", "")).strip()[:500])
        elif what == "delete" and name:
            await runtime.mailstore.delete_tree(session.account_id, name)
        else:
            raise FormError("Say which folder.")
        raise web.HTTPSeeOther("/mail/folders")
    return await show()


# -- settings ------------------------------------------------------------------------------------------

@login_required
async def settings_page(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)

    async def show(error: str | None = None, message: str | None = None) -> web.StreamResponse:
        session: WebSession = request[SESSION]
        settings, prefs = await _settings(runtime, session)
        rules = autoreply.rules_of(settings.get("Rules"))
        forward, keep_copy = autoreply.forwarding_of(rules)
        response = page(request, "settings.html", status=400 if error else 200, title="Settings", message=message,
                        error=error, real_name=settings.get("RealName") or "", signature=prefs.get("Signature") or "",
                        vacation=autoreply.vacation_of(rules), forward=forward, keep_copy=keep_copy,
                        sieve=settings.get("SieveScript") or "", boxes=await _mailboxes(runtime, session),
                        rules_allowed=str(settings.get("RulesAllowed", "Any")))
        fresh = request.get(NEW_SESSION)
        if fresh is not None:
            set_session_cookie(request, response, fresh,
                               fresh.expires - int(time.time()) > runtime.config.web.session_idle)
        return response

    if request.method == "POST":
        form = await form_with_csrf(request)
        redisplay(request, show)
        return await show(message=await _change_settings(request, str(form.get("do", "")), form))
    return await show()


async def _change_settings(request: web.Request, what: str, form: MultiDictProxy[Any]) -> str:
    """The account's own settings, through the administration API as the account (RulesAllowed, PWDAllowed
    and the settings a user may set apply as on the CLI/API)."""
    runtime, actor = runtime_of(request), actor_of(request)
    session: WebSession = request[SESSION]
    address = session.address
    if what == "password":
        current, new, again = (str(form.get(k, ""))[:1024] for k in ("current", "new", "again"))
        if new != again:
            raise FormError("The two new passwords differ.")
        if not await admin.verify_account_password(runtime, actor, address, current,
                                                   login_context(request, ACCESS_MODE)):
            raise FormError("The current password is wrong.")
        await admin.set_account_password(runtime, actor, address, new)
        # The new password ends every session made before it, this one too: it is replaced by a new one.
        await runtime.websessions.end_others(session.account_id)
        remembered = session.expires - int(time.time()) > runtime.config.web.session_idle
        fresh = await runtime.websessions.create(session.account_id, USER, client_ip(request), remember=remembered)
        request[SESSION] = fresh
        request[NEW_SESSION] = fresh
        return "Password changed; your other sessions were logged out."
    if what == "identity":
        name = str(form.get("real_name", "")).strip()[:200]
        signature = str(form.get("signature", "")).replace("\r\n", "\n")[:4000]
        await admin.update_account_settings(runtime, actor, address, {"RealName": name})
        await admin.update_account_prefs(runtime, actor, address, {"Signature": signature})
        return "Saved."
    if what == "vacation":
        text = str(form.get("vacation", "")).replace("\r\n", "\n").strip()[:4000]
        await admin.set_vacation(runtime, actor, address, text if form.get("enabled") == "on" else None)
        return "Saved."
    if what == "forwarding":
        target = str(form.get("forward", "")).strip()[:1000]
        if target and (_bad_addresses(_split_addresses(target)) or not _split_addresses(target)):
            raise FormError(f"Not a mail address: {target}")
        await admin.set_forwarding(runtime, actor, address, target or None, keep_copy=form.get("keep") == "on")
        return "Saved."
    if what == "sieve":
        script = str(form.get("sieve", "")).replace("\r\n", "\n")[:65536]
        await admin.update_account_settings(runtime, actor, address, {"SieveScript": script})
        return "Saved."
    raise FormError("Unknown setting")


@login_required
async def mobileconfig(request: web.Request) -> web.StreamResponse:
    """An Apple configuration profile that sets up this account in Mail (iOS, macOS)."""
    from polyport.web.wellknown import mobileconfig_response

    runtime = runtime_of(request)
    session: WebSession = request[SESSION]
    settings, _ = await _settings(runtime, session)
    return mobileconfig_response(runtime.config, session, str(settings.get("RealName") or ""))


# -- contacts ------------------------------------------------------------------------------------------

@login_required
async def contacts(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    session: WebSession = request[SESSION]

    async def show(error: str | None = None) -> web.StreamResponse:
        people = await contacts_module.load(runtime.mailstore, session.account_id)
        return page(request, "contacts.html", status=400 if error else 200, title="Contacts", error=error,
                    people=people, boxes=await _mailboxes(runtime, session))

    if request.method == "POST":
        form = await form_with_csrf(request)
        redisplay(request, show)
        what = str(form.get("do", ""))
        if what == "add":
            contact = contacts_module.Contact(
                uid="", name=str(form.get("name", "")).strip()[:200],
                emails=tuple(_split_addresses(str(form.get("email", ""))))[:10],
                phones=tuple(p.strip() for p in str(form.get("phone", "")).split(",") if p.strip())[:10],
                note=str(form.get("note", "")).strip()[:2000])
            if not contact.name and not contact.emails:
                raise FormError("A contact needs a name or an address.")
            await contacts_module.add(runtime.mailstore, session.account_id, contact)
        elif what == "delete":
            await contacts_module.delete(runtime.mailstore, session.account_id, _uids(form))
        raise web.HTTPSeeOther("/mail/contacts")
    return await show()


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/", root)
    r.add_get("/login", login_page)
    r.add_post("/login", login_submit)
    r.add_post("/logout", log_out)
    r.add_get("/mail/", message_list)
    r.add_get("/mail/list", message_list)
    r.add_get("/mail/read", read)
    r.add_get("/mail/body", body)
    r.add_get("/mail/part", part)
    r.add_get("/mail/raw", raw)
    r.add_post("/mail/act", act)
    r.add_post("/mail/empty", empty)
    r.add_get("/mail/compose", compose)
    r.add_post("/mail/send", send)
    r.add_get("/mail/complete", complete)
    r.add_get("/mail/events", events)
    r.add_route("*", "/mail/folders", folders)
    r.add_route("*", "/mail/settings", settings_page)
    r.add_route("*", "/mail/contacts", contacts)
    r.add_get("/mail/profile.mobileconfig", mobileconfig)
