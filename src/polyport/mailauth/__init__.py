"""Inbound message authentication: SPF (spf.py), DKIM verification, DMARC, and the
Authentication-Results field that records them (RFC 8601).

`Checker.check(ip, helo, sender, message)` runs all three for a message arriving on the MX from outside
and returns a `Verdict`: each result, the DMARC policy to apply, and the header field to add. DKIM is
verified by dkimpy (DESIGN), in a worker thread, with the keys fetched beforehand through the node's own
asynchronous resolver; DMARC (RFC 7489) finds the organizational domain with publicsuffixlist.
"""

from __future__ import annotations

import asyncio
import random
import re
from dataclasses import dataclass, field

from publicsuffixlist import PSLFILE, PublicSuffixList

import dkim
from polyport.mailauth.spf import Spf
from polyport.net.resolver import DnsTemporary, Resolver

MAX_SIGNATURES = 5  # DKIM signatures checked per message, at most
_SIGNATURE = re.compile(rb"(?im)^dkim-signature[ \t]*:((?:[^\r\n]|\r\n[ \t])*)")
_TAG = re.compile(rb"(?<![a-z])([a-z]+)\s*+=\s*([^;]*)")  # a name starts a run of letters: linear (issue 12)


def _public_suffixes() -> PublicSuffixList:
    """The list publicsuffixlist ships, with each IDN rule also in its A-label form (mail names domains so):
    what PublicSuffixList() builds, in a third of its time, as it punycodes every rule, ASCII ones too
    (55 ms of each start measured)."""
    lines: list[str] = []
    with open(PSLFILE, encoding="utf-8") as source:
        for line in source:
            lines.append(line)
            rule = line.split(" ")[0].strip().lower()
            if not line.isascii() and rule and not rule.startswith("//"):
                bang = "!" if rule.startswith("!") else ""
                lines.append(bang + rule.lstrip("!").encode("idna").decode("ascii") + "\n")
    return PublicSuffixList(lines, accept_encoded_idn=False)


_PSL = _public_suffixes()


@dataclass(frozen=True, slots=True)
class DkimResult:
    result: str  # pass, fail, neutral, temperror, permerror
    domain: str
    selector: str
    algorithm: str


@dataclass(frozen=True, slots=True)
class Verdict:
    spf: str
    spf_domain: str
    dkim: tuple[DkimResult, ...]
    dmarc: str  # pass, fail, none, temperror, permerror
    from_domain: str | None
    policy: str = "none"  # the DMARC policy that applies when dmarc is fail: none, quarantine, reject
    header: bytes = field(default=b"")

    @property
    def action(self) -> str:
        """What DMARC asks of this message: accept, quarantine or reject."""
        if self.dmarc != "fail":
            return "accept"
        return {"reject": "reject", "quarantine": "quarantine"}.get(self.policy, "accept")


_SEVERITY = {("fail", "reject"): 5, ("fail", "quarantine"): 4, ("temperror", "none"): 3, ("permerror", "none"): 2,
             ("fail", "none"): 1}
_FROM_FIELD = re.compile(rb"(?im)^from[ \t]*:((?:[^\r\n]|\r\n[ \t])*)")


def author_domains(message: bytes) -> list[str]:
    """Every domain in every From field (RFC 5322 allows a list; a forger adds a second field), in order,
    once each. A From address without a domain counts as the (invalid) domain "" so it cannot hide."""
    from email.utils import getaddresses

    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end + 2]
    values = [m.group(1).replace(b"\r\n", b"").decode("utf-8", "replace") for m in _FROM_FIELD.finditer(head)]
    domains: list[str] = []
    for _, address in getaddresses(values):
        domain = address.rpartition("@")[2].strip().lower().rstrip(">")
        if domain not in domains:
            domains.append(domain)
    return [d for d in domains if d]


def organizational(domain: str) -> str:
    return _PSL.privatesuffix(domain) or domain


def aligned(a: str, b: str, mode: str) -> bool:
    a, b = a.lower().rstrip("."), b.lower().rstrip(".")
    if mode == "s":
        return a == b
    return organizational(a) == organizational(b)


def _tags(text: bytes) -> dict[str, str]:
    return {m.group(1).decode().lower(): re.sub(r"\s+", "", m.group(2).decode("ascii", "replace"))
            for m in _TAG.finditer(text)}


