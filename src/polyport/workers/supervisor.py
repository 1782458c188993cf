"""The supervisor of a node of several worker processes (`[node] workers`, issue 25).

It does once what must happen once: hold the data folder's lock, migrate and initialise the store, make
the self-signed certificate, bind every port (net/sockets.py: one SO_REUSEPORT socket per worker and
port, so the kernel spreads the connections), and write the status file. Then it starts the workers
(`python -m polyport.workers.worker`), each a whole node on its own event loop with the sockets the
supervisor bound for it, and stays their hub: the events each publishes reach every other worker's
bus, and the key-value store (login failures, lockouts, locks, rate limits) lives here, one for all.

A worker that exits unasked is restarted with the same sockets (the connections queued on them wait
for it), after a pause that grows while it keeps dying at start. SIGTERM and SIGINT stop the node: the
supervisor closes its copies of the sockets, passes the signal on, waits for the workers to drain
(`shutdown_grace`, then they are killed), and removes the status file. SIGHUP is passed on (each worker
re-reads its certificate). A worker whose supervisor is gone (killed with -9) stops by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import signal
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO, cast

from polyport import datadir, log
from polyport.config import Config
from polyport.datadir import BoundListener, DataDirError, NodeLock, WorkerState
from polyport.metrics import counters_of, merge
from polyport.net.listener import ListenError
from polyport.net.sockets import bind_group, bind_unix
from polyport.node import Node, StartupError, WorkerRole, listener_key, prepare
from polyport.service_table import Transport
from polyport.store.memory import MemoryKeyValueStore
from polyport.workers import wire
from polyport.workers.channel import Channel

KV_OPERATIONS = frozenset({"get", "set", "set_if_absent", "compare_and_set", "delete", "incr", "expire", "ttl",
                           "hit"})
START_TIMEOUT = 60.0  # for every worker to listen (a first start may build argon2 hashes, migrate...)
RESTART_PAUSE = (0.5, 30.0)  # the pause before a restart, doubling while a worker dies young
YOUNG = 10.0  # a worker that dies sooner after its start makes the next pause longer
ASK_TIMEOUT = 5.0
RETIRED = -1  # the key of exited workers' counters among the answers to a gather of "metrics"
STATUS_EVERY = 5.0  # seconds between refreshes of the status file's workers (`polyport services` shows them)


class WorkerProcess(Protocol):
    """A worker's process: asyncio's for one started as a program, ForkedProcess for one forked."""

    @property
    def pid(self) -> int: ...

    @property
    def returncode(self) -> int | None: ...

    async def wait(self) -> int: ...

    def send_signal(self, signum: int) -> None: ...

    def kill(self) -> None: ...


class ForkedProcess:
    """A worker forked before the event loop existed (workers/worker.py's fork_workers), awaited through a
    pidfd: asyncio's child watchers and uvloop's reap only the processes they started."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None
        self._exited: asyncio.Future[int] | None = None

    async def wait(self) -> int:
        if self.returncode is not None:
            return self.returncode
        if self._exited is None:
            loop = asyncio.get_running_loop()
            self._exited = loop.create_future()
            pidfd = os.pidfd_open(self.pid)
            loop.add_reader(pidfd, self._reap, loop, pidfd)
        return await asyncio.shield(self._exited)

    def _reap(self, loop: asyncio.AbstractEventLoop, pidfd: int) -> None:
        loop.remove_reader(pidfd)
        os.close(pidfd)
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        assert self._exited is not None
        if not self._exited.done():
            self._exited.set_result(self.returncode)

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@dataclass(slots=True)
class WorkerSpec:
    """What a worker process is handed first on its channel, pickled, with its sockets."""

    index: int
    workers: int
    config: Config
    sockets: dict[str, list[int]]  # listener_key -> positions among the descriptors sent with the spec


class Link(asyncio.Protocol):
    """The supervisor's end of one worker's channel."""

    def __init__(self, hub: Hub, index: int) -> None:
        self.hub = hub
        self.index = index
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._reader = wire.FrameReader()
        self._transport: asyncio.Transport | None = None
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._ids = 0
        self.entered: Counter[tuple[str, str]] = Counter()  # this worker's connections per address

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        self.hub.forget(self)
        for future in self._answers.values():
            if not future.done():
                future.set_result(None)
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        try:
            messages = self._reader.feed(data)
        except wire.FrameError as err:
            self.hub.log.error("supervisor.channel_broken", worker=self.index, error=str(err))  # noqa: TRY400
            self.close()
            return
        for message in messages:
            self.hub.received(self, message)

    def send(self, message: list[Any]) -> None:
        if self._transport is not None:
            self._transport.write(wire.encode(message))

    def send_frame(self, frame: bytes) -> None:
        if self._transport is not None:
            self._transport.write(frame)

    @property
    def open(self) -> bool:
        return self._transport is not None

    async def ask(self, what: str) -> Any:
        self._ids += 1
        ident = self._ids
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[ident] = future
        self.send(["ask", ident, what])
        try:
            return await asyncio.wait_for(future, ASK_TIMEOUT)
        except TimeoutError:
            return None
        finally:
            self._answers.pop(ident, None)

    def answered(self, ident: int, value: Any) -> None:
        future = self._answers.pop(ident, None)
        if future is not None and not future.done():
            future.set_result(value)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


class Hub:
    """Passes events between workers and keeps the key-value store they share."""

    def __init__(self) -> None:
        self.kv = MemoryKeyValueStore()
        self.links: dict[int, Link] = {}
        self.connections: Counter[tuple[str, str]] = Counter()  # (service, address) -> open, every worker's
        self.last_metrics: dict[int, bytes] = {}  # each worker's exposition at the last status refresh
        self.retired = b""  # the counters of workers that exited, summed
        self.log = log.get()

    def received(self, link: Link, message: list[Any]) -> None:
        name = message[0]
        if name == "pub" and len(message) == 2:
            frame = wire.encode(message)
            for other in self.links.values():
                if other is not link:
                    other.send_frame(frame)
        elif name == "kv" and len(message) == 4:
            asyncio.get_running_loop().create_task(self._kv(link, message[1], message[2], message[3]))
        elif name == "enter" and len(message) == 5:
            link.send(["r", message[1], None, self._enter(link, (str(message[2]), str(message[3])), message[4])])
        elif name == "leave" and len(message) == 3:
            self._leave(link, (str(message[1]), str(message[2])))
        elif name == "gather" and len(message) == 3:
            asyncio.get_running_loop().create_task(self._gather(link, message[1], message[2]))
        elif name == "ready":
            if not link.ready.done():
                link.ready.set_result(None)
        elif name == "answer" and len(message) == 3:
            link.answered(message[1], message[2])
        else:
            self.log.error("supervisor.unknown_message", worker=link.index, message=str(message[0])[:40])

    def _enter(self, link: Link, key: tuple[str, str], limit: object) -> bool:
        if not isinstance(limit, int) or self.connections[key] >= limit:
            return False
        self.connections[key] += 1
        link.entered[key] += 1
        return True

    def _leave(self, link: Link, key: tuple[str, str], count: int = 1) -> None:
        count = min(count, link.entered[key])
        if count <= 0:
            return
        link.entered[key] -= count
        if link.entered[key] <= 0:
            del link.entered[key]
        self.connections[key] -= count
        if self.connections[key] <= 0:
            del self.connections[key]

    def forget(self, link: Link) -> None:
        """A worker is gone: so are its connections."""
        for key, count in list(link.entered.items()):
            self._leave(link, key, count)

    async def ask(self, what: str) -> dict[int, Any]:
        """Each running worker's answer (None from one that did not answer in time); workers that are not
        ready, or gone, are not asked."""
        links = [link for link in self.links.values() if link.open and link.ready.done()]
        answers = await asyncio.gather(*(link.ask(what) for link in links))
        return {link.index: answer for link, answer in zip(links, answers, strict=True)}

    async def remember_metrics(self) -> None:
        """Each worker's counters now, kept so that what a worker counted outlives it (below)."""
        for index, exposition in (await self.ask("metrics")).items():
            if isinstance(exposition, bytes):
                self.last_metrics[index] = exposition

    def retire(self, index: int) -> None:
        """A worker exited: its last counters stay in the node's sums (a counter that fell when a worker
        restarted would read as a reset to Prometheus); its gauges go with it. What it counted after the
        last remember_metrics (5 s at most) is lost."""
        last = self.last_metrics.pop(index, None)
        if last is not None:
            self.retired = merge([self.retired, counters_of(last)]) if self.retired else counters_of(last)

    async def _gather(self, link: Link, ident: int, what: str) -> None:
        try:
            answers = await self.ask(str(what))
            if what == "metrics" and self.retired:
                answers[RETIRED] = self.retired
            link.send(["r", ident, None, answers])
        except Exception as err:  # a worker always gets an answer, or it would wait for ever
            self.log.exception("supervisor.gather_failed", worker=link.index, what=str(what)[:40])
            link.send(["r", ident, "RuntimeError", f"cannot gather {str(what)[:40]!r}: {type(err).__name__}"])

    async def _kv(self, link: Link, ident: int, op: str, args: list[Any]) -> None:
        # MemoryKeyValueStore's coroutines never wait, so answers keep the order of the requests.
        if op not in KV_OPERATIONS or not isinstance(args, list):
            link.send(["r", ident, "ValueError", f"no key-value operation {op!r}"])
            return
        try:
            value = await getattr(self.kv, op)(*args)
            link.send(["r", ident, None, value])
        except (TypeError, ValueError) as err:
            link.send(["r", ident, type(err).__name__, str(err)])
        except Exception as err:
            self.log.exception("supervisor.kv_failed", worker=link.index, op=op)
            link.send(["r", ident, "RuntimeError", f"{op}: {type(err).__name__}"])


@dataclass(slots=True)
class Worker:
    index: int
    process: WorkerProcess | None = None
    link: Link | None = None
    started: float = 0.0
    pause: float = RESTART_PAUSE[0]
    restarts: int = 0
    watcher: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    """`in_process`: worker 0 is a `Node` on this process's loop instead of a process of its own (the
    tests' nodes of several workers: they set up accounts through its runtime, shared with the others
    through the bus and the store as any worker's). It is not restarted."""

    def __init__(self, config: Config, workers: int, *, out: TextIO | None = None, in_process: bool = False,
                 forked: dict[int, tuple[int, socket.socket]] | None = None) -> None:
        self.config = config
        self.count = workers
        self.in_process = in_process
        self._forked = dict(forked or {})  # index -> (pid, channel) of workers forked already (fork_workers)
        self.local_node: Node | None = None
        self.worker_command = [sys.executable, "-m", "polyport.workers.worker"]  # its channel's descriptor follows
        self.out = out
        self.hub = Hub()
        self.workers = [Worker(i) for i in range(workers)]
        self.bound: list[BoundListener] = []
        self._sockets: dict[str, list[list[socket.socket]]] = {}  # listener_key -> per worker
        self._unix_paths: list[str] = []
        self._lock = NodeLock(config.data_dir)
        self._log = log.get(role="supervisor")
        self._stopping = False
        self._running = False  # start() has finished: a worker that dies is restarted
        self._watchers: set[asyncio.Task[None]] = set()
        self._stop_requested = asyncio.Event()
        self._started = time.time()
        self._status_task: asyncio.Task[None] | None = None

    # -- starting --

    async def start(self) -> None:
        started = time.monotonic()
        try:
            datadir.prepare(self.config.data_dir)
            self._lock.acquire()
        except DataDirError as err:
            for _, ours in self._forked.values():  # their workers see the channel close and exit
                ours.close()
            self._forked.clear()
            raise StartupError(str(err)) from None
        launched: dict[int, socket.socket] = {}
        try:
            # The worker processes start first: they import the node's modules (half a second) while this
            # one prepares the store and binds the ports, then wait for what they are handed.
            for w in self.workers:
                if self._here(w):
                    continue
                if w.index in self._forked:
                    pid, launched[w.index] = self._forked.pop(w.index)
                    w.process, w.started = ForkedProcess(pid), time.monotonic()
                else:
                    launched[w.index] = await self._launch(w)
            await prepare(self.config, out=self.out)
            self._bind()
            for worker in self.workers:
                if self._here(worker):
                    await self._start_local(worker)
                else:
                    await self._hand_over(worker, launched.pop(worker.index))
            await self._until_ready()
        except BaseException:
            for ours in launched.values():  # not handed over: their workers see the channel close and exit
                ours.close()
            await self.stop(grace=0)
            raise
        self._started = time.time()
        self._running = True
        await self.write_status()
        self._status_task = asyncio.get_running_loop().create_task(self._keep_status())
        self._log.info("node.ready", data=str(self.config.data_dir), workers=self.count,
                       listeners=len(self.bound), ms=round((time.monotonic() - started) * 1000))

    def _bind(self) -> None:
        for service in self.config.resolved_services():
            if not service.listening:
                continue
            kinds = [(Transport.TCP, socket.SOCK_STREAM), (Transport.UDP, socket.SOCK_DGRAM)]
            for transport, kind in kinds:
                if transport not in service.spec.transports:
                    continue
                name = "tcp" if kind == socket.SOCK_STREAM else "udp"
                host = service.bind if kind == socket.SOCK_STREAM else service.bind or "0.0.0.0"
                for i, port in enumerate(service.ports):
                    try:
                        groups = bind_group(service.name, host, port, kind, self.count)
                    except ListenError as err:
                        raise StartupError(str(err)) from None
                    self._sockets[listener_key(service.name, name, i)] = groups
                    for sock in groups[0]:
                        address = sock.getsockname()
                        self.bound.append(BoundListener(service.name, name, str(address[0]), int(address[1])))
            if service.settings.socket:
                try:
                    sock = bind_unix(service.name, service.settings.socket)
                except ListenError as err:
                    raise StartupError(str(err)) from None
                self._unix_paths.append(service.settings.socket)
                self._sockets[listener_key(service.name, "unix")] = [[sock]] * self.count
                self.bound.append(BoundListener(service.name, "unix", service.settings.socket, 0))

    async def _start_local(self, worker: Worker) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        loop = asyncio.get_running_loop()
        _, link = await loop.connect_accepted_socket(lambda: Link(self.hub, worker.index), ours)
        worker.link, worker.started = link, time.monotonic()
        self.hub.links[worker.index] = link
        # Copies: the node's listeners close theirs when it stops, the supervisor closes its own.
        sockets = {key: [s.dup() for s in groups[worker.index]] for key, groups in self._sockets.items()}
        channel = await Channel.open(theirs.detach())
        self.local_node = Node(self.config, role=WorkerRole(worker.index, self.count, sockets, channel))
        await self.local_node.start()

    def _here(self, worker: Worker) -> bool:
        return self.in_process and worker.index == 0

    async def _spawn(self, worker: Worker) -> None:
        """A worker process, started and handed its sockets (a restart)."""
        ours = await self._launch(worker)
        if self._stopping:  # stop() began meanwhile: it has closed the sockets this one would get
            ours.close()
            if worker.process is not None and worker.process.returncode is None:
                worker.process.kill()
                await worker.process.wait()
            return
        await self._hand_over(worker, ours)

    async def _launch(self, worker: Worker) -> socket.socket:
        """Start a worker's process, which waits for its spec on the channel; the supervisor's end of it."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            worker.process = await asyncio.create_subprocess_exec(
                *self.worker_command, str(theirs.fileno()), pass_fds=[theirs.fileno()],
                # Its own session: a terminal's Ctrl-C reaches the supervisor, which stops the workers in order.
                start_new_session=True)
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        worker.started = time.monotonic()
        return ours

    async def _hand_over(self, worker: Worker, ours: socket.socket) -> None:
        """Send a launched worker its spec and sockets (SCM_RIGHTS), then listen to it."""
        process = worker.process
        assert process is not None
        keys = list(self._sockets)
        descriptors = [s.fileno() for key in keys for s in self._sockets[key][worker.index]]
        positions: dict[str, list[int]] = {}
        for key in keys:
            count = len(self._sockets[key][worker.index])
            start = sum(len(v) for v in positions.values())
            positions[key] = list(range(start, start + count))
        spec = wire.spec_frame(pickle.dumps(WorkerSpec(worker.index, self.count, self.config, positions)))
        try:
            sent = socket.send_fds(ours, [spec], descriptors)
            ours.sendall(spec[sent:])
        except OSError as err:  # it died already: its watcher reports it
            self._log.error("worker.hand_over_failed", worker=worker.index, error=str(err))
        _, link = await asyncio.get_running_loop().connect_accepted_socket(
            lambda: Link(self.hub, worker.index), ours)
        worker.link = link
        self.hub.links[worker.index] = link
        worker.watcher = asyncio.get_running_loop().create_task(self._watch(worker, process, link))
        self._watchers.add(worker.watcher)
        worker.watcher.add_done_callback(self._watchers.discard)
        self._log.info("worker.started", worker=worker.index, pid=process.pid)

    async def _until_ready(self) -> None:
        """Wait until every worker listens; a worker that exits first (its channel closes) fails the start."""
        async def one(link: Link) -> None:
            await asyncio.wait([link.ready, link.closed], return_when=asyncio.FIRST_COMPLETED)

        links = [worker.link for worker in self.workers if worker.link is not None]
        await asyncio.wait([asyncio.ensure_future(one(link)) for link in links], timeout=START_TIMEOUT)
        for worker in self.workers:
            assert worker.link is not None
            if worker.link.ready.done():
                continue
            if worker.link.closed.done() and worker.process is not None:
                code = await worker.process.wait()
                raise StartupError(f"worker {worker.index} could not start (exit code {code}; its error "
                                   f"is above)")
            raise StartupError(f"worker {worker.index} did not start within {START_TIMEOUT:.0f} s")

    # -- running --

    async def _watch(self, worker: Worker, process: WorkerProcess, link: Link) -> None:
        """Restart the worker when its process ends unasked, with a pause that doubles while it keeps dying
        young (before it was ready, too); during start() a worker that dies fails the start instead."""
        code = await process.wait()
        link.close()
        self.hub.retire(worker.index)
        if self.hub.links.get(worker.index) is link:
            del self.hub.links[worker.index]
        if self._stopping or not self._running:
            return
        lived = time.monotonic() - worker.started
        worker.pause = min(worker.pause * 2, RESTART_PAUSE[1]) if lived < YOUNG else RESTART_PAUSE[0]
        self._log.error("worker.exited", worker=worker.index, pid=process.pid, code=code, lived=round(lived, 1),
                        ready=link.ready.done(), restart_in=worker.pause)
        while not self._stopping:
            await asyncio.sleep(worker.pause)
            if self._stopping:
                return
            worker.restarts += 1
            try:
                await self._spawn(worker)
            except OSError as err:
                worker.pause = min(worker.pause * 2, RESTART_PAUSE[1])
                self._log.error("worker.restart_failed", worker=worker.index, error=str(err),
                                restart_in=worker.pause)
                continue
            break
        new_link, new_process = worker.link, worker.process
        if self._stopping or new_link is None or new_process is None:
            return
        await asyncio.wait([new_link.ready, new_link.closed], timeout=START_TIMEOUT,
                           return_when=asyncio.FIRST_COMPLETED)
        if new_link.ready.done():
            await self.write_status()
        elif not new_link.closed.done() and new_process.returncode is None:
            # Hung at start: killed, and its own watcher starts another (one that died: the same).
            self._log.error("worker.start_timeout", worker=worker.index, seconds=START_TIMEOUT)
            with contextlib.suppress(ProcessLookupError):
                new_process.kill()

    async def ask(self, what: str) -> dict[int, Any]:
        """Each running worker's answer (None from one that did not answer in time)."""
        return await self.hub.ask(what)

    async def write_status(self) -> None:
        """The status file: the listeners, and each worker with its connections now."""
        stats = await self.hub.ask("stats")
        workers = []
        for worker in self.workers:
            answer = stats.get(worker.index) or {}
            pid = worker.process.pid if worker.process is not None else os.getpid()  # in_process: here
            workers.append(WorkerState(worker.index, pid, worker.restarts,
                                       dict(answer.get("connections", {})) if isinstance(answer, dict) else {}))
        if not self._stopping:
            datadir.write_status(self.config.data_dir, self.bound, workers, started=self._started)

    async def _keep_status(self) -> None:
        while True:
            await asyncio.sleep(STATUS_EVERY)
            try:
                await self.write_status()
            except OSError as err:
                self._log.error("supervisor.status_failed", error=str(err))
            await self.hub.remember_metrics()

    def request_stop(self) -> None:
        self._stop_requested.set()

    def reload(self) -> None:
        self._signal_all(signal.SIGHUP)
        if self.local_node is not None:
            self.local_node.reload_tls()

    def _signal_all(self, signum: int) -> None:
        for worker in self.workers:
            if worker.process is not None and worker.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    worker.process.send_signal(signum)

    # -- stopping --

    async def stop(self, grace: float | None = None) -> None:
        grace = self.config.node.shutdown_grace if grace is None else grace
        self._stopping = True
        if self._status_task is not None:
            self._status_task.cancel()
        self._close_sockets()  # the kernel now queues new connections only where a worker still accepts
        self._signal_all(signal.SIGTERM)
        processes = [w.process for w in self.workers if w.process is not None and w.process.returncode is None]
        local = [asyncio.ensure_future(self.local_node.stop(grace))] if self.local_node is not None else []
        if processes:
            _, pending = await asyncio.wait([asyncio.ensure_future(p.wait()) for p in processes],
                                            timeout=grace + 5.0)
            if pending:
                self._signal_all(signal.SIGKILL)
                await asyncio.wait(pending, timeout=5.0)
        if local:
            await asyncio.gather(*local, return_exceptions=True)
            self.local_node = None
        watchers = list(self._watchers)
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for worker in self.workers:
            if worker.link is not None:
                worker.link.close()
        for worker in self.workers:  # one a restart started while stop() ran, say
            process = worker.process
            if process is not None and process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(process.wait(), 5.0)
        for path in self._unix_paths:
            with contextlib.suppress(OSError):
                os.unlink(path)  # noqa: PTH108
        await self.hub.kv.close()
        datadir.remove_status(self.config.data_dir)
        self._lock.release()

    def _close_sockets(self) -> None:
        for groups in self._sockets.values():
            for sockets in groups:
                for sock in sockets:
                    sock.close()
        self._sockets.clear()

    async def serve(self) -> None:
        """Start, run until SIGTERM or SIGINT, stop. SIGHUP reaches every worker."""
        loop = asyncio.get_running_loop()
        # Heard from before the start, as Node.serve does: a signal during it stops the node once started.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload)
        started = False
        try:
            await self.start()
            started = True
            await self._stop_requested.wait()
            self._log.info("node.stopping")
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            if started:
                await self.stop()
        self._log.info("node.stopped")
