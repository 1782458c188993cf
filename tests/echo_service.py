"""Serve the test echo protocol as if it were a built service of the table (no protocol is built into
the foundation yet). `as_built("cliapi")` patches the table in this process; run this file as a script to
start the real `polyport` command with the patch applied (for subprocess tests)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from polyport import service_table as config_module
from polyport.config import ResolvedService
from polyport.kernel.protocol import ProtocolModule
from polyport.runtime import Runtime
from tests.net.echo_protocol import EchoHandler


def make_handler(runtime: Runtime, service: ResolvedService) -> EchoHandler:
    return EchoHandler(tls=runtime.tls.context)


PROTOCOL = ProtocolModule(stream=make_handler)


def patch(*names: str) -> dict[str, Any]:
    saved = dict(config_module.SERVICES_BY_NAME)
    for name in names:
        config_module.SERVICES_BY_NAME[name] = dataclasses.replace(
            config_module.SERVICES_BY_NAME[name], module="tests.echo_service")
    return saved


@contextmanager
def as_built(*names: str) -> Iterator[None]:
    saved = patch(*names)
    try:
        yield
    finally:
        config_module.SERVICES_BY_NAME.clear()
        config_module.SERVICES_BY_NAME.update(saved)


if __name__ == "__main__":
    # python -m tests.echo_service SERVICE[,SERVICE] polyport-args...
    patch(*sys.argv[1].split(","))
    from polyport.cli.main import main

    sys.argv = ["polyport", *sys.argv[2:]]
    main()
