"""Mail client autoconfiguration documents, built from plain inputs (no I/O, no config).

- Mozilla autoconfig `config-v1.1.xml` (Thunderbird, Evolution, KMail, K-9, FairEmail...), as specified by
  the Thunderbird ConfigFileFormat page and draft-ietf-mailmaint-autoconfig.
- Microsoft Autodiscover "POX" (Outlook): the request is parsed defensively, the response names the
  IMAP/POP3/SMTP settings (responseschema/2006a).
- An Apple configuration profile (`.mobileconfig`) with one com.apple.mail.managed payload.
- The MTA-STS policy text (RFC 8461 section 3.2).

`default_setup` turns the node's public hostname and its open ports into the endpoint lists, in the order
clients should prefer them: implicit TLS before STARTTLS (RFC 8314), IMAP before POP3.
"""

from __future__ import annotations

import plistlib
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from polyport.service_table import SERVICES_BY_NAME, TlsMode

PROTOCOLS = frozenset({"imap", "pop3", "smtp"})
SECURITIES = frozenset({"tls", "starttls"})  # "tls": TLS from the first byte; "starttls": upgraded in-band


@dataclass(frozen=True, slots=True)
class MailEndpoint:
    protocol: str  # "imap", "pop3", "smtp"
    hostname: str
    port: int
    security: str  # "tls" (implicit), "starttls"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol {self.protocol!r} is not one of {sorted(PROTOCOLS)}")
        if self.security not in SECURITIES:
            raise ValueError(f"security {self.security!r} is not one of {sorted(SECURITIES)}")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 < self.port < 65536:
            raise ValueError(f"port {self.port!r} is not a TCP port (1-65535)")
        if not self.hostname or _UNSAFE_NAME.search(self.hostname):
            raise ValueError(f"hostname {self.hostname!r} is empty or has spaces or control characters")


@dataclass(frozen=True, slots=True)
class MailSetup:
    domain: str  # the email domain
    display_name: str  # e.g. the organisation or domain
    incoming: list[MailEndpoint]  # preferred first (IMAPS, IMAP STARTTLS, POP3S, POP3)
    outgoing: list[MailEndpoint]  # preferred first (submissions 465, submission 587)

    def __post_init__(self) -> None:
        # A wrong list would silently configure clients to send through an IMAP port, or read from SMTP.
        if any(e.protocol not in ("imap", "pop3") for e in self.incoming):
            raise ValueError("incoming endpoints must be imap or pop3")
        if any(e.protocol != "smtp" for e in self.outgoing):
            raise ValueError("outgoing endpoints must be smtp")


# Spaces, controls and separators are never part of a hostname; refusing them keeps every document sane.
_UNSAFE_NAME = re.compile(r"[\s\x00-\x1f\x7f]")
# Characters XML 1.0 cannot carry at all (not even as references), surrogates and U+FFFE/U+FFFF included.
# ElementTree would write them raw and produce a document no client parses; plistlib refuses them.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_LINE_BREAKS = re.compile(r"[\t\n\r]+")


def _text(value: str, limit: int | None = None) -> str:
    """`value` made safe for an XML or plist text node, on one line, at most `limit` characters."""
    cleaned = _LINE_BREAKS.sub(" ", _XML_ILLEGAL.sub("", value)).strip()
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[:limit].rstrip()
    return cleaned


# An address as the login name: one "@", a non-empty local part and domain, nothing a header or an XML
# document would stumble on. Quoted local parts (which may hold "@" and spaces) are not accepted: no
# Polyport account has one, and a config naming one is more likely an attack than a user.
_ADDRESS = re.compile(r"[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]{1,64}@[^\s@<>()\[\]\\,;:\"\x00-\x1f\x7f]{1,253}")
MAX_ADDRESS = 254  # RFC 3696 erratum 1690: the longest address a forward or reverse path can hold


def _plausible_address(email: str) -> bool:
    if len(email) > MAX_ADDRESS or _ADDRESS.fullmatch(email) is None or _XML_ILLEGAL.search(email):
        return False
    domain = email.rpartition("@")[2]
    return not (domain.startswith(".") or domain.endswith(".") or ".." in domain)


def _xml_document(root: ET.Element) -> bytes:
    ET.indent(root)
    document: bytes = ET.tostring(root, encoding="UTF-8", xml_declaration=True)
    return document + b"\n"


# --- Mozilla autoconfig --------------------------------------------------------------------------------

_SOCKET_TYPE = {"tls": "SSL", "starttls": "STARTTLS"}  # the spec's names: "SSL" is implicit TLS
PLACEHOLDER_ADDRESS = "%EMAILADDRESS%"  # replaced by the client with the address the user typed


