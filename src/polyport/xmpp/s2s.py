"""A stream from another XMPP server (RFC 6120, the `xmpp-s2s` listener on 5269), and what arrives on it.

The remote server opens a `jabber:server` stream to one of our domains; TLS comes first (STARTTLS is the
only feature before it, and required); then it proves its domain with dialback (XEP-0220): its key is
checked by asking its domain's server, found in the DNS (xmpp/federation.py's `verify`), and the pair
(its domain, our domain) is then accepted on this stream. Any server may ask, on any stream, whether a
key is one of ours (`<db:verify/>`), and is told without anything being accepted.

Stanzas: only from a domain accepted for the domain they are sent to (else the stream ends with
`invalid-from`), `from` and `to` both present (`improper-addressing`). Each is read as a client's stanza
(`jabber:client`) and handed to our side as if a local client had sent it to the account: messages through
blocking, the archive, delivery and offline storage; subscriptions through the roster (xmpp/presence.py);
probes answered for the account when the sender is subscribed; iqs to the server (ping, discovery,
version) and to an account (vCard, discovery) answered, others routed to the addressed resource. Errors
and answers go back through this worker's outgoing link to that server. Chat rooms take no one from
other servers yet (their requests are answered `service-unavailable`).
"""

from __future__ import annotations

import asyncio
import base64
import enum
import secrets
from xml.etree import ElementTree as ET

from polyport import metrics
from polyport.config import ResolvedService
from polyport.im import OfflineFull
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
from polyport.net.framing.xmlstream import (
    STREAM_TAG,
    Stanza,
    StreamClose,
    StreamOpen,
    XmlFrame,
    XmlStreamFramer,
)
from polyport.runtime import Runtime
from polyport.xmpp import dialback, mam, presence, push, wire
from polyport.xmpp.federation import Federation, certificate_matches, certificate_names
from polyport.xmpp.jid import Jid, JidError
from polyport.xmpp.router import Router, router_for
from polyport.xmpp.session import (
    StanzaError,
    StreamError,
    account_info,
    read_stream_frame,
    server_info,
    version_query,
)

S = "{" + wire.SERVER_NS + "}"
C = "{" + wire.CLIENT_NS + "}"
TLS = "{" + wire.TLS_NS + "}"
SASL = "{" + wire.SASL_NS + "}"
STANZA_TAGS = frozenset({S + "message", S + "presence", S + "iq"})
MAX_PENDING = 10  # dialback checks one stream may have under way (each is a connection of ours elsewhere)
MAX_ACCEPTED = 1000  # domain pairs one stream may carry
PING_NS = "urn:xmpp:ping"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
VERSION_NS = "jabber:iq:version"
VCARD = "{vcard-temp}"
DELAY_NS = "urn:xmpp:delay"
S2S_FEATURES = (DISCO_INFO_NS, PING_NS, VERSION_NS)


class State(enum.Enum):
    OPENING = "opening"  # waiting for the peer's stream header (again after STARTTLS)
    OPEN = "open"


COMMANDS = CommandTable()
OPENING = frozenset({State.OPENING})
OPEN = frozenset({State.OPEN})


