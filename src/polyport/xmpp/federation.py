"""Federation's outgoing side (RFC 6120 with XEP-0220): stanzas from this server's domains to other servers,
over one stream per pair of domains, and the dialback questions this server asks other servers.

Each worker's router has a `Federation` when the `xmpp-s2s` service is on. A stanza for a domain that is
not served here goes to the `Link` of its (local domain, remote domain) pair, which queues it while it
connects: the remote domain's servers from its `_xmpp-server._tcp` SRV records (RFC 6120 3.2.1, through the
node's resolver), else the domain itself on 5269; STARTTLS always (the remote certificate checked, and the
link kept, with dialback, when it is not valid for the domain, as Prosody and ejabberd do by default);
then dialback: our key, which the remote server checks by asking our domain's server (any worker or node
of ours answers, the key being an HMAC under a secret they share). A link that cannot be made bounces what
waited with `remote-server-not-found` or `remote-server-timeout` and, for a while that doubles with each
failure (RETRY_FIRST up to RETRY_MAX), bounces at once what comes for that domain. A link unused for
IDLE_CLOSE seconds is closed.

Streams from other servers arrive on the `xmpp-s2s` listener (xmpp/s2s.py); their dialback keys are
checked here (`verify`), on a connection of its own to the domain's server.

Whether a domain is this server's: the directory's domains and their aliases, and the chat and upload
services under them; learnt as asked, and kept until the directory changes (a domain met in a synchronous
path before it was ever asked about is sent to its link, which asks first and hands it back if it is ours).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ipaddress
import random
import secrets
import ssl
import time
import weakref
from collections import OrderedDict, deque
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

from polyport import log, metrics
from polyport.directory.errors import DirectoryError
from polyport.net.connection import Connection, ConnectionClosed, IdleTimeout
from polyport.net.connection import connect as dial
from polyport.net.framing import FrameError, FrameTooLarge
from polyport.net.framing.xmlstream import STREAMS_NS, Stanza, StreamOpen, XmlFrame, XmlStreamFramer
from polyport.net.resolver import DnsError, DnsNotFound, DnsTemporary
from polyport.runtime import Runtime
from polyport.xmpp import dialback, wire
from polyport.xmpp.jid import Jid, JidError

if TYPE_CHECKING:
    from polyport.xmpp.router import Router

SERVICE = "xmpp-s2s"
DEFAULT_PORT = 5269
CONNECT_TIMEOUT = 10.0  # one address
NEGOTIATE_TIMEOUT = 30.0  # the whole of connecting, TLS and dialback
VERIFY_TIMEOUT = 30.0
IDLE_CLOSE = 600.0
RETRY_FIRST = 5.0
RETRY_MAX = 900.0
MAX_QUEUED = 1000  # stanzas waiting for one link
MAX_UNSENT = 1024 * 1024  # bytes written to a link the remote has not read yet, at most
MAX_VERIFYING = 64  # dialback checks under way at once, in a worker
MAX_DOMAINS_KNOWN = 10_000
MAX_LINKS = 2_000  # links to other servers a worker keeps at once (each a connection, or its back-off)
SECRET_KEY = "xmpp:dialback-secret"  # noqa: S105 (the key-value store's key, not a secret)
STREAM = "{" + STREAMS_NS + "}"
TLS = "{" + wire.TLS_NS + "}"
SASL = "{" + wire.SASL_NS + "}"
C = "{" + wire.CLIENT_NS + "}"


class S2sFailure(Exception):
    """A link could not be made: the stanza error what waited for it is bounced with."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition
        self.text = text


def enabled(runtime: Runtime) -> bool:
    return runtime.config.service(SERVICE).enabled


