"""`CommandSession`: the read-execute-answer loop every command protocol runs on.

A protocol's session subclasses it and declares:
- `protocol` (the log events' prefix), `access_mode` (the account's access right it needs);
- `table`, a `CommandTable`: for each command key (the wire module's command type, or a verb), the
  handler and the states it is allowed in;
- `parse(data)`, the wire module's parser, and `read_command()` when a command is more than one line
  (IMAP's literals);
- its answers: the greeting, the goodbyes (idle time-out, shutdown), a line over the limit, and
  `refuse(command, error)`, the one hook where errors become the protocol's replies.

The kernel counts every command once under one of `Result`'s labels: a handler that returns is `ok`, a
refusal the protocol maps is `bad-syntax` or `user-error` as it says, an exception it does not know is
`server-error` (logged with its traceback, answered with the protocol's internal-error reply), and a
connection that fails, times out or is shut down in the middle of a command is `io-error` (mox labels
its results the same way).
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, Generic, NamedTuple, TypeVar

from polyport import log, metrics
from polyport.auth import sasl
from polyport.auth.login import Identity, LoginContext
from polyport.kernel import sasl as sasl_framing
from polyport.kernel.turns import Turns
from polyport.net.connection import Connection, ConnectionClosed, IdleTimeout, LineTooLong, ServerShutdown
from polyport.runtime import Runtime


class Result(enum.StrEnum):
    """How a command ended: the fixed vocabulary of the `result` label (metrics.RESULTS)."""

    OK = "ok"
    BAD_SYNTAX = "bad-syntax"  # the client sent what the protocol does not allow
    USER_ERROR = "user-error"  # a refusal: no such mailbox, wrong password, over quota
    SERVER_ERROR = "server-error"  # our bug: logged with its traceback
    IO_ERROR = "io-error"  # the connection failed, timed out or was shut down mid-command


# What ends a command without an answer: the connection is gone or going.
IO_ERRORS = (ConnectionClosed, IdleTimeout, ServerShutdown, ConnectionError)


class Ending(enum.Enum):
    """Why the loop stops without the client asking: the protocol says goodbye in its own words."""

    IDLE = "idle"
    SHUTDOWN = "shutdown"


class UnknownCommand(Exception):
    """The parser knows the command, the session has no handler for it (not supported here)."""

    def __init__(self, name: str) -> None:
        super().__init__(f"{name} is not supported")
        self.name = name


class WrongState(Exception):
    """A command the protocol knows, sent in a state that does not allow it (RETR before login)."""

    def __init__(self, name: str, state: Any) -> None:
        state_name = getattr(state, "value", state)
        super().__init__(f"{name} is not allowed in the {state_name} state")
        self.name = name
        self.state = state


SessionT = TypeVar("SessionT", bound="CommandSession[Any, Any]")
# A command as read: the line's bytes, or a bytearray that a multi-part command (IMAP's literals) grew in
# as it arrived, so a message-sized one is never joined from pieces.
CommandBytes = bytes | bytearray
StateT = TypeVar("StateT")
CommandT = TypeVar("CommandT")

Handler = Callable[[Any, Any], Awaitable[None]]


class Entry(NamedTuple):
    handler: Handler
    states: frozenset[Any]  # empty: allowed in every state (SMTP checks its sequence in the handlers)


ALWAYS: frozenset[Any] = frozenset()


class CommandTable:
    """One protocol's commands: key (command type or verb) -> (handler, states where it is allowed).
    Handlers register with `@table.handles(key, states)`, one short function per command, so a command's
    behaviour is found from its name."""

    def __init__(self) -> None:
        self._entries: dict[object, Entry] = {}

    def handles(self, key: object, states: frozenset[Any] | set[Any]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(key, handler, states)
            return handler

        return register

    def add(self, key: object, handler: Handler, states: frozenset[Any] | set[Any]) -> None:
        if key in self._entries:
            raise ValueError(f"{key!r} has a handler already")
        self._entries[key] = Entry(handler, frozenset(states))

    def get(self, key: object) -> Entry | None:
        return self._entries.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def keys(self) -> list[object]:
        return list(self._entries)


class CommandSession(Generic[StateT, CommandT]):
    """One connection of a command protocol. Subclasses set the class attributes and the hooks below."""

    protocol: ClassVar[str]  # prefix of log events: "imap" -> imap.command_failed
    access_mode: ClassVar[str]  # the account's access mode this service needs (CommuniGate's names)
    table: ClassVar[CommandTable]
    # Drain after every command (True), or only once no pipelined input is waiting, so the answers to a
    # batch go out together (RFC 2920, RFC 2449).
    drain_each_command: ClassVar[bool] = False
    # A debug line per command (name and result only): for admin protocols, whose commands are few.
    log_commands: ClassVar[bool] = False

    state: StateT

    def __init__(self, conn: Connection, runtime: Runtime, service_name: str,
                 command_metrics: metrics.CommandMetrics) -> None:
        self.conn = conn
        self.runtime = runtime
        self.service_name = service_name
        self.metrics = command_metrics
        self.log = log.get(conn=conn.id, service=service_name)
        self.finished = False  # the loop ends after the current command
        # Pipelined commands are read from the buffer without waiting: a turn of the loop between two once
        # a few milliseconds have gone (200 pipelined RCPTs, each a few store reads, held it 350 ms).
        self.turns = Turns()

    def login_context(self) -> LoginContext:
        conn = self.conn
        return LoginContext(self.service_name, conn.remote_ip, conn.tls, conn.trusted, self.access_mode, conn.id)

    # -- SASL --

    sasl_prefix: ClassVar[bytes] = b"+ "  # what a challenge line starts with ("334 " in SMTP)

    def sasl_decode(self, line: bytes) -> bytes:
        return sasl_framing.decode_strict(line)

    async def sasl_login(self, mechanism: str, initial: bytes | None) -> Identity:
        """Run one AUTHENTICATE/AUTH exchange to its end: the identity, or AuthFailure (counted by the
        Authenticator) or a SaslFramingError (the client's side was unusable)."""
        exchange = await sasl.exchange(mechanism, self.runtime.auth, self.login_context())
        return await sasl.converse(exchange, initial, self.sasl_answer)

    async def sasl_answer(self, challenge: bytes, last: bool) -> bytes:
        return await sasl_framing.answer(self.conn, self.sasl_prefix, challenge, last, self.sasl_decode)

    # -- the loop --

    async def run(self) -> None:
        self.greet()
        conn = self.conn
        try:
            while not self.finished:
                await self.wait_for_command()
                if not conn.has_buffered_input():
                    # The loop runs others while this session waits for its next command: the turns count
                    # from here, so a quick command is not followed by a needless turn of the loop (a
                    # pipelined one, already buffered, still counts on from the last turn).
                    self.turns.since = time.perf_counter()
                try:
                    data = await self.read_command()
                except LineTooLong as err:
                    await self.line_too_long(err)
                    continue
                if data is None:
                    continue
                await self.execute(data)
                if self.drain_each_command or not conn.has_buffered_input():
                    await conn.drain()
                await self.turns.share()
        except IdleTimeout:  # waiting for a command, or inside one (an AUTH exchange, IDLE)
            self.goodbye(Ending.IDLE)
        except ServerShutdown:
            self.goodbye(Ending.SHUTDOWN)
        finally:
            self.ended()

    async def execute(self, data: CommandBytes) -> None:
        """Parse, look up, check the state, run: one command, counted once."""
        started = time.perf_counter()
        name, result = "-", Result.IO_ERROR  # what it stays if the connection goes before an outcome
        try:
            command: CommandT | None = None
            try:
                command = self.parse(data)
                if command is None:
                    result = Result.OK
                    return  # nothing to do (an empty line where the protocol ignores them)
                name = self.command_name(command)
                entry = self.entry_for(command)
                if entry is None:
                    raise UnknownCommand(name)
                await self.before_command(command)
                if entry.states and self.state not in entry.states:
                    raise WrongState(name, self.state)
                await entry.handler(self, command)
                result = Result.OK
            except IO_ERRORS:
                raise
            except Exception as err:
                # The refusal's answer may meet a closed connection too (IO_ERRORS pass, counted as such).
                result = await self._refused(command, data, err)
        finally:
            label = self.metric_name(name)
            self.metrics.observe(label, result, time.perf_counter() - started)
            if self.log_commands and name != "-":
                self.log.debug(f"{self.protocol}.command", command=label, result=result.value)

    async def _refused(self, command: CommandT | None, data: CommandBytes, err: Exception) -> Result:
        """The protocol's answer to `err`; a bug if it has none (logged, answered as an internal error)."""
        outcome = await self.refuse(command, data, err)
        if outcome is not None:
            return outcome
        self.log.exception(f"{self.protocol}.command_failed", command=self.command_name(command)
                           if command is not None else "-")
        await self.server_error(command)
        return Result.SERVER_ERROR

    async def wait_for_command(self) -> None:
        """Until the client sends something, hand the session's unsolicited news to it as it comes. Returns
        at once when input is waiting or the session watches nothing; then read_command waits as before."""
        conn = self.conn
        while not conn.has_buffered_input():
            news = self.unsolicited()
            if news is None:
                return
            if news.done():
                await self.send_unsolicited()
                await conn.drain()
                continue
            await conn.wait_for_input_or(news)

    # -- hooks: unsolicited news --

    def unsolicited(self) -> asyncio.Future[None] | None:
        """A future done when the session has something to send between commands, unasked; None when it
        watches nothing now (the default)."""
        return None

    async def send_unsolicited(self) -> None:
        """Send what `unsolicited()` announced (called only once its future is done)."""

    # -- hooks: reading and parsing --

    async def read_command(self) -> CommandBytes | None:
        """The next command's bytes (None when it was refused, and answered, while being read)."""
        return await self.conn.read_line()

    def parse(self, data: CommandBytes) -> CommandT | None:
        raise NotImplementedError

    def command_name(self, command: CommandT) -> str:
        """The command's name, for metrics and logs."""
        return str(getattr(command, "name", type(command).__name__.upper()))

    def metric_name(self, name: str) -> str:
        """The metrics label: a protocol whose names come from the client keeps unknown ones out."""
        return name

    def command_key(self, command: CommandT) -> object:
        return type(command)

    def entry_for(self, command: CommandT) -> Entry | None:
        return self.table.get(self.command_key(command))

    async def before_command(self, command: CommandT) -> None:
        """Runs before the state check (the CLI/API re-reads the logged-in account's rights here)."""

    # -- hooks: answers --

    def greet(self) -> None:
        raise NotImplementedError

    def goodbye(self, why: Ending) -> None:
        raise NotImplementedError

    async def line_too_long(self, err: LineTooLong) -> None:
        raise NotImplementedError

    async def refuse(self, command: CommandT | None, data: CommandBytes, err: Exception) -> Result | None:
        """Answer `err` (raised by the parser when `command` is None, else by the handler, the state check
        or the table lookup) and say how the command ended; None when `err` is not a refusal the protocol
        knows (a bug)."""
        raise NotImplementedError

    async def server_error(self, command: CommandT | None) -> None:
        """The answer to a bug: the protocol's "internal error", never the exception's text."""
        raise NotImplementedError

    def ended(self) -> None:
        """The conversation is over (whatever ended it): release what the session holds."""