class ServerSession(CommandSession[State, XmlFrame]):
    protocol = "xmpp-s2s"
    access_mode = "XMPP"
    table = COMMANDS

    def __init__(self, conn: Connection, runtime: Runtime, service: ResolvedService,
                 command_metrics: metrics.CommandMetrics) -> None:
        super().__init__(conn, runtime, service.name, command_metrics)
        self.state = State.OPENING
        self.framer = XmlStreamFramer()
        self.frame: XmlFrame | None = None
        self.header_sent = False
        self.stream_id = ""
        self.domain = ""  # the stream's `to`, one of ours
        self.remote = ""  # the stream's `from`, the domain the peer says it is
        self.router: Router = router_for(runtime)
        self.accepted: set[tuple[str, str]] = set()  # (remote domain, our domain) pairs dialback proved
        self.checking: set[tuple[str, str]] = set()  # pairs whose key is being checked
        self.pending: set[asyncio.Task[None]] = set()
        self.done: set[str] = set()  # negotiation steps taken ("{sasl}success")
        self.accepted_by: dict[tuple[str, str], str] = {}  # how each pair was proved: dialback, certificate
        self.stanzas = 0
        metrics.xmpp_s2s_links.labels("in").inc()
        if self.router.federation is not None:
            self.router.federation.incoming.add(self)

    @property
    def federation(self) -> Federation:
        federation = self.router.federation
        if federation is None:
            raise StreamError("internal-server-error", "federation is off")
        return federation

    # -- the kernel's hooks --

    def greet(self) -> None:
        pass

    def goodbye(self, why: Ending) -> None:
        self.close_with_error("connection-timeout" if why is Ending.IDLE else "system-shutdown")

    async def read_command(self) -> CommandBytes | None:
        self.frame = await read_stream_frame(self.conn, self.framer, self.close_with_error)
        if self.frame is None:
            return None
        return self.frame.raw if isinstance(self.frame, Stanza) else b""

    async def line_too_long(self, err: LineTooLong) -> None:
        raise AssertionError("an XML stream has no lines")

    def parse(self, data: CommandBytes) -> XmlFrame | None:
        return self.frame

    def command_key(self, command: XmlFrame) -> object:
        if isinstance(command, StreamOpen):
            return "open"
        if isinstance(command, StreamClose):
            return "close"
        return "stanza" if command.element.tag in STANZA_TAGS else command.element.tag

    def command_name(self, command: XmlFrame) -> str:
        key = self.command_key(command)
        if key == "stanza" and isinstance(command, Stanza):
            return command.element.tag.rpartition("}")[2]
        return str(key).rpartition("}")[2]

    def metric_name(self, name: str) -> str:
        return name if name in _NAMES else "other"

    async def refuse(self, command: XmlFrame | None, data: CommandBytes, err: Exception) -> Result | None:
        if isinstance(err, StreamError):
            self.close_with_error(err.condition, err.text)
            return Result.BAD_SYNTAX
        if isinstance(err, dialback.DialbackError):
            self.close_with_error(err.condition, str(err))
            return Result.BAD_SYNTAX
        if isinstance(err, UnknownCommand | WrongState):
            if self.state is State.OPENING:
                self.close_with_error("not-well-formed", "the stream header comes first")
            elif isinstance(command, Stanza) and command.element.tag in STANZA_TAGS:
                self.close_with_error("not-authorized", "TLS and dialback first")
            else:
                self.close_with_error("unsupported-stanza-type", "not a stanza of a server's stream")
            return Result.BAD_SYNTAX
        return None

    async def server_error(self, command: XmlFrame | None) -> None:
        self.close_with_error("internal-server-error")

    def ended(self) -> None:
        metrics.xmpp_s2s_links.labels("in").dec()
        for task in self.pending:
            task.cancel()

    # -- the stream --

    def close_with_error(self, condition: str, text: str | None = None) -> None:
        if not self.header_sent:
            self.conn.write(wire.stream_header(domain=self.domain or self.runtime.config.main_domain,
                                               stream_id=secrets.token_hex(8), content_ns=wire.SERVER_NS))
            self.header_sent = True
        self.conn.write(wire.stream_error(condition, text))
        self.log.info("xmpp.s2s_stream_error", condition=condition)
        self.finished = True

    @property
    def secure(self) -> bool:
        return self.runtime.config.xmpp.s2s_secure

    def certified(self, domain: str) -> bool:
        """Whether the peer's certificate, checked in the handshake, is for `domain` (XEP-0178)."""
        return certificate_matches(domain, certificate_names(self.conn.peer_certificate()))

    def features(self) -> list[ET.Element[str]]:
        if not self.conn.tls:
            starttls = ET.Element(TLS + "starttls")
            ET.SubElement(starttls, TLS + "required")
            return [starttls]
        if (SASL + "success") in self.done:
            return []  # authenticated: nothing more to negotiate
        offered = []
        if self.remote and self.certified(self.remote):
            mechanisms = ET.Element(SASL + "mechanisms")
            ET.SubElement(mechanisms, SASL + "mechanism").text = "EXTERNAL"
            offered.append(mechanisms)
        if not self.secure:
            offer = ET.Element("{" + dialback.FEATURE_NS + "}dialback")
            ET.SubElement(offer, "{" + dialback.FEATURE_NS + "}errors")  # XEP-0220 2.6: errors answered in kind
            offered.append(offer)
        return offered

    async def answer_result(self, request: dialback.Request) -> None:
        """Check a key the remote sent for its domain (XEP-0220 2.3) and tell it the outcome (2.4)."""
        pair = (request.sender, request.to)
        try:
            outcome = await self.federation.verify(request.sender, request.to, self.stream_id, request.key)
        except Exception:
            self.log.exception("xmpp.dialback_check_failed", remote=request.sender)
            outcome = "error"
        finally:
            self.checking.discard(pair)
        if self.finished:
            return
        if outcome == "valid":
            self.accepted.add(pair)
            self.accepted_by[pair] = "dialback"
            self.log.info("xmpp.s2s_in_accepted", remote=request.sender, local=request.to, by="dialback")
            self.conn.write(dialback.element("result", request.to, request.sender, answer="valid"))
        elif outcome == "invalid":  # XEP-0220 2.4: told, and the stream ends
            self.log.info("xmpp.s2s_in_refused", remote=request.sender, local=request.to)
            self.conn.write(dialback.element("result", request.to, request.sender, answer="invalid"))
            self.conn.write(wire.STREAM_END)
            self.finished = True
            self.conn.close()
        else:
            self.conn.write(_dialback_error("result", request.to, request.sender,
                                            "remote-server-timeout", "its server could not be asked"))

    def reply(self, error_or_result: ET.Element[str]) -> None:
        """An answer to what arrived: back to the sender's server."""
        self.federation.send(error_or_result)


