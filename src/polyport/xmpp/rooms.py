"""Multi-user chat services (XEP-0045): `conference.<domain>` (the label is `[xmpp] rooms`) for each domain
served, and their rooms, on the worker's router.

Each room lives in one worker (its home) at a time, so that one place orders what its occupants say: the
key-value store shared by the workers (and the cluster's nodes) names the router that holds a room, as a
lease it renews every RENEW_EVERY seconds and that lapses after LEASE_SECONDS without it. A stanza for a room
is handled where it arrives if this router holds the room or wins its lease, else handed to the holder over
the bus (`XmppRoomStanza`); the room's answers go out through the router like any stanza. A holder that dies
takes its temporary rooms and its occupants' presence with it (their clients' XEP-0410 self-pings tell them
to enter again); persistent rooms are read again from the store by whichever router holds them next.

Persistent rooms (their configuration, affiliations and subject) are kept in the store (im/rooms.py) at
each change, and their messages in the room archive (im/archive.py's ROOMS, for `[xmpp] room_history_days`),
which clients query as XEP-0313 says for rooms. A temporary room goes when its last occupant leaves. An
occupant whose client the router no longer knows (gone without a word: its worker died) is removed when the
room next writes to it (status 333).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import TYPE_CHECKING
from xml.etree import ElementTree as ET

from polyport import log, metrics
from polyport.bus.events import XmppRoomHeld, XmppRoomStanza
from polyport.directory.errors import DirectoryError
from polyport.errors import ServiceError
from polyport.im import ArchiveItemNotFound, OfflineFull
from polyport.im.archive import Archived, new_id
from polyport.runtime import Runtime
from polyport.xmpp import mam, muc, wire
from polyport.xmpp.jid import Jid, JidError

if TYPE_CHECKING:
    from polyport.xmpp.router import Router

C = "{" + wire.CLIENT_NS + "}"
LEASE_SECONDS = 60.0
RENEW_EVERY = 20.0
HOME_KEPT_SECONDS = 10.0  # how long a router trusts what it read of another's lease
SERVICES_KEPT_SECONDS = 60.0  # how long a domain's being served (or not) is trusted
MAX_ROOMS = 10_000  # rooms one router holds at most (temporary rooms are memory)
MAX_CREATED = 50  # rooms one account owns at most among those a router holds
MAX_HOPS = 2  # times a stanza is handed between routers that each think the other holds its room
ANNOUNCE_EVERY = 3  # lease renewals between announcements of the rooms held (for administrators' lists)
FORGET_AFTER = 150.0  # seconds after which another router's room not announced again is forgotten
SERVICE_NAME = "Chat rooms"


class RoomService:
    def __init__(self, router: Router, runtime: Runtime) -> None:
        self.router = router
        self.runtime = runtime
        self.label = runtime.config.xmpp.rooms
        self.rooms: dict[Jid, muc.Room] = {}  # the rooms this router holds, by bare JID
        self.room_ids: dict[Jid, int] = {}  # the store's ids of those that are persistent
        self._homes: dict[Jid, tuple[str, float]] = {}  # other routers' rooms, as their leases said
        self._services: dict[str, tuple[bool, float]] = {}  # service domain -> whether it is one, until
        self._opening: dict[Jid, asyncio.Future[muc.Room | str | None]] = {}
        self._saving: dict[Jid, asyncio.Lock] = {}
        self._saving_now: dict[Jid, int] = {}  # rooms being saved: kept in memory until it is done
        self._announced: dict[Jid, str] = {}  # what the other routers were last told of each room held here
        self.elsewhere: dict[Jid, tuple[dict[str, object], float]] = {}  # other routers' rooms: summary, heard
        self._log = log.get(service="xmpp")

    # -- which addresses are rooms --

    async def serves(self, jid: Jid) -> bool:
        """Whether `jid` is a MUC service of this server, or a room or occupant of one."""
        if not self.label or not jid.domain.startswith(self.label + "."):
            return False
        known = self._services.get(jid.domain)
        now = time.monotonic()
        if known is not None and known[1] > now:
            return known[0]
        parent = jid.domain[len(self.label) + 1:]
        try:
            domain = await self.runtime.directory.domain(parent)
            served = domain.name == parent  # the domain's own name: an alias has no service of its own
        except DirectoryError:
            served = False
        if served:
            try:  # a domain of its own (conference.example.com hosting accounts) is not a chat service
                await self.runtime.directory.domain(jid.domain)
                served = False
            except DirectoryError:
                pass
        if len(self._services) > 10_000:
            self._services.clear()
        self._services[jid.domain] = (served, now + SERVICES_KEPT_SECONDS)
        return served

    # -- stanzas in --

    async def submit(self, stanza: ET.Element[str], sender: Jid) -> None:
        """A stanza a client of this worker sent (`from` stamped: its full JID) to a service, room or occupant."""
        await self._guarded(stanza, sender, 0)

    async def forwarded(self, event: XmppRoomStanza) -> None:
        """A stanza another router handed to this one (it read that this one holds the room)."""
        stanza = wire.parse_stanza(event.stanza)
        if stanza is None:
            return
        try:
            sender = Jid.parse(stanza.get("from", ""))
        except JidError:
            return
        await self._guarded(stanza, sender, event.hops)

    async def _guarded(self, stanza: ET.Element[str], sender: Jid, hops: int) -> None:
        try:
            to = Jid.parse(stanza.get("to", ""))
            if not to.local:
                await self._service_stanza(stanza, sender, to)
                return
            await self.handle(stanza, sender, hops)
        except Exception:  # the store or the key-value store failed: the sender hears it, its stream goes on
            self._log.exception("xmpp.room_failed", room=stanza.get("to", ""))
            if stanza.get("type") not in ("error", "result"):
                self.send(wire.stanza_error(stanza, "internal-server-error"))

    def _hand_over(self, stanza: ET.Element[str], home: str, hops: int) -> None:
        if hops >= MAX_HOPS:  # two routers that each think the other holds it: the lease is settling
            if stanza.get("type") not in ("error", "result"):
                self.send(wire.stanza_error(stanza, "recipient-unavailable", "the room is moving; try again"))
            return
        self.router.publish(XmppRoomStanza(self.router.origin, home, wire.serialize(stanza).decode(), hops + 1))

    async def handle(self, stanza: ET.Element[str], sender: Jid, hops: int = 0) -> None:
        """A stanza for a room: handled here if this router holds the room, or can (it is read from the
        store, or created, under this router's lease), else handed to the router that holds it."""
        to = Jid.parse(stanza.get("to", ""))
        jid = to.bare
        room = self.rooms.get(jid)
        if room is None:
            home = await self._home(jid)
            if home is not None and home != self.router.origin:
                self._hand_over(stanza, home, hops)
                return
            opened = await self._open(jid)
            room = self.rooms.get(jid)  # opened here, or created meanwhile by a stanza handled before this one
            if room is None and isinstance(opened, str):
                self._hand_over(stanza, opened, hops)  # another router took its lease meanwhile
                return
        kind = stanza.tag
        try:
            if room is None:
                if kind == C + "presence" and stanza.get("type") is None:
                    if stanza.find("{" + muc.NS + "}x") is None:  # 7.2.1: not a way to make a room
                        self.send(muc.Room(jid, new_id=new_id).not_in(sender, to.resource))
                        return
                    room = await self._create(jid, stanza, sender, hops)
                    if room is None:
                        return
                    outcome = room.enter(stanza, sender, to.resource, created=True)
                else:
                    if kind != C + "presence" and stanza.get("type") not in ("error", "result"):
                        raise muc.MucError("item-not-found", f"there is no room {jid}")
                    return
            elif kind == C + "presence":
                outcome = room.presence(stanza, sender, to.resource)
            elif kind == C + "message":
                outcome = room.message(stanza, sender, to.resource)
            elif (not to.resource and len(stanza) and stanza[0].tag == "{" + mam.NS + "}query"
                  and stanza.get("type") in ("get", "set")):
                await self._archive_query(room, stanza, sender)
                return
            else:
                outcome = room.iq(stanza, sender, to.resource)
        except muc.MucError as err:
            if stanza.get("type") not in ("error", "result"):
                self.send(wire.stanza_error(stanza, err.condition, err.text))
            if room is not None and room.empty:
                self._let_go(room)  # a room whose creator could not enter it, or a stored one nobody is in
            return
        await self._carry_out(room, outcome)

    # -- the rooms this router holds --

    async def _open(self, jid: Jid) -> muc.Room | str | None:
        """The stored room, read and held here under this router's lease (with its last messages as its
        history); None where there is no such room; the holder's origin where another router holds it."""
        opening = self._opening.get(jid)
        if opening is not None:
            return await asyncio.shield(opening)
        future: asyncio.Future[muc.Room | str | None] = asyncio.get_running_loop().create_future()
        self._opening[jid] = future
        try:
            found = await self._load(jid)
        except BaseException as err:
            future.set_exception(err)
            future.exception()  # retrieved: those waiting get it
            raise
        else:
            future.set_result(found)
            return found
        finally:
            del self._opening[jid]

    async def _load(self, jid: Jid) -> muc.Room | str | None:
        stored = await self.runtime.rooms.load(jid.domain, jid.local)
        if stored is None:
            return None
        holder = await self._claim(jid)
        if holder != self.router.origin:
            return holder
        if len(self.rooms) >= MAX_ROOMS:
            self._unload_idle()
        room = muc.Room(jid, muc.Config.from_dict(stored.state.get("config", {})),
                        _affiliations(stored.state.get("affiliations", {})),
                        subject=str(stored.state.get("subject", "")),
                        subject_by=str(stored.state.get("subject_by", "")), new_id=new_id)
        if room.archiving:  # the history newcomers get survives the room's leaving memory (and restarts)
            page = await self.runtime.room_archive.query(stored.id, limit=muc.MAX_HISTORY, last_page=True)
            for item in page.items:
                message = wire.parse_stanza(item.stanza)
                if message is not None:
                    room.remember(item.stamp / 1000, message)
        self._hold(room)
        self.room_ids[jid] = stored.id
        return room

    async def _create(self, jid: Jid, stanza: ET.Element[str], creator: Jid, hops: int) -> muc.Room | None:
        if len(self.rooms) >= MAX_ROOMS:
            self._unload_idle()
        if len(self.rooms) >= MAX_ROOMS:
            self.send(wire.stanza_error(stanza, "resource-constraint", "this server holds too many rooms"))
            return None
        owned = sum(1 for room in self.rooms.values() if room.affiliations.get(creator.bare) == "owner")
        if owned >= MAX_CREATED:
            self.send(wire.stanza_error(stanza, "policy-violation", f"you own {MAX_CREATED} rooms already"))
            return None
        holder = await self._claim(jid)
        if jid in self.rooms:  # made by a stanza handled while the lease was being taken
            return self.rooms[jid]
        if holder != self.router.origin:
            self._hand_over(stanza, holder, hops)
            return None
        # 10.1.1: the new room stays locked until its owner configures it or accepts the defaults.
        room = muc.Room(jid, muc.Config(), {creator.bare: "owner"}, locked=True, new_id=new_id)
        self._hold(room)
        self._log.info("xmpp.room_created", room=str(jid), owner=str(creator.bare))
        return room

    def _unload_idle(self) -> None:
        """Persistent rooms nobody is in leave memory (they stay in the store) to make room for others."""
        for room in [room for room in self.rooms.values() if room.empty and room.config.persistent]:
            self._let_go(room)

    def _hold(self, room: muc.Room) -> None:
        self.rooms[room.jid] = room
        self._homes.pop(room.jid, None)
        self.elsewhere.pop(room.jid, None)
        metrics.xmpp_rooms.set(len(self.rooms))

    def _let_go(self, room: muc.Room) -> None:
        """A room nobody is in leaves this router: a temporary one is gone, a persistent one stays stored."""
        if room.empty and room.jid not in self._saving_now:
            self._drop(room)

    def _drop(self, room: muc.Room) -> None:
        if self.rooms.get(room.jid) is room:
            del self.rooms[room.jid]
            self.room_ids.pop(room.jid, None)
            self._saving.pop(room.jid, None)
            metrics.xmpp_rooms.set(len(self.rooms))
            if self._announced.pop(room.jid, None) is not None:
                self.router.publish(XmppRoomHeld(self.router.origin, str(room.jid), gone=True))
            self.router.spawn(self._release(room.jid))

    async def _carry_out(self, room: muc.Room, outcome: muc.Outcome) -> None:
        self.deliver(room, outcome.sends)
        if outcome.changed or (outcome.sends and outcome.sends[0].tag == C + "presence"):
            self.announce(room)  # its configuration or its occupants may have changed: administrators see it
        if outcome.destroyed:
            self._drop(room)
            if room.config.persistent or room.jid in self.room_ids:
                await self.runtime.rooms.delete(room.jid.domain, room.jid.local)
            self._log.info("xmpp.room_destroyed", room=str(room.jid))
            return
        if outcome.changed:
            await self._save(room)
        if outcome.archived is not None:
            await self._archive(room, outcome.archived, outcome.archived_nick, outcome.archived_id)
        if room.empty:
            self._let_go(room)

    async def _save(self, room: muc.Room) -> None:
        """The room's state into the store (a persistent room), or out of it (no longer persistent)."""
        lock = self._saving.setdefault(room.jid, asyncio.Lock())
        self._saving_now[room.jid] = self._saving_now.get(room.jid, 0) + 1
        try:
            await self._save_locked(room, lock)
        finally:
            self._saving_now[room.jid] -= 1
            if not self._saving_now[room.jid]:
                del self._saving_now[room.jid]

    async def _save_locked(self, room: muc.Room, lock: asyncio.Lock) -> None:
        async with lock:  # one save of a room at a time, each the state as it is then: the last one wins
            if room.config.persistent:
                try:
                    self.room_ids[room.jid] = await self.runtime.rooms.save(
                        room.jid.domain, room.jid.local, room.jid.domain[len(self.label) + 1:], room.stored())
                except ServiceError as err:
                    self._log.warning("xmpp.room_not_saved", room=str(room.jid), reason=str(err))
            elif self.room_ids.pop(room.jid, None) is not None:
                await self.runtime.rooms.delete(room.jid.domain, room.jid.local)

    async def _archive(self, room: muc.Room, message: ET.Element[str], nick: str, archive_id: str) -> None:
        room_id = self.room_ids.get(room.jid)
        if room_id is None:
            return
        archive = self.runtime.room_archive
        await archive.add(archive.entry(room_id, str(room.occupant_jid(nick)), wire.serialize(message).decode(),
                                        self.runtime.config.xmpp.room_history_days, archive_id))

    async def _archive_query(self, room: muc.Room, iq: ET.Element[str], sender: Jid) -> None:
        """XEP-0313 for rooms: the room's archive, to those who may read it."""
        if not room.archiving or not room.may_read_archive(sender):
            self.send(wire.stanza_error(iq, "forbidden" if room.archiving else "service-unavailable"))
            return
        if iq.get("type") == "get":
            self._result(iq, mam.form())
            return
        try:
            query = mam.parse_query(iq[0])
        except mam.QueryError as err:
            self.send(wire.stanza_error(iq, "bad-request", str(err)))
            return
        room_id = self.room_ids.get(room.jid)
        items: list[Archived] = []
        complete = True
        if room_id is not None:
            try:
                page = await self.runtime.room_archive.query(
                    room_id, with_jid=query.with_full, start=query.start, end=query.end, after=query.after,
                    before=query.before, limit=query.limit, last_page=query.last_page)
            except ArchiveItemNotFound as err:
                self.send(wire.stanza_error(iq, "item-not-found", str(err)))
                return
            items, complete = page.items, page.complete
        for item in items:
            self.send(mam.result(item, query.query_id, sender, room.jid))
        self._result(iq, mam.fin(items, complete))

    def _result(self, iq: ET.Element[str], payload: ET.Element[str] | None) -> None:
        self.send(wire.result(iq, payload, Jid.parse(iq.get("to", ""))))

    async def exists(self, room: Jid) -> bool:
        """Whether the room is held by a worker (this one's, or another's lease) or kept in the store."""
        return (room in self.rooms or await self.runtime.kv.get(self._key(room)) is not None
                or await self.runtime.rooms.load(room.domain, room.local) is not None)

    # -- the service itself --

    async def _service_stanza(self, stanza: ET.Element[str], sender: Jid, service: Jid) -> None:
        """Service discovery of `conference.<domain>` (XEP-0045 6.1-6.3); nothing else is for it."""
        kind = stanza.get("type")
        if stanza.tag != C + "iq":
            if stanza.tag == C + "message" and kind != "error":
                self.send(wire.stanza_error(stanza, "service-unavailable"))
            return
        if kind not in ("get", "set"):
            return
        payload = stanza[0] if len(stanza) else None
        if kind == "get" and payload is not None and payload.tag == "{" + muc.DISCO_INFO_NS + "}query" \
                and not payload.get("node"):
            query = ET.Element("{" + muc.DISCO_INFO_NS + "}query")
            ET.SubElement(query, "{" + muc.DISCO_INFO_NS + "}identity",
                          {"category": "conference", "type": "text", "name": SERVICE_NAME})
            for feature in (muc.NS, muc.DISCO_INFO_NS, muc.DISCO_ITEMS_NS, mam.NS, muc.SID_NS):
                ET.SubElement(query, "{" + muc.DISCO_INFO_NS + "}feature", {"var": feature})
            self._result(stanza, query)
        elif kind == "get" and payload is not None and payload.tag == "{" + muc.DISCO_ITEMS_NS + "}query" \
                and not payload.get("node"):
            query = ET.Element("{" + muc.DISCO_ITEMS_NS + "}query")
            for jid, name in await self.public_rooms(service.domain):
                ET.SubElement(query, "{" + muc.DISCO_ITEMS_NS + "}item", {"jid": str(jid), "name": name})
            self._result(stanza, query)
        else:
            self.send(wire.stanza_error(stanza, "service-unavailable"))

    async def public_rooms(self, service: str) -> list[tuple[Jid, str]]:
        """The service's public rooms: its persistent ones, and the temporary ones this router holds."""
        found: dict[Jid, str] = {}
        for stored in await self.runtime.rooms.rooms(service):
            config = muc.Config.from_dict(stored.state.get("config", {}))
            if config.public:
                with contextlib.suppress(JidError):
                    found[Jid(stored.name, service)] = config.name or stored.name
        for jid, room in self.rooms.items():
            if jid.domain == service and room.config.public and not room.locked:
                found[jid] = room.config.name or jid.local
        return sorted(found.items(), key=lambda pair: str(pair[0]))

    # -- stanzas out --

    def send(self, stanza: ET.Element[str]) -> Jid | None:
        """A stanza from a room or service to a client (its `to` a full JID) or an account (a bare one); the
        client's JID where the router no longer knows it."""
        try:
            to = Jid.parse(stanza.get("to", ""))
        except JidError:
            return None
        federation = self.router.federation
        if federation is not None and federation.known_remote(to.domain):  # an occupant of another server
            federation.send(stanza)
            return None
        if not to.resource:
            self.router.spawn(self._to_account(stanza, to))
            return None
        resource = self.router.full(to)
        if resource is None:
            return to
        self.router.send(resource, stanza)
        return None

    def deliver(self, room: muc.Room, sends: list[ET.Element[str]]) -> None:
        """A room's stanzas to its occupants' clients; clients the router no longer knows leave the room."""
        for _ in range(3):
            gone: list[Jid] = []
            for stanza in sends:
                missing = self.send(stanza)
                if missing is not None and missing in room.nicks and missing not in gone:
                    gone.append(missing)
            sends = []
            for jid in gone:
                self._log.info("xmpp.room_occupant_gone", room=str(room.jid), jid=str(jid))
                sends.extend(room.gone(jid).sends)
            if not sends:
                return

    async def _to_account(self, stanza: ET.Element[str], to: Jid) -> None:
        """An invitation (or a decline) to an account: its clients, or offline (XEP-0160) where none is on."""
        if self.router.deliver_message(stanza, to):
            return
        found = await self.router.addressee(self.runtime, to)
        if found is None or stanza.find(C + "body") is None:
            return
        with contextlib.suppress(OfflineFull):
            ET.SubElement(stanza, "{" + muc.DELAY_NS + "}delay", {"from": to.domain, "stamp": wire.stamp()})
            await self.runtime.offline.store(found.account_id, wire.serialize(stanza).decode())

    # -- leases --

    def _key(self, room: Jid) -> str:
        return f"xmpp:room:{room}"

    async def _home(self, room: Jid) -> str | None:
        """The router that holds the room, as its lease says (None: nobody holds it)."""
        known = self._homes.get(room)
        now = time.monotonic()
        if known is not None and known[1] > now:
            return known[0]
        home = await self.runtime.kv.get(self._key(room))
        if home is not None and home != self.router.origin:
            if len(self._homes) > 10_000:
                self._homes.clear()
            self._homes[room] = (home, now + HOME_KEPT_SECONDS)
        return home

    async def _claim(self, room: Jid) -> str:
        """Take the room's lease for this router, unless another holds it: the holder's origin."""
        kv, origin = self.runtime.kv, self.router.origin
        for _ in range(3):
            if await kv.set_if_absent(self._key(room), origin, ttl=LEASE_SECONDS):
                return origin
            holder = await kv.get(self._key(room))
            if holder == origin:
                await kv.compare_and_set(self._key(room), origin, origin, ttl=LEASE_SECONDS)
                return origin
            if holder is not None:
                return holder
        return origin  # the key-value store keeps losing it: serve the room here rather than nowhere

    async def _release(self, room: Jid) -> None:
        if room in self.rooms:
            return  # held again meanwhile (made anew): the lease is its
        with contextlib.suppress(Exception):
            await self.runtime.kv.compare_and_set(self._key(room), self.router.origin, None)

    # -- what administrators see of the other routers' rooms --

    @staticmethod
    def summary(room: muc.Room) -> dict[str, object]:
        return summary(room.config, {str(jid): affiliation for jid, affiliation in room.affiliations.items()},
                       len(room.occupants))

    def announce(self, room: muc.Room, *, again: bool = False) -> None:
        text = json.dumps(self.summary(room), separators=(",", ":"))
        if again or self._announced.get(room.jid) != text:
            self._announced[room.jid] = text
            self.router.publish(XmppRoomHeld(self.router.origin, str(room.jid), text))

    def announce_all(self) -> None:
        for room in list(self.rooms.values()):
            self.announce(room, again=True)

    def heard_held(self, event: XmppRoomHeld, now: float) -> None:
        try:
            jid = Jid.parse(event.room)
        except JidError:
            return
        if event.gone:
            self.elsewhere.pop(jid, None)
        elif jid not in self.rooms:
            with contextlib.suppress(ValueError):
                if len(self.elsewhere) < MAX_ROOMS * 4 or jid in self.elsewhere:
                    self.elsewhere[jid] = (dict(json.loads(event.summary)), now)

    def held_elsewhere(self) -> dict[Jid, dict[str, object]]:
        """Other routers' rooms, as last announced (those not heard of for FORGET_AFTER seconds forgotten)."""
        now = time.monotonic()
        for jid, (_, heard) in list(self.elsewhere.items()):
            if now - heard > FORGET_AFTER:
                del self.elsewhere[jid]
        return {jid: summary for jid, (summary, _) in self.elsewhere.items()}

    async def keep_leases(self) -> None:
        """Renew the leases of the rooms this router holds until cancelled; a room whose lease another
        router took (this one was cut off for longer than LEASE_SECONDS) is given up, its occupants told."""
        renewals = 0
        while True:
            await asyncio.sleep(RENEW_EVERY)
            renewals += 1
            if renewals % ANNOUNCE_EVERY == 0:
                self.announce_all()
            for jid, room in list(self.rooms.items()):
                try:
                    kept = await self.runtime.kv.compare_and_set(self._key(jid), self.router.origin,
                                                                 self.router.origin, ttl=LEASE_SECONDS)
                    if not kept:
                        kept = await self.runtime.kv.set_if_absent(self._key(jid), self.router.origin,
                                                                   ttl=LEASE_SECONDS)
                except Exception:
                    self._log.exception("xmpp.room_lease_failed", room=str(jid))
                    continue
                if not kept and self.rooms.get(jid) is room:
                    self._log.warning("xmpp.room_given_up", room=str(jid), reason="another router holds it")
                    self.deliver(room, room.shutdown("The room moved to another server; enter it again.").sends)
                    del self.rooms[jid]
                    self.room_ids.pop(jid, None)
                    metrics.xmpp_rooms.set(len(self.rooms))

    async def finish(self) -> None:
        """The node stops: occupants are told (332), and the rooms' leases go, so that another router takes
        them at once."""
        for jid, room in list(self.rooms.items()):
            self.deliver(room, room.shutdown("The server is restarting; enter the room again.").sends)
            del self.rooms[jid]
            if self._announced.pop(jid, None) is not None:
                self.router.publish(XmppRoomHeld(self.router.origin, str(jid), gone=True))
            await self._release(jid)
        metrics.xmpp_rooms.set(0)


def summary(config: muc.Config, affiliations: dict[str, str], occupants: int | None) -> dict[str, object]:
    """A room as administrators see it (the announcements between workers carry it as JSON)."""
    return {"name": config.name, "persistent": config.persistent, "public": config.public,
            "members_only": config.members_only, "password": bool(config.password), "occupants": occupants,
            "owners": sorted(jid for jid, affiliation in affiliations.items() if affiliation == "owner")}


def _affiliations(stored: dict[str, str]) -> dict[Jid, str]:
    found: dict[Jid, str] = {}
    for text, affiliation in stored.items():
        with contextlib.suppress(JidError):
            if affiliation in muc.AFFILIATIONS:
                found[Jid.parse(text).bare] = affiliation
    return found
