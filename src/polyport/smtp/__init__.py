"""SMTP on 25 (MX), submission on 587 and 465 (RFC 6409, RFC 8314), and LMTP (RFC 2033).

`wire.py` turns command lines into typed commands, formats replies and reads DATA (pure); `session.py`
holds one connection's envelope and hands messages to the delivery service, on the protocol kernel's
`CommandSession`; `codes.py` maps the services' refusals to SMTP's codes. The service table's row decides
the mode: "smtp" is the MX, "submission" and "smtps" require AUTH, "lmtp" speaks LMTP.
"""

from __future__ import annotations

from polyport.config import ResolvedService
from polyport.kernel.handler import CommandHandler
from polyport.kernel.protocol import ProtocolModule
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.runtime import Runtime
from polyport.smtp.session import Mode, SmtpSession

MODES = {"smtp": Mode.MX, "submission": Mode.SUBMISSION, "smtps": Mode.SUBMISSION, "lmtp": Mode.LMTP}

# RFC 5321 3.1: a server that will not serve says 554 in its greeting (421 when it is temporary).
REFUSALS = {
    Refusal.UNTRUSTED: (554, "5.7.1", "this address may not use this service here"),
    Refusal.TOO_MANY: (421, "4.7.0", "too many connections; try again later"),
    Refusal.TOO_MANY_FROM_ADDRESS: (421, "4.7.0", "too many connections from your address; try again later"),
    Refusal.SHUTTING_DOWN: (421, "4.3.2", "the server is shutting down; try again later"),
}


class SmtpHandler(CommandHandler[SmtpSession]):
    label = "SMTP"

    def __init__(self, runtime: Runtime, service: ResolvedService) -> None:
        super().__init__(runtime, service)
        self.mode = MODES[service.name]

    def session(self, conn: Connection) -> SmtpSession:
        return SmtpSession(conn, self.runtime, self.service, self.mode, self.metrics)

    def refusal_text(self, reason: Refusal) -> str:
        return REFUSALS[reason][2]

    def refusal_line(self, reason: Refusal, text: str) -> bytes:
        code, enhanced, _ = REFUSALS[reason]
        return f"{code} {enhanced} {self.runtime.delivery.hostname} {text}\r\n".encode()


def make_handler(runtime: Runtime, service: ResolvedService) -> SmtpHandler:
    return SmtpHandler(runtime, service)


PROTOCOL = ProtocolModule(stream=make_handler)