def _dialback_error(kind: str, sender: str, to: str, condition: str, text: str, stream_id: str = "") -> bytes:
    """XEP-0220 2.6's error answer (`type='error'` and a stanza error inside; a verify's with its id)."""
    inner = f"<error type='{wire.STANZA_ERRORS[condition]}'><{condition} xmlns='{wire.STANZA_ERRORS_NS}'/>" \
            f"<text xmlns='{wire.STANZA_ERRORS_NS}'>{wire.escape_text(text)}</text></error>"
    id_attribute = f" id='{wire.escape_attribute(stream_id)}'" if stream_id else ""
    return (f"<db:{kind} from='{wire.escape_attribute(sender)}' to='{wire.escape_attribute(to)}'{id_attribute} "
            f"type='error'>{inner}</db:{kind}>").encode()


@COMMANDS.handles("open", OPENING)
async def _open(s: ServerSession, frame: StreamOpen) -> None:
    if frame.tag != STREAM_TAG or frame.namespaces.get("") != wire.SERVER_NS:
        raise StreamError("invalid-namespace", "a server's stream is jabber:server in the streams namespace")
    to = frame.attributes.get("to", "")
    try:
        domain = Jid.parse(to).domain if to else ""
    except JidError:
        domain = ""
    if not domain or not await s.federation.is_local(domain):
        s.domain = domain if domain else ""
        raise StreamError("host-unknown", f"{domain or 'no domain'} is not served here")
    s.domain = domain
    if not frame.attributes.get("version", "").startswith("1."):
        raise StreamError("unsupported-version", "this server speaks XMPP 1.0 (RFC 6120)")
    s.stream_id = secrets.token_hex(12)
    s.conn.write(wire.stream_header(domain=domain, stream_id=s.stream_id, to=frame.attributes.get("from") or None,
                                    content_ns=wire.SERVER_NS))
    s.header_sent = True
    try:
        s.remote = Jid.parse(frame.attributes.get("from", "")).domain
    except JidError:
        s.remote = ""
    s.conn.write(wire.features(*s.features()))
    s.state = State.OPEN


@COMMANDS.handles("close", OPENING | OPEN)
async def _close(s: ServerSession, frame: StreamClose) -> None:
    s.conn.write(wire.STREAM_END)
    s.finished = True


@COMMANDS.handles(TLS + "starttls", OPEN)
async def _starttls(s: ServerSession, frame: Stanza) -> None:
    if s.conn.tls:
        raise StreamError("policy-violation", "TLS is on already")
    s.conn.write(b"<proceed xmlns='" + wire.TLS_NS.encode() + b"'/>")
    dropped = s.framer.reset()  # nothing sent in the clear counts after the handshake (CVE-2011-0411)
    if dropped:
        s.log.info("xmpp.s2s_input_dropped", bytes=dropped)
    s.state = State.OPENING
    s.header_sent = False
    tls = s.runtime.tls
    await s.conn.start_tls(tls.peer_checking_context(s.runtime.config.xmpp.s2s_ca_file) if s.secure else tls.context)


@COMMANDS.handles(SASL + "auth", OPEN)
async def _auth(s: ServerSession, frame: Stanza) -> None:
    """SASL EXTERNAL on the peer's certificate (XEP-0178): the domain it names (or the stream's `from`)."""
    element = frame.element
    text = (element.text or "").strip()
    try:
        authzid = base64.b64decode(text, validate=True).decode() if text and text != "=" else ""
    except (ValueError, UnicodeDecodeError):
        authzid = "?"
    domain = authzid or s.remote
    if (element.get("mechanism") != "EXTERNAL" or not s.conn.tls or (SASL + "success") in s.done or not domain
            or not s.certified(domain) or await s.federation.is_local(domain)):
        s.conn.write(f"<failure xmlns='{wire.SASL_NS}'><not-authorized/></failure>".encode())
        return
    s.conn.write(f"<success xmlns='{wire.SASL_NS}'/>".encode())
    s.done.add(SASL + "success")
    s.accepted.add((domain, s.domain))
    s.accepted_by[(domain, s.domain)] = "certificate"
    s.log.info("xmpp.s2s_in_accepted", remote=domain, local=s.domain, by="certificate")
    s.framer.reset()  # RFC 6120 6.4.6: a new stream after SASL success
    s.state = State.OPENING
    s.header_sent = False


