"""DNS lookups for mail: MX, addresses, TXT, TLSA, with our own cache and concurrency limit.

dnspython's asyncio resolver does the queries (DESIGN: aiodns has no TLSA and caches invisibly); this
class keeps answers for their TTL (at most a day; failures for a short while), lets at most
`concurrency` queries run at once, and turns answers into what mail code needs. Errors are typed:
`DnsNotFound` (the name or the record does not exist: permanent) and `DnsTemporary` (a timeout,
SERVFAIL: try again later).

Tests point `servers` at a local DNS fixture (tests/dnsfixture.py); nothing in the test suite asks the
network.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.flags
import dns.name
import dns.rdatatype
import dns.resolver

MAX_TTL = 86_400
NEGATIVE_TTL = 300.0  # NXDOMAIN and NODATA
FAILURE_TTL = 30.0  # SERVFAIL and timeouts, so a storm of lookups does not hammer a broken server


class DnsError(Exception):
    pass


class DnsNotFound(DnsError):
    """The name, or the record type at it, does not exist."""


class DnsNoDomain(DnsNotFound):
    """The name does not exist at all (NXDOMAIN), as opposed to existing without that record."""


class DnsTemporary(DnsError):
    """No answer now (timeout, SERVFAIL, no server reachable)."""


@dataclass(frozen=True, slots=True)
class Answer:
    records: tuple[Any, ...]
    secure: bool  # the resolver validated it (the AD bit): DANE needs this


class Resolver:
    def __init__(self, servers: list[str] | None = None, *, timeout: float = 5.0, concurrency: int = 64,
                 cache_size: int = 10_000) -> None:
        if servers:
            resolver = dns.asyncresolver.Resolver(configure=False)
            hosts, ports = [], set()
            for server in servers:
                host, port = _split_server(server)
                hosts.append(host)
                ports.add(port)
            resolver.nameservers = hosts
            resolver.port = ports.pop() if len(ports) == 1 else 53
        else:
            resolver = dns.asyncresolver.Resolver()
        resolver.lifetime = timeout
        resolver.timeout = timeout
        # Ask for DNSSEC-validated answers (the AD bit) from the configured validating resolver.
        resolver.use_edns(0, dns.flags.DO, 1232)
        self._resolver = resolver
        self._limit = asyncio.Semaphore(concurrency)
        # Failures are kept as (class, text) and raised as new exceptions each time: one shared instance
        # would collect every raiser's traceback (and keep their frames alive) for the TTL.
        self._cache: OrderedDict[tuple[str, str], tuple[float, Answer | tuple[type[DnsError], str]]] = OrderedDict()
        self._cache_size = cache_size
        self._clock = time.monotonic

    async def query(self, name: str, rdtype: str) -> Answer:
        key = (name.lower().rstrip("."), rdtype)
        cached = self._cache.get(key)
        now = self._clock()
        if cached is not None and cached[0] > now:
            self._cache.move_to_end(key)
            if isinstance(cached[1], tuple):
                kind, text = cached[1]
                raise kind(text)
            return cached[1]
        outcome: Answer | DnsError
        ttl: float
        try:
            async with self._limit:
                result = await self._resolver.resolve(key[0] + ".", rdtype, raise_on_no_answer=True)
            outcome = Answer(tuple(result), bool(result.response.flags & dns.flags.AD))
            ttl = min(float(result.rrset.ttl if result.rrset is not None else 0), MAX_TTL)
        except dns.resolver.NXDOMAIN:
            outcome, ttl = DnsNoDomain(f"{key[0]} does not exist"), NEGATIVE_TTL
        except dns.resolver.NoAnswer:
            outcome, ttl = DnsNotFound(f"{key[0]}: no {rdtype} record"), NEGATIVE_TTL
        except (dns.resolver.NoNameservers, dns.exception.Timeout, dns.resolver.LifetimeTimeout, OSError) as err:
            outcome, ttl = DnsTemporary(f"{key[0]} {rdtype}: {type(err).__name__}"), FAILURE_TTL
        except dns.exception.DNSException as err:
            outcome, ttl = DnsTemporary(f"{key[0]} {rdtype}: {err}"), FAILURE_TTL
        self._cache[key] = (now + ttl, (type(outcome), str(outcome)) if isinstance(outcome, DnsError) else outcome)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        if isinstance(outcome, DnsError):
            raise outcome
        return outcome

    async def mx(self, domain: str) -> list[str] | None:
        """The domain's mail hosts, best first (equal preferences in random order, RFC 5321 5.1); [] for a
        null MX (RFC 7505: the domain takes no mail); None when it has no MX (then its own address is its
        mail host). DnsNoDomain when the domain does not exist."""
        try:
            answer = await self.query(domain, "MX")
        except DnsNoDomain:
            raise
        except DnsNotFound:
            return None
        records = sorted(answer.records, key=lambda r: (r.preference, _shuffle_key()))
        if len(records) == 1 and str(records[0].exchange) == ".":
            return []
        return [str(r.exchange).rstrip(".") for r in records if str(r.exchange) != "."]

    async def addresses(self, host: str) -> list[str]:
        """IPv6 and IPv4 addresses of a host; DnsNotFound when it has none."""
        found: list[str] = []
        temporary: DnsTemporary | None = None
        for rdtype in ("AAAA", "A"):
            try:
                found.extend(r.address for r in (await self.query(host, rdtype)).records)
            except DnsNotFound:
                continue
            except DnsTemporary as err:
                temporary = err
        if not found:
            if temporary is not None:
                raise temporary
            raise DnsNotFound(f"{host}: no address")
        return found

    async def txt(self, name: str) -> list[str]:
        """The TXT records at a name, each one's strings joined (RFC 7208 3.3); [] when there are none."""
        try:
            answer = await self.query(name, "TXT")
        except DnsNotFound:
            return []
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer.records]

    async def secure(self, host: str) -> bool:
        """Whether the host's address records are DNSSEC-validated (DANE applies only then)."""
        for rdtype in ("A", "AAAA"):
            try:
                if (await self.query(host, rdtype)).secure:
                    return True
            except DnsError:
                continue
        return False

    async def tlsa(self, name: str) -> Answer:
        return await self.query(name, "TLSA")


def _shuffle_key() -> float:
    import random

    return random.random()


def _split_server(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, _, port = text[1:].partition("]:")
        return host, int(port or 53)
    if text.count(":") == 1:
        host, _, port = text.partition(":")
        return host, int(port)
    return text, 53
