"""SPF (RFC 7208), asynchronous, through the node's resolver (pyspf blocks and keeps global DNS state:
DESIGN's dependency table; the tests use it as an oracle).

`check_host(ip, domain, sender, helo)` returns (result, why): pass, fail, softfail, neutral, none,
temperror or permerror. Limits: 10 DNS-querying terms per check (4.6.4), 2 void lookups, 10 MX or PTR
names per term. "ptr" is evaluated as RFC 7208 5.5 describes it (discouraged, but receivers must still
evaluate it): it matches when a name of the client's address, validated by looking it up forward again,
is the domain or under it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import dns.reversename

from polyport.net.resolver import DnsNotFound, DnsTemporary, Resolver

MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_NAMES = 10

_MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([-.+,/_=]*)\}|%%|%_|%-", re.IGNORECASE)


class _PermError(Exception):
    pass


class _TempError(Exception):
    pass


@dataclass
class _State:
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address
    sender: str
    helo: str
    lookups: int = 0
    void: int = 0
    seen: set[str] = field(default_factory=set)

    def count(self) -> None:
        self.lookups += 1
        if self.lookups > MAX_LOOKUPS:
            raise _PermError(f"more than {MAX_LOOKUPS} DNS lookups")

    def void_lookup(self) -> None:
        self.void += 1
        if self.void > MAX_VOID:
            raise _PermError(f"more than {MAX_VOID} lookups found nothing")


class Spf:
    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver

    async def check_host(self, ip: str, domain: str, sender: str, helo: str) -> tuple[str, str]:
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return "none", f"{ip} is not an address"
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if not sender or "@" not in sender:
            sender = f"postmaster@{domain}"
        state = _State(address, sender, helo)
        try:
            return await self._check(domain.lower().rstrip("."), state)
        except _PermError as err:
            return "permerror", str(err)
        except _TempError as err:
            return "temperror", str(err)

    async def _record(self, domain: str) -> str | None:
        try:
            texts = await self.resolver.txt(domain)
        except DnsTemporary as err:
            raise _TempError(str(err)) from None
        records = [t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 ")]
        if len(records) > 1:
            raise _PermError(f"{domain} publishes {len(records)} SPF records")
        return records[0] if records else None

    async def _check(self, domain: str, state: _State) -> tuple[str, str]:
        if not _valid_domain(domain):
            return "none", f"{domain!r} is not a domain name"
        record = await self._record(domain)
        if record is None:
            return "none", f"{domain} publishes no SPF record"
        terms = record.split()[1:]
        redirect: str | None = None
        for term in terms:
            name, eq, value = term.partition("=")
            if eq and re.fullmatch(r"[A-Za-z][A-Za-z0-9_.-]*", name):
                if name.lower() == "redirect":
                    if redirect is not None:
                        raise _PermError("redirect given twice")
                    redirect = value
                continue  # exp= and unknown modifiers
            qualifier = "+"
            if term[:1] in "+-~?":
                qualifier, term = term[0], term[1:]
            if await self._matches(term, domain, state):
                result = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}[qualifier]
                return result, f"{domain}: {qualifier}{term} matched {state.ip}"
        if redirect is not None:
            state.count()
            target = self._expand(redirect, domain, state)
            result, why = await self._check(target, state)
            if result == "none":
                raise _PermError(f"redirect to {target}, which has no SPF record")
            return result, why
        return "neutral", f"{domain}: nothing matched {state.ip}"

    async def _matches(self, term: str, domain: str, state: _State) -> bool:
        mechanism, _, argument = term.partition(":")
        mechanism, slash, cidrs = mechanism.partition("/") if not argument else (mechanism, "", "")
        if argument and "/" in argument and mechanism.lower() in ("a", "mx"):
            argument, slash, cidrs = argument.partition("/")
        mechanism = mechanism.lower()
        v4, v6 = _cidrs(slash + cidrs)
        if mechanism == "all":
            return True
        if mechanism == "ip4" or mechanism == "ip6":
            try:
                network = ipaddress.ip_network(argument, strict=False)
            except ValueError:
                raise _PermError(f"bad network in {term}") from None
            if (mechanism == "ip4") != (network.version == 4):
                raise _PermError(f"bad network in {term}")
            return state.ip.version == network.version and state.ip in network
        if mechanism == "include":
            state.count()
            target = self._expand(argument, domain, state)
            if target in state.seen:
                raise _PermError(f"include loop at {target}")
            state.seen.add(target)
            result, _ = await self._check(target, state)
            state.seen.discard(target)
            if result == "pass":
                return True
            if result == "temperror":
                raise _TempError(f"include:{target}: temporary error")
            if result in ("permerror", "none"):
                raise _PermError(f"include:{target} gave {result}")
            return False
        if mechanism == "a":
            state.count()
            target = self._expand(argument, domain, state) if argument else domain
            return self._in(await self._addresses(target, state), v4, v6, state)
        if mechanism == "mx":
            state.count()
            target = self._expand(argument, domain, state) if argument else domain
            try:
                hosts = await self.resolver.mx(target)
            except DnsTemporary as err:
                raise _TempError(str(err)) from None
            if hosts is None:
                state.void_lookup()
                return False
            if len(hosts) > MAX_NAMES:
                raise _PermError(f"{target} has more than {MAX_NAMES} MX hosts")
            for host in hosts:
                if self._in(await self._addresses(host, state, void=False), v4, v6, state):
                    return True
            return False
        if mechanism == "exists":
            state.count()
            target = self._expand(argument, domain, state)
            try:
                await self.resolver.query(target, "A")
            except DnsNotFound:
                state.void_lookup()
                return False
            except DnsTemporary as err:
                raise _TempError(str(err)) from None
            return True
        if mechanism == "ptr":
            state.count()
            target = self._expand(argument, domain, state) if argument else domain
            return await self._ptr_matches(target, state)
        raise _PermError(f"unknown mechanism {mechanism!r}")

    async def _ptr_matches(self, target: str, state: _State) -> bool:
        """RFC 7208 5.5: the client's PTR names (at most 10) that resolve back to it, one of them the
        target domain or under it. A failed lookup is no match."""
        reverse = dns.reversename.from_address(str(state.ip)).to_text().rstrip(".")
        try:
            answer = await self.resolver.query(reverse, "PTR")
        except (DnsNotFound, DnsTemporary):
            return False
        for record in answer.records[:MAX_NAMES]:
            name = str(record.target).rstrip(".").lower()
            try:
                addresses = await self.resolver.addresses(name)
            except (DnsNotFound, DnsTemporary):
                continue
            if any(ipaddress.ip_address(a) == state.ip for a in addresses) and (
                    name == target or name.endswith("." + target)):
                return True
        return False

    async def _addresses(self, host: str, state: _State, *, void: bool = True) -> list[str]:
        try:
            return await self.resolver.addresses(host)
        except DnsNotFound:
            if void:
                state.void_lookup()
            return []
        except DnsTemporary as err:
            raise _TempError(str(err)) from None

    @staticmethod
    def _in(addresses: list[str], v4: int, v6: int, state: _State) -> bool:
        for text in addresses:
            address = ipaddress.ip_address(text)
            if address.version != state.ip.version:
                continue
            prefix = v4 if address.version == 4 else v6
            if state.ip in ipaddress.ip_network(f"{address}/{prefix}", strict=False):
                return True
        return False

    @staticmethod
    def _expand(spec: str, domain: str, state: _State) -> str:
        """Macro expansion (RFC 7208 7)."""
        local, _, sender_domain = state.sender.rpartition("@")

        def letter(code: str) -> str:
            c = code.lower()
            if c == "s":
                return state.sender
            if c == "l":
                return local or "postmaster"
            if c == "o":
                return sender_domain
            if c == "d":
                return domain
            if c == "i":
                if state.ip.version == 4:
                    return str(state.ip)
                return ".".join(state.ip.exploded.replace(":", ""))
            if c == "v":
                return "in-addr" if state.ip.version == 4 else "ip6"
            if c == "h":
                return state.helo
            if c == "p":
                return "unknown"
            raise _PermError(f"macro letter {code} is only for exp=")

        def replace(match: re.Match[str]) -> str:
            whole = match.group(0)
            if whole == "%%":
                return "%"
            if whole == "%_":
                return " "
            if whole == "%-":
                return "%20"
            value = letter(match.group(1))
            delimiters = match.group(4) or "."
            parts = re.split("[" + re.escape(delimiters) + "]", value)
            if match.group(3):
                parts.reverse()
            if match.group(2):
                keep = int(match.group(2))
                if keep == 0:
                    raise _PermError("a macro keeps zero labels")
                parts = parts[-keep:]
            return ".".join(parts)

        if "%" in spec and not _MACRO.sub("", spec).count("%") == 0:
            raise _PermError(f"bad macro in {spec!r}")
        expanded = _MACRO.sub(replace, spec)
        if len(expanded) > 253:
            expanded = ".".join(expanded.split(".")[-(len(expanded.split(".")) - 1):])[-253:]
        return expanded.lower().rstrip(".")


def _cidrs(text: str) -> tuple[int, int]:
    """'/24', '//64', '/24//64' -> (ip4 prefix, ip6 prefix)."""
    v4, v6 = 32, 128
    if not text:
        return v4, v6
    first, _, second = text.partition("//")
    try:
        if first.startswith("/") and first[1:]:
            v4 = int(first[1:])
        elif first and not first.startswith("/"):
            raise ValueError
        if second:
            v6 = int(second)
    except ValueError:
        raise _PermError(f"bad prefix length {text}") from None
    if not 0 <= v4 <= 32 or not 0 <= v6 <= 128:
        raise _PermError(f"bad prefix length {text}")
    return v4, v6


def _valid_domain(domain: str) -> bool:
    labels = domain.split(".")
    return len(labels) >= 2 and all(0 < len(label) <= 63 for label in labels) and len(domain) <= 253
