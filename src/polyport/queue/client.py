"""Sending one queued message to one destination: MX lookup, connection, STARTTLS, the SMTP dialogue.

aiosmtplib speaks the protocol (DESIGN: correct STARTTLS and server-name checks); this module decides
where to connect and what to ask for. Mail hosts are tried in MX order (a domain without MX is its own
mail host, a null MX takes no mail), each host's addresses in turn, until one answers. STARTTLS is used
whenever offered; certificates are checked only when the message or the destination demands it
(REQUIRETLS, MTA-STS "enforce", DANE: tlspolicy.py), as RFC 7435's opportunistic TLS has it. With a relay
host configured, everything goes there instead (with AUTH if a user is set; its certificate checked).
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass

import aiosmtplib

from polyport import log
from polyport.mime import xtext
from polyport.net.resolver import DnsError, DnsNotFound, DnsTemporary, Resolver
from polyport.queue import records as rec
from polyport.queue.tlspolicy import MtaSts, Tlsa, dane_matches, dane_records

_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})\s*")


@dataclass(frozen=True, slots=True)
class Delivered:
    """How one recipient fared in an attempt: the reply code (0: no server reached), its text."""

    code: int
    enhanced: str | None
    text: str
    host: str | None = None
    reports: bool = False  # sent to a server that offered DSN (it reports success itself, if asked)

    def describe(self) -> str:
        where = f"{self.host} said: " if self.host else ""
        enhanced = f"{self.enhanced} " if self.enhanced else ""
        return f"{where}{self.code} {enhanced}{self.text}".strip() if self.code else f"{enhanced}{self.text}".strip()


def _reply(code: int, message: str, host: str | None) -> Delivered:
    text = " ".join(message.split())
    match = _ENHANCED.match(text)
    enhanced = match.group(1) if match else None
    return Delivered(code, enhanced, text[match.end():] if match else text, host)


@dataclass(frozen=True, slots=True)
class RelayHost:
    host: str
    port: int = 587
    implicit_tls: bool = False
    user: str = ""
    password: str = ""


class Unreachable(Exception):
    pass


class _NoRequiredTls(Unreachable):
    """A host that cannot carry a REQUIRETLS message: the next one may; if none can, it bounces."""

    def __init__(self, reply: Delivered) -> None:
        super().__init__(reply.text)
        self.reply = reply


class _TlsFailed(Exception):
    """STARTTLS was offered but did not work, and nothing required it: try again in plaintext."""


@dataclass(frozen=True, slots=True)
class TlsDemand:
    """What one mail host must give: TLS at all, a certificate valid for its name, DANE's match."""

    required: bool = False
    verify_name: bool = False
    dane: tuple[Tlsa, ...] = ()
    why: str = ""


