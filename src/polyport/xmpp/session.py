"""One client-to-server XMPP stream (RFC 6120) on the kernel's session loop: the stream header and its
features, STARTTLS, SASL, resource binding, and the server's own answers (ping, service discovery,
version); every other stanza gets the stanza error RFC 6120 gives it. Rosters and presence (RFC 6121) go
through xmpp/presence.py, delivery between clients through the worker's router (xmpp/router.py).

Stream management (XEP-0198, xmpp/sm.py): once enabled, what the session sends to the client is kept until
acknowledged. A resumable stream whose connection is lost (not closed with `</stream:stream>`, nor ended by
a stream error) leaves its session detached for RESUME_SECONDS, still bound and still taking stanzas into
its queue; a new stream of the same account that names its id within that time takes it over (`<resumed/>`,
then what the client had not acknowledged, again). A session that ends for good re-routes the messages
the client never acknowledged: to the account's other resources, or offline (XEP-0198 5).

A "command" of the kernel's loop is a frame of net/framing/xmlstream.py: a stream header, a stanza or the
stream's end, keyed by what it is (`("iq", "get", namespace)` for an iq by its payload's namespace).
Negotiation follows RFC 6120 5-7: from an untrusted network TLS comes first (the only feature offered
before it), then SASL (the node's Authenticator: throttled, PLAIN only over TLS or from trusted networks),
then bind. Each of STARTTLS and SASL success restarts the stream: the framer starts over, and what the
client sent before the restart is dropped (CVE-2011-0411).

Errors: XML the framer refuses is a stream error (`not-well-formed`, `restricted-xml`, `policy-violation`
for a stanza over the limit) and the end of the stream; a stanza sent before the stream allows it is
`not-authorized`; a `from` that is not the client's bound JID is `invalid-from`; an iq the server has no
handler for is `service-unavailable` (RFC 6120 8.4); a stanza that is not an iq, message or presence is
`unsupported-stanza-type`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import enum
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar
from xml.etree import ElementTree as ET

from polyport import __version__, metrics
from polyport.auth import sasl
from polyport.auth.login import AuthFailure, Identity, Malformed, PlaintextRefused
from polyport.config import ResolvedService
from polyport.directory.errors import DirectoryError
from polyport.im import (
    ArchiveItemNotFound,
    BlocklistFull,
    OfflineFull,
    PrivateStorageFull,
    RosterRefused,
    VcardTooLarge,
)
from polyport.im.blocking import blocks
from polyport.im.subscriptions import KINDS
from polyport.kernel.session import (
    CommandBytes,
    CommandSession,
    CommandTable,
    Ending,
    Result,
    UnknownCommand,
    WrongState,
)
from polyport.net.connection import Connection, LineTooLong
from polyport.net.framing import FrameError, FrameTooLarge
from polyport.net.framing.xmlstream import (
    STREAM_TAG,
    RestrictedXml,
    Stanza,
    StreamClose,
    StreamOpen,
    XmlFrame,
    XmlStreamFramer,
)
from polyport.runtime import Runtime
from polyport.store import StoreError
from polyport.xmpp import caps, mam, presence, pubsub, push, sm, upload, wire
from polyport.xmpp.jid import Jid, JidError
from polyport.xmpp.rooms import SERVICE_NAME as ROOMS_NAME
from polyport.xmpp.router import CARBONS_NS, Router, carbon_eligible, router_for, send

ACCESS_MODE = "XMPP"
C = "{" + wire.CLIENT_NS + "}"
SASL = "{" + wire.SASL_NS + "}"
PING_NS = "urn:xmpp:ping"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"
VERSION_NS = "jabber:iq:version"
LAST_NS = "jabber:iq:last"
PRIVATE_NS = "jabber:iq:private"
PRIVATE = "{" + PRIVATE_NS + "}"
LAST = "{" + LAST_NS + "}"
LAST_ACTIVITY_KEPT = 365 * 86_400.0  # seconds a last activity is remembered
MAX_STATUS = 1024  # characters of a status text kept for it
SESSION_NS = "urn:ietf:params:xml:ns:xmpp-session"
ROSTER_NS = "jabber:iq:roster"
ROSTER = "{" + ROSTER_NS + "}"
ROSTER_VERSIONING_NS = "urn:xmpp:features:rosterver"
DELAY_NS = "urn:xmpp:delay"
# What service discovery says the server does: only what works (issue 16).
TIME_NS = "urn:xmpp:time"
BLOCKING_NS = "urn:xmpp:blocking"
CSI_NS = "urn:xmpp:csi:0"
VCARD_NS = "vcard-temp"
VCARD = "{" + VCARD_NS + "}"
STANZAS = frozenset({C + "iq", C + "message", C + "presence"})
TAKEOVER_SECONDS = 5.0  # how long a resumption waits for the old connection's session to finish its command
MAX_HELD = 500  # senders whose presence an inactive client's session holds (XEP-0352)
MAX_ROOMS_ENTERED = 1000  # rooms whose occupant a session is remembered to be, to leave them when it ends
BLOCKING = "{" + BLOCKING_NS + "}"
SERVER_IDENTITY = ("server", "im", "Polyport")
# What service discovery says an account (its bare JID) offers.
ACCOUNT_FEATURES = (DISCO_INFO_NS, mam.NS, mam.EXTENDED_NS, mam.SID_NS, push.NS)
SERVER_FEATURES = (DISCO_INFO_NS, DISCO_ITEMS_NS, PING_NS, VERSION_NS, TIME_NS, "msgoffline", CARBONS_NS,
                   BLOCKING_NS, VCARD_NS, LAST_NS, PRIVATE_NS)
# Entity capabilities (XEP-0115): the server's disco#info as a hash, in its stream features, so a client
# that saw it before need not ask again.
CAPS_NS = "http://jabber.org/protocol/caps"
CAPS_NODE = "urn:x-polyport:caps"


SERVER_CAPS_VER = caps.ver([(SERVER_IDENTITY[0], SERVER_IDENTITY[1], "", SERVER_IDENTITY[2])], list(SERVER_FEATURES))


class State(enum.Enum):
    OPENING = "opening"  # waiting for the client's stream header
    NEGOTIATING = "negotiating"  # before SASL success (TLS first, where it is required)
    AUTHENTICATED = "authenticated"  # SASL done: bind comes next
    BOUND = "bound"  # a resource is bound: stanzas flow


class StreamError(Exception):
    """Ends the stream with a stream error (RFC 6120 4.9)."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text


class StanzaError(Exception):
    """Answers the stanza with a stanza error (RFC 6120 8.3); the stream goes on."""

    def __init__(self, condition: str, text: str | None = None, application: str | None = None) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text
        self.application = application  # an application-specific condition, `{namespace}name`


def blocking_error() -> StanzaError:
    """XEP-0191 3.5: the answer to a stanza the user sends to a JID the user blocks."""
    return StanzaError("not-acceptable", "you block this address", "{urn:xmpp:blocking:errors}blocked")


class SaslFailure(Exception):
    """`<failure/>` with an RFC 6120 6.5 condition; the client may try again."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text


COMMANDS = CommandTable()
ROUTED_IQ = "routed-iq"
OPENING = frozenset({State.OPENING})
NEGOTIATING = frozenset({State.NEGOTIATING})
AUTHENTICATED = frozenset({State.AUTHENTICATED})
BOUND = frozenset({State.BOUND})
AFTER_SASL = AUTHENTICATED | BOUND


def addressee_of(stanza: ET.Element[str]) -> Jid | None:
    """The stanza's `to`; None where it has none, or a malformed one (the usual handling answers that with
    jid-malformed)."""
    to = stanza.get("to")
    if not to:
        return None
    try:
        return Jid.parse(to)
    except JidError:
        return None


async def read_stream_frame(conn: Connection, framer: XmlStreamFramer,
                            close_with_error: Callable[[str, str], None]) -> XmlFrame | None:
    """The stream's next frame; None once XML the framer refuses has ended the stream with its error (RFC 6120
    4.9.3: `policy-violation` for a stanza over the limit, `restricted-xml`, `not-well-formed`). A client's
    stream and a server's read alike."""
    try:
        return await conn.read_frame(framer)
    except FrameTooLarge as err:
        close_with_error("policy-violation", str(err))
    except RestrictedXml as err:
        close_with_error("restricted-xml", str(err))
    except FrameError as err:
        close_with_error("not-well-formed", str(err))
    return None


def _key(frame: XmlFrame) -> object:
    if isinstance(frame, StreamOpen):
        return "open"
    if isinstance(frame, StreamClose):
        return "close"
    element = frame.element
    if element.tag == C + "iq":
        payload = element[0].tag if len(element) else ""
        namespace = payload[1:].partition("}")[0] if payload.startswith("{") else ""
        return ("iq", element.get("type", ""), namespace)
    return element.tag


@dataclass(slots=True)
class Extensions:
    """A session's state for what came beside the core (rooms, capabilities, WebSocket), in one attribute
    made at first use: a session's instance dictionary stays within CPython's shared-keys limit (30 keys),
    past which each of ten thousand idle sessions pays about 1.5 KiB more (measured with bench/xmpp.py's
    probe: 28.1 KiB a logged-in idle client against 26.6)."""

    in_rooms: dict[Jid, None] = field(default_factory=dict)  # occupant JIDs it sent available presence to
    caps_ver: str = ""  # the entity capabilities its presence announced last (XEP-0115)
    caps_pending: dict[str, tuple[str, str]] = field(default_factory=dict)  # the server's caps queries
    over_websocket: bool = False  # RFC 7395 (xmpp/websocket.py): TLS is the web listener's, never STARTTLS
    on_restart: Callable[[], None] | None = None  # told when the stream restarts (the WebSocket's)
    pushed_at: float = float("-inf")  # when a push notification last went for it while detached (XEP-0357)
    push_enabled: set[tuple[str, str]] = field(default_factory=set)  # the (app server, node)s it enabled


