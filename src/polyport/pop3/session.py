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

import base64
import enum
import secrets
import socket
import time
from dataclasses import dataclass

from polyport import __version__, log, metrics
from polyport.auth import sasl
from polyport.auth.login import AuthFailure, Identity, LoginContext, Throttled
from polyport.config import ResolvedService
from polyport.mailstore import Mailstore, MailstoreError
from polyport.net.connection import Connection, ConnectionClosed, IdleTimeout, LineTooLong, ServerShutdown
from polyport.pop3 import wire
from polyport.runtime import Runtime
from polyport.store.blobs import BlobNotFound

SERVICE = "pop3"
ACCESS_MODE = "POP"
HOSTNAME = socket.gethostname()  # for APOP challenges; looked up once, not per connection
COMMAND_METRICS = metrics.CommandMetrics(SERVICE)


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

    def __init__(self, text: str, code: str | None = None) -> None:
        super().__init__(text)
        self.text = text
        self.code = code


AUTHORIZATION_COMMANDS = (wire.Capa, wire.Stls, wire.User, wire.Pass, wire.Apop, wire.Auth, wire.Quit)
TRANSACTION_COMMANDS = (wire.Capa, wire.Stat, wire.List, wire.Uidl, wire.Retr, wire.Top, wire.Dele, wire.Noop,
                        wire.Rset, wire.Quit)


