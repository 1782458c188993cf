"""One CLI/API connection: greeting, login (USER/PASS, APOP, AUTH WEBUSER), STARTTLS, then commands.

The session reads one line at a time; a line longer than the limit, bytes that are not UTF-8, data that
does not parse, an unknown command: each gets a 5xx reply naming the problem and the session goes on.
Commands never see half-parsed input: each reads all its arguments before it acts. Arguments are never
logged (they may hold passwords); the verb and the outcome are.
"""

from __future__ import annotations

import enum
import secrets
import socket
import time
from dataclasses import dataclass

from polyport import __version__, admin, metrics
from polyport.auth.login import AuthFailure, Identity
from polyport.cliapi import wire
from polyport.cliapi.codes import CliError, Code, bad, from_error, not_allowed
from polyport.cliapi.commands import COMMANDS, Context
from polyport.kernel.session import (
    ALWAYS,
    CommandBytes,
    CommandSession,
    CommandTable,
    Ending,
    Entry,
    Result,
    UnknownCommand,
    WrongState,
)
from polyport.net.connection import Connection, LineTooLong
from polyport.runtime import Runtime

SERVICE = "cliapi"
ACCESS_MODE = "PWD"  # CommuniGate's access mode for this port
CRLF = "\r\n"

# How long a session trusts what it knows of its own account (rights, domain, access) before it reads
# them again: revoking an administrator's rights, or removing the account, takes effect within this.
IDENTITY_FRESH_FOR = 1.0


class State(enum.Enum):
    LOGGED_OUT = "logged-out"
    LOGGED_IN = "logged-in"


LOGGED_IN = frozenset({State.LOGGED_IN})


@dataclass(frozen=True, slots=True)
class CliCommand:
    verb: str
    args: wire.Parser


def reply(code: int, text: str) -> bytes:
    return f"{int(code)} {text}{CRLF}".encode()


# The session's own commands (CommuniGate's PWD module); the CLI's commands are in commands/.
SESSION_COMMANDS = CommandTable()