async def targets(runtime: Runtime, domain: str) -> list[tuple[str, int]]:
    """Where a domain's XMPP server is (RFC 6120 3.2): its SRV records by priority, and by weight within one
    (RFC 2782, randomly as the weights say); the domain itself on 5269 when it has none."""
    try:
        answer = await runtime.resolver.query(f"_xmpp-server._tcp.{domain}", "SRV")
    except DnsNotFound:
        return [(domain, DEFAULT_PORT)]
    except DnsTemporary as err:
        raise S2sFailure("remote-server-timeout", f"DNS: {err}") from None
    records = list(answer.records)
    if len(records) == 1 and str(records[0].target) == ".":
        raise S2sFailure("remote-server-not-found", f"{domain} has no XMPP service (its SRV record is '.')")
    ordered: list[tuple[str, int]] = []
    for priority in sorted({r.priority for r in records}):
        group = [r for r in records if r.priority == priority]
        while group:
            weights = [r.weight + 1 for r in group]  # +1: weight 0 may still be picked (RFC 2782)
            chosen = random.choices(group, weights)[0]
            group.remove(chosen)
            ordered.append((str(chosen.target).rstrip("."), int(chosen.port)))
    return ordered


def certificate_names(certificate: dict[str, Any] | None) -> list[str]:
    """The DNS names a checked certificate is for (its subjectAltName; RFC 6125 ignores the common name
    when there is one)."""
    if not certificate:
        return []
    return [str(value).lower() for kind, value in certificate.get("subjectAltName", ()) if kind == "DNS"]


def certificate_matches(domain: str, names: list[str]) -> bool:
    """RFC 6125 6.4: a name equal to the domain, or a wildcard standing for its leftmost label only."""
    domain = domain.lower().rstrip(".")
    for name in names:
        if name == domain:
            return True
        if name.startswith("*.") and "." in domain and domain.partition(".")[2] == name[2:]:
            return True
    return False


class OutgoingStream:
    """A stream this server opened to another, on the node's Connection (the same framer, limits and idle
    timer as the listeners' streams)."""

    def __init__(self, runtime: Runtime, conn: Connection, local: str, remote: str) -> None:
        self.runtime = runtime
        self.conn = conn
        self.local = local
        self.remote = remote
        self.framer = XmlStreamFramer()
        self.stream_id = ""
        self.dialback_declared = False
        self.verified = False  # the remote certificate is valid for the remote domain
        self.authenticated_by = ""  # how the remote accepted us: "certificate" (XEP-0178) or "dialback"

    async def frame(self) -> XmlFrame:
        """The next frame; IdleTimeout passes (the caller decides whether silence ends the stream)."""
        try:
            return await self.conn.read_frame(self.framer)
        except (FrameError, FrameTooLarge) as err:
            raise S2sFailure("remote-server-not-found", f"the remote server's XML: {err}") from None
        except ConnectionClosed:
            raise S2sFailure("remote-server-not-found", "the remote server closed the connection") from None

    async def element(self) -> ET.Element[str]:
        frame = await self.frame()
        if not isinstance(frame, Stanza):
            raise S2sFailure("remote-server-not-found", "the remote server ended the stream")
        if frame.element.tag == STREAM + "error":
            condition = wire.error_condition(frame.element, wire.STREAM_ERRORS_NS) or "undefined-condition"
            raise S2sFailure("remote-server-not-found", f"the remote server's stream error: {condition}")
        return frame.element

    async def open(self) -> ET.Element[str]:
        """Our stream header, then the remote's and its features."""
        self.conn.write(wire.stream_header(domain=self.local, stream_id="", to=self.remote, content_ns=wire.SERVER_NS))
        frame = await self.frame()
        if not isinstance(frame, StreamOpen) or frame.namespaces.get("") != wire.SERVER_NS:
            raise S2sFailure("remote-server-not-found", "the remote server did not open a server stream")
        self.stream_id = frame.attributes.get("id", "")
        self.dialback_declared = frame.namespaces.get("db") == dialback.NS
        features = await self.element()
        if features.tag != STREAM + "features":
            raise S2sFailure("remote-server-not-found", "the remote server sent no stream features")
        return features

    async def starttls(self, features: ET.Element[str], *, verify: bool) -> ET.Element[str]:
        """STARTTLS (always: a server that offers none is refused), then the new stream's features.
        ssl.SSLCertVerificationError when `verify` and the certificate is not valid for the domain."""
        if features.find(TLS + "starttls") is None:
            raise S2sFailure("remote-server-not-found", "the remote server offers no TLS")
        self.conn.write(b"<starttls xmlns='" + wire.TLS_NS.encode() + b"'/>")
        if (await self.element()).tag != TLS + "proceed":
            raise S2sFailure("remote-server-not-found", "the remote server refused STARTTLS")
        self.framer.reset()
        context = self.runtime.tls.client_context(verify=verify, cafile=self.runtime.config.xmpp.s2s_ca_file)
        try:
            await self.conn.start_tls(context, server_side=False, server_hostname=self.remote)
        except ConnectionClosed as err:
            if isinstance(err.__cause__, ssl.SSLCertVerificationError):
                raise err.__cause__ from None
            raise S2sFailure("remote-server-not-found", f"{self.remote}: {err}") from None
        self.verified = verify
        return await self.open()

    def write(self, stanza: ET.Element[str]) -> None:
        self.conn.write(wire.serialize(stanza))

    def close(self) -> None:
        self.conn.write(wire.STREAM_END)
        self.conn.close()


