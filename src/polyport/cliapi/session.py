"""One CLI/API connection: greeting, login (USER/PASS, APOP, AUTH WEBUSER), STARTTLS, then commands.

The session reads one line at a time; a line longer than the limit, bytes that are not UTF-8, data that
does not parse, an unknown command: each gets a 5xx reply naming the problem and the session goes on.
Commands never see half-parsed input: each reads all its arguments before it acts. Arguments are never
logged (they may hold passwords); the verb and the outcome are.
"""

from __future__ import annotations

import secrets
import socket
import time

from polyport import __version__, log, metrics
from polyport.auth.login import AuthFailure, Identity, LoginContext
from polyport.cliapi import wire
from polyport.cliapi.codes import CliError, Code, bad, from_error, not_allowed
from polyport.cliapi.commands import COMMANDS, Context
from polyport.net.connection import Connection, ConnectionClosed, IdleTimeout, LineTooLong, ServerShutdown
from polyport.runtime import Runtime

SERVICE = "cliapi"
ACCESS_MODE = "PWD"  # CommuniGate's access mode for this port
CRLF = "\r\n"

# How long a session trusts what it knows of its own account (rights, domain, access) before it reads
# them again: revoking an administrator's rights, or removing the account, takes effect within this.
IDENTITY_FRESH_FOR = 1.0

# Commands that may run before login.
LOGIN_COMMANDS = frozenset({"USER", "PASS", "APOP", "AUTH", "STARTTLS", "NOOP", "QUIT"})


COMMAND_METRICS = metrics.CommandMetrics(SERVICE)


def reply(code: int, text: str) -> bytes:
    return f"{int(code)} {text}{CRLF}".encode()


class CliSession:
    def __init__(self, conn: Connection, runtime: Runtime) -> None:
        self.conn = conn
        self.runtime = runtime
        self.cx = Context(runtime, self)
        self.inline = False
        self.pending_user: str | None = None
        self.host = runtime.config.main_domain
        self.challenge = f"<{secrets.token_hex(8)}.{int(time.time())}@{socket.gethostname()}>"
        self.log = log.get(conn=conn.id, service=SERVICE)
        self.closing = False
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

    def login_context(self) -> LoginContext:
        return LoginContext(SERVICE, self.conn.remote_ip, self.conn.tls, self.conn.trusted, ACCESS_MODE, self.conn.id)

    async def run(self) -> None:
        self.send(Code.OK, f"{self.host} Polyport PWD server {__version__} ready {self.challenge}")
        while not self.closing:
            try:
                line = await self.conn.read_line()
            except LineTooLong as err:
                self.send(Code.GENERAL, f"Command line longer than {err.limit} bytes; nothing was done")
                continue
            except IdleTimeout:
                self.send(Code.GENERAL, "Idle for too long; closing the connection")
                return
            except ServerShutdown:
                self.send(Code.GENERAL, "The server is shutting down; closing the connection")
                return
            await self.handle(line)
            await self.conn.drain()

    async def handle(self, raw: bytes) -> None:
        started = time.perf_counter()
        verb = "-"
        result = "ok"
        try:
            try:
                text = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError:
                raise bad("The command line is not UTF-8 text") from None
            if "\0" in text:
                raise bad("The command line holds a NUL byte")
            args = wire.Parser(text)
            if args.at_end():
                return  # an empty line: clients send them; CommuniGate ignores them too
            try:
                verb = args.atom().upper()
            except wire.DataError:
                raise CliError(Code.UNKNOWN_COMMAND, "Expected a command name") from None
            await self.dispatch(verb, args)
        except (ConnectionClosed, IdleTimeout, ServerShutdown):
            raise
        except Exception as err:
            failure = from_error(err)
            if failure is None:
                result = "server-error"
                self.log.exception("cli.command_failed", command=verb)
                failure = CliError(Code.SERVER_ERROR, "Internal error; the server log has the details")
            else:
                result = "bad-syntax" if failure.code in (Code.UNKNOWN_COMMAND, Code.GENERAL) and isinstance(
                    err, wire.DataError) else "user-error"
            self.send(failure.code, failure.text)
        finally:
            label = verb if verb in COMMANDS or verb in LOGIN_COMMANDS or verb == "-" else "unknown"
            COMMAND_METRICS.observe(label, result, time.perf_counter() - started)
            if verb != "-":
                self.log.debug("cli.command", command=label, result=result,
                               account=self.cx.identity.address if self.cx.identity else None)

    async def dispatch(self, verb: str, args: wire.Parser) -> None:
        if verb in LOGIN_COMMANDS:
            await getattr(self, f"do_{verb.lower()}")(args)
            return
        if verb == "INLINE":
            self.cx.me  # noqa: B018  (logged in first)
            args.end()
            self.inline = True
            self.send(Code.OK, "OK")
            return
        if verb == "NEWPASS":
            await self.do_newpass(args)
            return
        command = COMMANDS.get(verb)
        if command is None:
            raise CliError(Code.UNKNOWN_COMMAND, f"Unknown command {verb[:40]}")
        if self.cx.identity is not None:
            await self._refresh_identity()
        if command.login and self.cx.identity is None:
            raise not_allowed("Please log in first")
        value = await command.handler(self.cx, args)
        if value is None:
            self.send(Code.OK, "OK")
        else:
            self.send_data(value)

    # -- session commands --

    async def do_noop(self, args: wire.Parser) -> None:
        args.end()
        self.send(Code.OK, "OK")

    async def do_quit(self, args: wire.Parser) -> None:
        self.send(Code.OK, "Polyport PWD connection closed")
        self.closing = True

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
            self.closing = True
            raise not_allowed("The account was removed or may no longer use the CLI/API; closing the connection")
        self.cx.identity = Identity(record.account_id, record.address, identity.login, record.rights)
        self._identity_checked = now

    async def _logged_in(self, identity: Identity) -> None:
        self._identity_checked = time.monotonic()
        self.cx.identity = identity
        self.send(Code.OK, "login OK, proceed")

    async def do_newpass(self, args: wire.Parser) -> None:
        """The logged-in account's new password (the old poppassd role of this port)."""
        me = self.cx.me
        password = args.secret()
        if not password:
            raise bad("NEWPASS needs the new password")
        if not self.cx.is_master:
            settings = await self.runtime.directory.effective_account_settings(me.address)
            if settings.get("PWDAllowed") != "YES":
                raise not_allowed("This account may not change its password (PWDAllowed)")
        await self.runtime.directory.set_password(me.address, password)
        self.send(Code.OK, "password changed")


__all__ = ["AuthFailure", "CliSession"]