class XmppSession(CommandSession[State, XmlFrame]):
    protocol = "xmpp"
    access_mode = ACCESS_MODE
    table = COMMANDS
    drain_each_command: ClassVar[bool] = False
    _ext: Extensions | None = None  # the class's default: an instance has its own once `ext` is used

    def __init__(self, conn: Connection, runtime: Runtime, service: ResolvedService,
                 command_metrics: metrics.CommandMetrics) -> None:
        super().__init__(conn, runtime, service.name, command_metrics)
        self.service = service
        self.state = State.OPENING
        self.framer = XmlStreamFramer()
        self.frame: XmlFrame | None = None
        self.domain = ""  # the domain the client addressed, once its header came
        self.identity: Identity | None = None
        self.jid: Jid | None = None  # the bound full JID
        self.header_sent = False
        self.router: Router = router_for(runtime)
        self.available = False  # sent available presence
        self.watchers: list[Jid] = []  # contacts subscribed to the account's presence, as last read
        self.directed: dict[Jid, None] = {}  # whom it sent directed available presence (RFC 6121 4.6.3)
        self.inactive = False  # the client said it is not in use (XEP-0352): presence waits
        self.held: dict[str, bytes] = {}  # presence held while inactive: the latest per sender
        self.backlog: list[tuple[bytes, str | None]] | None = None  # live stanzas behind offline ones
        self.sm: sm.StreamManagement | None = None  # stream management, once the client enabled it
        self.stream_closed = False  # the stream ended with its close tag or a stream error: no resumption
        self.detached: asyncio.TimerHandle | None = None  # its connection lost: waiting to be resumed
        self.successor: XmppSession | None = None  # the session that resumed this one
        self.loop_ended: asyncio.Event | None = None  # set once its loop is over (a takeover waits for it)
        self.last_status = ""  # the status text of its last presence (XEP-0012's last activity)

    @property
    def ext(self) -> Extensions:
        """Made at first use: most sessions' instance dictionaries stay shared-key (see Extensions)."""
        if self._ext is None:
            self._ext = Extensions()
        return self._ext

    def send(self, data: bytes) -> None:
        """Stream-level XML (the header, features, negotiation, stream management's own elements)."""
        self.conn.write(data)

    def send_stanza(self, element: ET.Element[str]) -> None:
        self.write_stanza(wire.serialize(element))

    def write_stanza(self, data: bytes) -> None:
        """A stanza to the client: counted and kept until acknowledged where stream management is on."""
        if self.successor is not None:  # resumed on another stream meanwhile
            self.successor.write_stanza(data)
            return
        if self.sm is None:
            self.conn.write(data)
            return
        if self.finished and self.detached is None:
            return  # the stream is ending: nothing more goes on it
        ask = self.sm.sending(data)
        if self.sm.overflowing:
            self.close_with_error("resource-constraint", "too many stanzas not acknowledged")
            self.conn.close()
            return
        if self.detached is None:
            self.conn.write(data + sm.REQUEST if ask else data)

    def deliver(self, data: bytes, *, presence_from: str | None = None) -> bool:
        if self.backlog is not None:  # offline messages are being written first (XEP-0160 4)
            self.backlog.append((data, presence_from))
            return True
        return self._deliver(data, presence_from=presence_from)

    def _deliver(self, data: bytes, *, presence_from: str | None = None) -> bool:
        """A stanza for this client (from the router); False if it cannot take it (gone, or not reading).
        While the client is inactive (XEP-0352), presence (`presence_from`: the sender the router stamped)
        waits, only the latest of each sender kept and at most MAX_HELD senders, until it is active again
        or something else is sent (which keeps the order of what it sees). A detached session queues it
        for its client's return."""
        if self.successor is not None:  # resumed on another stream meanwhile
            return self.successor._deliver(data, presence_from=presence_from)
        if self.detached is not None:
            assert self.sm is not None
            if presence_from is not None:  # the latest of each sender's presence waits, as while inactive
                if presence_from in self.held or len(self.held) < MAX_HELD:
                    self.held[presence_from] = data
                return True
            if self.sm.overflowing:
                return False
            self.sm.sending(data)
            push.detached_delivery(self, data)  # its phone may be asleep: woken (XEP-0357)
            return True
        if self.finished or self.conn.writing_paused:
            return False
        if presence_from is not None and self.inactive:
            if presence_from not in self.held and len(self.held) >= MAX_HELD:
                self.flush_held()
            self.held[presence_from] = data
            return True
        self.flush_held()
        self.write_stanza(data)
        return True

    def flush_held(self) -> None:
        if self.held:
            held, self.held = self.held, {}
            if self.sm is None:
                self.conn.write(b"".join(held.values()))
            else:
                for data in held.values():
                    self.write_stanza(data)

    # -- the kernel's hooks --

    def greet(self) -> None:
        pass  # the client speaks first (RFC 6120 4.2)

    def goodbye(self, why: Ending) -> None:
        if why is Ending.IDLE:
            self.close_with_error("connection-timeout")
        else:
            self.close_with_error("system-shutdown")

    async def read_command(self) -> CommandBytes | None:
        self.frame = await read_stream_frame(self.conn, self.framer, self.close_with_error)
        if self.frame is None:
            return None
        if self.sm is not None and isinstance(self.frame, Stanza) and self.frame.element.tag in STANZAS:
            self.sm.received()  # handled in order, before any <r/> after it is answered
        return self.frame.raw if isinstance(self.frame, Stanza) else b""

    async def line_too_long(self, err: LineTooLong) -> None:
        raise AssertionError("an XML stream has no lines")  # read_frame never raises it

    def parse(self, data: CommandBytes) -> XmlFrame | None:
        return self.frame

    def command_key(self, command: XmlFrame) -> object:
        key = _key(command)
        if isinstance(key, tuple) and self.jid is not None:
            to = command.element.get("to") if isinstance(command, Stanza) else None
            if to:
                try:
                    named = Jid.parse(to)
                except JidError:
                    return ROUTED_IQ  # its handler says jid-malformed
                if named not in (Jid("", self.domain), self.jid.bare):
                    return ROUTED_IQ  # for another entity: passed on, not answered here
        return key

    def command_name(self, command: XmlFrame) -> str:
        key = self.command_key(command)
        if isinstance(key, tuple):
            return f"iq:{key[1]}:{key[2] or '-'}"
        return str(key).rpartition("}")[2]

    def metric_name(self, name: str) -> str:
        # The client names namespaces: those the server does not handle are counted under one label.
        if name.startswith("iq:") and name.split(":", 2)[2] not in _HANDLED:
            return "iq:other"
        return name if name in _NAMES or name.startswith("iq:") else "other"

    async def refuse(self, command: XmlFrame | None, data: CommandBytes, err: Exception) -> Result | None:
        if isinstance(err, StreamError):
            self.close_with_error(err.condition, err.text)
            return Result.BAD_SYNTAX
        if isinstance(err, SaslFailure):
            failure = ET.Element(SASL + "failure")
            ET.SubElement(failure, SASL + err.condition)
            if err.text:
                ET.SubElement(failure, SASL + "text").text = err.text
            self.send(wire.serialize(failure))
            return Result.USER_ERROR
        if isinstance(err, UnknownCommand | WrongState) and self.state is not State.BOUND:
            if self.state is State.OPENING:
                self.close_with_error("not-well-formed", "the stream header comes first")
            else:  # RFC 6120 6.4.1, 7.6.1: nothing but negotiation before a resource is bound
                self.close_with_error("not-authorized", "authenticate and bind a resource first")
            return Result.BAD_SYNTAX
        stanza = command.element if isinstance(command, Stanza) else None
        if isinstance(err, UnknownCommand | StanzaError) and stanza is not None:
            if stanza.get("type") in ("error", "result"):
                return Result.OK  # never answer an error with an error (RFC 6120 8.3.1); results need none
            if stanza.tag not in (C + "iq", C + "message", C + "presence"):
                self.close_with_error("unsupported-stanza-type", f"{stanza.tag} is not a stanza")
                return Result.BAD_SYNTAX
            if stanza.tag == C + "iq" and stanza.get("type") not in ("get", "set"):
                self.send_stanza(self.stamped(wire.stanza_error(stanza, "bad-request", "an iq is get, set, "
                                                                "result or error (RFC 6120 8.2.3)")))
                return Result.BAD_SYNTAX
            if isinstance(err, StanzaError):
                self.send_stanza(self.stamped(wire.stanza_error(stanza, err.condition, err.text,
                                                                application=err.application)))
                return Result.USER_ERROR
            if stanza.tag == C + "presence":
                return Result.OK  # presence is not routed yet: nothing to answer
            self.send_stanza(self.stamped(wire.stanza_error(stanza, "service-unavailable")))
            return Result.USER_ERROR
        if isinstance(err, UnknownCommand | WrongState):  # a header, or negotiation, where none belongs
            self.close_with_error("policy-violation", "negotiation is over")
            return Result.BAD_SYNTAX
        return None

    async def server_error(self, command: XmlFrame | None) -> None:
        self.close_with_error("internal-server-error")

    def ended(self) -> None:
        if (self.sm is not None and self.sm.resumable and not self.stream_closed and self.jid is not None
                and self.detached is None and self.successor is None):
            # The connection was lost: the session waits for its client to resume it (XEP-0198 5).
            self.detached = asyncio.get_running_loop().call_later(sm.RESUME_SECONDS, self.expired)
            metrics.xmpp_detached.inc()
            self.log.info("xmpp.detached", jid=str(self.jid), unacknowledged=len(self.sm.unacked))
        else:
            self.end_for_good()
        if self.loop_ended is not None:
            self.loop_ended.set()

    def expired(self) -> None:
        """Not resumed in time: the session ends as if its connection had just closed."""
        self.log.info("xmpp.resumption_expired", jid=str(self.jid))
        self.forget_detached()
        self.end_for_good()

    def forget_detached(self) -> None:
        if self.detached is not None:
            self.detached.cancel()
            self.detached = None
            metrics.xmpp_detached.dec()

    def end_for_good(self) -> None:
        jid = self.jid
        if self.sm is not None and self.router.resumable.get(self.sm.id) is self:
            del self.router.resumable[self.sm.id]
        if self.sm is not None and jid is not None and self.identity is not None:
            unacknowledged, self.sm = self.sm.unacknowledged(), None
            if unacknowledged:
                self.router.spawn(self.reroute(unacknowledged, jid.bare))
        if jid is None:
            return
        if self.available and self.identity is not None:
            # RFC 6121 4.5.2: the account's other resources and its contacts learn it went away (the
            # contacts as the roster has them now, read after the session is gone).
            gone = ET.Element(C + "presence", {"type": "unavailable", "from": str(jid)})
            self.broadcast_own(gone)
            self.router.spawn(self.tell_contacts_gone(gone, self.identity.account_id))
            self.router.spawn(self.record_last_activity(jid.bare, self.identity.account_id, self.last_status))
        self.tell_directed(ET.Element(C + "presence", {"type": "unavailable", "from": str(jid)}))
        self.router.unbind(self, jid)
        self.jid = None

    async def reroute(self, unacknowledged: list[bytes], account: Jid) -> None:
        """What the client never acknowledged (XEP-0198 5): its messages are delivered again (the router's
        redeliver: to the account's other resources, or offline); the rest is dropped."""
        for data in unacknowledged:
            stanza = wire.parse_stanza(data.decode())
            if stanza is not None:
                await self.router.redeliver(self.runtime, stanza, account)

    async def archive(self, message: ET.Element[str], to: Jid) -> None:
        assert self.jid is not None
        await self.router.archive(self.runtime, message, self.jid, to)

    async def answer_last_activity(self, iq: ET.Element[str], contact: Jid, contact_account: int) -> None:
        """How long ago `contact` was last available (XEP-0012 4), to a user subscribed to its presence:
        0 while it is available, else the seconds since its last client went, with that client's status."""
        assert self.jid is not None
        item = await self.runtime.rosters.item(contact_account, str(self.jid.bare))
        if (item is None or not item.state.from_) and self.jid.bare not in await self.router.shared_contacts(
                self.runtime, contact):
            raise StanzaError("forbidden", "only those subscribed to its presence see its last activity")
        query = ET.Element(LAST + "query", {"seconds": "0"})
        if not self.router.available(contact):
            recorded = await self.runtime.kv.get(last_activity_key(contact_account))
            if recorded is None:
                raise StanzaError("item-not-found", "its last activity is not known (since the server started)")
            when, _, status = recorded.partition(" ")
            query.set("seconds", str(max(0, int(time.time() - float(when)))))
            query.text = status or None
        self.result(iq, query)

    async def record_last_activity(self, account: Jid, account_id: int, status: str) -> None:
        """The account's last client went unavailable: when, and its status text (XEP-0012 4)."""
        if not self.router.available(account):
            await self.runtime.kv.set(last_activity_key(account_id), f"{time.time():.0f} {status}",
                                      ttl=LAST_ACTIVITY_KEPT)

    async def tell_contacts_gone(self, gone: ET.Element[str], account_id: int) -> None:
        sender = Jid.parse(gone.get("from", ""))
        _, items = await presence.roster(self.runtime, self.router, account_id, sender.bare)
        for item in items:
            contact = Jid.parse(item.contact)
            if item.state.from_ and not await self.router.blocks(self.runtime, sender.bare, account_id, contact):
                self.router.deliver_presence(wire.addressed(gone, contact), contact)

    def tell_directed(self, unavailable: ET.Element[str]) -> None:
        """Those this client sent directed presence learn it is unavailable (RFC 6121 4.6.3), once."""
        directed, self.directed = self.directed, {}
        for target in directed:
            if target.bare not in self.watchers:
                self.router.deliver_presence(wire.addressed(unavailable, target), target)
        in_rooms = self._ext.in_rooms if self._ext is not None else {}
        if self._ext is not None:
            self._ext.in_rooms = {}
        rooms = self.router.rooms
        if rooms is not None and self.jid is not None:
            for room in in_rooms:  # the room sees the occupant go (XEP-0045 7.14)
                self.router.spawn(rooms.submit(wire.addressed(unavailable, room, sender=self.jid), self.jid))

    def replaced(self) -> None:
        """Another session bound this one's resource (RFC 6120 7.7.2.2): this one ends with `conflict`,
        its contacts told it went away, without unbinding the newer one."""
        if self.detached is not None:  # its connection is gone already: nobody to tell
            self.forget_detached()
            self.end_for_good()
            return
        self.stream_closed = True
        self.end_for_good()
        self.close_with_error("conflict", "this resource was bound by another session")
        self.conn.close()

    def disconnect(self, reason: str) -> None:
        """Ended from outside (an administrator): a stream error, the connection closed, no resumption."""
        if self.detached is not None:
            self.forget_detached()
            self.end_for_good()
            return
        self.close_with_error("policy-violation", reason)
        self.conn.close()

    def broadcast_own(self, stanza: ET.Element[str]) -> None:
        """Presence to the account's other available resources of this worker (RFC 6121 4.2.2, 4.5.2);
        other workers' hear it from their routers (xmpp/router.py)."""
        assert self.jid is not None
        for name, resource in self.router.resources(self.jid.bare):
            if name != self.jid.resource and resource.available and resource.local:
                self.router.send(resource, wire.addressed(stanza, resource.jid))

    def learn_own(self) -> None:
        """A resource that just became available hears the account's other available ones."""
        assert self.jid is not None
        for name, resource in self.router.resources(self.jid.bare):
            if name != self.jid.resource and resource.last is not None:
                send(self, wire.addressed(resource.last, self.jid))

    async def check_blocking(self, to: Jid, to_account: int) -> bool:
        """Whether a stanza from this client to `to` (of account `to_account`) may go (XEP-0191): the
        blocking error is raised where this account blocks `to`; False where `to`'s account blocks it."""
        assert self.jid is not None and self.identity is not None
        if to.bare == self.jid.bare:
            return True
        if await self.router.blocks(self.runtime, self.jid.bare, self.identity.account_id, to):
            raise blocking_error()
        return not await self.router.blocks(self.runtime, to.bare, to_account, self.jid)

    async def answer_vcard(self, iq: ET.Element[str], account_id: int) -> None:
        """An account's vCard (XEP-0054), an empty one if it set none."""
        stored = await self.runtime.vcards.get(account_id)
        vcard = wire.parse_stanza(stored) if stored else None
        self.result(iq, vcard if vcard is not None else ET.Element(VCARD + "vCard"))

    async def unblocked(self, contacts: list[Jid]) -> list[Jid]:
        """The contacts neither blocked by this account nor blocking it (XEP-0191): presence goes to and
        comes from those alone. A contact of another server (federation on) is kept unless blocked here;
        its own server decides the rest."""
        assert self.jid is not None and self.identity is not None
        kept: list[Jid] = []
        for contact in contacts:
            if await self.router.blocks(self.runtime, self.jid.bare, self.identity.account_id, contact):
                continue
            if await self.remote(contact):
                kept.append(contact)
                continue
            found = await self.router.addressee(self.runtime, contact)
            if found is None:
                continue
            if not await self.router.blocks(self.runtime, contact, found.account_id, self.jid):
                kept.append(contact)
        return kept

    async def remote(self, jid: Jid) -> bool:
        """Whether the JID is another server's, with federation on (else every domain is treated as ours,
        and one not served answers remote-server-not-found)."""
        federation = self.router.federation
        return federation is not None and not await federation.is_local(jid.domain)

    async def to_remote(self, stanza: ET.Element[str]) -> Jid | None:
        """The addressee, where the stanza is for another server's entity (federation on): then it may go
        there unless this account blocks it (XEP-0191 3.5)."""
        if self.router.federation is None or (jid := addressee_of(stanza)) is None or not await self.remote(jid):
            return None
        assert self.jid is not None and self.identity is not None
        if await self.router.blocks(self.runtime, self.jid.bare, self.identity.account_id, jid):
            raise blocking_error()
        stanza.set("to", str(jid))
        return jid

    async def to_rooms(self, stanza: ET.Element[str]) -> bool:
        """Whether the stanza is for a chat service, room or occupant (XEP-0045): handed to the rooms
        (xmpp/rooms.py), and presence to a room remembered as directed (the room hears when this client
        goes, RFC 6121 4.6.3)."""
        rooms = self.router.rooms
        if rooms is None or (jid := addressee_of(stanza)) is None or not await rooms.serves(jid):
            return False
        assert self.jid is not None
        if stanza.tag == C + "presence" and jid.local:
            kind = stanza.get("type")
            if kind is None:
                self.ext.in_rooms = {room: None for room in self.ext.in_rooms if room.bare != jid.bare}  # a new nick
                if len(self.ext.in_rooms) < MAX_ROOMS_ENTERED:
                    self.ext.in_rooms[jid] = None
            elif kind == "unavailable":
                self.ext.in_rooms = {room: None for room in self.ext.in_rooms if room.bare != jid.bare}
            else:
                return True  # subscriptions to a room: nothing to do (XEP-0045 keeps no roster)
        await rooms.submit(stanza, self.jid)
        return True

    async def recipient_account(self, stanza: ET.Element[str]) -> tuple[Jid, int]:
        """The stanza's addressee (the account's bare JID when it names none: RFC 6120 10.3), on an
        account of this server, its alias resolved, and the account's id; StanzaError where there is no
        such account."""
        assert self.jid is not None and self.identity is not None
        to = stanza.get("to")
        if not to:
            return self.jid.bare, self.identity.account_id
        try:
            jid = Jid.parse(to)
        except JidError:
            raise StanzaError("jid-malformed") from None
        found = await self.router.addressee(self.runtime, jid.bare) if jid.local else None
        if found is None:
            try:
                await self.runtime.directory.domain(jid.domain)
            except DirectoryError:  # federation is off: another server's users are out of reach
                raise StanzaError("remote-server-not-found") from None
            raise StanzaError("service-unavailable")  # RFC 6121 8.5.1: no such user
        return Jid(found.jid.local, found.jid.domain, jid.resource), found.account_id

    def stamped(self, reply: ET.Element[str]) -> ET.Element[str]:
        """A reply from the server to the client: addressed to its JID where the client named none."""
        if self.jid is not None and reply.get("to") is None:
            reply.set("to", str(self.jid))
        return reply

    def close_with_error(self, condition: str, text: str | None = None) -> None:
        if not self.header_sent:  # RFC 6120 4.9.1.1: the header comes first, even for an error
            self.send(wire.stream_header(domain=self.domain or self.runtime.config.main_domain,
                                         stream_id=secrets.token_hex(8)))
            self.header_sent = True
        self.send(wire.stream_error(condition, text))
        self.log.info("xmpp.stream_error", condition=condition)
        self.finished = True
        self.stream_closed = True
        if self.sm is not None and self.router.resumable.get(self.sm.id) is self:
            del self.router.resumable[self.sm.id]  # a stream ended by an error is not resumed

    # -- negotiation --

    async def open_stream(self, frame: StreamOpen) -> None:
        self.domain = frame.attributes.get("to", "") or self.domain
        if frame.tag != STREAM_TAG or frame.namespaces.get("") != wire.CLIENT_NS:
            raise StreamError("invalid-namespace", "a client's stream is jabber:client in the streams namespace")
        try:
            domain = Jid.parse(self.domain).domain if self.domain else ""
        except JidError:
            domain = ""
        if not domain:
            raise StreamError("host-unknown", "the stream names no domain (its 'to')")
        try:
            await self.runtime.directory.domain(domain)
        except DirectoryError:
            raise StreamError("host-unknown", f"{domain} is not served here") from None
        self.domain = domain
        if not frame.attributes.get("version", "").startswith("1."):
            raise StreamError("unsupported-version", "this server speaks XMPP 1.0 (RFC 6120)")
        self.send(wire.stream_header(domain=domain, stream_id=secrets.token_hex(8)))
        self.header_sent = True
        self.send(wire.features(*self.features()))
        if self.state is State.OPENING:
            self.state = State.NEGOTIATING

    def features(self) -> list[ET.Element[str]]:
        if self.state in (State.OPENING, State.NEGOTIATING):
            offered: list[ET.Element[str]] = []
            over_websocket = self._ext is not None and self._ext.over_websocket
            if not self.conn.tls and over_websocket and not self.conn.trusted:
                raise StreamError("policy-violation", "XMPP over WebSocket needs wss:// from this network")
            if not self.conn.tls and not over_websocket:
                starttls = ET.Element("{" + wire.TLS_NS + "}starttls")
                if not self.conn.trusted:
                    ET.SubElement(starttls, "{" + wire.TLS_NS + "}required")
                    return [starttls]  # nothing else before TLS from an untrusted network
                offered.append(starttls)
            mechanisms = ET.Element(SASL + "mechanisms")
            for name in self.runtime.auth.mechanisms(self.login_context()):
                if name != "LOGIN":  # not a mechanism of XMPP's (RFC 6120 6.3.8's registry)
                    ET.SubElement(mechanisms, SASL + "mechanism").text = name
            offered.append(mechanisms)
            return offered
        bind = ET.Element("{" + wire.BIND_NS + "}bind")
        session = ET.Element("{" + SESSION_NS + "}session")
        ET.SubElement(session, "{" + SESSION_NS + "}optional")  # RFC 3921's session, for older clients
        advertised = ET.Element("{" + CAPS_NS + "}c", {"hash": "sha-1", "node": CAPS_NODE, "ver": SERVER_CAPS_VER})
        return [bind, session, ET.Element("{" + ROSTER_VERSIONING_NS + "}ver"), ET.Element("{" + CSI_NS + "}csi"),
                ET.Element("{" + sm.NS + "}sm"), advertised]

    def restart(self) -> None:
        """A new stream on the same connection (after TLS or SASL): a new parser, early input dropped."""
        dropped = self.framer.reset()
        if dropped:
            self.log.info("xmpp.early_input_dropped", octets=dropped)
        self.header_sent = False
        if self._ext is not None and self._ext.on_restart is not None:
            self._ext.on_restart()

    async def authenticate(self, element: ET.Element[str]) -> None:
        mechanism = element.get("mechanism", "")
        if mechanism.upper() not in sasl.MECHANISMS or mechanism.upper() == "LOGIN":
            raise SaslFailure("invalid-mechanism")
        text = (element.text or "").strip()
        initial = None if not text else b"" if text == "=" else _base64(text)
        final: list[bytes] = []  # the server's last data (SCRAM's signature), for <success/>: a local, not an
        # attribute (an instance dictionary past 30 keys costs every idle session 1.5 KiB; see Extensions)
        try:
            exchange = await sasl.exchange(mechanism, self.runtime.auth, self.login_context())
            identity = await sasl.converse(exchange, initial,
                                           lambda challenge, last: self.answer_sasl(challenge, last, final))
        except PlaintextRefused:
            raise SaslFailure("encryption-required", "use STARTTLS first, or SCRAM-SHA-256") from None
        except Malformed as err:
            raise SaslFailure("malformed-request", str(err)) from None
        except AuthFailure:
            raise SaslFailure("not-authorized") from None
        success = ET.Element(SASL + "success")
        if final:
            success.text = base64.b64encode(final[0]).decode()
        self.send(wire.serialize(success))
        self.identity = identity
        self.state = State.AUTHENTICATED
        await self.conn.drain()
        self.restart()
        self.log.info("xmpp.authenticated", account=identity.address, mechanism=mechanism.upper())

    async def answer_sasl(self, challenge: bytes, last: bool, final: list[bytes]) -> bytes:
        if last:  # RFC 6120 6.3.10: the server's last data goes in <success/>, not in a challenge
            final.append(challenge)
            return b""
        reply = ET.Element(SASL + "challenge")
        reply.text = base64.b64encode(challenge).decode() if challenge else "="
        self.send(wire.serialize(reply))
        await self.conn.drain()
        try:
            frame = await self.conn.read_frame(self.framer)
        except FrameTooLarge as err:
            raise StreamError("policy-violation", str(err)) from None
        except RestrictedXml as err:
            raise StreamError("restricted-xml", str(err)) from None
        except FrameError as err:
            raise StreamError("not-well-formed", str(err)) from None
        if not isinstance(frame, Stanza):
            raise SaslFailure("aborted")
        if frame.element.tag == SASL + "abort":
            raise SaslFailure("aborted")
        if frame.element.tag != SASL + "response":
            raise SaslFailure("malformed-request", "a <response/> was expected")
        text = (frame.element.text or "").strip()
        return b"" if text in ("", "=") else _base64(text)

    # -- bound --

    def asks_the_server(self, iq: ET.Element[str]) -> None:
        """An iq only the server answers (ping, version, time): from this client, to the server itself."""
        self.check_from(iq)
        if not self.to_server(iq):
            raise StanzaError("service-unavailable")  # between clients these go through ROUTED_IQ

    def check_from(self, stanza: ET.Element[str]) -> None:
        """RFC 6120 8.1.2.1: the server stamps `from`; one the client set must be its own JID."""
        assert self.jid is not None
        sender = stanza.get("from")
        if sender is not None:
            try:
                named = Jid.parse(sender)
            except JidError:
                raise StreamError("invalid-from") from None
            if named not in (self.jid, self.jid.bare):
                raise StreamError("invalid-from", "a stanza from another address than the stream's")
        stanza.set("from", str(self.jid))

    def result(self, iq: ET.Element[str], payload: ET.Element[str] | None = None) -> None:
        reply = ET.Element(C + "iq", {"type": "result"})
        if "id" in iq.attrib:
            reply.set("id", iq.attrib["id"])
        if iq.get("to"):
            reply.set("from", iq.attrib["to"])
        if payload is not None:
            reply.append(payload)
        self.send_stanza(self.stamped(reply))

    def to_own_account(self, iq: ET.Element[str]) -> bool:
        """Whether the iq is addressed to the client's own account (its bare JID)."""
        to = iq.get("to")
        assert self.jid is not None
        try:
            return bool(to) and Jid.parse(to or "") == self.jid.bare
        except JidError:
            raise StanzaError("jid-malformed") from None

    def to_server(self, iq: ET.Element[str]) -> bool:
        """Whether the iq is addressed to the server itself (no `to`, or the domain's bare name)."""
        to = iq.get("to")
        if not to:
            return True
        try:
            return Jid.parse(to) == Jid("", self.domain)
        except JidError:
            raise StanzaError("jid-malformed") from None


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise SaslFailure("incorrect-encoding") from None