async def connect(runtime: Runtime, local: str, remote: str) -> OutgoingStream:
    """A TCP connection to the remote domain's server (each address of each target in turn)."""
    last = S2sFailure("remote-server-not-found", f"no server of {remote} could be reached")
    for host, port in await targets(runtime, remote):
        try:
            addresses = await runtime.resolver.addresses(host)
        except DnsTemporary as err:
            last = S2sFailure("remote-server-timeout", f"DNS: {err}")
            continue
        except DnsError as err:
            last = S2sFailure("remote-server-not-found", f"DNS: {err}")
            continue
        for address in addresses:
            if not runtime.config.xmpp.s2s_private_addresses and not ipaddress.ip_address(address).is_global:
                # The DNS is anyone's: a domain's records must not aim our connections at this host's or
                # this network's own services.
                last = S2sFailure("remote-server-not-found", f"{host} is at {address}, not a public address")
                continue
            try:
                conn = await dial(address, port, connect_timeout=CONNECT_TIMEOUT, idle_timeout=IDLE_CLOSE)
            except TimeoutError:
                last = S2sFailure("remote-server-timeout", f"{address} port {port} did not answer")
                continue
            except OSError as err:
                last = S2sFailure("remote-server-not-found", f"{address} port {port}: {err.strerror or err}")
                continue
            return OutgoingStream(runtime, conn, local, remote)
    raise last


async def negotiate(runtime: Runtime, local: str, remote: str, secret: bytes) -> OutgoingStream:
    """A stream from `local` to `remote` that the remote server accepts stanzas on: TLS, then dialback."""
    secure = runtime.config.xmpp.s2s_secure
    stream = await connect(runtime, local, remote)
    try:
        try:
            features = await stream.starttls(await stream.open(), verify=True)
        except ssl.SSLCertVerificationError as err:  # not valid for the domain: again, unchecked, and dialback
            stream.conn.abort()
            if secure:
                raise S2sFailure("remote-server-not-found", f"{remote}'s certificate: {err.verify_message}") from None
            stream = await connect(runtime, local, remote)
            features = await stream.starttls(await stream.open(), verify=False)
        mechanisms = [m.text for m in features.iterfind(f"{SASL}mechanisms/{SASL}mechanism")]
        if "EXTERNAL" in mechanisms:  # the remote takes our certificate for our domain (XEP-0178)
            stream.conn.write(f"<auth xmlns='{wire.SASL_NS}' mechanism='EXTERNAL'>"
                              f"{base64.b64encode(local.encode()).decode()}</auth>".encode())
            if (await stream.element()).tag == SASL + "success":
                stream.framer.reset()
                await stream.open()
                stream.authenticated_by = "certificate"
                return stream
        if secure:
            raise S2sFailure("remote-server-not-found", f"{remote} did not take our certificate (XEP-0178)")
        if features.find("{" + dialback.FEATURE_NS + "}dialback") is None and not stream.dialback_declared:
            raise S2sFailure("remote-server-not-found", "the remote server offers no way to authenticate (dialback)")
        stream.conn.write(dialback.element("result", local, remote,
                                           key=dialback.key(secret, remote, local, stream.stream_id)))
        while (answer := await stream.element()).tag != dialback.DB + "result":
            continue
        if answer.get("type") != "valid":
            raise S2sFailure("remote-server-not-found", f"{remote} did not accept this server for {local}")
        stream.authenticated_by = "dialback"
    except BaseException:
        stream.conn.abort()
        raise
    return stream


