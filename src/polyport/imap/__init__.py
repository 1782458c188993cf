"""IMAP4rev1 and IMAP4rev2 (ports 143 and 993) over the mailstore.

`wire.py` turns command bytes into typed commands (pure), `responses.py` formats the answers' pieces,
`session.py` holds one connection (states, literals, catching up with changes), `selected.py` the
selected mailbox's message numbers, `fetch.py` and `search.py` the FETCH items and SEARCH/SORT/THREAD,
`codes.py` the one mapping of the services' errors to NO/BAD and response codes, `commands/` one function
per command. docs/rfc-status.md lists the RFCs and extensions, and what is left out.
"""

from __future__ import annotations

from polyport.config import ResolvedService
from polyport.imap.session import ImapSession
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.runtime import Runtime

# Registers every command on import.
from polyport.imap.commands import acl, connection, fetching, mailboxes, messages, searching  # noqa: F401  isort: skip


class ImapHandler:
    def __init__(self, runtime: Runtime, service: ResolvedService) -> None:
        self.runtime = runtime
        self.service = service

    def session(self, conn: Connection) -> ImapSession:
        return ImapSession(conn, self.runtime, self.service)

    def refusal(self, reason: Refusal) -> bytes:
        text = {
            Refusal.UNTRUSTED: "This address may not use IMAP here",
            Refusal.TOO_MANY: "Too many connections; try again later",
            Refusal.TOO_MANY_FROM_ADDRESS: "Too many connections from your address; try again later",
            Refusal.SHUTTING_DOWN: "The server is shutting down",
        }[reason]
        return f"* BYE [UNAVAILABLE] {text}\r\n".encode()


def make_handler(runtime: Runtime, service: ResolvedService) -> ImapHandler:
    return ImapHandler(runtime, service)
