"""Personal eventing (XEP-0163): every account's bare JID is a publish-subscribe service of its own
(xmpp/pubsub.py reads the requests, im/pep.py keeps the nodes). The account publishes; those who may read a
node (the account itself; with the `presence` or `open` access model, the contacts subscribed to its
presence) are notified at each publish, retraction, purge and deletion, each of their clients that asked
for the node with a `<node>+notify` feature in its entity capabilities (XEP-0115, xmpp/caps.py); and when a
client comes online, it gets the last item of each such node of the account's and of the contacts it is
subscribed to. The server learns a capabilities hash by asking the first client that announces it."""

from __future__ import annotations

import contextlib
import secrets
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from polyport import log
from polyport.im.pep import PepItem, PepRefused, now_ms
from polyport.runtime import Runtime
from polyport.xmpp import caps, pubsub, wire
from polyport.xmpp.jid import Jid, JidError

if TYPE_CHECKING:
    from polyport.xmpp.router import Addressee, Resource, Router
    from polyport.xmpp.session import XmppSession

C = "{" + wire.CLIENT_NS + "}"
DELAY_NS = "urn:xmpp:delay"
MAX_PENDING_CAPS = 8  # capabilities queries one session has outstanding at most


def _refused(err: PepRefused) -> pubsub.PubsubError:
    if err.what == "nodes":
        return pubsub.PubsubError("not-allowed", str(err), "max-nodes-exceeded")
    if err.what == "size":
        return pubsub.PubsubError("not-acceptable", str(err), "payload-too-big")
    return pubsub.PubsubError("resource-constraint", str(err))


