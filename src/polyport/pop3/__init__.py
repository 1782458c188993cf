"""POP3 (ports 110 and 995): RFC 1939 with CAPA, RESP-CODES, AUTH-RESP-CODE, PIPELINING (RFC 2449),
STLS (RFC 2595) and SASL AUTH (RFC 5034), over the account's INBOX in the mailstore.

`wire.py` turns command lines into typed commands and formats answers (pure); `session.py` holds one
connection's maildrop and calls the mailstore.
"""

from __future__ import annotations

from polyport.config import ResolvedService
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.pop3.session import Pop3Session
from polyport.runtime import Runtime


class Pop3Handler:
    def __init__(self, runtime: Runtime, service: ResolvedService) -> None:
        self.runtime = runtime
        self.service = service

    def session(self, conn: Connection) -> Pop3Session:
        return Pop3Session(conn, self.runtime, self.service)

    def refusal(self, reason: Refusal) -> bytes:
        text = {
            Refusal.UNTRUSTED: "This address may not use POP3 here",
            Refusal.TOO_MANY: "Too many connections; try again later",
            Refusal.TOO_MANY_FROM_ADDRESS: "Too many connections from your address; try again later",
            Refusal.SHUTTING_DOWN: "The server is shutting down",
        }[reason]
        return f"-ERR [SYS/TEMP] {text}\r\n".encode()


def make_handler(runtime: Runtime, service: ResolvedService) -> Pop3Handler:
    return Pop3Handler(runtime, service)