class CliSession(CommandSession[State, CliCommand]):
    protocol = "cli"
    access_mode = ACCESS_MODE
    table = SESSION_COMMANDS
    drain_each_command = True
    log_commands = True

    def __init__(self, conn: Connection, runtime: Runtime, service_name: str = SERVICE,
                 command_metrics: metrics.CommandMetrics | None = None) -> None:
        super().__init__(conn, runtime, service_name, command_metrics or metrics.CommandMetrics(service_name))
        self.state = State.LOGGED_OUT
        self.cx = Context(runtime, self)
        self.inline = False
        self.pending_user: str | None = None
        self.host = runtime.config.main_domain
        self.challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@{socket.gethostname()}>"
        self._identity_checked = 0.0

    # -- I/O --

    def send(self, code: int, text: str) -> None:
        self.conn.write(reply(code, text))

    def send_data(self, value: wire.Value) -> None:
        text = wire.serialize(value)
        if "\r" in text or "\n" in text:  # serialize never writes them; a reply must stay one line
            raise ValueError("a data reply would span lines")
        if self.inline:
            self.conn.write(f"{int(Code.INLINE)} {text}{CRLF}".encode())
        else:
            self.conn.write(f"{int(Code.OK)} data follow{CRLF}{text}{CRLF}".encode())

    # -- the kernel's hooks --

    def greet(self) -> None:
        self.send(Code.OK, f"{self.host} Polyport PWD server {__version__} ready {self.challenge}")

    def goodbye(self, why: Ending) -> None:
        if why is Ending.IDLE:
            self.send(Code.GENERAL, "Idle for too long; closing the connection")
        else:
            self.send(Code.GENERAL, "The server is shutting down; closing the connection")

    async def line_too_long(self, err: LineTooLong) -> None:
        self.send(Code.GENERAL, f"Command line longer than {err.limit} bytes; nothing was done")

    def parse(self, data: CommandBytes) -> CliCommand | None:
        try:
            text = data.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise bad("The command line is not UTF-8 text") from None
        if "\0" in text:
            raise bad("The command line holds a NUL byte")
        args = wire.Parser(text)
        if args.at_end():
            return None  # an empty line: clients send them; CommuniGate ignores them too
        try:
            verb = args.atom().upper()
        except wire.DataError:
            raise CliError(Code.UNKNOWN_COMMAND, "Expected a command name") from None
        return CliCommand(verb, args)

    def command_name(self, command: CliCommand) -> str:
        return command.verb

    def metric_name(self, name: str) -> str:
        return name if name in COMMANDS or name in SESSION_COMMANDS or name == "-" else "unknown"

    def command_key(self, command: CliCommand) -> str:
        return command.verb

    def entry_for(self, command: CliCommand) -> Entry | None:
        entry = SESSION_COMMANDS.get(command.verb)
        if entry is not None:
            return entry
        registered = COMMANDS.get(command.verb)
        if registered is None:
            return None
        return Entry(run_registered, LOGGED_IN if registered.login else ALWAYS)

    async def before_command(self, command: CliCommand) -> None:
        if command.verb in COMMANDS and self.cx.identity is not None:
            await self._refresh_identity()

    async def refuse(self, command: CliCommand | None, data: CommandBytes, err: Exception) -> Result | None:
        if isinstance(err, UnknownCommand):
            err = CliError(Code.UNKNOWN_COMMAND, f"Unknown command {err.name[:40]}")
        elif isinstance(err, WrongState):
            err = not_allowed("Please log in first")
        failure = from_error(err)
        if failure is None:
            return None
        self.send(failure.code, failure.text)
        if failure.code in (Code.UNKNOWN_COMMAND, Code.GENERAL) and isinstance(err, wire.DataError):
            return Result.BAD_SYNTAX
        return Result.USER_ERROR

    async def server_error(self, command: CliCommand | None) -> None:
        self.send(Code.SERVER_ERROR, "Internal error; the server log has the details")

    # -- session commands --

    async def do_noop(self, args: wire.Parser) -> None:
        args.end()
        self.send(Code.OK, "OK")

    async def do_quit(self, args: wire.Parser) -> None:
        self.send(Code.OK, "Polyport PWD connection closed")
        self.finished = True

    async def do_starttls(self, args: wire.Parser) -> None:
        args.end()
        if self.conn.tls:
            raise bad("TLS is already on")
        self.send(Code.OK, "start TLS negotiations")
        await self.conn.drain()
        dropped = await self.conn.start_tls(self.runtime.tls.context)
        if dropped:
            self.log.info("cli.starttls_dropped", bytes=dropped)

    def _not_twice(self) -> None:
        if self.cx.identity is not None:
            raise bad("Already logged in")

    async def do_user(self, args: wire.Parser) -> None:
        self._not_twice()
        name = args.string()
        args.end()
        self.pending_user = name
        self.send(Code.MORE, "please send the PASS")

    async def do_pass(self, args: wire.Parser) -> None:
        self._not_twice()
        if self.pending_user is None:
            raise bad("Send USER first")
        password = args.secret()
        user, self.pending_user = self.pending_user, None
        await self._logged_in(await self.runtime.auth.login_plain(self.login_context(), user, password))

    async def do_apop(self, args: wire.Parser) -> None:
        self._not_twice()
        name = args.string()
        digest = args.string()
        args.end()
        await self._logged_in(await self.runtime.auth.login_apop(self.login_context(), name, self.challenge, digest))

    async def do_auth(self, args: wire.Parser) -> None:
        self._not_twice()
        args.keyword("WEBUSER")
        name = args.string()
        password = args.string()
        args.end()
        await self._logged_in(await self.runtime.auth.login_plain(self.login_context(), name, password,
                                                                  mechanism="WEBUSER"))

    async def _refresh_identity(self) -> None:
        """Re-read the logged-in account (at most every IDENTITY_FRESH_FOR seconds): its rights and
        domain may have changed, or it may be gone, since the login."""
        identity = self.cx.identity
        now = time.monotonic()
        if identity is None or now - self._identity_checked < IDENTITY_FRESH_FOR:
            return
        record = await self.runtime.directory.login_record_by_id(identity.account_id)
        if record is None or not record.may_use(ACCESS_MODE):
            self.cx.identity = None
            self.state = State.LOGGED_OUT
            self.finished = True
            raise not_allowed("The account was removed or may no longer use the CLI/API; closing the connection")
        self.cx.identity = Identity(record.account_id, record.address, identity.login, record.rights)
        self._identity_checked = now

    async def _logged_in(self, identity: Identity) -> None:
        self._identity_checked = time.monotonic()
        self.cx.identity = identity
        self.state = State.LOGGED_IN
        self.log = self.log.bind(account=identity.address)
        self.send(Code.OK, "login OK, proceed")

    async def do_newpass(self, args: wire.Parser) -> None:
        """The logged-in account's new password (the old poppassd role of this port)."""
        me = self.cx.me
        password = args.secret()
        if not password:
            raise bad("NEWPASS needs the new password")
        # Its administrators may; the account itself when PWDAllowed says so.
        await admin.set_account_password(self.runtime, self.cx.actor, me.address, password)
        self.send(Code.OK, "password changed")

    async def do_inline(self, args: wire.Parser) -> None:
        args.end()
        self.inline = True
        self.send(Code.OK, "OK")


async def run_registered(session: CliSession, command: CliCommand) -> None:
    """A command of commands/: it reads its arguments and acts; the session sends what it returns."""
    value = await COMMANDS[command.verb].handler(session.cx, command.args)
    if value is None:
        session.send(Code.OK, "OK")
    else:
        session.send_data(value)


def _session_command(verb: str) -> None:
    async def run(session: CliSession, command: CliCommand) -> None:
        await getattr(session, f"do_{verb.lower()}")(command.args)

    SESSION_COMMANDS.add(verb, run, LOGGED_IN if verb in ("INLINE", "NEWPASS") else ALWAYS)


for _verb in ("USER", "PASS", "APOP", "AUTH", "STARTTLS", "NOOP", "QUIT", "INLINE", "NEWPASS"):
    _session_command(_verb)

__all__ = ["AuthFailure", "CliSession"]