class Checker:
    def __init__(self, resolver: Resolver, hostname: str) -> None:
        self.resolver = resolver
        self.hostname = hostname
        self.spf = Spf(resolver)

    async def check(self, ip: str, helo: str, sender: str, message: bytes) -> Verdict:
        spf_domain = sender.rpartition("@")[2].lower() if sender else helo.lower()
        (spf_result, _), dkim_results = await asyncio.gather(
            self.spf.check_host(ip, spf_domain, sender, helo), self._dkim(message))
        authors = author_domains(message)
        author = authors[0] if authors else None
        dmarc, policy = "none", "none"
        for domain in authors:  # RFC 7489 6.6.1: with several authors, the strictest outcome counts
            result, wanted = await self._dmarc(domain, spf_result, spf_domain, dkim_results)
            if _SEVERITY.get((result, wanted), 0) >= _SEVERITY.get((dmarc, policy), 0):
                dmarc, policy, author = result, wanted, domain
        verdict = Verdict(spf_result, spf_domain, tuple(dkim_results), dmarc, author, policy)
        return Verdict(verdict.spf, verdict.spf_domain, verdict.dkim, verdict.dmarc, verdict.from_domain,
                       verdict.policy, self._header(verdict, sender))

    async def _dkim(self, message: bytes) -> list[DkimResult]:
        header_end = message.find(b"\r\n\r\n")
        head = message if header_end < 0 else message[:header_end + 2]
        signatures = [_tags(m.group(1).replace(b"\r\n", b"")) for m in _SIGNATURE.finditer(head)][:MAX_SIGNATURES]
        if not signatures:
            return []
        records: dict[bytes, bytes] = {}
        temporary: set[int] = set()
        for index, tags in enumerate(signatures):
            name = f"{tags.get('s', '')}._domainkey.{tags.get('d', '')}"
            try:
                texts = await self.resolver.txt(name)
            except DnsTemporary:
                temporary.add(index)
                continue
            if texts:
                records[(name + ".").encode()] = texts[0].encode()

        def lookup(name: bytes, timeout: int = 5) -> bytes:
            return records.get(name, b"")

        def verify_all() -> list[str]:
            # Whatever the message holds (obsolete header syntax, broken base64 in bh=), the answer is a
            # result for each signature, never an exception (which would turn into 451 on every retry).
            try:
                checker = dkim.DKIM(message)
            except Exception:
                return ["permerror"] * len(signatures)
            outcomes = []
            for index in range(len(signatures)):
                if index in temporary:
                    outcomes.append("temperror")
                    continue
                try:
                    outcomes.append("pass" if checker.verify(idx=index, dnsfunc=lookup) else "fail")
                except dkim.ValidationError:
                    outcomes.append("permerror")
                except Exception:
                    outcomes.append("fail")
            return outcomes

        outcomes = await asyncio.to_thread(verify_all)
        return [DkimResult(outcome, tags.get("d", "").lower(), tags.get("s", ""), tags.get("a", ""))
                for outcome, tags in zip(outcomes, signatures, strict=True)]

    async def _dmarc(self, author: str | None, spf_result: str, spf_domain: str,
                     dkim_results: list[DkimResult]) -> tuple[str, str]:
        if author is None:
            return "none", "none"
        record, subdomain = await self._dmarc_record(author)
        if record is None:
            return ("temperror", "none") if record is None and subdomain is None else ("none", "none")
        tags = {k.strip().lower(): v.strip() for k, _, v in (t.partition("=") for t in record.split(";")) if k.strip()}
        policy = tags.get("sp" if subdomain else "p", tags.get("p", "none")).lower()
        if policy not in ("none", "quarantine", "reject"):
            return "permerror", "none"
        spf_ok = spf_result == "pass" and aligned(spf_domain, author, tags.get("aspf", "r").lower())
        dkim_ok = any(r.result == "pass" and aligned(r.domain, author, tags.get("adkim", "r").lower())
                      for r in dkim_results)
        if spf_ok or dkim_ok:
            return "pass", policy
        try:
            percent = int(tags.get("pct", "100"))
        except ValueError:
            percent = 100
        if percent < 100 and random.randrange(100) >= percent:
            policy = "quarantine" if policy == "reject" else "none"  # RFC 7489 6.6.4
        return "fail", policy

    async def _dmarc_record(self, author: str) -> tuple[str | None, bool | None]:
        """(the record, whether it came from the organizational domain); (None, None) on a DNS failure."""
        for name, subdomain in ((author, False), (organizational(author), True)):
            if subdomain and name == author:
                break
            try:
                texts = await self.resolver.txt(f"_dmarc.{name}")
            except DnsTemporary:
                return None, None
            found = [t for t in texts if t.replace(" ", "").lower().startswith("v=dmarc1")]
            if len(found) == 1:
                return found[0], subdomain
        return None, False

    def _header(self, v: Verdict, sender: str) -> bytes:
        parts = [f"spf={v.spf} smtp.mailfrom={sender or 'postmaster@' + v.spf_domain}"]
        parts.extend(f"dkim={r.result} header.d={r.domain} header.s={r.selector} header.a={r.algorithm}"
                     for r in v.dkim)
        if not v.dkim:
            parts.append("dkim=none")
        dmarc = f"dmarc={v.dmarc}"
        if v.dmarc in ("pass", "fail"):
            dmarc += f" (p={v.policy})"
        if v.from_domain:
            dmarc += f" header.from={v.from_domain}"
        parts.append(dmarc)
        text = f"Authentication-Results: {self.hostname};\r\n\t" + ";\r\n\t".join(parts) + "\r\n"
        return text.encode("utf-8", "replace")


_AR_NAME = re.compile(rb"(?i)^authentication-results[ \t]*:")
_COMMENT = re.compile(r"\([^()]*\)")


def strip_forged(message: bytes, hostname: str) -> bytes:
    """Remove Authentication-Results fields claiming to be ours (RFC 8601 5): only we may write them. The
    authserv-id is read from the unfolded field, comments removed."""
    end = message.find(b"\r\n\r\n")
    head = message if end < 0 else message[:end + 2]
    if b"uthentication-" not in head and b"UTHENTICATION-" not in head:
        return message  # the usual case: the body (50 MB, perhaps) is not copied
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b"\r\n" + line
        else:
            fields.append(line)
    kept = []
    for one in fields:
        match = _AR_NAME.match(one)
        if match:
            value = one[match.end():].replace(b"\r\n", b" ").decode("utf-8", "replace")
            value = _COMMENT.sub(" ", value).strip()
            if value.split(";")[0].strip().lower() == hostname.lower():
                continue
        kept.append(one)
    if end < 0:
        return b"\r\n".join(kept)
    with memoryview(message) as view:
        return b"".join((b"\r\n".join(kept), view[end + 2:]))  # the body copied once, not twice