class SmtpSender:
    def __init__(self, resolver: Resolver, hostname: str, *, port: int = 25, relay: RelayHost | None = None,
                 connect_timeout: float = 30.0, command_timeout: float = 300.0, mta_sts: MtaSts | None = None,
                 dane: bool = True, cafile: str | None = None) -> None:
        self.resolver = resolver
        self.hostname = hostname
        self.port = port
        self.relay = relay
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.mta_sts = mta_sts
        self.dane = dane
        self.cafile = cafile
        self._insecure = ssl.create_default_context()
        self._insecure.check_hostname = False
        self._insecure.verify_mode = ssl.CERT_NONE
        self._log = log.get(service="queue")

    @property
    def relayed(self) -> bool:
        return self.relay is not None

    async def send(self, domain: str, message: rec.QueuedMessage, recipients: Sequence[rec.DueRecipient],
                   data: bytes) -> dict[int, Delivered]:
        """Each recipient's outcome (by recipient id)."""
        try:
            targets = await self._targets(domain)
        except DnsNotFound as err:
            return dict.fromkeys((r.id for r in recipients), Delivered(550, "5.1.2", f"{domain}: {err}"))
        except DnsTemporary as err:
            return dict.fromkeys((r.id for r in recipients), Delivered(0, "4.4.3", f"DNS: {err}"))
        if not targets:
            return dict.fromkeys((r.id for r in recipients),
                                 Delivered(556, "5.1.10", f"{domain} accepts no mail (null MX)"))
        policy = None
        if self.relay is None and self.mta_sts is not None:
            policy = await self.mta_sts.policy(domain)
            if policy is not None and policy.mode == "enforce":
                allowed = [(h, p) for h, p in targets if policy.allows(h)]
                if not allowed:
                    return dict.fromkeys((r.id for r in recipients), Delivered(
                        0, "4.7.5", f"no MX host of {domain} matches its MTA-STS policy ({', '.join(policy.mx)})"))
                targets = allowed
        last = "no mail host answered"
        missing = 0  # hosts that do not exist: if none does, the domain takes no mail (permanent)
        no_tls: Delivered | None = None  # a host could not carry REQUIRETLS (bounces if no other host can)
        unreachable = False
        for host, port in targets:
            demand = TlsDemand()
            if self.relay is not None:
                demand = TlsDemand(True, True, why="relay host")
            elif policy is not None and policy.mode == "enforce":
                demand = TlsDemand(True, True, why="MTA-STS")
            if self.relay is None and self.dane and not _is_address(host) and await self.resolver.secure(host):
                try:
                    records = await dane_records(self.resolver, host)
                except DnsError as err:
                    last = f"{host}: TLSA lookup failed ({err})"
                    continue  # RFC 7672 2.2.1: a signed zone whose TLSA lookup fails is tried later
                if records:
                    demand = TlsDemand(True, False, tuple(records), "DANE")
            try:
                # A relay host is connected to by name (its certificate is checked against it).
                addresses = [host] if _is_address(host) or self.relay else await self.resolver.addresses(host)
            except DnsNotFound as err:
                last = f"{host}: {err}"
                missing += 1
                continue
            except DnsError as err:
                last = f"{host}: {err}"
                continue
            for address in addresses:
                try:
                    return await self._session(host, address, port, message, recipients, data, demand)
                except _NoRequiredTls as err:
                    no_tls = err.reply
                    last = f"{host} [{address}]: {err}"
                    break  # this host's other addresses will not do better
                except Unreachable as err:
                    unreachable = True
                    last = f"{host} [{address}]: {err}"
                    self._log.info("queue.unreachable", host=host, address=address, error=str(err))
        if no_tls is not None and not unreachable:  # every host answered, none can: permanent
            return dict.fromkeys((r.id for r in recipients), no_tls)
        if missing == len(targets) and self.relay is None:
            nowhere = Delivered(550, "5.1.2", f"{domain}: no mail host ({last})")
            return dict.fromkeys((r.id for r in recipients), nowhere)
        return dict.fromkeys((r.id for r in recipients), Delivered(0, "4.4.1", last))

    async def _targets(self, domain: str) -> list[tuple[str, int]]:
        if self.relay is not None:
            return [(self.relay.host, self.relay.port)]
        if domain.startswith("[") and domain.endswith("]"):  # an address literal: that host itself
            return [(domain[1:-1].removeprefix("IPv6:"), self.port)]
        hosts = await self.resolver.mx(domain)
        if hosts is None:
            return [(domain, self.port)]  # RFC 5321 5.1: no MX, the domain's own address
        return [(h, self.port) for h in hosts]

    async def _session(self, host: str, address: str, port: int, message: rec.QueuedMessage,
                       recipients: Sequence[rec.DueRecipient], data: bytes, demand: TlsDemand,
                       starttls: bool = True) -> dict[int, Delivered]:
        relay = self.relay
        implicit = relay is not None and relay.implicit_tls
        requiretls = bool(message.flags & rec.REQUIRETLS)
        verify = requiretls or demand.verify_name
        client = aiosmtplib.SMTP(hostname=address, port=port, local_hostname=self.hostname,
                                 timeout=self.command_timeout, use_tls=implicit, start_tls=False,
                                 tls_context=self._context(verify, host) if implicit else None,
                                 validate_certs=verify)
        try:
            await client.connect(timeout=self.connect_timeout)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as err:
            raise Unreachable(str(err) or type(err).__name__) from None
        retry_plain = False
        try:
            return await self._dialogue(client, host, message, recipients, data, verify, requiretls,
                                        implicit or not starttls, demand)
        except _TlsFailed:
            retry_plain = True  # RFC 7435: opportunistic TLS that fails falls back to plaintext
        except aiosmtplib.SMTPResponseException as err:
            if err.code // 100 in (4, 5) and err.code != 421:
                outcome = _reply(err.code, err.message, host)
                return dict.fromkeys((r.id for r in recipients), outcome)
            raise Unreachable(f"{err.code} {err.message}") from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as err:
            raise Unreachable(str(err) or type(err).__name__) from None
        finally:
            try:
                await client.quit()
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()
        assert retry_plain
        self._log.info("queue.starttls_failed_plaintext", host=host, address=address)
        return await self._session(host, address, port, message, recipients, data, demand, starttls=False)

    def _context(self, verify: bool, host: str) -> ssl.SSLContext:
        if not verify:
            return self._insecure
        return ssl.create_default_context(cafile=self.cafile) if self.cafile else ssl.create_default_context()

    async def _dialogue(self, client: aiosmtplib.SMTP, host: str, message: rec.QueuedMessage,
                        recipients: Sequence[rec.DueRecipient], data: bytes, verify: bool, requiretls: bool,
                        implicit: bool, demand: TlsDemand) -> dict[int, Delivered]:
        try:
            await client.ehlo()
        except aiosmtplib.SMTPHeloError:
            await client.helo()  # an old server without ESMTP: plain SMTP, no extensions
        if not implicit:
            if client.supports_extension("starttls"):
                try:
                    await client.starttls(server_hostname=host, validate_certs=verify,
                                          tls_context=self._context(verify, host))
                except (aiosmtplib.SMTPException, ssl.SSLError, OSError) as err:
                    if demand.required or verify:
                        raise Unreachable(f"STARTTLS with {host} failed: {err}") from None
                    raise _TlsFailed() from None
                if demand.dane:
                    certificate = client.get_transport_info("ssl_object").getpeercert(binary_form=True)
                    if dane_matches(list(demand.dane), certificate) is False:
                        raise Unreachable(f"{host}'s certificate matches none of its TLSA records (DANE)")
                await client.ehlo()
            elif demand.required:
                raise Unreachable(f"{host} does not offer STARTTLS, which {demand.why} requires")
            elif requiretls:
                raise _NoRequiredTls(Delivered(530, "5.7.10",
                                               f"{host} does not offer STARTTLS (the message has REQUIRETLS)", host))
            elif verify:  # a relay host without STARTTLS: try again (it may be fixed), never in the clear
                raise Unreachable(f"{host} does not offer STARTTLS")
        if self.relay is not None and self.relay.user:
            try:
                await client.login(self.relay.user, self.relay.password)
            except aiosmtplib.SMTPException as err:
                # A wrong or expired relay password is the administrator's to fix: keep the mail (4.7.0).
                raise Unreachable(f"AUTH at the relay host failed: {err}") from None
        # SMTPUTF8 only where the message needs it (a non-ASCII address or header): an ASCII message the
        # client happened to send with SMTPUTF8 goes to any server (RFC 6531 3.2).
        smtputf8 = bool(message.flags & rec.SMTPUTF8) and (
            not message.sender.isascii() or any(not r.address.isascii() for r in recipients)
            or not data[:data.find(b"\r\n\r\n") + 2 if b"\r\n\r\n" in data else len(data)].isascii())
        if smtputf8 and not client.supports_extension("smtputf8"):
            return dict.fromkeys((r.id for r in recipients),
                                 Delivered(553, "5.6.7", f"{host} does not accept SMTPUTF8 addresses", host))
        if requiretls and not client.supports_extension("requiretls"):
            raise _NoRequiredTls(Delivered(530, "5.7.30", f"{host} does not offer REQUIRETLS", host))
        options: list[str] = []
        if client.supports_extension("size"):
            options.append(f"SIZE={len(data)}")
        if message.flags & rec.EIGHT_BIT and client.supports_extension("8bitmime"):
            options.append("BODY=8BITMIME")
        if smtputf8:
            options.append("SMTPUTF8")
        dsn = client.supports_extension("dsn")
        if dsn and message.ret:
            options.append(f"RET={message.ret}")
        if dsn and message.envid:
            options.append(f"ENVID={xtext.encode(message.envid)}")
        if requiretls:
            options.append("REQUIRETLS")
        encoding = "utf-8" if smtputf8 else "ascii"
        await client.mail(message.sender, options=options, encoding=encoding)
        outcomes: dict[int, Delivered] = {}
        accepted: list[int] = []
        for r in recipients:
            rcpt_options: list[str] = []
            if dsn and r.notify:
                rcpt_options.append(f"NOTIFY={r.notify}")
            if dsn and r.orcpt:
                kind, _, addr = r.orcpt.partition(";")
                rcpt_options.append(f"ORCPT={kind};{xtext.encode(addr)}")
            try:
                await client.rcpt(r.address, options=rcpt_options, encoding=encoding)
                accepted.append(r.id)
            except aiosmtplib.SMTPRecipientRefused as err:
                outcomes[r.id] = _reply(err.code, err.message, host)
        if accepted:
            try:
                response = await client.data(data)
                done = _reply(response.code, response.message, host)
                if dsn:
                    done = Delivered(done.code, done.enhanced, done.text, host, reports=True)
            except aiosmtplib.SMTPDataError as err:
                done = _reply(err.code, err.message, host)
            for recipient_id in accepted:
                outcomes[recipient_id] = done
        return outcomes


def _is_address(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