def thunderbird_config(setup: MailSetup, email: str | None = None) -> bytes:
    """The Mozilla autoconfig document (`clientConfig version="1.1"`), UTF-8 with an XML declaration.

    Every endpoint is listed, preferred first, as the spec allows several server sections per type.
    `email` (the `emailaddress` query parameter) is used as the username when it looks like an address;
    otherwise, and when absent, the `%EMAILADDRESS%` placeholder, which means the same for Polyport since
    it logs users in by their address.
    """
    username = email if email is not None and _plausible_address(email) else PLACEHOLDER_ADDRESS
    domain = _text(setup.domain)
    root = ET.Element("clientConfig", version="1.1")
    provider = ET.SubElement(root, "emailProvider", id=domain)
    ET.SubElement(provider, "domain").text = domain
    # The spec's limits: displayName at most 60 characters, displayShortName at most 20.
    ET.SubElement(provider, "displayName").text = _text(setup.display_name, 60)
    ET.SubElement(provider, "displayShortName").text = _text(setup.display_name, 20)
    for endpoint in setup.incoming:
        _thunderbird_server(provider, "incomingServer", endpoint, username)
    for endpoint in setup.outgoing:
        _thunderbird_server(provider, "outgoingServer", endpoint, username)
    return _xml_document(root)


def _thunderbird_server(parent: ET.Element, tag: str, endpoint: MailEndpoint, username: str) -> None:
    server = ET.SubElement(parent, tag, type=endpoint.protocol)
    ET.SubElement(server, "hostname").text = _text(endpoint.hostname)
    ET.SubElement(server, "port").text = str(endpoint.port)
    ET.SubElement(server, "socketType").text = _SOCKET_TYPE[endpoint.security]
    ET.SubElement(server, "username").text = username
    # One method only. The spec allows several <authentication> elements (most preferred first), but the
    # only other values that name what Polyport speaks would mislead: "password-encrypted" means CRAM-MD5,
    # DIGEST-MD5 or SCRAM-SHA-256-PLUS (Polyport has SCRAM-SHA-256 without channel binding, and Thunderbird
    # would try CRAM-MD5), and "SASL SCRAM-SHA-256" exists only in the 1.2 draft. PLAIN/LOGIN run inside
    # TLS here, since every endpoint is TLS or STARTTLS.
    ET.SubElement(server, "authentication").text = "password-cleartext"


# --- Microsoft Autodiscover (POX) -----------------------------------------------------------------------

AUTODISCOVER_REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
AUTODISCOVER_RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_RESPONSE_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MAX_AUTODISCOVER_REQUEST = 16 * 1024  # a real request is under 500 bytes

_FORBIDDEN_MARKUP = (b"<!doctype", b"<!entity")  # DTDs are how entity bombs and external entities get in


def parse_autodiscover_request(body: bytes) -> str | None:
    """The address in an Outlook POX Autodiscover request, or None for anything else. Never raises.

    The body is untrusted: over 16 KiB, a DOCTYPE or ENTITY declaration, a NUL, or bytes that are not
    UTF-8 are refused before any parsing. The root must be `Autodiscover` in the Outlook request namespace,
    with `Request/EMailAddress` and `Request/AcceptableResponseSchema` naming the 2006a response schema,
    the only one answered here (ActiveSync's mobilesync schema is a different protocol).
    """
    try:
        return _parse_autodiscover_request(body)
    except Exception:  # whatever a hostile body provokes in the parser, the answer is "not a request"
        return None


def _parse_autodiscover_request(body: bytes) -> str | None:
    if not isinstance(body, bytes) or len(body) > MAX_AUTODISCOVER_REQUEST or b"\x00" in body:
        return None
    lowered = body.lower()
    if any(marker in lowered for marker in _FORBIDDEN_MARKUP):
        return None
    # Parsing the decoded text makes expat read UTF-8 whatever the XML declaration claims, so a body
    # declaring another encoding cannot smuggle past the byte checks above.
    text = body.decode("utf-8").removeprefix("\ufeff")
    root = ET.fromstring(text)  # noqa: S314  (bounded, DTD-free, and expat >= 2.4 limits amplification)
    ns = f"{{{AUTODISCOVER_REQUEST_NS}}}"
    if root.tag != f"{ns}Autodiscover":
        return None
    request = root.find(f"{ns}Request")
    if request is None:
        return None
    schema = request.findtext(f"{ns}AcceptableResponseSchema")
    if schema is None or schema.strip() != OUTLOOK_RESPONSE_SCHEMA:
        return None
    email = (request.findtext(f"{ns}EMailAddress") or "").strip()
    return email if _plausible_address(email) else None