@COMMANDS.handles(dialback.DB + "result", OPEN)
async def _db_result(s: ServerSession, frame: Stanza) -> None:
    if not s.conn.tls:
        raise StreamError("policy-violation", "STARTTLS first")
    request = dialback.parse(frame.element)
    if request.type is not None:
        raise StreamError("unsupported-stanza-type", "a dialback answer on a stream that asked nothing")
    if s.secure:  # [xmpp] s2s_secure: certificates only
        s.conn.write(_dialback_error("result", request.to, request.sender, "policy-violation",
                                     "this server federates only on valid certificates (XEP-0178)"))
        return
    if request.to != s.domain and not await s.federation.is_local(request.to):
        s.conn.write(_dialback_error("result", request.to, request.sender, "item-not-found", "not served here"))
        return
    if await s.federation.is_local(request.sender):
        raise StreamError("invalid-from", "that domain is ours")
    pair = (request.sender, request.to)
    if pair in s.accepted:
        s.conn.write(dialback.element("result", request.to, request.sender, answer="valid"))
        return
    if pair in s.checking:
        return  # its answer comes when the check of the same pair ends
    if len(s.pending) >= MAX_PENDING:
        raise StreamError("policy-violation", "too many dialback requests at once")
    if len(s.accepted) >= MAX_ACCEPTED:
        s.conn.write(_dialback_error("result", request.to, request.sender, "resource-constraint",
                                     "too many domains on one stream"))
        return
    s.checking.add(pair)
    task = asyncio.get_running_loop().create_task(s.answer_result(request))
    s.pending.add(task)
    task.add_done_callback(s.pending.discard)


@COMMANDS.handles(dialback.DB + "verify", OPEN)
async def _db_verify(s: ServerSession, frame: Stanza) -> None:
    request = dialback.parse(frame.element)
    if request.type is not None:
        raise StreamError("unsupported-stanza-type", "we asked this stream nothing")
    if not await s.federation.is_local(request.to):
        s.conn.write(_dialback_error("verify", request.to, request.sender, "item-not-found", "not served here",
                                     request.stream_id))
        return
    secret = await s.federation.secret()
    outcome = "valid" if dialback.valid(secret, request.sender, request.to, request.stream_id, request.key) \
        else "invalid"
    s.conn.write(dialback.element("verify", request.to, request.sender, stream_id=request.stream_id, answer=outcome))


@COMMANDS.handles("stanza", OPEN)
async def _stanza(s: ServerSession, frame: Stanza) -> None:
    element = frame.element
    sender_text, to_text = element.get("from"), element.get("to")
    if not sender_text or not to_text:
        raise StreamError("improper-addressing", "a server's stanza names its sender and addressee")
    try:
        sender = Jid.parse(sender_text)
    except JidError:
        raise StreamError("invalid-from", "a malformed 'from'") from None
    try:
        to = Jid.parse(to_text)
    except JidError:
        to = None
    if to is None:
        if not any(remote == sender.domain for remote, _ in s.accepted):
            raise StreamError("invalid-from", f"{sender.domain} is not accepted on this stream")
        if element.get("type") not in ("error", "result"):
            reply = wire.stanza_error(wire.as_client(element), "jid-malformed")
            reply.set("from", s.domain)  # not the malformed address: our link is from one of our domains
            s.reply(reply)
        return
    if (sender.domain, to.domain) not in s.accepted or await s.federation.is_local(sender.domain):
        if not await s.federation.is_local(to.domain):
            raise StreamError("host-unknown", f"{to.domain} is not served here")
        raise StreamError("invalid-from", f"{sender.domain} is not accepted on this stream for {to.domain}")
    metrics.xmpp_s2s_stanzas.labels("in").inc()
    s.stanzas += 1
    stanza = wire.as_client(element)
    try:
        await inbound(s.runtime, s.router, stanza, sender, to)
    except StanzaError as err:
        if stanza.get("type") not in ("error", "result") and not (
                stanza.tag == C + "presence" and stanza.get("type") not in (None, "subscribe")):
            s.reply(wire.stanza_error(stanza, err.condition, err.text))


