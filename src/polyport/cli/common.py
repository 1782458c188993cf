"""Helpers every `polyport` subcommand shares: the event loop, config loading, one-line errors."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, Coroutine
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from polyport import config as config_module
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


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def known_errors() -> tuple[type[Exception], ...]:
    from polyport.datadir import DataDirError
    from polyport.directory import DirectoryError
    from polyport.node import StartupError
    from polyport.store import StoreError

    return (ConfigError, DirectoryError, StartupError, StoreError, DataDirError)


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


def admin(func: Callable[..., Awaitable[Any]]) -> Callable[..., None]:
    """An admin command: loads the config, opens the directory, runs `func(directory, ...)`."""

    @config_options
    @wraps(func)
    @guarded
    def command(config_file: Path | None, data_dir: Path | None, **kwargs: Any) -> None:
        config = load_config(config_file, data_dir)
        run_async(with_directory(config, lambda directory: func(directory, **kwargs)))

    return command


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
            shown = ", ".join(value) if isinstance(value, list) else value
            click.echo(f"{key:<{width}}  {shown}")
    elif isinstance(data, list):
        for item in data:
            click.echo(item)
    else:
        click.echo(data)