def autodiscover_response(setup: MailSetup, email: str) -> bytes:
    """The POX Autodiscover response for `email`: one Protocol per type (IMAP, POP3, SMTP), preferred first.

    Outlook reads one server per type, so only the first endpoint of each is given. Implicit TLS is
    `<SSL>on</SSL>` with `<Encryption>SSL</Encryption>`; STARTTLS is `<SSL>off</SSL>` with
    `<Encryption>TLS</Encryption>` (Outlook 2010 and later let Encryption override SSL; `SSL on` alone
    would make Outlook start a TLS handshake on a port that greets in plain text). Raises ValueError if
    `email` is not a plausible address.
    """
    if not _plausible_address(email):
        raise ValueError(f"{email!r} is not an email address")
    # Literal xmlns attributes keep both default namespaces as Outlook expects them; ElementTree's own
    # namespace handling would write ns0:/ns1: prefixes instead.
    root = ET.Element("Autodiscover", xmlns=AUTODISCOVER_RESPONSE_NS)
    response = ET.SubElement(root, "Response", xmlns=OUTLOOK_RESPONSE_SCHEMA)
    account = ET.SubElement(response, "Account")
    ET.SubElement(account, "AccountType").text = "email"
    ET.SubElement(account, "Action").text = "settings"
    seen: set[str] = set()
    for endpoint in [*setup.incoming, *setup.outgoing]:
        if endpoint.protocol in seen:
            continue
        seen.add(endpoint.protocol)
        protocol = ET.SubElement(account, "Protocol")
        ET.SubElement(protocol, "Type").text = endpoint.protocol.upper()
        ET.SubElement(protocol, "Server").text = _text(endpoint.hostname)
        ET.SubElement(protocol, "Port").text = str(endpoint.port)
        ET.SubElement(protocol, "LoginName").text = email
        ET.SubElement(protocol, "DomainRequired").text = "off"
        ET.SubElement(protocol, "SPA").text = "off"  # SPA is NTLM; Polyport offers PLAIN/LOGIN inside TLS
        implicit = endpoint.security == "tls"
        ET.SubElement(protocol, "SSL").text = "on" if implicit else "off"
        ET.SubElement(protocol, "Encryption").text = "SSL" if implicit else "TLS"
        ET.SubElement(protocol, "AuthRequired").text = "on"
    return _xml_document(root)


# --- Apple configuration profile --------------------------------------------------------------------------

# Fixed so that the same seed gives the same UUIDs on every node and in every test run.
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:polyport:web:autoconfig:mobileconfig")
_IDENTIFIER_UNSAFE = re.compile(r"[^a-z0-9-]+")
_APPLE_ACCOUNT_TYPE = {"imap": "EmailTypeIMAP", "pop3": "EmailTypePOP"}


def apple_mobileconfig(setup: MailSetup, email: str, full_name: str, uuid_seed: str) -> bytes:
    """An Apple configuration profile (XML plist) holding one com.apple.mail.managed payload.

    The incoming server is the first IMAP endpoint, or the first POP3 one if IMAP is off; the outgoing
    server is the first SMTP endpoint. UUIDs are uuid5 of `uuid_seed` and the address, so fetching the
    profile again for the same account yields the same identifiers and replaces the installed profile
    rather than adding a second one. Raises ValueError without an incoming or outgoing endpoint, or if
    `email` is not a plausible address.
    """
    if not _plausible_address(email):
        raise ValueError(f"{email!r} is not an email address")
    incoming = next((e for e in setup.incoming if e.protocol == "imap"), None)
    incoming = incoming or next((e for e in setup.incoming if e.protocol == "pop3"), None)
    if incoming is None:
        raise ValueError("no IMAP or POP3 endpoint: a mail profile needs an incoming server")
    if not setup.outgoing:
        raise ValueError("no SMTP endpoint: a mail profile needs an outgoing server")
    outgoing = setup.outgoing[0]

    profile_uuid = str(uuid.uuid5(_UUID_NAMESPACE, f"{uuid_seed}\x00profile\x00{email}")).upper()
    mail_uuid = str(uuid.uuid5(_UUID_NAMESPACE, f"{uuid_seed}\x00mail\x00{email}")).upper()
    labels = [_IDENTIFIER_UNSAFE.sub("-", label).strip("-") for label in setup.domain.lower().split(".")]
    reverse_domain = ".".join(label for label in reversed(labels) if label) or "invalid"
    identifier = f"{reverse_domain}.polyport.mail.{profile_uuid}"
    display_name = _text(setup.display_name) or _text(setup.domain)

    mail_payload: dict[str, object] = {
        "PayloadType": "com.apple.mail.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.account",
        "PayloadUUID": mail_uuid,
        "PayloadDisplayName": f"{display_name} mail",
        "EmailAccountType": _APPLE_ACCOUNT_TYPE[incoming.protocol],
        "EmailAccountDescription": f"{display_name} ({email})",
        "EmailAccountName": _text(full_name),
        "EmailAddress": email,
        # Apple's payload has a single "use TLS" switch and no STARTTLS setting: UseSSL true asks for TLS
        # either way, and Mail negotiates which kind the port speaks (TLS from the first byte on 993/465,
        # STARTTLS on 143/587). False would allow the password to cross in plain text.
        "IncomingMailServerHostName": _text(incoming.hostname),
        "IncomingMailServerPortNumber": incoming.port,
        "IncomingMailServerUseSSL": True,
        "IncomingMailServerUsername": email,
        "IncomingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingMailServerHostName": _text(outgoing.hostname),
        "OutgoingMailServerPortNumber": outgoing.port,
        "OutgoingMailServerUseSSL": True,
        "OutgoingMailServerUsername": email,
        "OutgoingMailServerAuthentication": "EmailAuthPassword",
        "OutgoingPasswordSameAsIncomingPassword": True,  # one password, asked for once at install
    }
    profile: dict[str, object] = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": profile_uuid,
        "PayloadDisplayName": f"{display_name} mail ({email})",
        "PayloadDescription": f"Sets up the mail account {email}.",
        "PayloadOrganization": display_name,
        "PayloadContent": [mail_payload],
    }
    return plistlib.dumps(profile, fmt=plistlib.FMT_XML)


