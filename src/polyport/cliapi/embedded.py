"""The CLI/API's commands run in-process, for WebAdmin and the webmail's settings pages.

The command layer is the server's administration API: it reads the arguments, checks the caller's rights
(`commands.Context`) and calls the services. Web pages that change the directory send the same command
text a CLI/API client would, as the logged-in account, so there is one path and one set of rights checks
for every way of administering the server.
"""

from __future__ import annotations

from typing import cast

from polyport.auth.login import Identity, LoginContext
from polyport.cliapi import wire
from polyport.cliapi.codes import CliError, Code, from_error
from polyport.cliapi.commands import COMMANDS, Context
from polyport.runtime import Runtime

quote = wire.quote
serialize = wire.serialize
__all__ = ["CliError", "Code", "execute", "quote", "serialize"]


class _Caller:
    """Stands in for a CLI/API connection: commands ask it only for the login context."""

    def __init__(self, context: LoginContext) -> None:
        self._context = context

    def login_context(self) -> LoginContext:
        return self._context


async def execute(runtime: Runtime, identity: Identity, context: LoginContext, text: str) -> wire.Value | None:
    """Run one command line (e.g. `CREATEACCOUNT "a@b" {Password="x";}`) as `identity`; returns its data
    (None for a plain OK). Refusals raise CliError with the CLI/API's code and one line of text."""
    parser = wire.Parser(text)
    verb = parser.atom().upper()
    command = COMMANDS.get(verb)
    if command is None:
        raise CliError(Code.UNKNOWN_COMMAND, f"Unknown command {verb[:40]}")
    from polyport.cliapi.session import CliSession

    cx = Context(runtime, cast(CliSession, _Caller(context)), identity)
    try:
        return await command.handler(cx, parser)
    except CliError:
        raise
    except Exception as err:
        mapped = from_error(err)
        if mapped is None:
            raise
        raise mapped from None