# -- the handlers --

@COMMANDS.handles("open", OPENING | NEGOTIATING | AUTHENTICATED)
async def _open(s: XmppSession, frame: StreamOpen) -> None:
    await s.open_stream(frame)


@COMMANDS.handles("close", frozenset(State))
async def _close(s: XmppSession, frame: StreamClose) -> None:
    s.send(wire.STREAM_END)
    s.finished = True
    s.stream_closed = True


@COMMANDS.handles("{" + wire.TLS_NS + "}starttls", NEGOTIATING)
async def _starttls(s: XmppSession, frame: Stanza) -> None:
    if s.conn.tls or (s._ext is not None and s._ext.over_websocket):
        raise StreamError("policy-violation", "TLS is on already" if s.conn.tls else "no STARTTLS over WebSocket")
    s.send(b"<proceed xmlns='" + wire.TLS_NS.encode() + b"'/>")
    s.restart()  # before the handshake: nothing sent in the clear counts after it
    await s.conn.start_tls(s.runtime.tls.context)


@COMMANDS.handles(SASL + "auth", NEGOTIATING)
async def _auth(s: XmppSession, frame: Stanza) -> None:
    if not s.conn.tls and not s.conn.trusted:
        raise StreamError("policy-violation", "STARTTLS first")
    await s.authenticate(frame.element)


