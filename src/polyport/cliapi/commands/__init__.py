"""The CLI/API's commands: one registry, one function per command, grouped by what they act on.

A command is `async def handler(cx: Context, args: Parser) -> Value | None`: it reads all its arguments
first (so a malformed command changes nothing), calls one function of the administration API
(polyport.admin), which checks the caller's rights and calls the services, and returns the data to send
(None: a plain "200 OK"). Refusals are raised: CliError, or the typed errors of the services and of the
administration API, which codes.py maps by their kind.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyport.admin import Actor
from polyport.auth.login import Identity, LoginContext
from polyport.cliapi.codes import bad, not_allowed
from polyport.cliapi.wire import Parser, Value
from polyport.runtime import Runtime

if TYPE_CHECKING:
    from polyport.cliapi.session import CliSession

Handler = Callable[["Context", Parser], Awaitable[Value | None]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    handler: Handler
    login: bool  # needs a logged-in user


COMMANDS: dict[str, Command] = {}


def command(*names: str, login: bool = True) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        for name in names:
            COMMANDS[name] = Command(name, handler, login)
        return handler

    return register


def dictionary(args: Parser) -> dict[str, Value]:
    value = args.value()
    if not isinstance(value, dict):
        raise bad("Expected a dictionary {key=value;...}")
    return value


def array(args: Parser) -> list[str]:
    """An array of strings (a bare name is taken as an array of one)."""
    value = args.value()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise bad("Expected an array of names (a, b, ...)")
    return items


def is_set(args: Parser) -> bool:
    """Whether the command was a SET... (replace) rather than an UPDATE... (merge)."""
    return args.text.lstrip()[:3].upper() == "SET"


@dataclass(slots=True)
class Context:
    """What a command knows of its session: who is logged in, and the services."""

    runtime: Runtime
    session: CliSession | None
    identity: Identity | None = None
    acting: Actor | None = None  # who acts when no account is logged in (`polyport` on the data folder: SERVER)

    @property
    def me(self) -> Identity:
        if self.identity is None:
            raise not_allowed("Please log in first")
        return self.identity

    @property
    def actor(self) -> Actor:
        """The logged-in account, as the administration API knows who acts."""
        if self.acting is not None and self.identity is None:
            return self.acting
        return Actor.of(self.me)

    def login_context(self) -> LoginContext:
        """The connection the command came on (a password check counts against its address)."""
        if self.session is None:
            raise not_allowed("This command needs a CLI/API connection")
        return self.session.login_context()

    @property
    def my_domain(self) -> str:
        return self.me.address.rpartition("@")[2]

    def address(self, name: str) -> str:
        """A name as CommuniGate reads it: `*` is the caller, a bare name is in the caller's domain."""
        if name == "*":
            return self.me.address
        return name if "@" in name else f"{name}@{self.my_domain}"

    def domain_or_mine(self, args: Parser) -> str:
        """An optional domain argument: the next name if there is one, else the caller's domain."""
        ch = args.peek()
        if ch and ch not in "{(":
            return args.string()
        return self.my_domain
