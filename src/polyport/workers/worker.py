"""One worker process of a node with several (`python -m polyport.workers.worker`, started by the
supervisor): reads its `WorkerSpec` from standard input, then runs a whole node on the sockets and the
channel it inherited. Its log lines carry `worker=<index>`."""

from __future__ import annotations

import pickle
import socket
import sys

from polyport import log
from polyport.cli.common import run_async
from polyport.node import Node, StartupError, WorkerRole
from polyport.workers.channel import Channel
from polyport.workers.supervisor import WorkerSpec


async def _serve(spec: WorkerSpec) -> None:
    sockets = {key: [socket.socket(fileno=fd) for fd in fds] for key, fds in spec.sockets.items()}
    channel = await Channel.open(spec.channel)
    node = Node(spec.config, role=WorkerRole(spec.index, spec.workers, sockets, channel))
    try:
        await node.serve()
    finally:
        channel.close()


def main() -> int:
    spec = pickle.load(sys.stdin.buffer)  # noqa: S301  (from our supervisor, through a pipe only it holds)
    if not isinstance(spec, WorkerSpec):
        print("error: this program is started by a Polyport supervisor", file=sys.stderr)
        return 2
    sys.stdin.close()
    config = spec.config
    log.setup(config.log.level, config.log.format, worker=spec.index)
    try:
        run_async(_serve(spec))
    except StartupError as err:
        print(f"error: worker {spec.index}: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