@COMMANDS.handles(SASL + "abort", NEGOTIATING)
async def _abort(s: XmppSession, frame: Stanza) -> None:
    raise SaslFailure("aborted")


@COMMANDS.handles(("iq", "set", wire.BIND_NS), AUTHENTICATED)
async def _bind(s: XmppSession, frame: Stanza) -> None:
    assert s.identity is not None
    iq = frame.element
    asked = (iq.findtext("{" + wire.BIND_NS + "}bind/{" + wire.BIND_NS + "}resource") or "").strip()
    try:
        account = Jid.parse(s.identity.address)
        jid = account.with_resource(asked or f"polyport-{secrets.token_hex(6)}")
    except JidError:
        raise StanzaError("bad-request", "not a resource name") from None
    s.jid = jid
    s.state = State.BOUND
    replaced = s.router.bind(s, jid)
    if replaced is not None:  # RFC 6120 7.7.2.2: the newer session keeps the resource
        replaced.replaced()
    bound = ET.Element("{" + wire.BIND_NS + "}bind")
    ET.SubElement(bound, "{" + wire.BIND_NS + "}jid").text = str(jid)
    s.result(iq, bound)
    s.log.info("xmpp.bound", jid=str(jid))


SM = "{" + sm.NS + "}"


def _sm_failed(s: XmppSession, condition: str, h: int | None = None) -> None:
    failed = ET.Element(SM + "failed")
    if h is not None:
        failed.set("h", str(h))
    ET.SubElement(failed, "{" + wire.STANZA_ERRORS_NS + "}" + condition)
    s.send(wire.serialize(failed))


