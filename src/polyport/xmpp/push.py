"""Push notifications (XEP-0357): a client names an app server (a JID, usually its vendor's push service
on another server) and a node there; when a message waits for the account and no client of it is
connected (it went offline, or its stream is detached waiting to be resumed, XEP-0198), the server
publishes a notification to each such node, from the account's bare JID, through federation (or this
node's router when the app server is ours). The app server then wakes the phone, whose client connects
and takes the message. Notifications carry a summary form with the count and the sender; never the
message's text (it goes through third parties). Registrations are in im/push.py."""

from __future__ import annotations

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

NS = "urn:xmpp:push:0"
SUMMARY = "urn:xmpp:push:summary"
PUSH = "{" + NS + "}"
PUBSUB = "{http://jabber.org/protocol/pubsub}"
DATA = "{jabber:x:data}"
C = "{" + wire.CLIENT_NS + "}"
ID_PREFIX = "push-"  # our notifications' ids: an error answering one is the app server's
DETACHED_EVERY = 30.0  # seconds between notifications for one detached stream (one wakes the phone)


class PushRefused(Exception):
    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


async def configure(s: XmppSession, iq: ET.Element[str]) -> None:
    """`<enable/>` (with the app server's publish options, as a form) or `<disable/>` (XEP-0357 5, 6)."""
    assert s.identity is not None
    payload = iq[0]
    try:
        service = Jid.parse(payload.get("jid", ""))
    except JidError:
        raise PushRefused("jid-malformed", "the app server's jid") from None
    node = payload.get("node")
    if payload.tag == PUSH + "enable":
        if not node:
            raise PushRefused("bad-request", "enabling names the app server's node")
        form = payload.find(DATA + "x")
        options = wire.serialize(form).decode() if form is not None else ""
        try:
            await s.runtime.push.enable(s.identity.account_id, str(service), node, options)
        except PushOptionsTooLarge as err:
            raise PushRefused("not-acceptable", str(err)) from None
    elif payload.tag == PUSH + "disable":
        await s.runtime.push.disable(s.identity.account_id, str(service), node)
    else:
        raise PushRefused("bad-request", "enable or disable")
    s.result(iq)


def notification(account: Jid, service: str, node: str, options: str, sender: str) -> ET.Element[str]:
    """The publish to the app server (XEP-0357 7, Example 9)."""
    iq = ET.Element(C + "iq", {"type": "set", "from": str(account.bare), "to": service,
                               "id": f"{ID_PREFIX}{secrets.token_hex(6)}"})
    pubsub = ET.SubElement(iq, PUBSUB + "pubsub")
    publish = ET.SubElement(pubsub, PUBSUB + "publish", {"node": node})
    item = ET.SubElement(ET.SubElement(publish, PUBSUB + "item"), PUSH + "notification")
    form = ET.SubElement(item, DATA + "x", {"type": "submit"})
    fields = [("FORM_TYPE", SUMMARY), ("message-count", "1")]
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
    """A message waits for the account: each registered app server hears it."""
    try:
        registrations = await runtime.push.registrations(account_id)
    except StoreError:
        log.get(service="xmpp").warning("xmpp.push_unread", account=str(account))
        return
    federation = router.federation
    for registration in registrations:
        try:
            service = Jid.parse(registration.service)
        except JidError:
            continue
        iq = notification(account, registration.service, registration.node, registration.options, sender)
        if federation is not None and not await federation.is_local(service.domain):
            federation.send(iq)
        elif federation is None and not await _ours(runtime, service.domain):
            continue  # another server's app server, with federation off: nothing can reach it
        else:
            router.deliver_local(iq)


async def _ours(runtime: Runtime, domain: str) -> bool:
    from polyport.directory.errors import DirectoryError

    try:
        await runtime.directory.domain(domain)
    except DirectoryError:
        return False
    return True


async def refused(runtime: Runtime, account_id: int, service: Jid, error: ET.Element[str]) -> None:
    """The app server answered a notification with an error: a lasting one (not `wait`) ends its
    registrations (XEP-0357 8: the app server forgot the device, or the secret is no longer good)."""
    condition = error.find(C + "error")
    if condition is None or condition.get("type") == "wait":
        return
    await runtime.push.disable(account_id, str(service))
    log.get(service="xmpp").info("xmpp.push_disabled", service=str(service), reason=condition.get("type"))


def waiting(runtime: Runtime, router: Router, account: Jid, account_id: int, sender: str) -> None:
    """A message was kept offline for the account: notify, in the background."""
    router.spawn(notify(runtime, router, account, account_id, sender))


def detached_delivery(session: XmppSession, data: bytes) -> None:
    """A message went into a detached stream's queue: notify, at most every DETACHED_EVERY seconds."""
    if session.identity is None or session.jid is None or not data.startswith(b"<message") or b"<body" not in data:
        return
    now = time.monotonic()
    if now - session.ext.pushed_at < DETACHED_EVERY:
        return
    session.ext.pushed_at = now
    waiting(session.runtime, session.router, session.jid, session.identity.account_id, "")