async def inbound(runtime: Runtime, router: Router, stanza: ET.Element[str], sender: Jid, to: Jid) -> None:
    """A stanza from another server's entity to one of ours (StanzaError: the answer it gets)."""
    kind = stanza.get("type")
    federation = router.federation
    assert federation is not None
    if router.rooms is not None and await router.rooms.serves(to):  # our chat rooms take other servers' users
        await router.rooms.submit(stanza, sender)
        return
    if not to.local:
        if stanza.tag == C + "iq" and kind in ("get", "set"):
            federation.send(_server_answer(stanza, to))
        return  # presence and messages to the server, and answers to it, have nobody to go to
    found = await router.addressee(runtime, to.bare)
    if found is None:  # RFC 6121 8.5.1: no such user (or a room: not for other servers' users yet)
        if stanza.tag == C + "presence":
            return  # presence is dropped silently
        raise StanzaError("service-unavailable")
    local = Jid(found.jid.local, found.jid.domain, to.resource)
    stanza.set("to", str(local))
    blocked = await router.blocks(runtime, local.bare, found.account_id, sender)
    if stanza.tag == C + "message":
        if blocked:
            raise StanzaError("service-unavailable")  # XEP-0191 3.4: as if there were nobody
        if mam.archived(stanza):
            await router.archive(runtime, stanza, sender, local)
        if router.deliver_message(stanza, local):
            return
        if kind == "groupchat":
            raise StanzaError("service-unavailable", "not a room")
        if kind not in (None, "normal", "chat"):
            return
        ET.SubElement(stanza, "{" + DELAY_NS + "}delay", {"from": local.domain, "stamp": wire.stamp()})
        stanza.set("to", str(local.bare))
        try:
            await runtime.offline.store(found.account_id, wire.serialize(stanza).decode())
        except OfflineFull as err:
            raise StanzaError("service-unavailable", str(err)) from None
        push.waiting(runtime, router, local.bare, found.account_id, str(sender.bare), stanza)
        return
    if stanza.tag == C + "presence":
        if blocked:
            return
        if kind in KINDS:
            await presence.inbound(runtime, router, local.bare, sender.bare, kind)
        elif kind == "probe":
            item = await runtime.rosters.item(found.account_id, str(sender.bare))
            if item is not None and item.state.from_:
                if router.available(local.bare):
                    presence.presence_of(router, local.bare, sender)
                else:
                    router.deliver_presence(ET.Element(C + "presence", {
                        "type": "unavailable", "from": str(local.bare), "to": str(sender)}), sender)
        else:
            router.deliver_presence(stanza, local)
        return
    # an iq
    if kind in ("error", "result") and not local.resource and stanza.get("id", "").startswith(push.ID_PREFIX):
        if kind == "error":  # the app server may no longer want it
            await push.refused(runtime, found.account_id, sender, stanza)
        else:
            await push.acknowledged(runtime, found.account_id, sender, stanza)
        return
    if blocked:
        if kind in ("get", "set"):
            raise StanzaError("service-unavailable")
        return
    if not local.resource and kind in ("get", "set"):
        payload = stanza[0] if len(stanza) else None
        if kind == "get" and payload is not None and payload.tag == VCARD + "vCard":
            stored = await runtime.vcards.get(found.account_id)
            vcard = wire.parse_stanza(stored) if stored else None
            federation.send(wire.result(stanza, vcard if vcard is not None else ET.Element(VCARD + "vCard"), local))
            return
        if kind == "get" and payload is not None and payload.tag == "{" + DISCO_INFO_NS + "}query" \
                and not payload.get("node"):
            federation.send(wire.result(stanza, account_info(), local))
            return
        raise StanzaError("service-unavailable")
    resource = router.full(local) if local.resource else None
    if resource is not None and router.send(resource, stanza):
        return
    if kind in ("get", "set"):
        raise StanzaError("service-unavailable")


def _server_answer(iq: ET.Element[str], server: Jid) -> ET.Element[str]:
    """An iq to one of our domains from another server's entity: ping, discovery, version."""
    payload = iq[0] if len(iq) else None
    tag = payload.tag if payload is not None and iq.get("type") == "get" else ""
    if tag == "{" + PING_NS + "}ping":
        return wire.result(iq, None, server)
    if tag == "{" + DISCO_INFO_NS + "}query" and payload is not None and not payload.get("node"):
        return wire.result(iq, server_info(S2S_FEATURES), server)
    if tag == "{" + VERSION_NS + "}query":
        return wire.result(iq, version_query(), server)
    return wire.stanza_error(iq, "service-unavailable")


_NAMES = frozenset({"open", "close", "starttls", "auth", "result", "verify", "message", "presence", "iq"})