@COMMANDS.handles(SM + "enable", AFTER_SASL)
async def _sm_enable(s: XmppSession, frame: Stanza) -> None:
    if s.state is not State.BOUND or s.sm is not None:  # XEP-0198 3: after binding, once
        _sm_failed(s, "unexpected-request")
        return
    resumable = frame.element.get("resume") in ("true", "1")
    s.sm = sm.StreamManagement(resumable)
    if resumable:
        s.router.resumable[s.sm.id] = s
    enabled = ET.Element(SM + "enabled")
    if resumable:
        enabled.attrib.update({"id": s.sm.id, "resume": "true", "max": str(sm.RESUME_SECONDS)})
    s.send(wire.serialize(enabled))


@COMMANDS.handles(SM + "r", AFTER_SASL)
async def _sm_request(s: XmppSession, frame: Stanza) -> None:
    if s.sm is None:
        raise StreamError("unsupported-stanza-type", "stream management is not enabled")
    s.send(b"<a xmlns='" + sm.NS.encode() + b"' h='" + str(s.sm.handled).encode() + b"'/>")


@COMMANDS.handles(SM + "a", AFTER_SASL)
async def _sm_ack(s: XmppSession, frame: Stanza) -> None:
    if s.sm is None:
        raise StreamError("unsupported-stanza-type", "stream management is not enabled")
    try:
        s.sm.acknowledged(sm.parse_h(frame.element.get("h")))
    except ValueError as err:
        raise StreamError("invalid-xml", str(err)) from None
    except sm.AckError as err:  # XEP-0198 4: handled-count-too-high
        raise StreamError("undefined-condition", str(err)) from None


def _resume_failed(s: XmppSession, condition: str, h: int | None = None) -> None:
    metrics.xmpp_resumptions.labels(result="failed").inc()
    _sm_failed(s, condition, h)


@COMMANDS.handles(SM + "resume", AFTER_SASL)
async def _sm_resume(s: XmppSession, frame: Stanza) -> None:
    assert s.identity is not None
    if s.state is State.BOUND:
        _resume_failed(s, "unexpected-request")
        return
    try:
        h = sm.parse_h(frame.element.get("h"))
    except ValueError:
        _resume_failed(s, "bad-request")
        return
    previd = frame.element.get("previd", "")
    old = s.router.resumable.get(previd)
    if old is None or old.sm is None or old.jid is None or old.identity is None or old.stream_closed \
            or old.identity.account_id != s.identity.account_id:
        _resume_failed(s, "item-not-found")  # expired, another worker's, or never ours: the client binds afresh
        return
    if old.detached is None:
        # Its client came back before the server noticed the old connection go (a phone that changed
        # networks): the old stream ends now (its connection closed, not its session); what the old
        # session is doing finishes, it detaches, and then this one takes it over.
        if old.loop_ended is None:
            old.loop_ended = asyncio.Event()
            old.send(wire.stream_error("conflict", "the stream was resumed on another connection"))
            old.conn.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(old.loop_ended.wait(), TAKEOVER_SECONDS)
        if old.detached is None or s.router.resumable.get(previd) is not old or old.sm is None:
            _resume_failed(s, "item-not-found")
            return
    try:
        old.sm.acknowledged(h)
    except sm.AckError:
        _resume_failed(s, "unexpected-request", old.sm.handled)
        return
    old.forget_detached()
    if not s.router.rebind(old, s, old.jid):
        old.end_for_good()
        _resume_failed(s, "item-not-found")
        return
    s.jid, s.sm, old.sm, old.successor = old.jid, old.sm, None, s
    s.available, s.watchers, s.directed = old.available, old.watchers, old.directed
    s.inactive, s.held = old.inactive, old.held
    if old._ext is not None:  # the rooms it is in, the push registrations it made
        s.ext.in_rooms, s.ext.push_enabled = old._ext.in_rooms, old._ext.push_enabled
    s.router.spawn(push.connected(s.runtime, s.identity.account_id))  # it reads what waited
    old.jid, old.held = None, {}
    s.router.resumable[s.sm.id] = s
    s.state = State.BOUND
    resumed = ET.Element(SM + "resumed", {"h": str(s.sm.handled), "previd": s.sm.id})
    s.send(wire.serialize(resumed))
    again = s.sm.unacknowledged()
    if again:  # what the client had not acknowledged, again, and a request for its count
        s.send(b"".join(again) + sm.REQUEST)
        s.sm.requested = True
    if not s.inactive:
        s.flush_held()  # presence that came while it was away: the latest of each sender
    metrics.xmpp_resumptions.labels(result="resumed").inc()
    s.log.info("xmpp.resumed", jid=str(s.jid), resent=len(again))


@COMMANDS.handles(("iq", "get", mam.NS), BOUND)
async def _mam_get(s: XmppSession, frame: Stanza) -> None:
    iq = frame.element
    s.check_from(iq)
    if iq.get("to") and not s.to_own_account(iq):
        raise StanzaError("service-unavailable")  # rooms' archives come with rooms
    if iq[0].tag == "{" + mam.NS + "}prefs":
        s.result(iq, await _mam_prefs(s))
    elif iq[0].tag == "{" + mam.NS + "}query":
        s.result(iq, mam.form())
    else:
        raise StanzaError("bad-request")


