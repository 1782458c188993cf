"""The CLI/API (port 106): CommuniGate Pro's PWD/CLI protocol, for admins' scripts and client libraries.

Implements the session of CommuniGate's PWD module (USER/PASS, APOP with the greeting's challenge,
AUTH WEBUSER, NEWPASS, STARTTLS, INLINE, QUIT) and the CLI commands of ../shared/reference/cgp-cli.md
for domains, accounts, aliases, forwarders, groups, settings with inheritance, prefs, passwords and the
server. `wire.py` is the data format (pure), `codes.py` the reply codes and the mapping of errors to
them, `session.py` one connection, `commands/` one function per command.

Invariants: a command reads all its arguments before it acts; a refusal never ends the session; every
refusal of rights is 510; arguments (which may hold passwords) are never logged.
"""

from __future__ import annotations

from polyport.cliapi.codes import Code
from polyport.cliapi.session import CliSession
from polyport.config import ResolvedService
from polyport.kernel.handler import CommandHandler
from polyport.kernel.protocol import ProtocolModule
from polyport.net.connection import Connection
from polyport.net.listener import Refusal
from polyport.runtime import Runtime

# Registers every command on import.
from polyport.cliapi.commands import accounts, domains, mailbox_acl, mailboxes, objects, queue, server, xmpp  # noqa: F401  isort: skip


class CliHandler(CommandHandler[CliSession]):
    label = "the CLI/API"

    def session(self, conn: Connection) -> CliSession:
        return CliSession(conn, self.runtime, self.service.name, self.metrics)

    def refusal_text(self, reason: Refusal) -> str:
        if reason is Refusal.UNTRUSTED:
            return "This address may not use the CLI/API (it answers trusted networks only)"
        return super().refusal_text(reason)

    def refusal_line(self, reason: Refusal, text: str) -> bytes:
        return f"{int(Code.NOT_ALLOWED)} {text}\r\n".encode()


def make_handler(runtime: Runtime, service: ResolvedService) -> CliHandler:
    return CliHandler(runtime, service)


PROTOCOL = ProtocolModule(stream=make_handler)