class Link:
    """The stream from one of our domains to one remote domain, and what waits for it."""

    def __init__(self, federation: Federation, local: str, remote: str) -> None:
        self.federation = federation
        self.local = local
        self.remote = remote
        self.queue: deque[ET.Element[str]] = deque()
        self.stream: OutgoingStream | None = None  # once the remote accepts stanzas on it
        self.task: asyncio.Task[None] | None = None
        self.failures = 0
        self.retry_at = 0.0  # bounce at once until then (monotonic)
        self.last_failure: S2sFailure | None = None
        self.used = time.monotonic()
        self.sent = 0

    @property
    def state(self) -> str:
        if self.stream is not None:
            return "ready"
        if self.task is not None:
            return "connecting"
        return "waiting" if self.retry_at > time.monotonic() else "idle"

    def send(self, stanza: ET.Element[str]) -> None:
        self.used = time.monotonic()
        stream = self.stream
        if stream is not None:
            if stream.conn.unsent() > MAX_UNSENT:  # it stopped reading: the link goes, the next one starts anew
                self.federation.bounce(stanza, S2sFailure("remote-server-timeout", f"{self.remote} is not reading"))
                stream.conn.abort()
                return
            stream.write(stanza)
            self.sent += 1
            metrics.xmpp_s2s_stanzas.labels("out").inc()
            return
        if self.task is None and self.retry_at > self.used and self.last_failure is not None:
            self.federation.bounce(stanza, self.last_failure)
            return
        if len(self.queue) >= MAX_QUEUED:
            self.federation.bounce(stanza, S2sFailure("resource-constraint", f"too much waits for {self.remote}"))
            return
        self.queue.append(stanza)
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(self.run())

    def _bounce_queue(self, failure: S2sFailure) -> None:
        queued, self.queue = self.queue, deque()
        for stanza in queued:
            self.federation.bounce(stanza, failure)

    async def run(self) -> None:
        federation = self.federation
        log_ = federation.log.bind(local=self.local, remote=self.remote)
        try:
            if await federation.is_local(self.remote):  # ours after all: back to the router
                queued, self.queue = self.queue, deque()
                for stanza in queued:
                    federation.router.deliver_local(stanza)
                return
            if not await federation.is_local(self.local):  # never as another server's domain
                self.queue.clear()
                return
            secret = await federation.secret()
            try:
                stream = await asyncio.wait_for(negotiate(federation.runtime, self.local, self.remote, secret),
                                                NEGOTIATE_TIMEOUT)
            except TimeoutError:
                raise S2sFailure("remote-server-timeout", f"{self.remote} took too long to accept a stream") from None
            except (OSError, ssl.SSLError, UnicodeError) as err:
                raise S2sFailure("remote-server-not-found", f"{self.remote}: {err}") from None
            log_.info("xmpp.s2s_out_ready", verified=stream.verified, authenticated_by=stream.authenticated_by)
            self.failures, self.last_failure, self.retry_at = 0, None, 0.0
            self.stream = stream
            metrics.xmpp_s2s_links.labels("out").inc()
            try:
                queued, self.queue = self.queue, deque()
                for stanza in queued:
                    self.send(stanza)
                await self.hold(stream)
            finally:
                self.stream = None
                metrics.xmpp_s2s_links.labels("out").dec()
                stream.close()
                log_.info("xmpp.s2s_out_closed")
        except asyncio.CancelledError:  # the node is stopping: nothing more goes out, nothing starts again
            self.queue.clear()
            raise
        except S2sFailure as err:
            self.failures += 1
            self.last_failure = err
            self.retry_at = time.monotonic() + min(RETRY_FIRST * 2 ** (self.failures - 1), RETRY_MAX)
            log_.info("xmpp.s2s_out_failed", condition=err.condition, reason=err.text, failures=self.failures)
            self._bounce_queue(err)
        except Exception:
            log_.exception("xmpp.s2s_out_crashed")
            self._bounce_queue(S2sFailure("internal-server-error", "the link failed"))
        finally:
            self.task = None
            if self.queue and not federation.closing:  # came while it closed: a new stream for it
                self.task = asyncio.get_running_loop().create_task(self.run())
            elif self.retry_at <= time.monotonic():
                federation.forget(self)  # nothing to remember: no failure to wait out

    async def hold(self, stream: OutgoingStream) -> None:
        """Keep the stream until the remote ends it or it is unused for IDLE_CLOSE seconds. Servers' streams
        go one way (RFC 6120 4.1): what the remote sends here is dropped."""
        while True:
            try:
                await stream.element()
            except IdleTimeout:  # the remote is quiet (it sends nothing on our stream): are we?
                if time.monotonic() - self.used >= IDLE_CLOSE:
                    return
            except (S2sFailure, OSError, ssl.SSLError):
                return


