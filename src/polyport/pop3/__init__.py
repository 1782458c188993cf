"""POP3 (ports 110 and 995): RFC 1939 with CAPA, RESP-CODES, AUTH-RESP-CODE, PIPELINING (RFC 2449),
STLS (RFC 2595) and SASL AUTH (RFC 5034), over the account's INBOX in the mailstore.

`wire.py` turns command lines into typed commands and formats answers (pure); `session.py` holds one
connection's maildrop and calls the mailstore, on the protocol kernel's `CommandSession`.
"""

from __future__ import annotations

from polyport.config import ResolvedService
from polyport.kernel.handler import CommandHandler
from polyport.kernel.protocol import ProtocolModule
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.pop3.session import Pop3Session
from polyport.runtime import Runtime


class Pop3Handler(CommandHandler[Pop3Session]):
    label = "POP3"

    def session(self, conn: Connection) -> Pop3Session:
        return Pop3Session(conn, self.runtime, self.service, self.metrics)

    def refusal_line(self, reason: Refusal, text: str) -> bytes:
        return f"-ERR [SYS/TEMP] {text}\r\n".encode()


def make_handler(runtime: Runtime, service: ResolvedService) -> Pop3Handler:
    return Pop3Handler(runtime, service)


PROTOCOL = ProtocolModule(stream=make_handler)
