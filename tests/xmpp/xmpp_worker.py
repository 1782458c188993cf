"""A worker process that serves XMPP (not in the service table until issue 16 is done): the table patched as
tests/xmpp/conftest.py patches it in the test's own process, then polyport.workers.worker's main.

    python -m tests.xmpp.xmpp_worker FD
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from polyport import service_table


def patch() -> None:
    for name in ("xmpp", "xmpps"):
        service_table.SERVICES_BY_NAME[name] = dataclasses.replace(service_table.SERVICES_BY_NAME[name],
                                                                   module="polyport.xmpp")


@contextmanager
def xmpp_served() -> Iterator[None]:
    """The service table naming the XMPP package while the block runs, in this process."""
    saved = dict(service_table.SERVICES_BY_NAME)
    patch()
    try:
        yield
    finally:
        service_table.SERVICES_BY_NAME.clear()
        service_table.SERVICES_BY_NAME.update(saved)


if __name__ == "__main__":
    patch()
    from polyport.workers.worker import main

    sys.exit(main())
