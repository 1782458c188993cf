"""Push notifications (XEP-0357): a client names an app server (a JID, usually its vendor's push service
on another server) and a node there; when a message waits for the account and no client of it is
connected (it went offline, or its stream is detached waiting to be resumed, XEP-0198), the server
publishes a notification to each such node, from the account's bare JID, through federation (or this
node's router when the app server is ours). The app server then wakes the phone, whose client connects
and takes the message. Notifications carry a summary form with the count and the sender; never the
message's text (it goes through third parties). Registrations are in im/push.py."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import time
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from polyport import log
from polyport.im import PushOptionsTooLarge
from polyport.runtime import Runtime
from polyport.store import StoreError
from polyport.xmpp import wire
from polyport.xmpp.jid import Jid, JidError

if TYPE_CHECKING:
    from polyport.xmpp.router import Router
    from polyport.xmpp.session import XmppSession

DETACHED_EVERY = 30.0  # seconds between notifications for one detached stream (one wakes the phone)
NS = "urn:xmpp:push:0"
SUMMARY = "urn:xmpp:push:summary"
PUSH = "{" + NS + "}"
PUBSUB = "{http://jabber.org/protocol/pubsub}"
DATA = "{jabber:x:data}"
C = "{" + wire.CLIENT_NS + "}"
ID_PREFIX = "push-"  # our notifications' ids: an error answering one is the app server's
COALESCE_SECONDS = 10.0  # one notification an account in this time wakes the phone; the next ones add to its count
SENT_KEPT_SECONDS = 600.0  # how long an answer to a notification is waited for
COUNT_KEPT_SECONDS = 7 * 86_400.0  # a count of messages waiting, without any client binding
ERRORS_KEPT_SECONDS = 7 * 86_400.0  # lasting errors in a row, counted this long
MAX_ERRORS = 16  # lasting errors in a row (as Prosody's push_max_errors) before a registration goes
# Errors that say the app server does not know the device (any more): the registration goes at once.
GONE = frozenset({"item-not-found", "not-authorized", "forbidden", "registration-required", "not-acceptable"})
MAX_NODE = 255
MAX_SERVICE = 1023
# What wakes a phone: a message with a body, an encrypted one (OMEMO, legacy OMEMO, OpenPGP), a call invitation.
WAKING = frozenset({C + "body", "{eu.siacs.conversations.axolotl}encrypted", "{urn:xmpp:omemo:2}encrypted",
                    "{urn:xmpp:openpgp:0}openpgp", "{urn:xmpp:jingle-message:0}propose"})
WAKING_BYTES = (b"<body", b"<encrypted", b"<openpgp", b"<propose")


class PushRefused(Exception):
    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


def _keys(account_id: int) -> tuple[str, str]:
    return f"xmpp:push:window:{account_id}", f"xmpp:push:count:{account_id}"


async def connected(runtime: Runtime, account_id: int) -> None:
    """A client of the account bound (or resumed): it reads what waited, and the count starts again (in the
    shared key-value store: every worker's notifications for the account count together)."""
    for key in _keys(account_id):
        await runtime.kv.delete(key)


async def _sent(runtime: Runtime, iq_id: str, account_id: int, service: str, node: str) -> None:
    await runtime.kv.set(f"xmpp:push:sent:{iq_id}", json.dumps([account_id, service, node]), ttl=SENT_KEPT_SECONDS)


async def _answered(runtime: Runtime, iq_id: str, sender: str, account_id: int) -> tuple[int, str, str] | None:
    """The registration a notification went to, where this is its app server's answer (any worker sent it)."""
    key = f"xmpp:push:sent:{iq_id}"
    found = await runtime.kv.get(key)
    if found is None:
        return None
    try:
        owner, service, node = json.loads(found)
    except ValueError:
        return None
    if service != sender or owner != account_id:
        return None
    await runtime.kv.delete(key)
    return int(owner), str(service), str(node)


def _errors_key(registration: tuple[int, str, str]) -> str:
    digest = hashlib.sha256(f"{registration[1]}\n{registration[2]}".encode()).hexdigest()[:16]
    return f"xmpp:push:errors:{registration[0]}:{digest}"


def worth_waking(stanza: ET.Element[str]) -> bool:
    return stanza.tag == C + "message" and any(child.tag in WAKING for child in stanza)


async def configure(s: XmppSession, iq: ET.Element[str]) -> None:
    """`<enable/>` (with the app server's publish options, as a form) or `<disable/>` (XEP-0357 5, 6)."""
    assert s.identity is not None
    payload = iq[0]
    try:
        service = Jid.parse(payload.get("jid", ""))
    except JidError:
        raise PushRefused("jid-malformed", "the app server's jid") from None
    node = payload.get("node")
    if len(str(service).encode()) > MAX_SERVICE or (node is not None and len(node) > MAX_NODE):
        raise PushRefused("not-acceptable", f"an app server's JID up to {MAX_SERVICE} bytes, a node up to {MAX_NODE}")
    if payload.tag == PUSH + "enable":
        if not node:
            raise PushRefused("bad-request", "enabling names the app server's node")
        form = payload.find(DATA + "x")
        options = wire.serialize(form).decode() if form is not None else ""
        try:
            await s.runtime.push.enable(s.identity.account_id, str(service), node, options)
        except PushOptionsTooLarge as err:
            raise PushRefused("not-acceptable", str(err)) from None
        s.ext.push_enabled.add((str(service), node))
    elif payload.tag == PUSH + "disable":
        await s.runtime.push.disable(s.identity.account_id, str(service), node)
        s.ext.push_enabled = {(svc, n) for svc, n in s.ext.push_enabled if svc != str(service) or node not in (None, n)}
    else:
        raise PushRefused("bad-request", "enable or disable")
    s.result(iq)


def notification(account: Jid, service: str, node: str, options: str, sender: str, count: int) -> ET.Element[str]:
    """The publish to the app server (XEP-0357 7, Example 9)."""
    iq = ET.Element(C + "iq", {"type": "set", "from": str(account.bare), "to": service,
                               "id": f"{ID_PREFIX}{secrets.token_hex(6)}"})
    pubsub = ET.SubElement(iq, PUBSUB + "pubsub")
    publish = ET.SubElement(pubsub, PUBSUB + "publish", {"node": node})
    item = ET.SubElement(ET.SubElement(publish, PUBSUB + "item"), PUSH + "notification")
    form = ET.SubElement(item, DATA + "x", {"type": "submit"})
    fields = [("FORM_TYPE", SUMMARY), ("message-count", str(count))]
    if sender:
        fields.append(("last-message-sender", sender))
    for var, value in fields:
        ET.SubElement(ET.SubElement(form, DATA + "field", {"var": var}), DATA + "value").text = value
    if options:
        parsed = wire.parse_stanza(options)
        if parsed is not None and parsed.tag == DATA + "x":
            ET.SubElement(pubsub, PUBSUB + "publish-options").append(parsed)
    return iq


async def notify(runtime: Runtime, router: Router, account: Jid, account_id: int, sender: str) -> None:
    """A message waits for the account: each registered app server hears it, unless one did within
    COALESCE_SECONDS; then a notification follows when that time is up (with what came meanwhile counted),
    unless a client of the account has bound by then."""
    window, counter = _keys(account_id)
    kv = runtime.kv
    try:
        count = await kv.incr(counter, ttl=COUNT_KEPT_SECONDS)
        if not await kv.set_if_absent(window, "1", ttl=COALESCE_SECONDS):
            if account_id not in router.push_follow_ups:
                router.push_follow_ups.add(account_id)
                router.spawn(_follow_up(runtime, router, account, account_id, sender))
            return
    except Exception:  # the key-value store failed: better a notification too many than none
        log.get(service="xmpp").warning("xmpp.push_uncounted", account=str(account))
        count = 1
    await publish(runtime, router, account, account_id, sender, count)


async def _follow_up(runtime: Runtime, router: Router, account: Jid, account_id: int, sender: str) -> None:
    window, counter = _keys(account_id)
    try:
        left = await runtime.kv.ttl(window)
        await asyncio.sleep(max(0.1, left if left is not None else COALESCE_SECONDS))
        count = await runtime.kv.get(counter)
        if count is None or not await runtime.kv.set_if_absent(window, "1", ttl=COALESCE_SECONDS):
            return  # a client bound (what waited is read), or another worker's notification covers it
    finally:
        router.push_follow_ups.discard(account_id)
    await publish(runtime, router, account, account_id, sender, int(count))


async def publish(runtime: Runtime, router: Router, account: Jid, account_id: int, sender: str, count: int,
                  only: set[tuple[str, str]] | None = None) -> None:
    """The notification to each registration of the account (or those in `only`)."""
    try:
        registrations = await runtime.push.registrations(account_id)
    except StoreError:
        log.get(service="xmpp").warning("xmpp.push_unread", account=str(account))
        return
    federation = router.federation
    shown = sender if runtime.config.xmpp.push_with_sender else ""
    for registration in registrations:
        if only is not None and (registration.service, registration.node) not in only:
            continue
        try:
            service = Jid.parse(registration.service)
            iq = notification(account, registration.service, registration.node, registration.options, shown, count)
            await _sent(runtime, iq.get("id", ""), account_id, registration.service, registration.node)
            if federation is not None and not await federation.is_local(service.domain):
                federation.send(iq)
            elif await _local_may_take(runtime, router, service, account):
                router.deliver_local(iq)
        except Exception:  # one registration's trouble (a malformed JID, the stores) is not the others'
            log.get(service="xmpp").warning("xmpp.push_failed", account=str(account), service=registration.service)


async def _local_may_take(runtime: Runtime, router: Router, service: Jid, account: Jid) -> bool:
    """An app server of ours (a client of one of our accounts): one that the account does not reach by
    blocking, nor another server's with federation off."""
    found = await router.addressee(runtime, service.bare) if service.local else None
    if found is None:
        return False
    return not await router.blocks(runtime, service.bare, found.account_id, account)


async def refused(runtime: Runtime, account_id: int, sender: Jid, error: ET.Element[str]) -> None:
    """An answer to one of our notifications, with an error: one saying the app server no longer knows the
    device ends that registration at once, MAX_ERRORS other lasting ones in a row too (XEP-0357 8); `wait`
    ones count for nothing."""
    try:
        found = await _answered(runtime, error.get("id", ""), str(sender), account_id)
        if found is None:
            return
        element = error.find(C + "error")
        kind = element.get("type") if element is not None else None
        condition = wire.error_condition(element, wire.STANZA_ERRORS_NS)
        if kind == "wait":
            return
        errors = await runtime.kv.incr(_errors_key(found), ttl=ERRORS_KEPT_SECONDS)
        if condition in GONE or errors >= MAX_ERRORS:
            await runtime.kv.delete(_errors_key(found))
            await runtime.push.disable(account_id, found[1], found[2])
            log.get(service="xmpp").info("xmpp.push_disabled", service=found[1], condition=condition or kind)
    except Exception:  # the stores failed: the registration stays; the next error counts again
        log.get(service="xmpp").warning("xmpp.push_error_uncounted", service=str(sender))


async def acknowledged(runtime: Runtime, account_id: int, sender: Jid, result: ET.Element[str]) -> None:
    """The app server took a notification: its errors in a row start again."""
    with contextlib.suppress(Exception):
        found = await _answered(runtime, result.get("id", ""), str(sender), account_id)
        if found is not None:
            await runtime.kv.delete(_errors_key(found))


def waiting(runtime: Runtime, router: Router, account: Jid, account_id: int, sender: str,
            stanza: ET.Element[str] | None = None) -> None:
    """A message was kept offline for the account: notify, in the background, if it is worth waking for."""
    if stanza is not None and not worth_waking(stanza):
        return
    router.spawn(notify(runtime, router, account, account_id, sender))


def detached_delivery(session: XmppSession, data: bytes) -> None:
    """A message went into a detached stream's queue: its own registrations hear it (those it enabled), at
    most every DETACHED_EVERY seconds."""
    if (session.identity is None or session.jid is None or not data.startswith(b"<message")
            or not any(marker in data for marker in WAKING_BYTES) or b"urn:xmpp:carbons:2" in data):
        return
    ext = session._ext
    if ext is None or not ext.push_enabled:
        return
    now = time.monotonic()
    if now - ext.pushed_at < DETACHED_EVERY:
        return
    ext.pushed_at = now
    session.router.spawn(publish(session.runtime, session.router, session.jid, session.identity.account_id, "", 1,
                                 only=set(ext.push_enabled)))