class Pop3Session:
    def __init__(self, conn: Connection, runtime: Runtime, service: ResolvedService) -> None:
        self.conn = conn
        self.runtime = runtime
        self.service = service
        self.state = State.AUTHORIZATION
        self.log = log.get(conn=conn.id, service=service.name)
        self.challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@{HOSTNAME}>"
        self.user: str | None = None  # USER's name, waiting for PASS
        self.identity: Identity | None = None
        self.inbox_id = 0
        self.uidvalidity = 0
        self.drop: list[DropMessage] = []

    @property
    def mailstore(self) -> Mailstore:
        return self.runtime.mailstore

    def login_context(self) -> LoginContext:
        return LoginContext(self.service.name, self.conn.remote_ip, self.conn.tls, self.conn.trusted,
                            ACCESS_MODE, self.conn.id)

    def send(self, data: bytes) -> None:
        self.conn.write(data)

    # -- the conversation --

    async def run(self) -> None:
        self.send(wire.ok(f"Polyport POP3 {__version__} ready {self.challenge}"))
        try:
            while self.state is not State.DONE:
                try:
                    line = await self.conn.read_line(limit=wire.MAX_LINE)
                except LineTooLong as err:
                    self.send(wire.err(f"command line longer than {err.limit} octets"))
                    continue
                await self.execute(line)
                if not self.conn.has_buffered_input():
                    await self.conn.drain()  # RFC 2449 PIPELINING: answers to a batch go out together
        except IdleTimeout:  # waiting for a command, or inside one (an AUTH exchange)
            self.send(wire.err("idle for too long; nothing was changed", "SYS/TEMP"))
        except ServerShutdown:
            self.send(wire.err("the server is shutting down; nothing was changed", "SYS/TEMP"))

    async def execute(self, line: bytes) -> None:
        started = time.perf_counter()
        name, result = "-", "ok"
        try:
            try:
                command = wire.parse_command(line)
            except wire.ParseError as error:
                result = "bad-syntax"
                self.send(wire.err(str(error)))
                return
            name = command.name
            allowed = AUTHORIZATION_COMMANDS if self.state is State.AUTHORIZATION else TRANSACTION_COMMANDS
            if not isinstance(command, allowed):
                result = "bad-syntax"
                self.send(wire.err(f"{name} is not allowed in the {self.state.value} state"))
                return
            try:
                await self.dispatch(command)
            except (ConnectionClosed, IdleTimeout, ServerShutdown):
                raise
            except Refusal as refusal:
                result = "user-error"
                self.send(wire.err(refusal.text, refusal.code))
            except Throttled as failure:
                result = "user-error"
                self.send(wire.err(str(failure), "SYS/TEMP"))
            except AuthFailure as failure:
                result = "user-error"
                self.send(wire.err(str(failure) or "authentication failed", "AUTH"))
            except MailstoreError as error:
                result = "user-error"
                self.send(wire.err(str(error), "SYS/TEMP"))
            except Exception:
                result = "server-error"
                self.log.exception("pop3.command_failed", command=name)
                self.send(wire.err("internal error; the server log has the details", "SYS/TEMP"))
        finally:
            COMMAND_METRICS.observe(name, result, time.perf_counter() - started)

    async def dispatch(self, c: wire.Command) -> None:
        if isinstance(c, wire.Capa):
            self.capa()
        elif isinstance(c, wire.Quit):
            await self.quit()
        elif isinstance(c, wire.Stls):
            await self.stls()
        elif isinstance(c, wire.User):
            self.user_command(c)
        elif isinstance(c, wire.Pass):
            await self.pass_command(c)
        elif isinstance(c, wire.Apop):
            self.user = None
            await self.logged_in(await self.runtime.auth.login_apop(self.login_context(), c.user, self.challenge,
                                                                    c.digest))
        elif isinstance(c, wire.Auth):
            await self.auth(c)
        elif isinstance(c, wire.Stat):
            live = [m for m in self.drop if not m.deleted]
            self.send(wire.ok(f"{len(live)} {sum(m.size for m in live)}"))
        elif isinstance(c, wire.List | wire.Uidl):
            self.listing(c)
        elif isinstance(c, wire.Retr | wire.Top):
            await self.retrieve(c)
        elif isinstance(c, wire.Dele):
            message = self.message(c.number)
            message.deleted = True
            self.send(wire.ok(f"message {c.number} deleted"))
        elif isinstance(c, wire.Noop):
            self.send(wire.ok())
        elif isinstance(c, wire.Rset):
            for message in self.drop:
                message.deleted = False
            count = len(self.drop)
            self.send(wire.ok(f"maildrop has {count} message{'s' if count != 1 else ''}"))

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

    def capa(self) -> None:
        self.send(b"+OK capability list follows\r\n" + wire.multiline([c.encode() for c in self.capabilities()]))

    async def stls(self) -> None:
        if self.conn.tls:
            raise Refusal("TLS is already on")
        self.user = None
        self.send(wire.ok("begin TLS negotiation"))
        await self.conn.drain()
        dropped = await self.conn.start_tls(self.runtime.tls.context)
        if dropped:
            self.log.info("pop3.stls_dropped", bytes=dropped)

    def user_command(self, c: wire.User) -> None:
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
        exchange = sasl.exchange(c.mechanism, self.runtime.auth, self.login_context())
        await self.logged_in(await sasl.converse(exchange, c.initial_response, self.sasl_answer))

    async def sasl_answer(self, challenge: bytes, last: bool) -> bytes:
        """One step of AUTH (RFC 5034 4): "+ base64" out, the client's base64 line in; "*" cancels. SCRAM's
        server signature is a last challenge whose answer must be empty."""
        self.send(b"+ " + base64.b64encode(challenge) + b"\r\n")
        await self.conn.drain()
        try:
            line = (await self.conn.read_line(limit=sasl.MAX_RESPONSE * 2)).rstrip(b"\r\n")
        except LineTooLong:
            raise Refusal("the response is too long") from None
        if line == b"*":
            raise Refusal("authentication cancelled")
        try:
            response = wire.decode_base64(line)
        except wire.ParseError:
            raise Refusal("the response is not base64") from None
        if last and response:
            raise Refusal("the answer to the last challenge must be empty")
        return response

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

    def listing(self, c: wire.List | wire.Uidl) -> None:
        def value(m: DropMessage) -> str:
            return str(m.size) if isinstance(c, wire.List) else self.uidl(m)

        if c.number is not None:
            self.send(wire.ok(f"{c.number} {value(self.message(c.number))}"))
            return
        lines = [f"{n} {value(m)}".encode() for n, m in enumerate(self.drop, 1) if not m.deleted]
        self.send(b"+OK\r\n" + wire.multiline(lines))

    async def retrieve(self, c: wire.Retr | wire.Top) -> None:
        message = self.message(c.number)
        try:
            blob = (await self.mailstore.blob_ids(self.inbox_id, message.uid, message.uid)).get(message.uid)
            if blob is None:
                raise BlobNotFound(str(message.uid))  # expunged through IMAP since this session began
            data = await self.mailstore.read(blob, size=message.size)
        except BlobNotFound:
            raise Refusal(f"message {c.number} is no longer there", "SYS/TEMP") from None
        if isinstance(c, wire.Retr):
            message.retrieved = True
            self.send(wire.ok(f"{message.size} octets") + wire.message_body(data))
        else:
            self.send(wire.ok("top of message follows") + wire.message_body(data, c.lines))
        await self.conn.drain()

    async def quit(self) -> None:
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