class PepService:
    def __init__(self, router: Router, runtime: Runtime) -> None:
        self.router = router
        self.runtime = runtime
        self.caps = caps.CapsCache(runtime.kv)
        self._log = log.get(service="xmpp")

    # -- requests --

    async def request(self, requester: Jid, iq: ET.Element[str], owner: Jid,
                      owner_id: int) -> ET.Element[str] | None:
        """A pubsub request of `requester`'s to `owner`'s service: the result's payload (PubsubError where
        refused). Only the owner changes its nodes; others read them as the node's access model allows."""
        request = pubsub.parse(iq)
        nodes = self.runtime.pep
        if isinstance(request, pubsub.Items):
            stored = await nodes.config(owner_id, request.node)
            if stored is None:
                raise pubsub.PubsubError("item-not-found", f"no node {request.node!r}")
            await self._may_read(requester, owner, owner_id, pubsub.NodeConfig.from_dict(stored))
            items = await nodes.items(owner_id, request.node, last=request.max_items, ids=request.ids)
            if request.ids and not items:
                raise pubsub.PubsubError("item-not-found", "no such item")
            return pubsub.items_result(request.node, [(item.id, item.payload) for item in items])
        if requester.bare != owner:
            raise pubsub.PubsubError("forbidden", "only the account changes its own nodes")
        if isinstance(request, pubsub.Publish):
            options = request.options

            def decide(stored: dict[str, Any] | None) -> dict[str, Any]:
                """The node's configuration for this publish, decided as the node is in the store now."""
                if stored is None:
                    return pubsub.configured(pubsub.NodeConfig(), options, options=True).to_dict()
                return pubsub.configured(pubsub.NodeConfig.from_dict(stored), options, precondition=True,
                                         options=True).to_dict()

            payload = wire.serialize(request.payload).decode()
            try:
                config = pubsub.NodeConfig.from_dict(await nodes.publish(
                    owner_id, request.node, PepItem(request.item_id, now_ms(), payload), decide))
            except PepRefused as err:
                raise _refused(err) from None
            await self.notify(owner, owner_id, request.node, config,
                              pubsub.event(str(owner), request.node, items=[(request.item_id, payload)],
                                           payloads=config.deliver_payloads))
            return pubsub.published_result(request.node, request.item_id)
        if isinstance(request, pubsub.Create):
            config = pubsub.configured(pubsub.NodeConfig(), request.options)
            try:
                created = await nodes.create(owner_id, request.node, config.to_dict())
            except PepRefused as err:
                raise _refused(err) from None
            if not created:
                raise pubsub.PubsubError("conflict", f"the node {request.node!r} exists")
            return None
        stored = await nodes.config(owner_id, request.node)
        if stored is None:
            raise pubsub.PubsubError("item-not-found", f"no node {request.node!r}")
        config = pubsub.NodeConfig.from_dict(stored)
        if isinstance(request, pubsub.Retract):
            gone = [await nodes.retract(owner_id, request.node, item_id) for item_id in request.ids]
            if not any(gone):
                raise pubsub.PubsubError("item-not-found", "no such item")
            if request.notify and config.notify_retract:
                await self.notify(owner, owner_id, request.node, config,
                                  pubsub.event(str(owner), request.node, retracted=request.ids))
            return None
        if isinstance(request, pubsub.Delete):
            await self.notify(owner, owner_id, request.node, config,
                              pubsub.event(str(owner), request.node, deleted=True))
            await nodes.delete(owner_id, request.node)
            return None
        if isinstance(request, pubsub.Purge):
            await nodes.purge(owner_id, request.node)
            await self.notify(owner, owner_id, request.node, config,
                              pubsub.event(str(owner), request.node, purged=True))
            return None
        if request.form is None:
            return pubsub.config_form(request.node, config)
        await nodes.configure(owner_id, request.node, pubsub.configured(config, request.form).to_dict())
        return None

    async def _roster(self, account_id: int, account: Jid) -> tuple[int, list[Any]]:
        from polyport.xmpp import presence  # presence imports the router, which imports this module

        return await presence.roster(self.runtime, self.router, account_id, account)

    async def _may_read(self, requester: Jid, owner: Jid, owner_id: int, config: pubsub.NodeConfig) -> None:
        if requester.bare == owner or config.access_model == "open":
            return
        if config.access_model == "whitelist":
            raise pubsub.PubsubError("not-allowed", "the node is the account's own", "closed-node")
        item = await self.runtime.rosters.item(owner_id, str(requester.bare))
        if (item is None or not item.state.from_) and requester.bare not in await self.router.shared_contacts(
                self.runtime, owner):  # a member of a shared roster group counts as subscribed
            raise pubsub.PubsubError("not-authorized", "subscribe to the account's presence first",
                                     "presence-subscription-required")

    # -- notifications --

    async def notify(self, owner: Jid, owner_id: int, node: str, config: pubsub.NodeConfig,
                     message: ET.Element[str]) -> None:
        """The notification to every client that may read the node and asked for it (`+notify`)."""
        accounts = [owner]
        if config.access_model != "whitelist":
            _, items = await self._roster(owner_id, owner)
            for item in items:
                if item.state.from_:
                    with contextlib.suppress(JidError):
                        contact = await self.router.addressee(self.runtime, Jid.parse(item.contact))
                        if contact is not None and not await self._blocked(owner, owner_id, contact):
                            accounts.append(contact.jid)
        for account in accounts:
            for resource in self.router.available(account):
                if await self._wants(resource, node):
                    self.router.send(resource, wire.addressed(message, resource.jid))

    async def _blocked(self, account: Jid, account_id: int, contact: Addressee) -> bool:
        """Whether either of the two blocks the other (XEP-0191): no events between them."""
        return (await self.router.blocks(self.runtime, account, account_id, contact.jid)
                or await self.router.blocks(self.runtime, contact.jid, contact.account_id, account))

    async def _wants(self, resource: Resource, node: str) -> bool:
        announced = caps.announced(resource.last) if resource.last is not None else None
        if announced is None:
            return False
        nodes = await self.caps.nodes(announced[2], announced[1])
        return nodes is not None and node in nodes

    # -- a client's presence and capabilities --

    async def presence(self, session: XmppSession, stanza: ET.Element[str], initial: bool) -> None:
        """A client's available presence: where its capabilities are new to the server, they are asked
        for; on its first presence (or new capabilities), it gets the last items it wants."""
        announced = caps.announced(stanza)
        if announced is None:
            return
        node, caps_ver, caps_hash = announced
        changed = session.ext.caps_ver != caps_ver
        session.ext.caps_ver = caps_ver
        if not (initial or changed):
            return
        nodes = await self.caps.nodes(caps_hash, caps_ver)
        if nodes is None:
            if session.jid is not None:
                if len(session.ext.caps_pending) >= MAX_PENDING_CAPS:  # unanswered: the oldest is forgotten
                    del session.ext.caps_pending[next(iter(session.ext.caps_pending))]
                query_id = "caps-" + secrets.token_hex(6)
                session.ext.caps_pending[query_id] = (caps_hash, caps_ver)
                iq = ET.Element(C + "iq", {"type": "get", "id": query_id, "from": session.domain,
                                           "to": str(session.jid)})
                iq.append(caps.query(node, caps_ver))
                session.send_stanza(iq)
            return
        await self.send_last(session, nodes)

    async def caps_answer(self, session: XmppSession, iq: ET.Element[str]) -> None:
        """A client's answer to the server's capabilities query: kept where it hashes as announced."""
        pending = session.ext.caps_pending.pop(iq.get("id", ""), None)
        if pending is None or not len(iq):
            return
        caps_hash, caps_ver = pending
        answered = caps.answered_ver(iq[0], caps_hash)
        if answered is None or answered[0] != caps_ver:
            self._log.info("xmpp.caps_mismatch", jid=str(session.jid), ver=caps_ver)
            return
        assert session.identity is not None
        if not await self.caps.learned(caps_hash, caps_ver, answered[1], session.identity.account_id):
            self._log.info("xmpp.caps_not_learned", jid=str(session.jid), reason="too many lately")
            return
        if session.ext.caps_ver == caps_ver:
            await self.send_last(session, caps.notify_nodes(answered[1]))

    async def send_last(self, session: XmppSession, wanted: frozenset[str]) -> None:
        """The last item of each node the client wants, of its account and of the contacts whose presence
        it is subscribed to (XEP-0163 4.3.3)."""
        if not wanted or session.jid is None or session.identity is None:
            return
        own = session.jid.bare
        owners = {session.identity.account_id: own}
        _, items = await self._roster(session.identity.account_id, own)
        for item in items:
            if item.state.to:
                with contextlib.suppress(JidError):
                    found = await self.router.addressee(self.runtime, Jid.parse(item.contact))
                    if found is not None and not await self._blocked(own, session.identity.account_id, found):
                        owners[found.account_id] = found.jid
        for account_id, node, stored, last in await self.runtime.pep.last_items(list(owners), list(wanted)):
            config = pubsub.NodeConfig.from_dict(stored)
            owner = owners[account_id]
            if config.send_last_published_item != "on_sub_and_presence" or (config.access_model == "whitelist"
                                                                             and owner != own):
                continue
            message = pubsub.event(str(owner), node, items=[(last.id, last.payload)],
                                   payloads=config.deliver_payloads)
            ET.SubElement(message, "{" + DELAY_NS + "}delay", {"from": str(owner), "stamp": wire.stamp(last.stamp)})
            message.set("to", str(session.jid))
            session.send_stanza(message)
