"""Helpers every `polyport` subcommand shares: the event loop, config loading, one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from polyport import config as config_module
from polyport.cliapi import wire
from polyport.config import Config, ConfigError

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

EVENT_LOOP_ENV = "POLYPORT_EVENT_LOOP"  # "asyncio" forces the standard loop instead of uvloop


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop where installed (unless POLYPORT_EVENT_LOOP=asyncio), else on asyncio."""
    if os.environ.get(EVENT_LOOP_ENV, "").lower() != "asyncio":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(coro)
    return asyncio.run(coro)


def fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def known_errors() -> tuple[type[Exception], ...]:
    from polyport.cliapi.client import CliClientError
    from polyport.datadir import DataDirError
    from polyport.directory import DirectoryError
    from polyport.mailstore import MailstoreError
    from polyport.node import StartupError
    from polyport.store import StoreError

    return (ConfigError, DirectoryError, MailstoreError, StartupError, StoreError, DataDirError, CliClientError)


def guarded(func: F) -> F:
    """Turn known failures into one-line errors."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except known_errors() as err:
            fail(str(err))
        except KeyboardInterrupt:
            raise SystemExit(130) from None

    return wrapper  # type: ignore[return-value]


def config_options(func: F) -> F:
    func = click.option("--data", "data_dir", type=click.Path(path_type=Path),
                        help="Data folder (default: [node] data, /var/lib/polyport).")(func)
    func = click.option("--config", "config_file", type=click.Path(path_type=Path),
                        help="Config file (default: <data>/polyport.toml if present).")(func)
    return func


def load_config(config_file: Path | None, data_dir: Path | None) -> Config:
    return config_module.load_for(config_file, data_dir)


# -- admin commands -----------------------------------------------------------------------------------------

async def with_directory(config: Config, work: Callable[[Any], Awaitable[T]], *,
                         need_initialized: bool = True) -> T:
    from polyport.directory import Directory, UnknownDomain
    from polyport.node import open_store, password_hasher, password_vault

    records = await open_store(config)
    passwords = password_hasher(config)
    try:
        directory = Directory(records, passwords, vault=password_vault(config))
        if need_initialized:
            try:
                await directory.main_domain()
            except UnknownDomain:
                fail(f"{config.data_dir} holds no Polyport data yet: run `polyport init --data "
                     f"{config.data_dir}` or start the node once")
        return await work(directory)
    finally:
        await records.close()
        passwords.close()


PASSWORD_ENV = "POLYPORT_PASSWORD"  # noqa: S105  (a variable name: the --server password, without a terminal)


async def with_remote_directory(server: str, user: str, starttls: bool, verify: bool,
                                work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work` on the directory of the node whose CLI/API listens at `server` (host:port)."""
    import getpass
    import ssl
    import sys

    from polyport.cli.remote import RemoteDirectory
    from polyport.cliapi.client import CliClient, CliReplyError

    host, _, port_text = server.rpartition(":")
    if not host or not port_text.isdigit():
        fail(f"--server {server!r}: give host:port (like 127.0.0.1:106)")
    password = os.environ.get(PASSWORD_ENV)
    if password is None:
        if not sys.stdin.isatty():
            fail(f"give {user}'s password in the environment variable {PASSWORD_ENV}")
        password = getpass.getpass(f"Password of {user} at {server}: ")
    context: ssl.SSLContext | None = None
    if starttls:
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    client = await CliClient.connect(host.strip("[]"), int(port_text), tls=context)
    try:
        try:
            await client.login(user, password)
        except CliReplyError as err:
            fail(f"{server} refused the login of {user}: {err.text}")
        return await work(RemoteDirectory(client))
    finally:
        await client.close()


Command = Callable[..., Awaitable[Any]]


def local_or_remote(local_work: Callable[[Config, Callable[[Any], Awaitable[Any]]], Coroutine[Any, Any, Any]],
                    remote_target: Callable[[Any], Any]) -> Callable[[Command], Callable[..., None]]:
    """A command decorator: the command runs `func(target, ...)`, its target made on the data folder
    (`local_work(config, run)` calls `run(target)`) or, with --server, from a running node's CLI/API
    (`remote_target(remote directory)`)."""

    def decorate(func: Callable[..., Awaitable[Any]]) -> Callable[..., None]:
        @config_options
        @click.option("--server", metavar="HOST:PORT",
                      help=f"Work on a running node through its CLI/API instead (password: ${PASSWORD_ENV} or a "
                           "prompt).")
        @click.option("--user", default="postmaster", show_default=True, help="Who logs in to --server.")
        @click.option("--starttls", is_flag=True, help="Use TLS with --server.")
        @click.option("--no-verify", is_flag=True, help="With --starttls: accept any certificate (self-signed).")
        @wraps(func)
        @guarded
        def command(config_file: Path | None, data_dir: Path | None, server: str | None, user: str,
                    starttls: bool, no_verify: bool, **kwargs: Any) -> None:
            if server:
                run_async(with_remote_directory(server, user, starttls, not no_verify,
                                                lambda remote: func(remote_target(remote), **kwargs)))
                return
            config = load_config(config_file, data_dir)
            run_async(local_work(config, lambda target: func(target, **kwargs)))

        return command

    return decorate


def remote_call(remote: Any) -> Callable[..., Awaitable[Any]]:
    """call(verb, *args): one CLI/API command on the node `remote` (a RemoteDirectory) reaches; a refusal
    is printed and ends the command."""
    from polyport.cliapi.client import CliReplyError

    async def call(verb: str, *args: Any) -> Any:
        try:
            return await remote.client.call(verb, *args)
        except CliReplyError as err:
            fail(str(err))

    return call


# An admin command: `func(directory, ...)` on the data folder's directory, or a running node's (--server).
admin = local_or_remote(lambda config, run: with_directory(config, run), lambda remote: remote)


def parse_assignments(pairs: tuple[str, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE")
        values[key.strip()] = value
    return values


def show(data: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    if isinstance(data, dict):
        width = max((len(k) for k in data), default=0)
        for key, value in data.items():
            # A flat list of names reads best joined; anything nested (rules, a setting Polyport does not
            # use) in the CLI/API's data syntax.
            if isinstance(value, list) and all(isinstance(item, str) for item in value):
                shown = ", ".join(value)
            elif isinstance(value, list | dict):
                shown = wire.serialize(value)
            else:
                shown = value
            click.echo(f"{key:<{width}}  {shown}")
    elif isinstance(data, list):
        for item in data:
            click.echo(item)
    else:
        click.echo(data)
