"""One Polyport node: opens the data folder and store, builds the services, starts every listener.

Start-up order: lock the data folder, open the store (migrating it if needed), make sure the main domain
and its postmaster exist, load TLS, then bind each enabled and built service's ports. Every failure on
the way is a `StartupError` with one line naming the cause and the fix. Stop: stop accepting, tell
sessions to finish, wait up to `shutdown_grace`, cut the rest, close the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import secrets
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from polyport import datadir, log, metrics
from polyport.auth.credcache import CredentialCache
from polyport.auth.login import Authenticator
from polyport.auth.passwords import Argon2Params, PasswordHasher, PasswordVault
from polyport.auth.throttle import Throttle
from polyport.auth.websessions import WebSessions
from polyport.bus import Bus, LocalBus, make_bus, topics
from polyport.bus.events import AccountChanged, DomainChanged, QueueDue, ServerChanged
from polyport.config import Config, ConfigError, ResolvedService, apply_store_overrides
from polyport.datadir import BoundListener, DataDirError, NodeLock
from polyport.delivery import Delivery
from polyport.directory import Directory, DirectoryError
from polyport.directory.errors import UnknownObject
from polyport.directory.records import SERVER_NETWORK, SERVER_SERVICES
from polyport.im import (
    Blocklists,
    MessageArchive,
    OfflineMessages,
    PrivateStorage,
    PushRegistrations,
    Rosters,
    Vcards,
)
from polyport.im.archive import ROOMS as ROOM_ARCHIVES
from polyport.im.pep import PepNodes
from polyport.im.rooms import RoomStore
from polyport.im.uploads import Uploads
from polyport.kernel.protocol import BackgroundTask, ProtocolModule, load
from polyport.mailauth import Checker
from polyport.mailstore import Mailstore
from polyport.net.http import HttpHandler, HttpListener
from polyport.net.listener import Limits, ListenError, StreamHandler, TcpListener, UnixListener
from polyport.net.resolver import Resolver
from polyport.net.tls import TlsError, TlsManager, make_self_signed
from polyport.net.trusted import TrustedNetworks
from polyport.net.udp import DatagramHandler, UdpListener
from polyport.queue import Queue, QueueLimits, RelayHost, SmtpSender
from polyport.queue.tlspolicy import MtaSts
from polyport.runtime import Runtime
from polyport.service_table import TlsMode, Transport
from polyport.store import LocalBlobStore, RecordStore, StoreError, open_records
from polyport.store.memory import KeyValueStore, MemoryKeyValueStore
from polyport.workers.channel import Channel, HubBus, HubCounts, HubKeyValueStore
from polyport.workers.view import LocalView, WorkersView

POSTMASTER = "postmaster"
POSTMASTER_PASSWORD_ENV = "POLYPORT_POSTMASTER_PASSWORD"  # noqa: S105  (a variable name)


class StartupError(Exception):
    """The node cannot start; one line saying why and what to do."""


def password_vault(config: Config) -> PasswordVault:
    try:
        return PasswordVault.from_file(config.secret_key_path)
    except (OSError, ValueError) as err:
        raise StartupError(f"cannot use the secret key {config.secret_key_path}: {err}; it must be 32 bytes "
                           f"readable by this user ([auth] secret_key_file)") from None


def password_hasher(config: Config) -> PasswordHasher:
    auth = config.auth
    return PasswordHasher(Argon2Params(auth.argon2_memory_kib, auth.argon2_time_cost, auth.argon2_parallelism),
                          threads=auth.hash_threads, scram_iterations=auth.scram_iterations)


async def open_store(config: Config) -> RecordStore:
    data_dir = datadir.prepare(config.data_dir)
    try:
        return await open_records(config.store.url, data_dir, pool_size=config.store.pool_size,
                                  sqlite_readers=config.store.sqlite_readers,
                                  busy_timeout=config.store.busy_timeout)
    except StoreError as err:
        raise StartupError(str(err)) from None


def blob_path(config: Config) -> Path:
    """The blob store's folder: [blobs] path, else blobs/ in the data folder."""
    return Path(config.blobs.path) if config.blobs.path else config.data_dir / datadir.BLOBS_DIR


@dataclass(frozen=True, slots=True)
class Initialized:
    main_domain: str
    created_domain: bool
    postmaster_password: str | None  # set when this call created the postmaster with a generated one


