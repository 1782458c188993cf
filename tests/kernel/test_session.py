"""The kernel's command loop, on a toy protocol over the in-memory transport: every way a command can
end is counted under its label (io-error included), refusals keep the session, bugs are logged and
answered, and the session says goodbye on idle time-out and shutdown."""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any, cast

import pytest

from polyport import metrics
from polyport.kernel.session import (
    ALWAYS,
    CommandBytes,
    CommandSession,
    CommandTable,
    Ending,
    Result,
    UnknownCommand,
    WrongState,
)
from polyport.net.connection import Connection, LineTooLong
from polyport.net.listener import Refusal
from polyport.net.memory import MemoryClient
from polyport.runtime import Runtime


class State(enum.Enum):
    NEW = "new"
    IN = "in"


@dataclass
class Command:
    name: str
    arg: str


class Refused(Exception):
    pass


class ParseFailed(Exception):
    pass


class Recorder(metrics.CommandMetrics):
    def __init__(self) -> None:
        super().__init__("toy")
        self.seen: list[tuple[str, str]] = []

    def observe(self, command: str, result: str, seconds: float) -> None:
        self.seen.append((command, result))


TABLE = CommandTable()
ONLY_IN = frozenset({State.IN})


class ToySession(CommandSession[State, Command]):
    protocol = "toy"
    access_mode = "Mail"
    table = TABLE

    def __init__(self, conn: Connection, recorder: Recorder) -> None:
        super().__init__(conn, cast(Runtime, None), "toy", recorder)
        self.state = State.NEW
        self.ended_called = False

    def send(self, text: str) -> None:
        self.conn.write(text.encode() + b"\r\n")

    def greet(self) -> None:
        self.send("HELLO")

    def goodbye(self, why: Ending) -> None:
        self.send(f"BYE {why.value}")

    async def line_too_long(self, err: LineTooLong) -> None:
        self.send(f"ERR too long {err.limit}")

    def parse(self, data: CommandBytes) -> Command | None:
        words = data.decode().strip().split(" ", 1)
        if not words[0]:
            return None
        if not words[0].isalpha():
            raise ParseFailed("not a command")
        return Command(words[0].upper(), words[1] if len(words) > 1 else "")

    def command_key(self, command: Command) -> object:
        return command.name

    async def refuse(self, command: Command | None, data: CommandBytes, err: Exception) -> Result | None:
        if isinstance(err, ParseFailed | UnknownCommand | WrongState):
            self.send(f"BAD {err}")
            return Result.BAD_SYNTAX
        if isinstance(err, Refused):
            self.send(f"NO {err}")
            return Result.USER_ERROR
        return None

    async def server_error(self, command: Command | None) -> None:
        self.send("NO internal error")

    def ended(self) -> None:
        self.ended_called = True


@TABLE.handles("LOGIN", ALWAYS)
async def login(s: ToySession, c: Command) -> None:
    s.state = State.IN
    s.send("OK in")


@TABLE.handles("SECRET", ONLY_IN)
async def secret(s: ToySession, c: Command) -> None:
    s.send("OK 42")


@TABLE.handles("REFUSE", ALWAYS)
async def refuse(s: ToySession, c: Command) -> None:
    raise Refused("not today")


@TABLE.handles("CRASH", ALWAYS)
async def crash(s: ToySession, c: Command) -> None:
    raise RuntimeError("a bug")


@TABLE.handles("ECHO", ALWAYS)
async def echo(s: ToySession, c: Command) -> None:
    """Reads one more line (a continuation, as SASL's are) and sends it back."""
    s.send("+ go on")
    await s.conn.drain()
    s.send("OK " + (await s.conn.read_line()).decode().strip())


@TABLE.handles("QUIT", ALWAYS)
async def quit_(s: ToySession, c: Command) -> None:
    s.send("OK bye")
    s.finished = True


class ToyHandler:
    def __init__(self) -> None:
        self.recorder = Recorder()
        self.sessions: list[ToySession] = []

    def session(self, conn: Connection) -> ToySession:
        session = ToySession(conn, self.recorder)
        self.sessions.append(session)
        return session

    def refusal(self, reason: Refusal) -> bytes:
        return b""


async def started(**options: Any) -> tuple[ToyHandler, MemoryClient]:
    handler = ToyHandler()
    client = MemoryClient(handler, **options)
    assert await client.line() == b"HELLO"
    return handler, client


async def test_every_ending_is_counted_under_its_label() -> None:
    handler, client = await started()
    assert await client.ask(b"SECRET") == b"BAD SECRET is not allowed in the new state"
    assert await client.ask(b"LOGIN") == b"OK in"
    assert await client.ask(b"SECRET") == b"OK 42"
    assert await client.ask(b"REFUSE") == b"NO not today"
    assert await client.ask(b"NOSUCH") == b"BAD NOSUCH is not supported"
    assert await client.ask(b"123") == b"BAD not a command"
    assert await client.ask(b"CRASH") == b"NO internal error"  # and the session goes on
    assert await client.ask(b"QUIT") == b"OK bye"
    await client.close()
    assert handler.recorder.seen == [
        ("SECRET", "bad-syntax"), ("LOGIN", "ok"), ("SECRET", "ok"), ("REFUSE", "user-error"),
        ("NOSUCH", "bad-syntax"), ("-", "bad-syntax"), ("CRASH", "server-error"), ("QUIT", "ok")]
    assert handler.sessions[0].ended_called


