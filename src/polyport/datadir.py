"""The data folder: its layout, the lock that keeps a second node out, the status file of a running node.

    <data>/polyport.db       records (SQLite; unless [store] url names PostgreSQL)
    <data>/blobs/            message bodies and files (unless [blobs] path is set)
    <data>/tls/              the self-signed certificate made on first start
    <data>/node.lock         held (flock) by the running node
    <data>/node.json         the running node's pid and listeners, for `polyport services`
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

LOCK_FILE = "node.lock"
STATUS_FILE = "node.json"
TLS_DIR = "tls"
BLOBS_DIR = "blobs"
UPLOADS_DIR = "uploads"  # files clients uploaded to share (XMPP, XEP-0363; im/uploads.py)
ACME_DIR = "acme-challenge"  # an ACME client's HTTP-01 files, served by the web listeners
_ACME_TOKEN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")


class DataDirError(Exception):
    """The data folder cannot be used; the message names the cause and the fix."""


def prepare(path: Path) -> Path:
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o750)
    except OSError as err:
        raise DataDirError(f"cannot create the data folder {path}: {err.strerror}; "
                           f"choose another with --data") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise DataDirError(f"the data folder {path} is not writable by this user; "
                           f"fix its permissions or choose another with --data")
    return path


class NodeLock:
    """An exclusive lock on the data folder, held while a node runs (released by the kernel on exit)."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        handle = open(self.path, "a+")  # noqa: SIM115  (held open while the node runs)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DataDirError(f"the data folder {self.path.parent} is in use by another node "
                               f"(pid {holder}); stop that node first, or use another --data") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


@dataclass(frozen=True, slots=True)
class BoundListener:
    service: str
    transport: str
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class WorkerState:
    """One worker process of a node of several, as its supervisor last heard of it."""

    index: int
    pid: int
    restarts: int
    connections: dict[str, int]


@dataclass(frozen=True, slots=True)
class NodeStatus:
    pid: int
    started: float
    listeners: list[BoundListener]
    workers: list[WorkerState] = field(default_factory=list)  # empty: the node is one process


def write_status(data_dir: Path, listeners: list[BoundListener], workers: list[WorkerState] | None = None,
                 started: float | None = None) -> None:
    status = {"pid": os.getpid(), "started": time.time() if started is None else started,
              "listeners": [asdict(b) for b in listeners], "workers": [asdict(w) for w in workers or ()]}
    temp = data_dir / (STATUS_FILE + ".tmp")
    temp.write_text(json.dumps(status, indent=1))
    temp.replace(data_dir / STATUS_FILE)


def remove_status(data_dir: Path) -> None:
    (data_dir / STATUS_FILE).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_status(data_dir: Path) -> NodeStatus | None:
    """The running node's status, or None if no node runs on this data folder."""
    try:
        raw: dict[str, Any] = json.loads((data_dir / STATUS_FILE).read_text())
        status = NodeStatus(int(raw["pid"]), float(raw["started"]),
                            [BoundListener(**b) for b in raw["listeners"]],
                            [WorkerState(**w) for w in raw.get("workers", ())])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return status if _alive(status.pid) else None


def acme_challenge(folder: Path, token: str) -> bytes | None:
    """The file an ACME client left for `token` (RFC 8555 8.3), or None. A token is base64url: any other
    character (a dot, a slash) is refused before a path is made, so nothing outside the folder is read.
    A few dozen bytes: read on the caller's thread."""
    if not token or len(token) > 256 or not set(token) <= _ACME_TOKEN:
        return None
    try:
        return (folder / token).read_bytes()
    except OSError:
        return None
