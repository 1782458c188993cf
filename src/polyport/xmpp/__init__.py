"""XMPP (RFC 6120/6121/7622): instant messaging on 5222 (STARTTLS), 5223 (TLS) and 5269 (federation).

Built so far (issue 16): `jid.py` (JIDs prepared for comparison), `wire.py` (what the server writes:
stream headers, features, stream and stanza errors, stanzas serialized without invented prefixes), and
`session.py`, a client stream (STARTTLS, SASL, bind) with the server's own answers (ping, service
discovery, version, time), rosters and subscriptions (`presence.py`, on im/), messages and presence between
clients of every worker (`router.py`), offline messages and carbons; the stream itself is read by
net/framing/xmlstream.py. The rest of issue 16 (federation, stream management, MAM, MUC, PEP, uploads,
SCRAM-SHA-1, ...) is not built, so the service table does not name this package yet: XMPP is listed as
not available, and only the tests serve it.
"""

from __future__ import annotations

import secrets

from polyport.config import ResolvedService
from polyport.kernel.handler import CommandHandler
from polyport.kernel.protocol import ProtocolModule
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.runtime import Runtime
from polyport.xmpp import wire
from polyport.xmpp.router import RouterTask
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


def make_handler(runtime: Runtime, service: ResolvedService) -> XmppHandler:
    return XmppHandler(runtime, service)


def make_router_task(runtime: Runtime, service: ResolvedService) -> RouterTask:
    return RouterTask(runtime)  # one router per worker: the second listener's task idles


PROTOCOL = ProtocolModule(stream=make_handler, tasks=(make_router_task,))