async def test_a_connection_lost_mid_command_is_an_io_error() -> None:
    handler, client = await started()
    assert await client.ask(b"ECHO") == b"+ go on"
    await client.close()  # the client goes away while the command waits for its continuation
    assert handler.recorder.seen == [("ECHO", "io-error")]


async def test_pipelined_commands_are_answered_in_order() -> None:
    handler, client = await started()
    client.send(b"LOGIN\r\nSECRET\r\n\r\nQUIT\r\n")
    assert await client.until(b"OK bye") == [b"OK in", b"OK 42", b"OK bye"]
    await client.close()
    assert [name for name, _ in handler.recorder.seen] == ["LOGIN", "SECRET", "-", "QUIT"]


async def test_a_line_over_the_limit_is_refused_and_the_session_goes_on() -> None:
    _, client = await started(max_line=100)
    client.send(b"ECHO " + b"x" * 500 + b"\r\n")
    assert await client.line() == b"ERR too long 100"
    assert await client.ask(b"LOGIN") == b"OK in"
    await client.close()


async def test_idle_clients_get_a_goodbye() -> None:
    _, client = await started(idle_timeout=0.2)
    assert await client.line() == b"BYE idle"
    await asyncio.sleep(0)
    assert client.closed


async def test_shutdown_says_goodbye_to_a_waiting_session() -> None:
    _, client = await started()
    client.conn.shut_down()
    assert await client.line() == b"BYE shutdown"
    await client.close()


def test_a_command_has_one_handler() -> None:
    table = CommandTable()
    table.add("X", login, ALWAYS)
    with pytest.raises(ValueError, match="has a handler"):
        table.add("X", secret, ALWAYS)


def test_results_are_the_metrics_vocabulary() -> None:
    assert tuple(r.value for r in Result) == metrics.RESULTS


async def test_frames_are_read_through_a_pure_framer() -> None:
    """A protocol that does not speak in lines reads through net.framing (NUL-terminated, as XIMSS)."""
    from polyport.net.framing import FrameTooLarge
    from polyport.net.framing.nul import NulFramer

    class Frames:
        def __init__(self) -> None:
            self.got: list[bytes | str] = []

        def session(self, conn: Connection) -> Frames:
            self.conn = conn
            return self

        def refusal(self, reason: Refusal) -> bytes:
            return b""

        async def run(self) -> None:
            framer = NulFramer(max_size=16)
            while True:
                try:
                    self.got.append(await self.conn.read_frame(framer))
                except FrameTooLarge as err:
                    assert err.resumable
                    self.got.append("too large")

    frames = Frames()
    client = MemoryClient(frames)
    client.send(b"<a/>\0<b")
    client.send(b"/>\0" + b"x" * 40)
    client.send(b"\0<c/>\0")
    client.send_eof()
    await client.close()
    assert frames.got == [b"<a/>", b"<b/>", "too large", b"<c/>"]


async def test_a_peer_gone_in_the_middle_of_a_frame_is_a_framing_error() -> None:
    """The stream ended inside a frame: the session learns it as FrameError, not as a quiet close."""
    from polyport.net.framing import FrameError
    from polyport.net.framing.nul import NulFramer

    outcome: list[str] = []

    class Frames:
        def session(self, conn: Connection) -> Frames:
            self.conn = conn
            return self

        def refusal(self, reason: Refusal) -> bytes:
            return b""

        async def run(self) -> None:
            framer = NulFramer()
            try:
                while True:
                    await self.conn.read_frame(framer)
            except FrameError:
                outcome.append("frame-error")

    client = MemoryClient(Frames())
    client.send(b"<a/>\0<half")
    client.send_eof()
    await client.close()
    assert outcome == ["frame-error"]


class PushingSession(ToySession):
    """A toy session with news of its own to send between commands (what IMAP's NOTIFY does)."""

    def __init__(self, conn: Connection, recorder: Recorder) -> None:
        super().__init__(conn, recorder)
        self.news: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.sent = 0

    def unsolicited(self) -> asyncio.Future[None] | None:
        return self.news if self.state is State.IN else None

    async def send_unsolicited(self) -> None:
        self.sent += 1
        self.send(f"NEWS {self.sent}")
        self.news = asyncio.get_running_loop().create_future()


class PushingHandler(ToyHandler):
    def session(self, conn: Connection) -> ToySession:
        session = PushingSession(conn, self.recorder)
        self.sessions.append(session)
        return session


async def test_unsolicited_news_goes_out_between_commands() -> None:
    handler = PushingHandler()
    client = MemoryClient(handler)
    assert await client.line() == b"HELLO"
    assert await client.ask(b"LOGIN") == b"OK in"
    session = cast(PushingSession, handler.sessions[0])
    for number in (1, 2):
        await asyncio.sleep(0.01)  # the session waits for a command and its news together
        session.news.set_result(None)
        assert await client.line() == b"NEWS %d" % number
    assert await client.ask(b"SECRET") == b"OK 42"  # commands are read as before
    assert await client.ask(b"QUIT") == b"OK bye"
    await client.close()
