"""The service table: every service Polyport offers, its ports, transport and TLS mode.

This is the one place these facts live. Listeners, config defaults, `polyport services`, the firewall
generator and the README's port table all read it. The outer shape is CommuniGate Pro's default port
table (see DESIGN.md); two of its entries are corrected here: LDAP is 389 (not 387) and FTP's active
data port is 20 (22 is SSH), and FTP data goes through a passive port range instead.

A row whose `module` is None is not built yet: it is listed everywhere as "not available" and no
listener is ever opened for it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Transport(enum.StrEnum):
    TCP = "tcp"
    UDP = "udp"


class TlsMode(enum.StrEnum):
    NONE = "none"
    STARTTLS = "starttls"  # plaintext greeting, upgraded in-band (STARTTLS, STLS, AUTH TLS, StartTLS)
    IMPLICIT = "implicit"  # TLS from the first byte


@dataclass(frozen=True, slots=True)
class PortRange:
    """One port, or an inclusive range of ports, on one transport."""

    first: int
    last: int
    transport: Transport

    @property
    def is_range(self) -> bool:
        return self.last != self.first

    def ports(self) -> range:
        return range(self.first, self.last + 1)

    def __str__(self) -> str:
        span = f"{self.first}-{self.last}" if self.is_range else str(self.first)
        return f"{span}/{self.transport}"


TCP = (Transport.TCP,)
UDP = (Transport.UDP,)
UDP_TCP = (Transport.UDP, Transport.TCP)


@dataclass(frozen=True, slots=True)
class Service:
    name: str  # config section and listener name: `[services.<name>]`
    title: str
    ports: tuple[int, ...]  # listening ports, before --port-offset; each on every transport below
    transports: tuple[Transport, ...]
    tls: TlsMode
    trusted_only: bool  # answers only the trusted networks unless configured otherwise
    enabled_by_default: bool
    module: str | None  # protocol package that serves it; None while not built
    notes: str = ""
    # Ports opened per transfer or call rather than listened on (FTP passive data, RTP media).
    data_ports: PortRange | None = None
    idle_timeout: float = 1800.0  # default seconds of silence before a session is closed

    @property
    def built(self) -> bool:
        return self.module is not None


SERVICES: tuple[Service, ...] = (
    # SMTP's idle timeout is RFC 5321 4.5.3.2's five minutes.
    Service("smtp", "SMTP (MX)", (25,), TCP, TlsMode.STARTTLS, False, True, "polyport.smtp",
            "inbound mail; relays only for authenticated users and trusted networks", idle_timeout=300.0),
    Service("submission", "SMTP submission", (587,), TCP, TlsMode.STARTTLS, False, True, "polyport.smtp",
            "AUTH required", idle_timeout=300.0),
    Service("smtps", "SMTPS", (465,), TCP, TlsMode.IMPLICIT, False, True, "polyport.smtp",
            "submission over TLS (RFC 8314)", idle_timeout=300.0),
    # Not in CommuniGate's list: LMTP (RFC 2033) for other MTAs on this host or network to hand mail in;
    # 24 is its IANA port. Off by default, and for trusted networks only.
    Service("lmtp", "LMTP", (24,), TCP, TlsMode.STARTTLS, True, False, "polyport.smtp",
            "local delivery for other MTAs (RFC 2033)", idle_timeout=300.0),
    Service("pop3", "POP3", (110,), TCP, TlsMode.STARTTLS, False, True, "polyport.pop3", "STLS"),
    Service("pop3s", "POP3S", (995,), TCP, TlsMode.IMPLICIT, False, True, "polyport.pop3"),
    Service("imap", "IMAP", (143,), TCP, TlsMode.STARTTLS, False, True, "polyport.imap"),
    Service("imaps", "IMAPS", (993,), TCP, TlsMode.IMPLICIT, False, True, "polyport.imap"),
    # Web rows: the idle timeout is HTTP keep-alive's (aiohttp closes idle connections after it).
    Service("http", "HTTP", (80,), TCP, TlsMode.NONE, False, True, "polyport.web",
            "autoconfig and ACME challenges; pages redirect to HTTPS", idle_timeout=75.0),
    Service("https", "HTTPS", (443,), TCP, TlsMode.IMPLICIT, False, True, "polyport.web",
            "webmail, autoconfig, MTA-STS policy", idle_timeout=75.0),
    Service("webuser", "WebUser (webmail)", (8100,), TCP, TlsMode.NONE, False, True, "polyport.web",
            "plain HTTP: passwords only from trusted networks", idle_timeout=75.0),
    Service("webusers", "WebUser over TLS", (9100,), TCP, TlsMode.IMPLICIT, False, True, "polyport.web",
            idle_timeout=75.0),
    Service("webadmin", "WebAdmin", (8010,), TCP, TlsMode.NONE, False, True, "polyport.web",
            "administration; /metrics for trusted networks", idle_timeout=75.0),
    Service("webadmins", "WebAdmin over TLS", (9010,), TCP, TlsMode.IMPLICIT, False, True, "polyport.web",
            idle_timeout=75.0),
    Service("cliapi", "CLI/API", (106,), TCP, TlsMode.STARTTLS, True, True, "polyport.cliapi",
            "CommuniGate-compatible admin protocol; the cluster's inter-node channel"),
    # Not in CommuniGate's list: the same protocol inside TLS from the first byte, as every service here
    # has; 9106 follows the 8010/9010 and 8100/9100 pairs.
    Service("cliapi-tls", "CLI/API over TLS", (9106,), TCP, TlsMode.IMPLICIT, True, True, "polyport.cliapi"),
    Service("ldap", "LDAP", (389,), TCP, TlsMode.STARTTLS, True, True, None, "the directory"),
    Service("ldaps", "LDAPS", (636,), TCP, TlsMode.IMPLICIT, True, True, None),
    Service("acap", "ACAP", (674,), TCP, TlsMode.STARTTLS, True, True, None,
            "client options and address books (RFC 2244)"),
    Service("xmpp", "XMPP", (5222,), TCP, TlsMode.STARTTLS, False, True, "polyport.xmpp", "client-to-server"),
    Service("xmpps", "XMPP over TLS", (5223,), TCP, TlsMode.IMPLICIT, False, True, "polyport.xmpp",
            "direct TLS (XEP-0368)"),
    Service("xmpp-s2s", "XMPP server-to-server", (5269,), TCP, TlsMode.STARTTLS, False, False, "polyport.xmpp",
            "federation with other XMPP servers"),
    Service("sip", "SIP", (5060,), UDP_TCP, TlsMode.NONE, False, True, None, "registrar, proxy"),
    Service("sips", "SIPS", (5061,), TCP, TlsMode.IMPLICIT, False, True, None),
    Service("rtp", "RTP media", (), UDP, TlsMode.NONE, False, True, None, "media relay for calls",
            data_ports=PortRange(60000, 60099, Transport.UDP)),
    Service("ximss", "XIMSS", (11024,), TCP, TlsMode.NONE, False, True, None,
            "CommuniGate's XML client protocol"),
    Service("ximss-tls", "XIMSS over TLS", (11025,), TCP, TlsMode.IMPLICIT, False, True, None),
    Service("ftp", "FTP", (21, 8021), TCP, TlsMode.STARTTLS, False, True, None,
            "account file storage; AUTH TLS", data_ports=PortRange(50000, 50099, Transport.TCP)),
    Service("tftp", "TFTP", (69,), UDP, TlsMode.NONE, True, True, None, "device provisioning files"),
    Service("dns", "DNS", (53,), UDP_TCP, TlsMode.NONE, False, True, None,
            "authoritative answers for hosted domains"),
)

SERVICES_BY_NAME: dict[str, Service] = {s.name: s for s in SERVICES}

# --port-offset shifts only ports a non-root user could not bind.
PRIVILEGED_PORT_LIMIT = 1024


def offset_port(port: int, offset: int) -> int:
    """The port actually used for `port` with `--port-offset offset`."""
    return port + offset if port < PRIVILEGED_PORT_LIMIT else port


def offset_range(ports: PortRange, offset: int) -> PortRange:
    return PortRange(offset_port(ports.first, offset), offset_port(ports.last, offset), ports.transport)
