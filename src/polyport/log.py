"""Structured logging: one line an event, with the connection's id; never a secret.

Events are named `<area>.<what>` (`listener.started`, `auth.failed`) with key=value details. A session
binds its connection id once (`log.bind(conn=...)`) so every line it writes carries it. A processor
blanks any value whose key names a secret, as a last guard: code must not log secrets in the first place.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
import threading
from collections import deque
from collections.abc import MutableMapping
from typing import Any, TextIO

import structlog

_SECRET_WORDS = ("password", "secret", "passwd", "token", "credential")
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING,
           "error": logging.ERROR}


def _redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in event:
        if key != "event" and any(word in key.lower() for word in _SECRET_WORDS):
            event[key] = "[redacted]"
    return event


# The last lines written, for WebAdmin's log page (secrets are redacted before a line is made).
RECENT: deque[str] = deque(maxlen=1000)


def _remembered(renderer: Any) -> Any:
    def render(logger: Any, method: str, event: MutableMapping[str, Any]) -> Any:
        line = renderer(logger, method, event)
        RECENT.append(line if isinstance(line, str) else str(line))
        return line

    return render


def _worker(index: int) -> Any:
    def name(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
        event.setdefault("worker", index)
        return event

    return name


def setup(level: str = "info", fmt: str = "console", stream: TextIO | None = None, *,
          worker: int | None = None) -> None:
    """Configure logging; a worker process of a node names itself in every line (`worker=N`)."""
    renderer: Any = _remembered(structlog.processors.JSONRenderer() if fmt == "json"
                                else structlog.dev.ConsoleRenderer(colors=False, pad_event_to=0))
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            *([] if worker is None else [_worker(worker)]),
            _redact,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.WriteLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )


def get(**context: Any) -> Any:
    """A logger, with `context` bound to every line it writes."""
    return structlog.get_logger().bind(**context) if context else structlog.get_logger()


_counter = itertools.count(1)
_PREFIX = os.urandom(2).hex()


# Keys of what this process has logged once (a damaged blob, an unreadable message): bounded, so a flood of
# distinct keys forgets the oldest instead of growing; a key forgotten may be logged once more.
_ONCE: dict[object, None] = {}
_ONCE_MAX = 10_000
_once_lock = threading.Lock()  # blob reads run on worker threads too


def once(key: object) -> bool:
    """True the first time `key` is seen by this process: for events a client can repeat at will (a
    message that cannot be read, asked for every minute), which must not fill the log."""
    with _once_lock:
        if key in _ONCE:
            return False
        if len(_ONCE) >= _ONCE_MAX:
            del _ONCE[next(iter(_ONCE))]
        _ONCE[key] = None
        return True


def connection_id() -> str:
    """A short id, unique in this process's life (and unlikely to repeat across restarts)."""
    return f"{_PREFIX}{next(_counter):x}"