@COMMANDS.handles(("iq", "set", mam.NS), BOUND)
async def _mam_set(s: XmppSession, frame: Stanza) -> None:
    iq = frame.element
    s.check_from(iq)
    assert s.jid is not None and s.identity is not None
    if iq.get("to") and not s.to_own_account(iq):
        raise StanzaError("service-unavailable")
    if iq[0].tag == "{" + mam.NS + "}prefs":
        default = iq[0].get("default")
        if default not in ("always", "never") or any(len(rule) for rule in iq[0]):
            # Per-contact rules and 'roster' are not kept: the account archives all or nothing.
            raise StanzaError("feature-not-implemented", "the archive keeps all messages or none: "
                              "default='always' or 'never', without JID lists")
        await s.runtime.directory.update_account_settings(
            s.identity.address, {"ChatHistoryDays": "default" if default == "always" else "0"})
        s.router.directory_changed()  # this worker's next message reads the setting again
        s.result(iq, await _mam_prefs(s))
        return
    if iq[0].tag != "{" + mam.NS + "}query":
        raise StanzaError("bad-request")
    try:
        query = mam.parse_query(iq[0])
    except mam.QueryError as err:
        raise StanzaError("bad-request", str(err)) from None
    try:
        page = await s.runtime.archive.query(s.identity.account_id, with_jid=query.with_jid, start=query.start,
                                             end=query.end, after=query.after, before=query.before,
                                             limit=query.limit, last_page=query.last_page)
    except ArchiveItemNotFound as err:
        raise StanzaError("item-not-found", str(err)) from None
    for item in page.items:
        s.send_stanza(mam.result(item, query.query_id, s.jid, s.jid.bare))
    s.result(iq, mam.fin(page.items, page.complete))


async def _mam_prefs(s: XmppSession) -> ET.Element[str]:
    assert s.jid is not None
    own = await s.router.addressee(s.runtime, s.jid.bare)
    keeping = own is not None and own.history_days > 0
    prefs = ET.Element("{" + mam.NS + "}prefs", {"default": "always" if keeping else "never"})
    ET.SubElement(prefs, "{" + mam.NS + "}always")
    ET.SubElement(prefs, "{" + mam.NS + "}never")
    return prefs


@COMMANDS.handles(("iq", "set", SESSION_NS), BOUND)
async def _session(s: XmppSession, frame: Stanza) -> None:
    s.result(frame.element)  # RFC 3921's session establishment: nothing to do since RFC 6120


@COMMANDS.handles(("iq", "get", PING_NS), BOUND)
async def _ping(s: XmppSession, frame: Stanza) -> None:
    s.asks_the_server(frame.element)
    s.result(frame.element)


