"""The CLI/API's commands: one registry, one function per command, grouped by what they act on.

A command is `async def handler(cx: Context, args: Parser) -> Value | None`: it reads all its arguments
first (so a malformed command changes nothing), checks the caller's rights through `cx`, calls the
services, and returns the data to send (None: a plain "200 OK"). Refusals are raised (CliError, or the
services' typed errors, which codes.py maps).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from polyport.auth.login import Identity
from polyport.cliapi.codes import bad, not_allowed
from polyport.cliapi.wire import Parser, Value
from polyport.directory import Directory, InvalidName, UnknownDomain
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


MASTER = "Master"
DOMAIN_ADMIN = "Domain"


@dataclass(slots=True)
class Context:
    """What a command knows of its session: who is logged in, and the services."""

    runtime: Runtime
    session: CliSession
    identity: Identity | None = None

    @property
    def directory(self) -> Directory:
        return self.runtime.directory

    @property
    def me(self) -> Identity:
        if self.identity is None:
            raise not_allowed("Please log in first")
        return self.identity

    @property
    def my_domain(self) -> str:
        return self.me.address.rpartition("@")[2]

    @property
    def is_master(self) -> bool:
        return MASTER in self.me.rights

    def address(self, name: str) -> str:
        """A name as CommuniGate reads it: `*` is the caller, a bare name is in the caller's domain."""
        if name == "*":
            return self.me.address
        return name if "@" in name else f"{name}@{self.my_domain}"

    def require_master(self) -> None:
        if not self.is_master:
            raise not_allowed()

    async def require_domain(self, domain: str, right: str | None = None) -> str:
        """The domain's primary name, if the caller may administer it (with `right`, when given). To a
        domain administrator an unknown domain and someone else's look the same: 510."""
        if self.is_master:
            return (await self.directory.domain(domain)).name
        rights = self.me.rights
        if DOMAIN_ADMIN not in rights or (right is not None and right not in rights):
            raise not_allowed()
        try:
            primary = (await self.directory.domain(domain)).name
        except (UnknownDomain, InvalidName):
            raise not_allowed() from None
        if primary != self.my_domain:
            raise not_allowed()
        return primary

    async def is_me(self, address: str) -> bool:
        """Whether `address` names the caller's own account (by its name, an alias or a domain alias)."""
        if address.lower() == self.me.address:
            return True
        record = await self.directory.login_record(address)
        return record is not None and record.account_id == self.me.account_id

    async def require_object(self, address: str, right: str | None = None, *, own: bool = False) -> str:
        """`address` (of an account, alias, forwarder or group), if the caller may act on it: a server
        administrator always; the account itself when `own`; a domain administrator inside its domain
        (with `right`), and never on an account holding rights it does not hold itself (a domain
        administrator must not take over the server's administrators)."""
        if self.is_master:
            return address
        record = await self.directory.login_record(address)
        if own and (address.lower() == self.me.address
                    or (record is not None and record.account_id == self.me.account_id)):
            return address
        await self.require_domain(address.rpartition("@")[2], right)
        if record is not None and not set(record.rights) <= set(self.me.rights):
            raise not_allowed("Not enough access rights: the account holds rights you do not")
        return address

    def domain_or_mine(self, args: Parser) -> str:
        """An optional domain argument: the next name if there is one, else the caller's domain."""
        ch = args.peek()
        if ch and ch not in "{(":
            return args.string()
        return self.my_domain