# --- MTA-STS -----------------------------------------------------------------------------------------------

MTA_STS_MODES = frozenset({"enforce", "testing", "none"})
MTA_STS_MAX_AGE_LIMIT = 31_557_600  # RFC 8461 3.2: at most one year
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")


def _mx_pattern(pattern: str) -> str:
    """`pattern` checked and lower-cased: a hostname, or "*." and a hostname (RFC 8461 3.2 and 4.1)."""
    name = pattern.strip().lower().removesuffix(".")
    host = name.removeprefix("*.")
    labels = host.split(".")
    if (len(host) > 253 or len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels)
            or labels[-1].isdigit()):
        raise ValueError(f"mx pattern {pattern!r} is not a hostname or '*.' and a hostname "
                         "(internationalised names go in their xn-- form)")
    return name


def mta_sts_policy(mode: str, mx: list[str], max_age: int) -> bytes:
    """The MTA-STS policy file (`/.well-known/mta-sts.txt`), CRLF line endings, version line first.

    `mode` is enforce, testing or none; `mx` holds the allowed MX patterns (at least one unless the mode
    is none, which only retires a policy); `max_age` is seconds, 0 to one year. Raises ValueError on bad
    input.
    """
    if mode not in MTA_STS_MODES:
        raise ValueError(f"MTA-STS mode {mode!r} is not one of enforce, testing, none")
    if isinstance(max_age, bool) or not isinstance(max_age, int) or not 0 <= max_age <= MTA_STS_MAX_AGE_LIMIT:
        raise ValueError(f"MTA-STS max_age {max_age!r} is not 0 to {MTA_STS_MAX_AGE_LIMIT} seconds")
    patterns = list(dict.fromkeys(_mx_pattern(p) for p in mx))  # duplicates dropped, order kept
    if not patterns and mode != "none":
        raise ValueError(f"an MTA-STS policy in mode {mode!r} needs at least one mx pattern")
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {p}" for p in patterns), f"max_age: {max_age}"]
    return "".join(f"{line}\r\n" for line in lines).encode("ascii")


# --- The node's own setup -------------------------------------------------------------------------------------

# Preference order: implicit TLS before STARTTLS (RFC 8314 section 3), IMAP before POP3. Port 25 ("smtp")
# is for other MTAs, never for clients, so it is not offered.
_INCOMING_SERVICES = (("imaps", "imap"), ("imap", "imap"), ("pop3s", "pop3"), ("pop3", "pop3"))
_OUTGOING_SERVICES = (("smtps", "smtp"), ("submission", "smtp"))
_SECURITY_BY_TLS_MODE = {TlsMode.IMPLICIT: "tls", TlsMode.STARTTLS: "starttls"}


def default_setup(domain: str, hostname: str, ports: Mapping[str, int]) -> MailSetup:
    """The endpoints a domain's users should use on this node, preferred first.

    `ports` maps service names (as in the service table) to the first port each listens on; a missing
    name means that service is off, and names other than the mail client services are ignored. The TLS
    mode of each service comes from the service table.
    """

    def endpoints(services: tuple[tuple[str, str], ...]) -> list[MailEndpoint]:
        return [MailEndpoint(protocol, hostname, ports[name], _SECURITY_BY_TLS_MODE[SERVICES_BY_NAME[name].tls])
                for name, protocol in services if name in ports]

    return MailSetup(domain=domain, display_name=domain, incoming=endpoints(_INCOMING_SERVICES),
                     outgoing=endpoints(_OUTGOING_SERVICES))