async def initialize(directory: Directory, main_domain: str) -> Initialized:
    """Make sure the store has its main domain and postmaster (idempotent; safe after a crash)."""
    created = await directory.initialize(main_domain)
    domain = await directory.main_domain()
    try:
        await directory.account(f"{POSTMASTER}@{domain}")
        return Initialized(domain, created, None)
    except UnknownObject:
        pass
    given = os.environ.get(POSTMASTER_PASSWORD_ENV)
    password = given or secrets.token_urlsafe(12)
    await directory.create_account(f"{POSTMASTER}@{domain}", password=password, rights=["Master"])
    return Initialized(domain, created, None if given else password)


Listener = TcpListener | UdpListener


async def _close_shared(bus: Bus, kv: KeyValueStore) -> None:
    await bus.close()
    await kv.close()


def _limits(service: ResolvedService, workers: int = 1) -> Limits:
    """A listener's limits; in a node of several workers each takes its share of `max_connections`
    (per address, the workers count together: HubCounts)."""
    settings = service.settings
    return Limits(-(-settings.max_connections // workers), settings.max_per_address, service.idle_timeout,
                  settings.max_line)


@dataclass(frozen=True, slots=True)
class WorkerRole:
    """What makes a node one worker of several (workers/): the supervisor holds the data folder's lock and
    the status file, bound the listening sockets (each listener's by `listener_key`), and links the
    workers' buses and key-value store through `channel`."""

    index: int
    workers: int  # how many the node has
    sockets: dict[str, list[socket.socket]]
    channel: Channel


SENDING_WORKER = 0  # the worker that runs the outbound queue's sender


def listener_key(service: str, transport: str, index: int = 0) -> str:
    """The name under which a supervisor hands a worker the sockets of one listener."""
    return f"{service}/{transport}/{index}"


class Node:
    def __init__(self, config: Config, *, out: TextIO | None = None, role: WorkerRole | None = None) -> None:
        self.config = config
        self.out = out  # where the generated postmaster password is shown, once
        self.role = role
        self.runtime: Runtime | None = None
        self.listeners: list[Listener] = []
        self._web: list[HttpHandler] = []  # the web services' applications, closed after their listeners
        self._tasks: list[tuple[BackgroundTask, asyncio.Task[None]]] = []  # the protocols' background work
        self._lock = NodeLock(config.data_dir)
        self._log = log.get()
        self._stopping = asyncio.Event()
        self._follower: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._queue_wakes: asyncio.Task[None] | None = None
        self._gap_tasks: set[asyncio.Task[None]] = set()
        self._started_at = time.monotonic()

    async def start(self) -> None:
        self._started_at = time.monotonic()
        config = self.config
        try:
            datadir.prepare(config.data_dir)
            if self.role is None:  # a worker's supervisor holds it
                self._lock.acquire()
        except DataDirError as err:
            raise StartupError(str(err)) from None
        try:
            await self._start_services()
            await self._start_listeners()
        except BaseException:
            await self.stop(grace=0)
            raise
        if self.role is None:
            datadir.write_status(config.data_dir, self.bound_listeners())
        self._follower = asyncio.get_running_loop().create_task(self._follow_changes())
        assert self.runtime is not None
        self._start_sender(self.runtime)
        if self.role is not None:
            channel = self.role.channel
            channel.on_ask = self._answer
            channel.closed.add_done_callback(lambda _: self.request_stop())  # the supervisor is gone
            channel.send(["ready"])
        self._log.info("node.ready", data=str(config.data_dir), listeners=len(self.listeners),
                       ms=round((time.monotonic() - self._started_at) * 1000))
        # Everything alive now (modules, configuration, services, listeners) lives as long as the node: move
        # it to the collector's permanent generation, so that its full collections, which walk every object
        # tracked and hold every session up meanwhile (0.1-0.9 s measured under load, issue 12), never walk
        # it again. Garbage it holds in cycles is never collected: there is little of it at start-up.
        gc.freeze()

    async def _start_services(self) -> None:
        config = self.config
        bus, kv = await self._open_shared()
        try:
            records = await open_store(config)
        except BaseException:
            await _close_shared(bus, kv)
            raise
        passwords = password_hasher(config)
        try:
            directory = Directory(records, passwords, bus, vault=password_vault(config))
            try:
                init = await initialize(directory, config.main_domain)
            except (DirectoryError, StoreError) as err:
                raise StartupError(f"cannot initialise the store: {err}") from None
            tls = self._load_tls(init.main_domain)
            await self._apply_store_overrides(directory)
        except BaseException:
            await records.close()
            passwords.close()
            await _close_shared(bus, kv)
            raise
        _announce(init, self.out)
        auth = config.auth
        blobs = LocalBlobStore(self._blob_path())
        mailstore = Mailstore(records, blobs, directory, bus, max_message_size=config.mail.max_message_size)
        hostname = config.mail.hostname or socket.gethostname()
        resolver = Resolver(config.dns.servers or None, timeout=config.dns.timeout)
        q = config.queue
        endpoint = q.relay_endpoint()
        relay = None if endpoint is None else RelayHost(endpoint[0], endpoint[1], q.relay_tls == "implicit",
                                                        q.relay_user, q.relay_password)
        cafile = q.ca_file or None
        sender = SmtpSender(resolver, hostname, port=q.remote_port, relay=relay, connect_timeout=q.connect_timeout,
                            mta_sts=MtaSts(resolver, port=q.mta_sts_port, cafile=cafile) if q.mta_sts else None,
                            dane=q.dane, cafile=cafile)
        queue = Queue(records, blobs, sender, hostname,
                      QueueLimits(q.min_backoff, q.max_backoff, q.lifetime, q.delay_warning, q.concurrency,
                                  q.per_destination), notices_to_unverified=q.notices_to_unverified)
        delivery = Delivery(directory, mailstore, hostname, queue)
        queue.notify = delivery.notice
        self.runtime = Runtime(
            config=config, records=records, blobs=blobs, bus=bus, kv=kv,
            passwords=passwords, directory=directory,
            auth=Authenticator(
                directory, passwords,
                CredentialCache(auth.credential_cache_seconds, auth.credential_cache_size),
                Throttle(kv, window=auth.failure_window, max_per_address=auth.max_failures_per_address,
                         max_per_account=auth.max_failures_per_account, lockout=auth.lockout_seconds)),
            tls=tls, trusted=TrustedNetworks.from_config(config.network.trusted),
            mailstore=mailstore, delivery=delivery, queue=queue, resolver=resolver,
            mailauth=Checker(resolver, hostname),
            websessions=WebSessions(records, directory, idle=config.web.session_idle,
                                    remember=config.web.session_remember),
            view=LocalView(self.connections) if self.role is None else WorkersView(self.role.channel),
            rosters=Rosters(records),
            offline=OfflineMessages(records),
            blocklists=Blocklists(records),
            vcards=Vcards(records),
            archive=MessageArchive(records, other_writers=self._workers > 1 or config.cluster.bus == "redis"),
            private=PrivateStorage(records),
            push=PushRegistrations(records),
            rooms=RoomStore(records),
            room_archive=MessageArchive(records, other_writers=self._workers > 1 or config.cluster.bus == "redis",
                                        kind=ROOM_ARCHIVES),
            pep=PepNodes(records),
            uploads=Uploads(records, config.data_dir / datadir.UPLOADS_DIR, days=config.xmpp.upload_days),
        )

    async def _open_shared(self) -> tuple[Bus, KeyValueStore]:
        """The bus, and the counters, locks and rate limits every worker and node must agree on: this
        process's own (one worker), the supervisor's (several), or a Redis server's (`[cluster] bus`)."""
        cluster = self.config.cluster
        if cluster.bus == "redis":
            # Imported here: redis-py costs 0.1 s of start-up that the embedded default does not pay.
            from redis.exceptions import RedisError

            from polyport.bus.redisbus import RedisBus
            from polyport.store.rediskv import RedisKeyValueStore, connect

            try:
                client = connect(cluster.redis_url)
            except ValueError as err:  # a port that is not a number, say; the URL is not echoed (a password)
                raise StartupError(f"[cluster] redis_url: {err}") from None
            bus = RedisBus(client, prefix=cluster.redis_prefix)
            try:
                await bus.start()
            except BaseException as err:
                await bus.close()
                await client.aclose()
                if isinstance(err, RedisError | OSError):  # the URL is not echoed: it may hold a password
                    raise StartupError(f"cannot reach the Redis server of [cluster] redis_url: {err}") from None
                raise
            bus.on_gap.append(self._after_bus_gap)
            return bus, RedisKeyValueStore(client, prefix=cluster.redis_prefix)
        if self.role is not None:
            return HubBus(self.role.channel), HubKeyValueStore(self.role.channel)
        try:
            return make_bus(self.config), MemoryKeyValueStore()
        except ConfigError as err:
            raise StartupError(str(err)) from None

    def _after_bus_gap(self) -> None:
        """The bus lost events from elsewhere: what the directory's would have changed is read again."""
        runtime = self.runtime
        if runtime is None:
            return
        runtime.websessions.forget_checks()
        runtime.queue.wake()  # a worker's QueueDue may have been lost
        task = asyncio.get_running_loop().create_task(self._reread_settings())
        self._gap_tasks.add(task)
        task.add_done_callback(self._gap_tasks.discard)

    async def _reread_settings(self) -> None:
        await self._apply_changed_settings(SERVER_NETWORK)
        await self._apply_changed_settings(SERVER_SERVICES)

    def _start_sender(self, runtime: Runtime) -> None:
        """The outbound queue's sender: in one worker of several (leases keep even two from sending a
        recipient twice, but each would open its own `concurrency` connections and lease ahead of the
        other); the others wake it over the bus when they queue mail."""
        loop = asyncio.get_running_loop()
        queue, bus = runtime.queue, runtime.bus
        if self.role is not None and self.role.index != SENDING_WORKER:
            publishing: set[asyncio.Task[None]] = set()

            def wake_sender() -> None:
                task = loop.create_task(bus.publish(QueueDue()))
                publishing.add(task)
                task.add_done_callback(publishing.discard)

            queue.wake_sender = wake_sender
            return
        self._sender = loop.create_task(queue.run())
        if self.role is not None:
            self._queue_wakes = loop.create_task(self._hear_queue_wakes(runtime))

    async def _hear_queue_wakes(self, runtime: Runtime) -> None:
        subscription = runtime.bus.subscribe(topics.QUEUE)
        try:
            async for _ in subscription:
                runtime.queue.wake()
        finally:
            subscription.close()

    async def _apply_store_overrides(self, directory: Directory) -> None:
        """Listener settings and trusted networks changed through the CLI/API win over the file."""
        services = await directory.server_dict(SERVER_SERVICES)
        network = await directory.server_dict(SERVER_NETWORK)
        try:
            apply_store_overrides(self.config, services, network.get("trusted"))
        except ValueError as err:
            raise StartupError(f"listener settings stored by the CLI/API are invalid: {err}; "
                               f"fix them with UPDATEMODULE") from None

    async def _follow_changes(self) -> None:
        """Apply listener limits and trusted-only changed through the CLI/API to the running listeners, and
        make web sessions be checked again after any change to accounts or domains."""
        runtime = self.runtime
        assert runtime is not None
        subscription = runtime.bus.subscribe(topics.DIRECTORY)
        try:
            async for event in subscription:
                if isinstance(event, AccountChanged | DomainChanged | ServerChanged):
                    # A password reset, a removed account, changed access modes: web sessions are read
                    # again at their next use instead of within WebSessions.FRESH_FOR.
                    runtime.websessions.forget_checks()
                if isinstance(event, ServerChanged) and event.dictionary in (SERVER_SERVICES, SERVER_NETWORK):
                    await self._apply_changed_settings(event.dictionary)
        finally:
            subscription.close()

    async def _apply_changed_settings(self, dictionary: str) -> None:
        """Listener settings (SERVER_SERVICES) or trusted networks (SERVER_NETWORK) changed in the store."""
        runtime = self.runtime
        assert runtime is not None
        try:
            await self._apply_store_overrides(runtime.directory)
        except StartupError as err:
            self._log.error("node.settings_rejected", error=str(err))
            return
        if dictionary == SERVER_NETWORK:
            # SETLANIPS in another worker (or the admin command): this worker's checks change too.
            runtime.trusted.replace(TrustedNetworks.from_config(self.config.network.trusted).networks)
            self._log.info("node.trusted_networks_applied")
            return
        for listener in self.listeners:
            service = self.config.service(listener.service)
            listener.trusted_only = service.trusted_only
            if isinstance(listener, TcpListener):
                listener.limits = _limits(service, self._workers)
        self._log.info("node.listener_settings_applied")

    def _blob_path(self) -> Path:
        return blob_path(self.config)

    def _load_tls(self, main_domain: str) -> TlsManager:
        tls = self.config.tls
        if tls.cert_file:
            cert, key = Path(tls.cert_file), Path(tls.key_file)
        else:
            folder = self.config.data_dir / datadir.TLS_DIR
            cert, key = folder / "cert.pem", folder / "key.pem"
            if not (cert.is_file() and key.is_file()):
                cert, key = make_self_signed(main_domain, folder)
                self._log.info("tls.self_signed", domain=main_domain, cert=str(cert))
        try:
            return TlsManager(cert, key, tls.min_version)
        except TlsError as err:
            raise StartupError(str(err)) from None

    async def _start_listeners(self) -> None:
        runtime = self.runtime
        assert runtime is not None
        for service in self.config.resolved_services():
            if not service.listening:
                continue
            assert service.spec.module is not None
            protocol = load(service.spec.module)
            for listener in await self._listeners_of(service, protocol):
                try:
                    await listener.start()
                except ListenError as err:
                    raise StartupError(str(err)) from None
                self.listeners.append(listener)
            loop = asyncio.get_running_loop()
            for make_task in protocol.tasks:
                task = make_task(runtime, service)
                self._tasks.append((task, loop.create_task(task.run())))

    async def _listeners_of(self, service: ResolvedService, protocol: ProtocolModule) -> list[Listener]:
        """The listeners of one service: each port on each of its transports, and its Unix socket."""
        runtime = self.runtime
        assert runtime is not None
        limits = _limits(service, self._workers)
        tls_context = runtime.tls.context if service.spec.tls is TlsMode.IMPLICIT else None
        host, trusted, trusted_only = service.bind, runtime.trusted, service.trusted_only
        listeners: list[Listener] = []
        stream: StreamHandler | None = None
        datagram: DatagramHandler | None = None
        if Transport.TCP in service.spec.transports:
            kind: type[TcpListener]
            handler: StreamHandler | HttpHandler
            if protocol.http is not None:
                kind, handler = HttpListener, protocol.http(runtime, service)
                await handler.start()
                self._web.append(handler)
            elif protocol.stream is not None:
                kind, handler = TcpListener, protocol.stream(runtime, service)
                stream = handler
            else:
                raise StartupError(f"{service.spec.module} serves no TCP, but [services.{service.name}] is tcp")
            tcp = [kind(service.name, handler, host=host, port=port, limits=limits,  # type: ignore[arg-type]
                        trusted=trusted, trusted_only=trusted_only, tls=tls_context,
                        sockets=self._sockets(listener_key(service.name, "tcp", i)))
                   for i, port in enumerate(service.ports)]
            if self.role is not None:  # per-address limits count every worker's connections
                for listener in tcp:
                    listener.shared = HubCounts(self.role.channel)
            listeners += tcp
        if Transport.UDP in service.spec.transports:
            if protocol.datagram is None:
                raise StartupError(f"{service.spec.module} serves no UDP, but [services.{service.name}] is udp")
            datagram = protocol.datagram(runtime, service)
            listeners += [UdpListener(service.name, datagram, host=host, port=port, trusted=trusted,
                                      trusted_only=trusted_only,
                                      sockets=self._sockets(listener_key(service.name, "udp", i)))
                          for i, port in enumerate(service.ports)]
        if service.settings.socket:
            if stream is None:
                raise StartupError(f"[services.{service.name}] socket: {service.name} is not a stream service")
            listeners.append(UnixListener(service.name, stream, path=service.settings.socket, limits=limits,
                                          sockets=self._sockets(listener_key(service.name, "unix"))))
        return listeners

    @property
    def _workers(self) -> int:
        return 1 if self.role is None else self.role.workers

    def _sockets(self, key: str) -> list[socket.socket]:
        """A worker's sockets for one listener, bound by its supervisor; none for a single node."""
        if self.role is None:
            return []
        try:
            return self.role.sockets[key]
        except KeyError:
            raise StartupError(f"the supervisor bound no sockets for {key}") from None

    def bound_listeners(self) -> list[BoundListener]:
        result = []
        for listener in self.listeners:
            transport = "unix" if isinstance(listener, UnixListener) else "tcp" if isinstance(
                listener, TcpListener) else "udp"
            for host, port in listener.bound:
                result.append(BoundListener(listener.service, transport, host, port))
        return result

    def reload_tls(self) -> None:
        if self.runtime is None:
            return
        try:
            self.runtime.tls.reload()
            self._log.info("tls.reloaded", cert=str(self.runtime.tls.cert_file))
        except TlsError as err:
            self._log.error("tls.reload_failed", error=str(err))

    async def stop(self, grace: float | None = None) -> None:
        grace = self.config.node.shutdown_grace if grace is None else grace
        for follower in (self._follower, self._queue_wakes):
            if follower is not None:
                follower.cancel()
        self._follower = self._queue_wakes = None
        if self._sender is not None and self.runtime is not None:
            await self.runtime.queue.stop(min(grace, 5.0))
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
            self._sender = None
        for listener in self.listeners:
            await listener.stop_accepting()
        # Sessions first, then the protocols' background work: what a session leaves behind as it ends
        # (XMPP's messages a client never acknowledged, kept offline) is the tasks' to finish.
        await asyncio.gather(*(listener.finish(grace) for listener in self.listeners))
        await asyncio.gather(*(task.stop(grace) for task, _ in self._tasks))
        for _, running in self._tasks:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await running
        self._tasks.clear()
        self.listeners.clear()
        for web in self._web:
            await web.close()
        self._web.clear()
        for task in self._gap_tasks:
            task.cancel()
        await asyncio.gather(*self._gap_tasks, return_exceptions=True)
        if self.runtime is not None:
            runtime, self.runtime = self.runtime, None
            await runtime.records.close()
            await runtime.bus.close()
            await runtime.kv.close()
            runtime.passwords.close()
        if self.role is None:
            datadir.remove_status(self.config.data_dir)
            self._lock.release()
        gc.unfreeze()  # what start() froze may now be garbage (tests start many nodes in one process)

    def request_stop(self) -> None:
        self._stopping.set()

    async def serve(self) -> None:
        """Start, run until SIGTERM or SIGINT, stop. SIGHUP re-reads the TLS certificate. A worker also
        stops when its supervisor is gone."""
        loop = asyncio.get_running_loop()
        # Heard from before the start: a signal while listeners open (the first ones already answer) is a
        # stop once the start is done, not a KeyboardInterrupt in the middle of it.
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        loop.add_signal_handler(signal.SIGHUP, self.reload_tls)
        started = False
        try:
            await self.start()
            started = True
            await self._stopping.wait()
            self._log.info("node.stopping", supervisor_gone=self.role is not None and self.role.channel.closed.done())
        finally:
            for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(signum)
            if started:
                await self.stop()
        self._log.info("node.stopped")

    def connections(self) -> dict[str, int]:
        """Open connections by service."""
        counts: dict[str, int] = {}
        for listener in self.listeners:
            if isinstance(listener, HttpListener):
                count = listener.connection_count
            elif isinstance(listener, TcpListener):
                count = len(listener.connections)
            else:
                continue
            counts[listener.service] = counts.get(listener.service, 0) + count
        return counts

    async def _answer(self, what: str) -> object:
        """A worker's answers to its supervisor's questions."""
        if what == "stats":
            return {"pid": os.getpid(), "connections": self.connections()}
        if what == "metrics":
            return metrics.exposition()
        if what == "log":  # every worker's together stay well within the channel's frame
            return list(log.RECENT)[-max(100, 4000 // self._workers):]
        raise ValueError(f"no question {what!r}")


async def prepare(config: Config, *, out: TextIO | None = None) -> None:
    """What a supervisor does once, before its workers start: migrate the store, make sure the main
    domain and postmaster exist (showing a generated password on `out`), make the self-signed
    certificate if there is none, and apply the listener settings the CLI/API stored to `config`."""
    node = Node(config, out=out)
    records = await open_store(config)
    passwords = password_hasher(config)
    try:
        directory = Directory(records, passwords, LocalBus(), vault=password_vault(config))
        try:
            init = await initialize(directory, config.main_domain)
        except (DirectoryError, StoreError) as err:
            raise StartupError(f"cannot initialise the store: {err}") from None
        node._load_tls(init.main_domain)
        await node._apply_store_overrides(directory)
    finally:
        await records.close()
        passwords.close()
    _announce(init, out)


def _announce(init: Initialized, out: TextIO | None) -> None:
    if init.created_domain:
        log.get().info("node.initialized", main_domain=init.main_domain)
    if init.postmaster_password is not None and out is not None:
        print(f"Created postmaster@{init.main_domain} with password: {init.postmaster_password}\n"
              f"(shown once; change it with `polyport account passwd postmaster@{init.main_domain}`)",
              file=out, flush=True)
