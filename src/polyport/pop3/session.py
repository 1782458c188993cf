"""One POP3 connection (RFC 1939): AUTHORIZATION, TRANSACTION, UPDATE.

- The maildrop is the account's INBOX as it was at login: message numbers, sizes and UIDL ids are fixed
  for the session. UIDL ids are "<uid>.<uidvalidity>", stable for leave-on-server clients for as long
  as the INBOX exists.
- DELE only marks; nothing changes in the mailstore until QUIT in the TRANSACTION state, when retrieved
  messages get \\Seen and marked ones are removed (other sessions, IMAP included, learn of it then). A
  connection that ends without QUIT changes nothing.
- Logins go through the shared Authenticator (throttled per address and account; plaintext USER/PASS
  and PLAIN only over TLS or from trusted networks); APOP uses the greeting's challenge.
- Nothing of a command is logged but its name and outcome: PASS, APOP and AUTH carry secrets.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
import socket
import time
from dataclasses import dataclass

from polyport import __version__, metrics
from polyport.auth.login import Identity
from polyport.config import ResolvedService
from polyport.kernel.sasl import SaslFramingError
from polyport.kernel.session import (
    CommandBytes,
    CommandSession,
    CommandTable,
    Ending,
    Result,
    UnknownCommand,
    WrongState,
)
from polyport.mailstore import Mailstore, MailstoreError
from polyport.net.connection import Connection, LineTooLong
from polyport.pop3 import codes, wire
from polyport.runtime import Runtime
from polyport.store import blobs

ACCESS_MODE = "POP"
HOSTNAME = socket.gethostname()  # for APOP challenges; looked up once, not per connection


class State(enum.Enum):
    AUTHORIZATION = "AUTHORIZATION"
    TRANSACTION = "TRANSACTION"
    DONE = "UPDATE"


@dataclass(slots=True)
class DropMessage:
    uid: int
    size: int
    deleted: bool = False
    retrieved: bool = False


class Refusal(Exception):
    """A command refused: -ERR with an optional RFC 2449 response code."""

    def __init__(self, text: str, code: str | None = None, result: Result = Result.USER_ERROR) -> None:
        super().__init__(text)
        self.text = text
        self.code = code
        self.result = result  # how the metrics count it: a damaged store is our failure, not the user's


COMMANDS = CommandTable()
AUTHORIZATION = frozenset({State.AUTHORIZATION})
TRANSACTION = frozenset({State.TRANSACTION})
EITHER = AUTHORIZATION | TRANSACTION


class Pop3Session(CommandSession[State, wire.Command]):
    protocol = "pop3"
    access_mode = ACCESS_MODE
    table = COMMANDS

    def __init__(self, conn: Connection, runtime: Runtime, service: ResolvedService,
                 command_metrics: metrics.CommandMetrics) -> None:
        super().__init__(conn, runtime, service.name, command_metrics)
        self.service = service
        self.state = State.AUTHORIZATION
        self.challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@{HOSTNAME}>"
        self.user: str | None = None  # USER's name, waiting for PASS
        self.identity: Identity | None = None
        self.inbox_id = 0
        self.uidvalidity = 0
        self.drop: list[DropMessage] = []

    @property
    def mailstore(self) -> Mailstore:
        return self.runtime.mailstore

    def send(self, data: bytes) -> None:
        self.conn.write(data)

    # -- the kernel's hooks --

    def greet(self) -> None:
        self.send(wire.ok(f"Polyport POP3 {__version__} ready {self.challenge}"))

    def goodbye(self, why: Ending) -> None:
        if why is Ending.IDLE:
            self.send(wire.err("idle for too long; nothing was changed", "SYS/TEMP"))
        else:
            self.send(wire.err("the server is shutting down; nothing was changed", "SYS/TEMP"))

    async def read_command(self) -> bytes | None:
        return await self.conn.read_line(limit=wire.MAX_LINE)

    async def line_too_long(self, err: LineTooLong) -> None:
        self.send(wire.err(f"command line longer than {err.limit} octets"))

    def parse(self, data: CommandBytes) -> wire.Command:
        return wire.parse_command(bytes(data))  # a line: bytes already (bytes() of bytes is no copy)

    async def refuse(self, command: wire.Command | None, data: CommandBytes, err: Exception) -> Result | None:
        if isinstance(err, wire.ParseError | WrongState | UnknownCommand):
            self.send(wire.err(str(err)))
            return Result.BAD_SYNTAX
        if isinstance(err, Refusal):
            self.send(wire.err(err.text, err.code))
            return err.result
        if isinstance(err, SaslFramingError):
            self.send(wire.err(str(err)))
        elif (refusal := codes.refusal_for(err)) is not None:
            self.send(wire.err(*refusal))
        else:
            return None
        return Result.USER_ERROR

    async def server_error(self, command: wire.Command | None) -> None:
        self.send(wire.err("internal error; the server log has the details", "SYS/TEMP"))

    def sasl_decode(self, line: bytes) -> bytes:
        return wire.decode_base64(line)  # "=" is the empty response (RFC 5034 4)

    # -- AUTHORIZATION --

    def capabilities(self) -> list[str]:
        ctx = self.login_context()
        caps = ["TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "PIPELINING", "EXPIRE NEVER"]
        if self.state is State.AUTHORIZATION:
            if ctx.plaintext_allowed:
                caps.append("USER")
            mechanisms = self.runtime.auth.mechanisms(ctx)
            if mechanisms:
                caps.append("SASL " + " ".join(mechanisms))
            if not self.conn.tls:
                caps.append("STLS")
        caps.append(f"IMPLEMENTATION Polyport-{__version__}")
        return caps

    async def capa(self, c: wire.Capa) -> None:
        self.send(b"+OK capability list follows\r\n" + wire.multiline([c.encode() for c in self.capabilities()]))

    async def stls(self, c: wire.Stls) -> None:
        if self.conn.tls:
            raise Refusal("TLS is already on")
        self.user = None
        self.send(wire.ok("begin TLS negotiation"))
        await self.conn.drain()
        dropped = await self.conn.start_tls(self.runtime.tls.context)
        if dropped:
            self.log.info("pop3.stls_dropped", bytes=dropped)

    async def user_command(self, c: wire.User) -> None:
        if not self.login_context().plaintext_allowed:
            raise Refusal("plaintext passwords need TLS first (STLS)", "AUTH")
        self.user = c.user
        self.send(wire.ok("send the password"))

    async def pass_command(self, c: wire.Pass) -> None:
        user, self.user = self.user, None
        if user is None:
            raise Refusal("USER comes first")
        await self.logged_in(await self.runtime.auth.login_plain(self.login_context(), user, c.password,
                                                                 mechanism="USER"))

    async def auth(self, c: wire.Auth) -> None:
        """RFC 5034: challenges as "+ base64", "*" cancels; AUTH alone lists the mechanisms."""
        self.user = None
        if c.mechanism is None:
            mechanisms = self.runtime.auth.mechanisms(self.login_context())
            self.send(b"+OK mechanisms follow\r\n" + wire.multiline([m.encode() for m in mechanisms]))
            return
        await self.logged_in(await self.sasl_login(c.mechanism, c.initial_response))

    async def logged_in(self, identity: Identity) -> None:
        await self.mailstore.ensure_defaults(identity.account_id)
        inbox = await self.mailstore.mailbox(identity.account_id, "INBOX")
        drop = (await self.mailstore.index(inbox.id)).metas
        self.identity = identity
        self.inbox_id, self.uidvalidity = inbox.id, inbox.uidvalidity
        self.drop = [DropMessage(m.uid, m.size) for m in drop]
        self.state = State.TRANSACTION
        total = sum(m.size for m in self.drop)
        self.send(wire.ok(f"{identity.address} has {len(self.drop)} message{'s' if len(self.drop) != 1 else ''} "
                          f"({total} octets)"))

    async def apop(self, c: wire.Apop) -> None:
        self.user = None
        await self.logged_in(await self.runtime.auth.login_apop(self.login_context(), c.user, self.challenge,
                                                                c.digest))

    # -- TRANSACTION --

    def message(self, number: int) -> DropMessage:
        if number > len(self.drop):
            raise Refusal(f"no message {number} (the maildrop has {len(self.drop)})")
        message = self.drop[number - 1]
        if message.deleted:
            raise Refusal(f"message {number} is deleted")
        return message

    def uidl(self, message: DropMessage) -> str:
        return f"{message.uid}.{self.uidvalidity}"

    async def listing(self, c: wire.List | wire.Uidl) -> None:
        def value(m: DropMessage) -> str:
            return str(m.size) if isinstance(c, wire.List) else self.uidl(m)

        if c.number is not None:
            self.send(wire.ok(f"{c.number} {value(self.message(c.number))}"))
            return
        lines = [f"{n} {value(m)}".encode() for n, m in enumerate(self.drop, 1) if not m.deleted]
        self.send(b"+OK\r\n" + wire.multiline(lines))

    async def stat(self, c: wire.Stat) -> None:
        live = [m for m in self.drop if not m.deleted]
        self.send(wire.ok(f"{len(live)} {sum(m.size for m in live)}"))

    async def dele(self, c: wire.Dele) -> None:
        message = self.message(c.number)
        message.deleted = True
        self.send(wire.ok(f"message {c.number} deleted"))

    async def noop(self, c: wire.Noop) -> None:
        self.send(wire.ok())

    async def rset(self, c: wire.Rset) -> None:
        for message in self.drop:
            message.deleted = False
        count = len(self.drop)
        self.send(wire.ok(f"maildrop has {count} message{'s' if count != 1 else ''}"))

    async def retrieve(self, c: wire.Retr | wire.Top) -> None:
        """RETR and TOP. A message whose content is missing or damaged is refused alone, with SYS/PERM
        (RFC 3206 4: not likely to resolve itself without intervention; the user should tell the
        administrator): never "+OK N octets" followed by fewer or other octets. The session goes on."""
        message = self.message(c.number)
        blob = (await self.mailstore.blob_ids(self.inbox_id, message.uid, message.uid)).get(message.uid)
        if blob is None:  # expunged through IMAP since this session began
            raise Refusal(f"message {c.number} is no longer there", "SYS/TEMP")
        try:
            # The mailstore checks the length against the recorded size, and logs what it cannot read.
            data = await self.mailstore.read(blob, size=message.size)
        except blobs.BlobNotFound:
            raise Refusal(f"message {c.number} cannot be read: it is missing from the server's store; "
                          f"please tell the administrator", "SYS/PERM", Result.SERVER_ERROR) from None
        except blobs.BlobDamaged:
            raise Refusal(f"message {c.number} cannot be read: it is damaged in the server's store; "
                          f"please tell the administrator", "SYS/PERM", Result.SERVER_ERROR) from None
        if isinstance(c, wire.Retr):
            message.retrieved = True
            self.send(wire.ok(f"{message.size} octets"))
            pieces = wire.message_pieces(data)
        else:
            self.send(wire.ok("top of message follows"))
            pieces = wire.message_pieces(data, c.lines)
        # A piece at a time, the loop turning between two (and waiting while the client is slow to read):
        # a message at the size limit never holds the loop for more than one piece's making and writing.
        for piece in pieces:
            self.send(piece)
            await self.conn.drain()
            await asyncio.sleep(0)
        self.send(b".\r\n")
        await self.conn.drain()

    async def quit(self, c: wire.Quit) -> None:
        self.finished = True
        if self.state is State.AUTHORIZATION:
            self.state = State.DONE
            self.send(wire.ok("Polyport POP3 signing off"))
            return
        # UPDATE (RFC 1939 section 6): retrieved messages are read; marked ones go.
        self.state = State.DONE
        seen = [m.uid for m in self.drop if m.retrieved and not m.deleted]
        deleted = [m.uid for m in self.drop if m.deleted]
        try:
            if seen:
                await self.mailstore.store_flags(self.inbox_id, seen, "add", ["\\Seen"])
            removed = await self.mailstore.remove(self.inbox_id, deleted) if deleted else []
        except MailstoreError as error:
            self.send(wire.err(f"some deleted messages were not removed: {error}", "SYS/TEMP"))
            return
        left = len(self.drop) - len(deleted)
        self.send(wire.ok(f"Polyport POP3 signing off ({len(removed)} deleted, {left} left)"))


# RFC 1939 sections 4-6: which command each state allows.
for _command, _handler, _states in (
    (wire.Capa, Pop3Session.capa, EITHER),
    (wire.Quit, Pop3Session.quit, EITHER),
    (wire.Stls, Pop3Session.stls, AUTHORIZATION),
    (wire.User, Pop3Session.user_command, AUTHORIZATION),
    (wire.Pass, Pop3Session.pass_command, AUTHORIZATION),
    (wire.Apop, Pop3Session.apop, AUTHORIZATION),
    (wire.Auth, Pop3Session.auth, AUTHORIZATION),
    (wire.Stat, Pop3Session.stat, TRANSACTION),
    (wire.List, Pop3Session.listing, TRANSACTION),
    (wire.Uidl, Pop3Session.listing, TRANSACTION),
    (wire.Retr, Pop3Session.retrieve, TRANSACTION),
    (wire.Top, Pop3Session.retrieve, TRANSACTION),
    (wire.Dele, Pop3Session.dele, TRANSACTION),
    (wire.Noop, Pop3Session.noop, TRANSACTION),
    (wire.Rset, Pop3Session.rset, TRANSACTION),
):
    COMMANDS.add(_command, _handler, _states)