@COMMANDS.handles(("iq", "get", DISCO_INFO_NS), BOUND)
async def _disco_info(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    query_in = frame.element[0]
    if s.to_own_account(frame.element) and not query_in.get("node"):  # its archive, its PEP service
        s.result(frame.element, account_info())
        return
    caps_node = query_in.get("node")
    if not s.to_server(frame.element) or (caps_node and caps_node != f"{CAPS_NODE}#{SERVER_CAPS_VER}"):
        raise StanzaError("service-unavailable" if not s.to_server(frame.element) else "item-not-found")
    s.result(frame.element, server_info(SERVER_FEATURES, caps_node))


@COMMANDS.handles(("iq", "get", DISCO_ITEMS_NS), BOUND)
async def _disco_items(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    if s.to_own_account(frame.element) and not frame.element[0].get("node"):  # its PEP nodes (XEP-0163)
        assert s.identity is not None and s.jid is not None
        query = ET.Element("{" + DISCO_ITEMS_NS + "}query")
        for node in await s.runtime.pep.nodes(s.identity.account_id):
            ET.SubElement(query, "{" + DISCO_ITEMS_NS + "}item", {"jid": str(s.jid.bare), "node": node})
        s.result(frame.element, query)
        return
    s.asks_the_server(frame.element)
    query = ET.Element("{" + DISCO_ITEMS_NS + "}query")
    if not frame.element[0].get("node") and s.runtime.config.xmpp.rooms:  # the chat service (XEP-0045 6.1)
        ET.SubElement(query, "{" + DISCO_ITEMS_NS + "}item", {"jid": f"{s.runtime.config.xmpp.rooms}.{s.domain}",
                                                              "name": ROOMS_NAME})
    uploads = upload.service_jid(s.runtime, s.domain)
    if not frame.element[0].get("node") and uploads:  # the upload service (XEP-0363 3)
        ET.SubElement(query, "{" + DISCO_ITEMS_NS + "}item", {"jid": uploads, "name": "HTTP File Upload"})
    s.result(frame.element, query)


@COMMANDS.handles(("iq", "get", LAST_NS), BOUND)
async def _last(s: XmppSession, frame: Stanza) -> None:
    """XEP-0012 5: asked of the server, how long it has run; asked of the own account, 0 (it is online)."""
    iq = frame.element
    s.check_from(iq)
    if s.to_own_account(iq):
        s.result(iq, ET.Element(LAST + "query", {"seconds": "0"}))
        return
    s.asks_the_server(iq)
    s.result(iq, ET.Element(LAST + "query", {"seconds": str(int(time.time() - s.router.started))}))


@COMMANDS.handles(("iq", "get", VERSION_NS), BOUND)
async def _version(s: XmppSession, frame: Stanza) -> None:
    s.asks_the_server(frame.element)
    s.result(frame.element, version_query())


@COMMANDS.handles(C + "message", BOUND)
async def _message(s: XmppSession, frame: Stanza) -> None:
    stanza = frame.element
    s.check_from(stanza)
    if await s.to_rooms(stanza):
        return
    if (remote := await s.to_remote(stanza)) is not None:  # to another server (federation)
        if mam.archived(stanza):
            await s.archive(stanza, remote)
        if carbon_eligible(stanza) and s.jid is not None:
            own = s.router.full(s.jid)
            s.router.carbons(s.jid.bare, stanza, "sent", skip=[own] if own is not None else [])
        assert s.router.federation is not None
        s.router.federation.send(stanza)
        return
    to, account_id = await s.recipient_account(stanza)
    if not await s.check_blocking(to, account_id):
        raise StanzaError("service-unavailable")  # XEP-0191 3.4: as if there were nobody
    stanza.set("to", str(to))
    if mam.archived(stanza):
        await s.archive(stanza, to)
    if carbon_eligible(stanza) and s.jid is not None and to.bare != s.jid.bare:  # XEP-0280 'sent' copies
        own = s.router.full(s.jid)
        s.router.carbons(s.jid.bare, stanza, "sent", skip=[own] if own is not None else [])
    if s.router.deliver_message(stanza, to):
        return
    if stanza.get("type") == "groupchat":
        raise StanzaError("service-unavailable", "not a room")  # RFC 6121 8.5.2.1.1, 8.5.3.2.1
    if stanza.get("type", "normal") not in ("normal", "chat"):
        return  # a headline nobody takes is dropped (8.5.2.2.1)
    # Nobody online to take it: kept until the account comes online (XEP-0160), stamped (XEP-0203).
    ET.SubElement(stanza, "{" + DELAY_NS + "}delay", {"from": s.domain, "stamp": wire.stamp()})
    stanza.set("to", str(to.bare))
    try:
        await s.runtime.offline.store(account_id, wire.serialize(stanza).decode())
    except OfflineFull as err:
        raise StanzaError("service-unavailable", str(err)) from None
    if s.jid is not None:
        push.waiting(s.runtime, s.router, to.bare, account_id, str(s.jid.bare), stanza)


@COMMANDS.handles(C + "presence", BOUND)
async def _presence(s: XmppSession, frame: Stanza) -> None:
    stanza = frame.element
    s.check_from(stanza)
    assert s.jid is not None and s.identity is not None
    kind = stanza.get("type")
    if await s.to_rooms(stanza):
        return
    if kind in KINDS:  # subscriptions (RFC 6121 3)
        if not stanza.get("to"):
            raise StanzaError("bad-request", "a subscription stanza names its contact")
        if (remote := await s.to_remote(stanza)) is not None:
            contact = remote.bare
        else:
            named, contact_account = await s.recipient_account(stanza)
            contact = named.bare
            if contact == s.jid.bare:
                raise StanzaError("bad-request", "an account is always subscribed to itself")
            if not await s.check_blocking(contact, contact_account):
                return  # to an account that blocks this one: dropped (XEP-0191 3.4)
            if contact in await s.router.shared_contacts(s.runtime, s.jid.bare):
                return  # members of a shared roster group are subscribed both ways, whatever they send
        try:
            await presence.outbound(s.runtime, s.router, s.identity.account_id, s.jid, contact, kind)
        except RosterRefused as err:
            raise StanzaError(err.condition, str(err)) from None
        return
    if kind in ("probe", "error"):
        return  # probes are the server's to send (RFC 6121 4.3); errors are not answered
    if stanza.get("to"):  # directed presence (RFC 6121 4.6)
        if kind not in (None, "unavailable"):
            raise StanzaError("bad-request", f"no presence type {kind!r}")
        if (remote := await s.to_remote(stanza)) is not None:
            s.router.deliver_presence(stanza, remote)  # through the remote's link
            if kind is None:
                s.directed[remote] = None
            else:
                s.directed.pop(remote, None)
            return
        try:
            to, to_account = await s.recipient_account(stanza)
        except StanzaError:
            return  # to nobody this server knows: dropped (RFC 6121 8.5.1, for presence)
        if await s.check_blocking(to, to_account):
            s.router.deliver_presence(stanza, to)
            if kind is None:
                s.directed[to] = None
            else:
                s.directed.pop(to, None)
        return
    if kind not in (None, "unavailable"):
        raise StanzaError("bad-request", f"no presence type {kind!r}")
    try:
        priority = int(stanza.findtext(C + "priority") or 0)
    except ValueError:
        raise StanzaError("bad-request", "a priority is an integer") from None
    if not -128 <= priority <= 127:
        raise StanzaError("bad-request", "a priority is between -128 and 127")
    initial = kind is None and not s.available
    went = kind == "unavailable" and s.available
    s.available = kind is None
    s.last_status = (stanza.findtext(C + "status") or "").strip()[:MAX_STATUS]
    if went:
        s.router.spawn(s.record_last_activity(s.jid.bare, s.identity.account_id, s.last_status))
    if initial and priority >= 0:
        s.backlog = []  # what is sent to it from now on waits behind what waited offline
    s.router.set_presence(s.jid, stanza if s.available else None, priority)
    s.broadcast_own(stanza)  # with the view just changed, before any wait: no other session slips between
    if initial:
        s.learn_own()
    if s.backlog is not None:
        try:
            # XEP-0160 4: what waited goes to the first resource that can take it, first; not what a
            # sender it now blocks sent.
            for message in await s.runtime.offline.take(s.identity.account_id):
                parsed = wire.parse_stanza(message)
                sender = parsed.get("from", "") if parsed is not None else ""
                with contextlib.suppress(JidError):
                    if sender and await s.router.blocks(s.runtime, s.jid.bare, s.identity.account_id,
                                                        Jid.parse(sender)):
                        continue
                s.write_stanza(message.encode())
        finally:
            backlog, s.backlog = s.backlog, None
            for data, sender_of_presence in backlog:
                s._deliver(data, presence_from=sender_of_presence)
    # The contacts subscribed to the account's presence hear it (RFC 6121 4.2.2, 4.4.2, 4.5.2), and those of
    # its shared roster groups.
    _, items = await presence.roster(s.runtime, s.router, s.identity.account_id, s.jid.bare)
    states = {Jid.parse(item.contact): item.state for item in items if item.state.from_ or item.state.to}
    contacts = await s.unblocked(list(states))
    s.watchers = [contact for contact in contacts if states[contact].from_]
    for contact in s.watchers:
        s.router.deliver_presence(wire.addressed(stanza, contact), contact)
    if kind == "unavailable":
        s.tell_directed(stanza)
    if initial:
        for contact in contacts:  # the presence of the contacts the account is subscribed to (4.2.3's probes)
            if states[contact].to:
                if s.router.federation is not None and await s.remote(contact):  # its server answers
                    s.router.federation.send(ET.Element(C + "presence", {"type": "probe", "from": str(s.jid.bare),
                                                                         "to": str(contact)}))
                else:
                    presence.presence_of(s.router, contact, s.jid)
        for request in await presence.waiting_requests(s.runtime, s.router, s.identity.account_id, s.jid.bare):
            send(s, request)
    if kind is None and s.router.pep is not None:  # personal eventing: its capabilities, the last items
        try:
            await s.router.pep.presence(s, stanza, initial)
        except Exception:  # the store failed: no events for now, the stream goes on
            s.log.exception("xmpp.pep_presence_failed")


@COMMANDS.handles(("iq", "set", CARBONS_NS), BOUND)
async def _carbons(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    assert s.jid is not None
    action = frame.element[0].tag.rpartition("}")[2]
    if action not in ("enable", "disable"):
        raise StanzaError("bad-request", "enable or disable")
    s.router.set_carbons(s.jid, action == "enable")
    s.result(frame.element)


@COMMANDS.handles(("iq", "get", BLOCKING_NS), BOUND)
async def _blocklist(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    assert s.jid is not None and s.identity is not None
    s.router.wants_blocklist(s.jid)
    answer = ET.Element(BLOCKING + "blocklist")
    for jid in await s.runtime.blocklists.items(s.identity.account_id):
        ET.SubElement(answer, BLOCKING + "item", {"jid": jid})
    s.result(frame.element, answer)


@COMMANDS.handles(("iq", "set", BLOCKING_NS), BOUND)
async def _block(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    assert s.jid is not None and s.identity is not None
    action = frame.element[0].tag.rpartition("}")[2]
    if action not in ("block", "unblock"):
        raise StanzaError("bad-request", "block or unblock")
    try:
        jids = [Jid.parse(item.get("jid", "")) for item in frame.element[0].findall(BLOCKING + "item")]
    except JidError:
        raise StanzaError("jid-malformed") from None
    if action == "block" and not jids:
        raise StanzaError("bad-request", "block at least one JID (XEP-0191 3.3)")
    lists = s.runtime.blocklists
    try:
        if action == "block":
            changed = await lists.block(s.identity.account_id, [str(jid) for jid in jids])
        else:
            changed = await lists.unblock(s.identity.account_id, [str(jid) for jid in jids] if jids else None)
    except BlocklistFull as err:
        raise StanzaError("resource-constraint", str(err)) from None
    s.router.blocklist_changed(s.jid)
    s.result(frame.element)
    # XEP-0191 3.3, 3.4: every resource that asked for the list learns the change.
    for _, resource in s.router.resources(s.jid.bare):
        if resource.blocklist:
            push = ET.Element(C + "iq", {"type": "set", "id": f"push-{secrets.token_hex(6)}",
                                        "to": str(resource.jid)})
            change = ET.SubElement(push, BLOCKING + action)
            for jid in jids:  # none: every JID was unblocked (XEP-0191 3.4), said by an empty <unblock/>
                ET.SubElement(change, BLOCKING + "item", {"jid": str(jid)})
            s.router.send(resource, push)
    # Contacts that saw the account's presence stop seeing it (3.3), or see it again (3.4).
    covered = [(jid.local, jid.domain, jid.resource) for jid in map(Jid.parse, changed)]
    _, items = await presence.roster(s.runtime, s.router, s.identity.account_id, s.jid.bare)
    for item in items:
        contact = Jid.parse(item.contact)
        if not item.state.from_ or not blocks(covered, (contact.local, contact.domain, contact.resource)):
            continue
        if action == "block":
            presence.unavailable_from(s.router, s.jid, contact)
        elif contact in await s.unblocked([contact]):
            presence.presence_of(s.router, s.jid, contact)


@COMMANDS.handles("{" + CSI_NS + "}inactive", BOUND)
async def _inactive(s: XmppSession, frame: Stanza) -> None:
    s.inactive = True


@COMMANDS.handles("{" + CSI_NS + "}active", BOUND)
async def _active(s: XmppSession, frame: Stanza) -> None:
    s.inactive = False
    s.flush_held()


@COMMANDS.handles(("iq", "get", VCARD_NS), BOUND)
async def _vcard_get(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    assert s.identity is not None
    await s.answer_vcard(frame.element, s.identity.account_id)


@COMMANDS.handles(("iq", "set", VCARD_NS), BOUND)
async def _vcard_set(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    assert s.identity is not None
    vcard = frame.element[0]
    if vcard.tag != VCARD + "vCard":
        raise StanzaError("bad-request", "a vCard")
    try:
        await s.runtime.vcards.put(s.identity.account_id, wire.serialize(vcard).decode())
    except VcardTooLarge as err:
        raise StanzaError("not-acceptable", str(err)) from None
    s.result(frame.element)


def _private_fragment(s: XmppSession, iq: ET.Element[str]) -> ET.Element[str]:
    """The one fragment inside a private storage query (XEP-0049 2), in a namespace a client may use."""
    s.check_from(iq)
    if iq.get("to") and not s.to_own_account(iq):
        raise StanzaError("forbidden", "only an account's own private storage")
    query = iq[0]
    if query.tag != PRIVATE + "query" or len(query) != 1:
        raise StanzaError("bad-request", "one element, in its own namespace")
    fragment = query[0]
    namespace = fragment.tag[1:].partition("}")[0] if fragment.tag.startswith("{") else ""
    if namespace in ("", wire.CLIENT_NS, wire.SERVER_NS, PRIVATE_NS):
        raise StanzaError("not-acceptable", "not a namespace of private storage")
    return fragment


@COMMANDS.handles(("iq", "get", PRIVATE_NS), BOUND)
async def _private_get(s: XmppSession, frame: Stanza) -> None:
    assert s.identity is not None
    fragment = _private_fragment(s, frame.element)
    namespace = fragment.tag[1:].partition("}")[0]
    stored = await s.runtime.private.get(s.identity.account_id, namespace)
    found = wire.parse_stanza(stored) if stored is not None else None
    query = ET.Element(PRIVATE + "query")
    query.append(found if found is not None else ET.Element(fragment.tag))  # empty: nothing stored
    s.result(frame.element, query)


@COMMANDS.handles(("iq", "set", PRIVATE_NS), BOUND)
async def _private_set(s: XmppSession, frame: Stanza) -> None:
    assert s.identity is not None
    fragment = _private_fragment(s, frame.element)
    namespace = fragment.tag[1:].partition("}")[0]
    try:
        await s.runtime.private.put(s.identity.account_id, namespace, wire.serialize(fragment).decode())
    except PrivateStorageFull as err:
        raise StanzaError("not-acceptable", str(err)) from None
    s.result(frame.element)


@COMMANDS.handles(("iq", "get", TIME_NS), BOUND)
async def _time(s: XmppSession, frame: Stanza) -> None:
    s.asks_the_server(frame.element)
    answer = ET.Element("{" + TIME_NS + "}time")
    ET.SubElement(answer, "{" + TIME_NS + "}tzo").text = "+00:00"
    ET.SubElement(answer, "{" + TIME_NS + "}utc").text = wire.stamp()
    s.result(frame.element, answer)


@COMMANDS.handles(ROUTED_IQ, BOUND)
async def _routed_iq(s: XmppSession, frame: Stanza) -> None:
    stanza = frame.element
    s.check_from(stanza)
    with contextlib.suppress(JidError):
        if upload.is_service(s.runtime, Jid.parse(stanza.get("to", "")), s.domain):
            await upload.answer(s, stanza)  # XEP-0363's slots
            return
    if await s.to_rooms(stanza):
        return
    if await s.to_remote(stanza) is not None:
        assert s.router.federation is not None
        s.router.federation.send(stanza)
        return
    to, account_id = await s.recipient_account(stanza)
    request = stanza.get("type") in ("get", "set")
    if not await s.check_blocking(to, account_id):
        if request:
            raise StanzaError("service-unavailable")
        return
    if not to.resource and stanza.get("type") == "get" and len(stanza) and stanza[0].tag == VCARD + "vCard":
        await s.answer_vcard(stanza, account_id)  # XEP-0054 3.2: the server answers for the account
        return
    if not to.resource and stanza.get("type") == "get" and len(stanza) and stanza[0].tag == LAST + "query":
        await s.answer_last_activity(stanza, to, account_id)  # XEP-0012 4: the server answers for it
        return
    if not to.resource and len(stanza) and stanza[0].tag in (pubsub.P + "pubsub", pubsub.O + "pubsub"):
        await _pep(s, stanza, to.bare, account_id)  # XEP-0163: the account's own pubsub service
        return
    if (not to.resource and stanza.get("type") == "get" and len(stanza)
            and stanza[0].tag == "{" + DISCO_INFO_NS + "}query" and not stanza[0].get("node")):
        s.result(stanza, account_info())  # RFC 6121 8.5.2.1.3: the server answers for the account
        return
    stanza.set("to", str(to))
    resource = s.router.full(to) if to.resource else None
    if resource is not None and s.router.send(resource, stanza):
        return
    if request:  # RFC 6121 8.5.3.2.3 (no such resource), 8.5.2.1.3 (the server answers for a bare JID)
        raise StanzaError("service-unavailable")


@COMMANDS.handles(("iq", "set", push.NS), BOUND)
async def _push(s: XmppSession, frame: Stanza) -> None:
    """Push notifications (XEP-0357): enable or disable an app server for the account."""
    s.check_from(frame.element)
    if frame.element.get("to") and not s.to_own_account(frame.element):
        raise StanzaError("service-unavailable")
    try:
        await push.configure(s, frame.element)
    except push.PushRefused as err:
        raise StanzaError(err.condition, err.text) from None


@COMMANDS.handles(("iq", "get", pubsub.NS), BOUND)
@COMMANDS.handles(("iq", "set", pubsub.NS), BOUND)
@COMMANDS.handles(("iq", "get", pubsub.OWNER_NS), BOUND)
@COMMANDS.handles(("iq", "set", pubsub.OWNER_NS), BOUND)
async def _own_pep(s: XmppSession, frame: Stanza) -> None:
    """A pubsub request to the client's own account (no `to`, or its bare JID): its PEP service."""
    iq = frame.element
    s.check_from(iq)
    assert s.jid is not None and s.identity is not None
    if iq.get("to") and not s.to_own_account(iq):
        raise StanzaError("service-unavailable")  # pubsub services other than PEP: none yet
    await _pep(s, iq, s.jid.bare, s.identity.account_id)


async def _pep(s: XmppSession, iq: ET.Element[str], owner: Jid, owner_id: int) -> None:
    assert s.jid is not None
    pep = s.router.pep
    if pep is None:
        raise StanzaError("service-unavailable")
    try:
        payload = await pep.request(s.jid, iq, owner, owner_id)
    except pubsub.PubsubError as err:
        raise StanzaError(err.condition, err.text, application=err.application) from None
    except StoreError:
        s.log.exception("xmpp.pep_failed")
        raise StanzaError("internal-server-error", "the store failed; try again") from None
    s.result(iq, payload)


@COMMANDS.handles(("iq", "result", DISCO_INFO_NS), BOUND)
@COMMANDS.handles(("iq", "error", DISCO_INFO_NS), BOUND)
async def _caps_answer(s: XmppSession, frame: Stanza) -> None:
    """The client's answer to the server's capabilities query (XEP-0115; xmpp/pep.py asked)."""
    if s.router.pep is None or s._ext is None or frame.element.get("id", "") not in s._ext.caps_pending:
        return
    if frame.element.get("type") == "error":
        del s.ext.caps_pending[frame.element.get("id", "")]
        return
    try:
        await s.router.pep.caps_answer(s, frame.element)
    except Exception:  # the key-value store failed: learned another time
        s.log.exception("xmpp.caps_failed")


@COMMANDS.handles(("iq", "get", ROSTER_NS), BOUND)
async def _roster_get(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    assert s.identity is not None and s.jid is not None
    s.router.interested(s.jid)
    stored, items = await presence.roster(s.runtime, s.router, s.identity.account_id, s.jid.bare)
    version = s.router.roster_version(s.jid.bare, stored)
    if frame.element[0].get("ver") == version:
        s.result(frame.element)  # XEP-0237: the client's copy is current; changes come as pushes
        return
    query = ET.Element(ROSTER + "query", {"ver": version})
    query.extend(presence.roster_item(item) for item in items)
    s.result(frame.element, query)


@COMMANDS.handles(("iq", "set", ROSTER_NS), BOUND)
async def _roster_set(s: XmppSession, frame: Stanza) -> None:
    s.check_from(frame.element)
    assert s.identity is not None and s.jid is not None
    items = frame.element[0].findall(ROSTER + "item")
    if len(items) != 1:
        raise StanzaError("bad-request", "a roster set carries exactly one item (RFC 6121 2.3.3)")
    item = items[0]
    try:
        contact = Jid.parse(item.get("jid", "")).bare
    except JidError:
        raise StanzaError("jid-malformed", "the item's jid") from None
    contact, reachable = await presence.contact_of(s.runtime, s.router, contact)
    rosters = s.runtime.rosters
    if item.get("subscription") == "remove":
        removed = await rosters.remove(s.identity.account_id, str(contact))
        if removed is None:
            raise StanzaError("item-not-found")
        s.result(frame.element)
        await presence.contact_removed(s.runtime, s.router, s.jid, contact, *removed, reachable)
        return
    groups = tuple((group.text or "") for group in item.findall(ROSTER + "group"))
    try:
        version, stored = await rosters.set_item(s.identity.account_id, str(contact), item.get("name", ""), groups)
    except RosterRefused as err:
        raise StanzaError(err.condition, str(err)) from None
    s.result(frame.element)
    presence.push_roster(s.router, s.jid, version, stored)


@COMMANDS.handles(("iq", "get", ""), BOUND)
@COMMANDS.handles(("iq", "set", ""), BOUND)
async def _empty_iq(s: XmppSession, frame: Stanza) -> None:
    raise StanzaError("bad-request", "an iq get or set carries one payload (RFC 6120 8.2.3)")


_HANDLED = frozenset(key[2] for key in COMMANDS.keys() if isinstance(key, tuple))  # noqa: SIM118 (a CommandTable)
_NAMES = frozenset({"open", "close", "starttls", "auth", "abort", "message", "presence", "iq", ROUTED_IQ,
                    "active", "inactive"})


def server_info(features: tuple[str, ...], node: str | None = None) -> ET.Element[str]:
    """What service discovery says the server is and does (to clients all of SERVER_FEATURES; to other
    servers what they may ask of it)."""
    query = ET.Element("{" + DISCO_INFO_NS + "}query", {"node": node} if node else {})
    ET.SubElement(query, "{" + DISCO_INFO_NS + "}identity", dict(zip(("category", "type", "name"), SERVER_IDENTITY,
                                                                      strict=True)))
    for feature in features:
        ET.SubElement(query, "{" + DISCO_INFO_NS + "}feature", {"var": feature})
    return query


def version_query() -> ET.Element[str]:
    """The server's software version (XEP-0092)."""
    query = ET.Element("{" + VERSION_NS + "}query")
    ET.SubElement(query, "{" + VERSION_NS + "}name").text = "Polyport"
    ET.SubElement(query, "{" + VERSION_NS + "}version").text = __version__
    return query


def account_info() -> ET.Element[str]:
    """What service discovery says an account (its bare JID) offers: its archive and its PEP service."""
    query = ET.Element("{" + DISCO_INFO_NS + "}query")
    ET.SubElement(query, "{" + DISCO_INFO_NS + "}identity", {"category": "account", "type": "registered"})
    ET.SubElement(query, "{" + DISCO_INFO_NS + "}identity", {"category": "pubsub", "type": "pep"})
    for feature in (*ACCOUNT_FEATURES, *pubsub.FEATURES):
        ET.SubElement(query, "{" + DISCO_INFO_NS + "}feature", {"var": feature})
    return query


def last_activity_key(account_id: int) -> str:
    """The key-value store's key of an account's last activity (XEP-0012): "<unix time> <status>"."""
    return f"xmpp:last:{account_id}"
