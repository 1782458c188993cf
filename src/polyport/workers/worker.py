"""One worker process of a node with several: reads its `WorkerSpec` and sockets from its channel to the
supervisor and runs a whole node on them. Its log lines carry `worker=<index>`.

The first workers of `polyport serve` are forked by the supervisor once it has imported the node and its
protocols, before its event loop or any thread exists (`fork_workers`): they start with every module in
place, sharing its pages until they write them. A worker started later (a restart) is a new program,
`python -m polyport.workers.worker FD`, which imports the modules itself while the supervisor hands over.
"""

from __future__ import annotations

import importlib
import os
import pickle
import signal
import socket
import struct
import sys
import threading
import traceback

MAX_SOCKETS = 512


def _preload() -> None:
    """Everything a node imports, before the spec arrives: the supervisor is busy meanwhile."""
    from polyport.service_table import SERVICES

    importlib.import_module("polyport.node")
    for spec in SERVICES:
        if spec.built and spec.module:
            importlib.import_module(spec.module)


def _receive(channel: socket.socket) -> tuple[object, list[int]]:
    from polyport.workers import wire

    data, descriptors, flags, _ = socket.recv_fds(channel, 65_536, MAX_SOCKETS)
    if flags & socket.MSG_CTRUNC:
        raise RuntimeError("more sockets than a worker takes")
    if len(data) < 4:
        data += channel.recv(4 - len(data), socket.MSG_WAITALL)
    if len(data) < 4:
        raise EOFError("the supervisor went away before handing over the spec")
    length = wire.spec_length(data[:4])
    body = bytearray(data[4:])
    while len(body) < length:
        more = channel.recv(length - len(body))
        if not more:
            raise EOFError("the supervisor went away before handing over the spec")
        body += more
    return pickle.loads(bytes(body[:length])), descriptors  # noqa: S301  (from our supervisor only)


def main() -> int:
    if len(sys.argv) != 2 or not sys.argv[1].isdigit():
        print("error: this program is started by a Polyport supervisor", file=sys.stderr)
        return 2
    # Until the node's own handlers are in place: a SIGHUP (a certificate reload) must not end a worker
    # that is still starting (its start reads the certificate anyway).
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    _preload()
    return run(int(sys.argv[1]))


def run(fd: int) -> int:
    """Read the spec from the channel (descriptor `fd`) and run the worker's node until it stops; the exit
    code. The modules are imported already (`_preload`, or the supervisor's before it forked this one)."""
    from polyport import log
    from polyport.cli.common import run_async
    from polyport.node import StartupError
    from polyport.workers.supervisor import WorkerSpec

    channel = socket.socket(fileno=fd)
    try:
        spec, descriptors = _receive(channel)
    except (OSError, EOFError, RuntimeError, ValueError, struct.error, pickle.UnpicklingError):
        return 1  # the supervisor failed before handing over (its error says why)
    if not isinstance(spec, WorkerSpec):
        return 2
    log.setup(spec.config.log.level, spec.config.log.format, worker=spec.index)
    try:
        run_async(_serve(spec, channel, descriptors))
    except StartupError as err:
        print(f"error: worker {spec.index}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


async def _serve(spec: object, channel: socket.socket, descriptors: list[int]) -> None:
    from polyport.node import Node, WorkerRole
    from polyport.workers.channel import Channel
    from polyport.workers.supervisor import WorkerSpec

    assert isinstance(spec, WorkerSpec)
    sockets = {key: [socket.socket(fileno=descriptors[i]) for i in positions]
               for key, positions in spec.sockets.items()}
    link = await Channel.open(channel.detach())
    node = Node(spec.config, role=WorkerRole(spec.index, spec.workers, sockets, link))
    try:
        await node.serve()
    finally:
        link.close()


def fork_workers(indexes: list[int]) -> dict[int, tuple[int, socket.socket]]:
    """Fork a worker process for each index, each waiting on its channel for the spec as `run` does: for
    each, its pid and the supervisor's end of its channel. Call it before any event loop or thread exists
    (nothing is forked, {}, where one does or a process cannot be awaited by a pidfd: the supervisor then
    starts workers as programs of their own)."""
    if threading.active_count() != 1 or not hasattr(os, "pidfd_open") or not hasattr(os, "fork"):
        return {}
    _preload()
    forked: dict[int, tuple[int, socket.socket]] = {}
    for index in indexes:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        sys.stdout.flush()  # what is buffered would be written twice
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the supervisor's code
            code = 1
            try:
                ours.close()
                for _, other in forked.values():
                    other.close()
                os.setsid()  # its own session: a terminal's Ctrl-C reaches the supervisor, which stops it
                signal.signal(signal.SIGHUP, signal.SIG_IGN)
                code = run(theirs.detach())
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        theirs.close()
        forked[index] = (pid, ours)
    return forked


if __name__ == "__main__":
    sys.exit(main())
