"""One worker process of a node with several (`python -m polyport.workers.worker FD`, started by the
supervisor): imports the node and its protocols while the supervisor prepares, then reads its
`WorkerSpec` and sockets from the channel (descriptor FD) and runs a whole node on them. Its log lines
carry `worker=<index>`."""

from __future__ import annotations

import importlib
import pickle
import signal
import socket
import struct
import sys

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
    from polyport import log
    from polyport.cli.common import run_async
    from polyport.node import StartupError
    from polyport.workers.supervisor import WorkerSpec

    channel = socket.socket(fileno=int(sys.argv[1]))
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


if __name__ == "__main__":
    sys.exit(main())