class Federation:
    """A worker's outgoing links, its dialback checks, and what it knows of which domains are its own."""

    def __init__(self, router: Router, runtime: Runtime) -> None:
        self.router = router
        self.runtime = runtime
        self.links: dict[tuple[str, str], Link] = {}
        # Which domains are ours: those found ours are kept (until the directory changes); others, the most
        # recent MAX_DOMAINS_KNOWN (names come from anyone: stream headers, what users write to).
        self._ours: set[str] = set()
        self._others: OrderedDict[str, None] = OrderedDict()
        self.closing = False
        self._secret: bytes | None = None
        self._verifying = asyncio.Semaphore(MAX_VERIFYING)
        self.incoming: weakref.WeakSet[Any] = weakref.WeakSet()  # streams from other servers (s2s.py's sessions)
        self.log = log.get(service=SERVICE)

    # -- which domains are ours --

    async def is_local(self, domain: str) -> bool:
        if domain in self._ours:
            return True
        if domain in self._others:
            self._others.move_to_end(domain)
            return False
        if await self._served(domain):
            self._ours.add(domain)
            return True
        self._others[domain] = None
        if len(self._others) > MAX_DOMAINS_KNOWN:
            self._others.popitem(last=False)
        return False

    async def _served(self, domain: str) -> bool:
        label, _, parent = domain.partition(".")
        for name in (domain, parent if label in self.subdomain_labels() else ""):
            if name:
                with contextlib.suppress(DirectoryError):
                    await self.runtime.directory.domain(name)
                    return True
        return False

    def subdomain_labels(self) -> set[str]:
        from polyport.xmpp import upload

        labels = {upload.LABEL} if self.runtime.config.xmpp.upload_max_size > 0 else set()
        if self.runtime.config.xmpp.rooms:
            labels.add(self.runtime.config.xmpp.rooms)
        return labels

    def maybe_remote(self, domain: str) -> bool:
        """Without waiting: False for a domain known to be ours (one never asked about may be)."""
        return domain not in self._ours

    def known_remote(self, domain: str) -> bool:
        """Without waiting: True for a domain found to be another server's (whose stanzas came to us)."""
        return domain in self._others

    def forget_domains(self) -> None:
        self._ours.clear()
        self._others.clear()

    # -- dialback --

    async def secret(self) -> bytes:
        """The secret every worker and node of ours signs dialback keys with (kept in the shared store)."""
        if self._secret is None:
            kv = self.runtime.kv
            await kv.set_if_absent(SECRET_KEY, secrets.token_hex(32))
            value = await kv.get(SECRET_KEY)
            if value is None:
                raise S2sFailure("internal-server-error", "no dialback secret")
            self._secret = value.encode()
        return self._secret

    async def verify(self, originating: str, receiving: str, stream_id: str, key: str) -> str:
        """Ask `originating`'s server whether `key`, sent on our stream `stream_id` to `receiving`, is its
        own (XEP-0220 2.3): "valid", "invalid", or "error" when it could not be asked."""
        if self._verifying.locked():
            return "error"
        async with self._verifying:
            try:
                return await asyncio.wait_for(self._verify(originating, receiving, stream_id, key), VERIFY_TIMEOUT)
            except (TimeoutError, S2sFailure, OSError, ssl.SSLError) as err:
                self.log.info("xmpp.dialback_unverified", originating=originating, reason=str(err) or "timeout")
                return "error"

    async def _verify(self, originating: str, receiving: str, stream_id: str, key: str) -> str:
        stream = await connect(self.runtime, receiving, originating)
        try:
            features = await stream.open()
            if features.find(TLS + "starttls") is not None:  # the question is no secret, but servers want TLS
                await stream.starttls(features, verify=False)
            stream.conn.write(dialback.element("verify", receiving, originating, key=key, stream_id=stream_id))
            while True:
                answer = await stream.element()
                if (answer.tag == dialback.DB + "verify" and answer.get("id") == stream_id
                        and answer.get("from") == originating and answer.get("to") == receiving):
                    kind = answer.get("type")
                    return kind if kind in ("valid", "invalid") else "error"
        finally:
            stream.close()

    # -- sending --

    def send(self, stanza: ET.Element[str]) -> None:
        """A stanza from one of our domains' entities to another server's (its `from` and `to` set)."""
        try:
            sender, to = Jid.parse(stanza.get("from", "")), Jid.parse(stanza.get("to", ""))
        except JidError:
            return
        key = (sender.domain, to.domain)
        link = self.links.get(key)
        if link is None:
            if self.closing:
                return
            if len(self.links) >= MAX_LINKS:
                self.bounce(stanza, S2sFailure("resource-constraint", "too many servers at once"))
                return
            link = self.links[key] = Link(self, sender.domain, to.domain)
        link.send(stanza)

    def forget(self, link: Link) -> None:
        if self.links.get((link.local, link.remote)) is link:
            del self.links[(link.local, link.remote)]

    def bounce(self, stanza: ET.Element[str], failure: S2sFailure) -> None:
        """The error answer to a stanza that could not go (RFC 6120 8.3.1: never to an error)."""
        if stanza.get("type") in ("error", "result") or (stanza.tag == C + "presence" and stanza.get("type") not in (
                None, "subscribe")):
            return
        condition = failure.condition if failure.condition in wire.STANZA_ERRORS else "remote-server-not-found"
        self.router.deliver_local(wire.stanza_error(stanza, condition, failure.text))

    def expire(self, now: float) -> None:
        """Links neither in use nor waiting out a failure are forgotten (RouterTask, now and then)."""
        for key, link in list(self.links.items()):
            # A failed one is kept a while after its back-off, so failing again doubles it.
            if link.task is None and link.stream is None and not link.queue and link.retry_at + RETRY_MAX <= now:
                del self.links[key]

    def summary(self) -> list[dict[str, object]]:
        return [{"local": link.local, "remote": link.remote, "state": link.state, "queued": len(link.queue),
                 "sent": link.sent, "failures": link.failures,
                 "verified": link.stream.verified if link.stream is not None else False,
                 "authenticated_by": link.stream.authenticated_by if link.stream is not None else ""}
                for link in self.links.values()]

    async def close(self) -> None:
        self.closing = True
        for link in list(self.links.values()):
            if link.task is not None:
                link.task.cancel()
                with contextlib.suppress(BaseException):
                    await link.task


def on_router(router: Router, runtime: Runtime) -> Federation | None:
    return Federation(router, runtime) if enabled(runtime) else None

