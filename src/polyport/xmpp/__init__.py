"""XMPP (RFC 6120/6121/7622): instant messaging on 5222 (STARTTLS) and 5223 (TLS), and over WebSocket on the
webmail's ports (`websocket.py`, RFC 7395), with file upload (`upload.py`, XEP-0363); federation with other
servers on 5269 when the `xmpp-s2s` service is on (`s2s.py` their streams to us, `federation.py` ours to
them, `dialback.py` the keys, XEP-0220).

`jid.py` (JIDs prepared for comparison), `wire.py` (what the server writes: stream headers, features, stream
and stanza errors, stanzas serialized without invented prefixes), `sm.py` (stream management's counters and
queue), `mam.py` (the archive's queries and results), `muc.py` (a chat room's rules), `pubsub.py` and
`caps.py` (publish-subscribe requests, entity capabilities) are pure;
`session.py` is a client stream (STARTTLS, SASL, bind, the server's own answers, rosters and subscriptions
through `presence.py`, stream management, the archive), `router.py` delivers between the clients of every
worker, `rooms.py` holds the chat rooms (XEP-0045) and `pep.py` is every account's personal eventing.
The stream itself is read by net/framing/xmlstream.py; the records are in im/. docs/rfc-status.md says
what is built, XEP by XEP.
"""

from __future__ import annotations

import secrets

from polyport.config import ResolvedService
from polyport.kernel.handler import CommandHandler
from polyport.kernel.protocol import ProtocolModule
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.runtime import Runtime
from polyport.xmpp import federation, wire
from polyport.xmpp.router import RouterTask
from polyport.xmpp.s2s import ServerSession
from polyport.xmpp.session import XmppSession

REFUSALS = {Refusal.UNTRUSTED: "policy-violation", Refusal.TOO_MANY: "resource-constraint",
            Refusal.TOO_MANY_FROM_ADDRESS: "policy-violation", Refusal.SHUTTING_DOWN: "system-shutdown"}


class XmppHandler(CommandHandler[XmppSession]):
    label = "XMPP"

    def session(self, conn: Connection) -> XmppSession:
        return XmppSession(conn, self.runtime, self.service, self.metrics)

    def refusal_line(self, reason: Refusal, text: str) -> bytes:
        # A stream error goes after a stream header of the server's own (RFC 6120 4.9.1.1).
        return (wire.stream_header(domain=self.runtime.config.main_domain, stream_id=secrets.token_hex(8))
                + wire.stream_error(REFUSALS[reason], text))


class ServerHandler(CommandHandler[ServerSession]):
    label = "XMPP server-to-server"

    def session(self, conn: Connection) -> ServerSession:
        return ServerSession(conn, self.runtime, self.service, self.metrics)

    def refusal_line(self, reason: Refusal, text: str) -> bytes:
        return (wire.stream_header(domain=self.runtime.config.main_domain, stream_id=secrets.token_hex(8),
                                   content_ns=wire.SERVER_NS) + wire.stream_error(REFUSALS[reason], text))


def make_handler(runtime: Runtime, service: ResolvedService) -> XmppHandler | ServerHandler:
    if service.spec.name == federation.SERVICE:
        return ServerHandler(runtime, service)
    return XmppHandler(runtime, service)


def make_router_task(runtime: Runtime, service: ResolvedService) -> RouterTask:
    return RouterTask(runtime)  # one router per worker: the second listener's task idles


PROTOCOL = ProtocolModule(stream=make_handler, tasks=(make_router_task,))
