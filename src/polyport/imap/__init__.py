"""IMAP4rev1 and IMAP4rev2 (ports 143 and 993) over the mailstore.

`wire/` turns command bytes into typed commands (pure: `commands.py` the commands, `parser.py` the parser,
`sequence.py` sequence sets, `errors.py` its refusals and the literal marker), `responses.py` formats the
answers' pieces, `session.py` holds one connection (states, literals, catching up with changes) on the
protocol kernel's `CommandSession`, `selected.py` the selected mailbox's message numbers, `notifications.py`
NOTIFY's watches (RFC 5465), `fetch.py` and `search.py` the FETCH items and SEARCH/SORT/THREAD, `codes.py` the
one mapping of the services' errors to NO/BAD and response codes, `commands/` one function per command.
docs/rfc-status.md lists the RFCs and extensions, and what is left out.
"""

from __future__ import annotations

from polyport.config import ResolvedService
from polyport.imap.session import ImapSession
from polyport.kernel.handler import CommandHandler
from polyport.kernel.protocol import ProtocolModule
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.runtime import Runtime

# Registers every command on import.
from polyport.imap.commands import acl, connection, fetching, mailboxes, messages, notify, searching  # noqa: F401  isort: skip


class ImapHandler(CommandHandler[ImapSession]):
    label = "IMAP"

    def session(self, conn: Connection) -> ImapSession:
        return ImapSession(conn, self.runtime, self.service, self.metrics)

    def refusal_line(self, reason: Refusal, text: str) -> bytes:
        return f"* BYE [UNAVAILABLE] {text}\r\n".encode()


def make_handler(runtime: Runtime, service: ResolvedService) -> ImapHandler:
    return ImapHandler(runtime, service)


PROTOCOL = ProtocolModule(stream=make_handler)
