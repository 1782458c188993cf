"""What TLS a destination demands of us: MTA-STS (RFC 8461) and DANE for SMTP (RFC 7672).

MTA-STS: a domain that publishes `_mta-sts.<domain>` TXT "v=STSv1; id=..." serves its policy at
https://mta-sts.<domain>/.well-known/mta-sts.txt (fetched with a checked certificate, cached for its
max_age and refetched when the id changes). In "enforce" mode only MX hosts matching its `mx:` patterns
are used, over TLS with a certificate valid for the host; "testing" only reports.

DANE: when the MX answer and the host's `_25._tcp.<host>` TLSA records are DNSSEC-validated (the
resolver's AD bit), the host must present TLS whose certificate matches a usable record. DANE-EE (usage
3) is checked against the end-entity certificate or its key; records we cannot check here (DANE-TA,
usage 2, needs the peer's chain, which Python's ssl gives only from 3.13) make TLS mandatory without
authentication, as RFC 7672 2.2 treats unusable records.
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import socket
import ssl
import time
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from polyport import log
from polyport.net.resolver import DnsError, DnsNotFound, Resolver

MAX_POLICY = 64 * 1024
FETCH_TIMEOUT = 10.0
MAX_AGE_LIMIT = 31_557_600  # RFC 8461 3.2: at most a year


@dataclass(frozen=True, slots=True)
class StsPolicy:
    id: str
    mode: str  # enforce, testing, none
    mx: tuple[str, ...]
    expires: float

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for pattern in self.mx:
            pattern = pattern.lower().rstrip(".")
            if pattern.startswith("*."):
                head, _, rest = host.partition(".")
                if head and rest == pattern[2:]:
                    return True
            elif host == pattern:
                return True
        return False


def parse_policy(text: str, policy_id: str, now: float) -> StsPolicy:
    fields: dict[str, list[str]] = {}
    for line in text.replace("\r\n", "\n").split("\n"):
        key, sep, value = line.partition(":")
        if sep:
            fields.setdefault(key.strip().lower(), []).append(value.strip())
    if fields.get("version") != ["STSv1"]:
        raise ValueError("not an STSv1 policy")
    mode = (fields.get("mode") or [""])[0].lower()
    if mode not in ("enforce", "testing", "none"):
        raise ValueError(f"bad mode {mode!r}")
    try:
        max_age = min(int((fields.get("max_age") or ["x"])[0]), MAX_AGE_LIMIT)
    except ValueError:
        raise ValueError("bad max_age") from None
    mx = tuple(fields.get("mx", []))
    if mode != "none" and not mx:
        raise ValueError("no mx patterns")
    return StsPolicy(policy_id, mode, mx, now + max_age)


class MtaSts:
    def __init__(self, resolver: Resolver, *, port: int = 443, cafile: str | None = None) -> None:
        self.resolver = resolver
        self.port = port
        self.cafile = cafile
        self._cache: dict[str, StsPolicy] = {}
        self._log = log.get(service="queue")

    async def policy(self, domain: str) -> StsPolicy | None:
        """The domain's policy in force, or None. A domain whose policy cannot be fetched keeps a cached
        one until it expires (so an attacker who blocks the fetch gains nothing)."""
        now = time.time()
        cached = self._cache.get(domain)
        if cached is not None and cached.expires <= now:
            cached = None
        try:
            texts = await self.resolver.txt(f"_mta-sts.{domain}")
        except DnsError:
            return cached
        records = [t for t in texts if t.replace(" ", "").lower().startswith("v=stsv1;")]
        if len(records) != 1:
            return cached
        fields = dict(part.strip().partition("=")[::2] for part in records[0].split(";") if "=" in part)
        policy_id = fields.get("id", "").strip()
        if cached is not None and cached.id == policy_id:
            return cached
        try:
            # The policy host is found through the node's resolver, like every other name it looks up.
            addresses = await self.resolver.addresses(f"mta-sts.{domain}")
            text = await self._fetch_any(domain, addresses)
            fresh = parse_policy(text, policy_id, now)
        except (DnsError, OSError, ValueError, ssl.SSLError, http.client.HTTPException) as err:
            self._log.warning("queue.mta_sts_fetch_failed", domain=domain, error=str(err))
            return cached
        self._cache[domain] = fresh
        return fresh

    async def _fetch_any(self, domain: str, addresses: list[str]) -> str:
        """The policy from the first of the host's addresses that answers (IPv6 first, then IPv4)."""
        error: Exception = OSError("no address")
        for address in addresses:
            try:
                return await asyncio.to_thread(self._fetch, domain, address)
            except (OSError, ssl.SSLError, http.client.HTTPException) as err:
                error = err
        raise error

    def _fetch(self, domain: str, address: str) -> str:
        host = f"mta-sts.{domain}"
        context = ssl.create_default_context(cafile=self.cafile) if self.cafile else ssl.create_default_context()
        connection = _Https(host, address, self.port, context)
        try:
            connection.request("GET", "/.well-known/mta-sts.txt", headers={"Host": host})
            response = connection.getresponse()
            if response.status != 200:  # RFC 8461 3.3: no redirects followed
                raise ValueError(f"HTTP {response.status}")
            if not response.getheader("Content-Type", "").lower().startswith("text/plain"):
                raise ValueError("the policy is not text/plain")
            body = response.read(MAX_POLICY + 1)
            if len(body) > MAX_POLICY:
                raise ValueError("the policy is too large")
            return body.decode("utf-8")
        finally:
            connection.close()


class _Https(http.client.HTTPSConnection):
    """HTTPS to an address already resolved, checking the certificate against the host's name."""

    def __init__(self, host: str, address: str, port: int, context: ssl.SSLContext) -> None:
        super().__init__(host, port, timeout=FETCH_TIMEOUT, context=context)
        self._address = address
        self._context_ = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context_.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True, slots=True)
class Tlsa:
    usage: int
    selector: int
    matching: int
    data: bytes


async def dane_records(resolver: Resolver, host: str, port: int = 25) -> list[Tlsa] | None:
    """Validated TLSA records of a mail host, or None when it has none (or they are not DNSSEC-secure)."""
    try:
        answer = await resolver.tlsa(f"_{port}._tcp.{host}")
    except DnsNotFound:
        return None
    if not answer.secure:
        return None
    return [Tlsa(r.usage, r.selector, r.mtype, bytes(r.cert)) for r in answer.records]


def dane_matches(records: list[Tlsa], certificate_der: bytes) -> bool | None:
    """True if a DANE-EE record matches the certificate, False if usable records exist and none matches,
    None when no record is usable here (TLS is then required, unauthenticated)."""
    usable = [r for r in records if r.usage == 3 and r.selector in (0, 1) and r.matching in (0, 1, 2)]
    if not usable:
        return None
    certificate = x509.load_der_x509_certificate(certificate_der)
    spki = certificate.public_key().public_bytes(serialization.Encoding.DER,
                                                 serialization.PublicFormat.SubjectPublicKeyInfo)
    for record in usable:
        content = certificate_der if record.selector == 0 else spki
        digest = {0: content, 1: hashlib.sha256(content).digest(), 2: hashlib.sha512(content).digest()}[record.matching]
        if digest == record.data:
            return True
    return False
