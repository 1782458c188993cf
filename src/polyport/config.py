"""The node's settings: a typed schema, read from TOML, that can print a commented example of itself.

Every setting has one definition here, with its default and a description; `polyport config example`
renders the schema, `polyport config check` and `polyport serve` validate a file against it. Errors name
the file, the key and the reason (`ConfigError`). Per-service defaults come from the service table.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from polyport.service_table import SERVICES, SERVICES_BY_NAME, Service, offset_port

DEFAULT_DATA_DIR = Path("/var/lib/polyport")
CONFIG_FILE_NAME = "polyport.toml"


class ConfigError(Exception):
    """A setting is wrong; the message names where and why, in one line."""


def _doc(text: str, **constraints: Any) -> msgspec.Meta:
    return msgspec.Meta(description=text, **constraints)


Port = Annotated[int, msgspec.Meta(ge=1, le=65535)]
# A listening port; 0 asks the system for any free one (tests running side by side), reported by
# `polyport services` of a running node and in its status file.
ListenPort = Annotated[int, msgspec.Meta(ge=0, le=65535)]
Seconds = Annotated[float, msgspec.Meta(gt=0)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


def _check_address(value: str | None, key: str) -> None:
    if value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"{key}: `{value}` is not an IP address") from None


class NodeSettings(_Section):
    data: Annotated[str, _doc(
        "Data folder: the SQLite store, message and file blobs, the self-signed certificate. "
        "--data overrides it.")] = str(DEFAULT_DATA_DIR)
    main_domain: Annotated[str, _doc(
        "The main domain, created with postmaster@ on first start. Empty: the host's name. "
        "--domain overrides it.")] = ""
    bind: Annotated[str, _doc(
        "Address every listener binds to. Empty: all addresses. --bind overrides it.")] = ""
    port_offset: Annotated[int, _doc(
        "Added to every port below 1024, so a non-root user can run the node (25 becomes 10025 "
        "with 10000). --port-offset overrides it.", ge=0, le=64000)] = 0
    shutdown_grace: Annotated[float, _doc(
        "Seconds that open sessions get to finish after SIGTERM or SIGINT.", ge=0)] = 10.0
    workers: Annotated[Annotated[int, msgspec.Meta(ge=1, le=256)] | Literal["auto"], _doc(
        "Worker processes serving every port (the kernel spreads connections over them), under a "
        "supervisor that restarts one that dies. \"auto\": one per core. 1: the node is one process.")] = 1

    def __post_init__(self) -> None:
        _check_address(self.bind, "bind")

    def worker_count(self) -> int:
        """How many worker processes `workers` means on this machine."""
        if self.workers == "auto":
            return max(1, len(os.sched_getaffinity(0)))
        return self.workers


class StoreSettings(_Section):
    url: Annotated[str, _doc(
        "Where records live. Empty: SQLite in the data folder. "
        "PostgreSQL: postgresql://user:password@host:5432/database")] = ""
    pool_size: Annotated[int, _doc(
        "PostgreSQL: connections in the pool.", ge=1, le=1000)] = 10
    sqlite_readers: Annotated[int, _doc(
        "SQLite: reader threads, each with its own connection (writes go through one writer thread). "
        "0 runs reads on the event loop's thread, which is fastest: a read from SQLite's page cache "
        "takes microseconds, a hand-off to a thread and back costs more.",
        ge=0, le=64)] = 0
    busy_timeout: Annotated[float, _doc(
        "SQLite: seconds to wait for a lock held by another process (an admin command) before failing.",
        gt=0)] = 10.0

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("postgresql://", "postgres://")):
            raise ValueError(
                f"url: `{self.url}` is not a PostgreSQL URL (postgresql://...); leave it empty for SQLite")


class BlobSettings(_Section):
    path: Annotated[str, _doc(
        "Folder of the content-addressed blob store (message bodies, files). "
        "Empty: blobs/ in the data folder. Cluster nodes share one.")] = ""


class TlsSettings(_Section):
    cert_file: Annotated[str, _doc(
        "PEM certificate chain for the main domain. Empty: the self-signed certificate made on first "
        "start. Re-read on SIGHUP.")] = ""
    key_file: Annotated[str, _doc("PEM private key for cert_file.")] = ""
    min_version: Annotated[Literal["1.2", "1.3"], _doc("Oldest TLS version accepted.")] = "1.2"

    def __post_init__(self) -> None:
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("cert_file and key_file go together: set both or neither")


class NetworkSettings(_Section):
    trusted: Annotated[list[str] | None, _doc(
        "Trusted networks (CIDR): they may relay mail, send plaintext passwords without TLS, and reach "
        "the trusted-only services (CLI/API, LDAP, ACAP, TFTP). Unset: loopback and this host's own "
        "addresses.")] = None

    def __post_init__(self) -> None:
        for net in self.trusted or ():
            try:
                ipaddress.ip_network(net, strict=False)
            except ValueError:
                raise ValueError(f"trusted: `{net}` is not a network (like 10.0.0.0/8)") from None


class ClusterSettings(_Section):
    peers: Annotated[list[str], _doc(
        "Addresses of the other nodes of this cluster; the firewall lets them reach every port.")] = []
    bus: Annotated[Literal["local", "redis"], _doc(
        "The event bus and the key-value store (login throttling, locks, rate limits): \"local\" within "
        "this node (its worker processes share them through the supervisor), or \"redis\" on the Redis "
        "server of redis_url, shared by every worker and node that names it and the same redis_prefix.")] = "local"
    redis_url: Annotated[str, _doc(
        "The Redis server of the \"redis\" bus: redis://[user:password@]host:6379/0 (rediss:// for "
        "TLS, unix:///path/to/socket for a local socket). Unused by the local bus.")] = ""
    redis_prefix: Annotated[str, _doc(
        "The start of every Redis key and channel this server uses, so that several servers (or tests) "
        "can share one Redis database.", min_length=1, max_length=100)] = "polyport:"

    def __post_init__(self) -> None:
        for peer in self.peers:
            try:
                ipaddress.ip_network(peer, strict=False)
            except ValueError:
                raise ValueError(f"peers: `{peer}` is not an IP address or network") from None
        if self.bus == "redis":
            if not self.redis_url:
                raise ValueError("redis_url: bus = \"redis\" needs the Redis server's URL (redis://host:6379/0)")
            if not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
                # Not echoed: the URL may hold a password.
                raise ValueError("redis_url: not a Redis URL (it starts with redis://, rediss:// or unix://)")


class AuthSettings(_Section):
    argon2_memory_kib: Annotated[int, _doc(
        "argon2id memory per password hash, KiB (OWASP: 19456 or more).", ge=8192)] = 19456
    argon2_time_cost: Annotated[int, _doc("argon2id passes.", ge=1, le=20)] = 2
    argon2_parallelism: Annotated[int, _doc("argon2id lanes.", ge=1, le=16)] = 1
    hash_threads: Annotated[int, _doc(
        "Threads that hash and verify passwords (never the event loop). 0: one per CPU.", ge=0)] = 0
    scram_iterations: Annotated[int, _doc(
        "PBKDF2 iterations of the SCRAM-SHA-256 keys stored with each password (RFC 7677: 4096+).",
        ge=4096)] = 4096
    secret_key_file: Annotated[str, _doc(
        "Key that seals the passwords of accounts with RecoverablePassword=YES (for APOP). Empty: "
        "secret.key in the data folder, made on first start. Cluster nodes share one.")] = ""
    credential_cache_seconds: Annotated[float, _doc(
        "How long a verified password is remembered (as a keyed hash) so repeated logins skip "
        "argon2. 0 disables.", ge=0)] = 600.0
    credential_cache_size: Annotated[int, _doc("Most credentials remembered.", ge=0)] = 100_000
    failure_window: Annotated[float, _doc(
        "Seconds over which failed logins are counted.", gt=0)] = 300.0
    max_failures_per_address: Annotated[int, _doc(
        "Failed logins from one remote address within the window before it is locked out.", ge=1)] = 10
    max_failures_per_account: Annotated[int, _doc(
        "Failed logins to one account within the window before it is locked out (from addresses "
        "other than trusted networks).", ge=1)] = 30
    lockout_seconds: Annotated[float, _doc(
        "How long a locked-out address or account is refused without checking passwords.", gt=0)] = 300.0


class MailSettings(_Section):
    max_message_size: Annotated[int, _doc(
        "Largest message accepted (SMTP SIZE, IMAP APPENDLIMIT), bytes.", ge=1024)] = 50 * 1024 * 1024
    hostname: Annotated[str, _doc(
        "This server's name in SMTP greetings and Received fields. Default: the machine's host name.")] = ""
    check_inbound: Annotated[bool, _doc(
        "Check SPF, DKIM and DMARC of mail from outside (not from trusted networks or authenticated users) "
        "and record them in Authentication-Results.")] = True
    dmarc: Annotated[Literal["enforce", "record"], _doc(
        "What a failed DMARC check does: \"enforce\" the sender domain's policy (reject: refused with 550; "
        "quarantine: into the recipient's Junk), or only \"record\" it.")] = "enforce"
    max_recipients: Annotated[int, _doc(
        "Most recipients of one SMTP transaction (RFC 5321 asks for at least 100); more get 452 and are "
        "sent again by the client.", ge=100)] = 1000


class QueueSettings(_Section):
    remote_port: Annotated[int, _doc(
        "Port of other domains' mail hosts (25; only tests and unusual networks change it).", ge=1, le=65535)] = 25
    relay_host: Annotated[str, _doc(
        "Send all outgoing mail through this host (\"host\" or \"host:port\", default port 587) instead of "
        "to each domain's MX.")] = ""
    relay_tls: Annotated[Literal["starttls", "implicit"], _doc(
        "TLS to the relay host: STARTTLS (587) or implicit (465); its certificate is always checked.")] = "starttls"
    relay_user: Annotated[str, _doc("User name for AUTH at the relay host (none: no AUTH).")] = ""
    relay_password: Annotated[str, _doc("Password for AUTH at the relay host.")] = ""
    min_backoff: Annotated[float, _doc("Seconds before the first retry; doubled each time.", gt=0)] = 300.0
    max_backoff: Annotated[float, _doc("Longest wait between retries, seconds.", gt=0)] = 4000.0
    lifetime: Annotated[float, _doc("Seconds a message is retried before it is bounced (5 days).", gt=0)] = 432_000.0
    delay_warning: Annotated[float, _doc(
        "Seconds after which the sender is told, once, that a message is still waiting.", gt=0)] = 14_400.0
    notices_to_unverified: Annotated[Literal["headers", "none", "full"], _doc(
        "What a sender nothing vouched for (not authenticated, not from a trusted network, neither SPF nor "
        "DMARC passed: perhaps forged) gets when its mail fails or waits: \"headers\", the notice with the "
        "original's header only (at most 32 KiB, as RET=HDRS); \"none\", no notice (nor vacation answers); "
        "\"full\", the original as RET asks, as a verified sender does (a forger can then make this server "
        "mail its content to anyone). Success reports and the rejections of rules and Sieve go to verified "
        "senders only, whatever this says.")
    ] = "headers"
    concurrency: Annotated[int, _doc("Outgoing SMTP connections at most.", ge=1)] = 100
    per_destination: Annotated[int, _doc("Outgoing connections to one domain at most.", ge=1)] = 20
    connect_timeout: Annotated[float, _doc("Seconds to wait for a mail host to answer.", gt=0)] = 30.0
    mta_sts: Annotated[bool, _doc(
        "Honour the MTA-STS policies (RFC 8461) destinations publish: in enforce mode, only their listed MX "
        "hosts, over TLS with a valid certificate.")] = True
    dane: Annotated[bool, _doc(
        "Honour DANE TLSA records (RFC 7672) of mail hosts, when the DNS resolver validates DNSSEC.")] = True
    ca_file: Annotated[str, _doc(
        "PEM bundle of certificate authorities trusted when a mail host's or MTA-STS server's certificate "
        "is checked (default: the system's).")] = ""
    mta_sts_port: Annotated[int, _doc(
        "HTTPS port MTA-STS policies are fetched from (443; only tests change it).", ge=1, le=65535)] = 443

    def __post_init__(self) -> None:
        if self.relay_host:
            self.relay_endpoint()  # a bad port is an error at start-up, not when the first mail leaves

    def relay_endpoint(self) -> tuple[str, int] | None:
        """relay_host as (host, port): "host" alone takes the port of relay_tls (587, or 465 for implicit
        TLS); an IPv6 address goes in brackets when a port follows ("[2001:db8::1]:587")."""
        if not self.relay_host:
            return None
        default = 465 if self.relay_tls == "implicit" else 587
        text = self.relay_host
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port_text = rest[1:] if rest.startswith(":") else ""
            if rest and not rest.startswith(":"):
                raise ValueError(f"relay_host: `{text}` is not host, host:port or [IPv6]:port")
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
        else:
            host, port_text = text, ""  # a name, or a bare IPv6 address
        if not host:
            raise ValueError(f"relay_host: `{text}` names no host")
        if not port_text:
            return host, default
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"relay_host: `{text}`: the port must be a number from 1 to 65535")
        return host, int(port_text)


class DnsSettings(_Section):
    servers: Annotated[list[str], _doc(
        "DNS servers to ask (\"addr\" or \"addr:port\"). Default: those of /etc/resolv.conf.")] = msgspec.field(
        default_factory=list)
    timeout: Annotated[float, _doc("Seconds to wait for a DNS answer.", gt=0)] = 5.0


class WebSettings(_Section):
    hostname: Annotated[str, _doc(
        "Public host name of the web and mail services, used in autoconfig answers and links. Default: "
        "[mail] hostname, else the machine's host name.")] = ""
    session_idle: Annotated[int, _doc(
        "Seconds a webmail or WebAdmin session lasts past its last use.", ge=60)] = 1800
    session_remember: Annotated[int, _doc(
        "Seconds a session lasts past its last use when \"remember me\" was ticked at login.", ge=60)] = 30 * 86400
    page_size: Annotated[int, _doc("Messages on one page of the webmail's message list.", ge=10, le=500)] = 50
    max_upload: Annotated[int, _doc(
        "Largest request body (a message with its attachments), bytes. The account's and the server's "
        "message size limits apply too.", ge=65536)] = 50 * 1024 * 1024
    mta_sts_mode: Annotated[Literal["enforce", "testing", "none"], _doc(
        "The mode of the MTA-STS policy served at /.well-known/mta-sts.txt for hosted domains.")] = "testing"
    acme_dir: Annotated[str, _doc(
        "Folder whose files are served at /.well-known/acme-challenge/ on every web port (for an ACME "
        "client's HTTP-01 challenges). Default: acme-challenge/ in the data folder.")] = ""


class XmppSettings(_Section):
    rooms: Annotated[str, _doc(
        "Label of each served domain's multi-user chat service (XEP-0045): rooms are room@<label>.<domain>. "
        "Empty: no chat rooms.", pattern=r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$")] = "conference"
    room_history_days: Annotated[int, _doc(
        "Days a persistent room's messages stay in its archive (XEP-0313) unless its owner turns archiving "
        "off.", ge=1, le=36500)] = 30
    upload_max_size: Annotated[int, _doc(
        "Largest file a client may upload to share it (XEP-0363), bytes; 0: no uploads.", ge=0)] = 50 * 1024 * 1024
    upload_quota: Annotated[int, _doc(
        "Bytes of uploaded files one account keeps at most (the oldest expire first).", ge=0)] = 1024 * 1024 * 1024
    upload_days: Annotated[int, _doc("Days an uploaded file is kept.", ge=1, le=36500)] = 30
    push_with_sender: Annotated[bool, _doc(
        "Name the sender in push notifications (XEP-0357) to clients' app servers. Off: they learn only that "
        "a message waits (the app server, and Apple's or Google's service behind it, are third parties).")] = False
    s2s_secure: Annotated[bool, _doc(
        "Federate only with servers whose certificates are valid for their domains, both ways (XEP-0178: SASL "
        "EXTERNAL on a checked certificate; no dialback). Off: a server whose certificate cannot be checked "
        "proves its domain with dialback (XEP-0220), as most servers allow by default.")] = False
    s2s_ca_file: Annotated[str, _doc(
        "A PEM file of certificate authorities trusted for other XMPP servers' certificates, beside the "
        "system's (a private federation).")] = ""
    s2s_private_addresses: Annotated[bool, _doc(
        "Connect to other XMPP servers at loopback, private and link-local addresses (a federation inside one "
        "network). Off: a domain's DNS records cannot aim this server's connections at local services.")] = False
    upload_url: Annotated[str, _doc(
        "Where clients reach the uploaded files, scheme, host and port (\"https://files.example.com\"; behind a "
        "proxy, its address). Default: https on the public host name and the https port, else the webmail's.",
        pattern=r"^(https?://[^/\s]+)?$")] = ""


class LogSettings(_Section):
    level: Annotated[Literal["debug", "info", "warning", "error"], _doc("Least severe level logged.")] = "info"
    format: Annotated[Literal["console", "json"], _doc(
        "console: key=value lines; json: one JSON object a line.")] = "console"


class FirewallSettings(_Section):
    allow_tcp: Annotated[list[Port], _doc(
        "Other incoming TCP ports the generated firewall keeps open (SSH, so you are not locked "
        "out).")] = msgspec.field(default_factory=lambda: [22])


class ServiceSettings(_Section):
    enabled: Annotated[bool | None, _doc("Open this service's listeners. Default: the service table.")] = None
    ports: Annotated[list[ListenPort] | None, _doc(
        "Listening ports (before --port-offset; 0 is any free port). Default: the service table.")] = None
    bind: Annotated[str | None, _doc("Address to bind. Default: [node] bind.")] = None
    socket: Annotated[str | None, _doc(
        "Also listen on this Unix socket (a path; mode 0660): for a mail server on this host to hand mail "
        "to LMTP (Postfix: lmtp:unix:PATH). Whoever may open it is trusted.")] = None
    trusted_only: Annotated[bool | None, _doc(
        "Answer only the trusted networks. Default: the service table.")] = None
    max_connections: Annotated[int, _doc("Open connections at most.", ge=1)] = 10_000
    max_per_address: Annotated[int, _doc(
        "Open connections from one remote address at most (trusted networks are exempt).", ge=1)] = 50
    idle_timeout: Annotated[float, _doc(
        "Seconds of silence before a session is closed. Default: the service's (1800; SMTP 300, RFC 5321).",
        gt=0)] | None = None
    max_line: Annotated[int, _doc(
        "Longest command line accepted, bytes; longer lines are refused without being buffered.",
        ge=256)] = 65_536

    def __post_init__(self) -> None:
        _check_address(self.bind, "bind")


class Config(_Section, dict=True):  # dict=True: room for the file's own service settings (see below)
    node: NodeSettings = msgspec.field(default_factory=NodeSettings)
    store: StoreSettings = msgspec.field(default_factory=StoreSettings)
    blobs: BlobSettings = msgspec.field(default_factory=BlobSettings)
    tls: TlsSettings = msgspec.field(default_factory=TlsSettings)
    network: NetworkSettings = msgspec.field(default_factory=NetworkSettings)
    cluster: ClusterSettings = msgspec.field(default_factory=ClusterSettings)
    auth: AuthSettings = msgspec.field(default_factory=AuthSettings)
    mail: MailSettings = msgspec.field(default_factory=MailSettings)
    queue: QueueSettings = msgspec.field(default_factory=QueueSettings)
    dns: DnsSettings = msgspec.field(default_factory=DnsSettings)
    web: WebSettings = msgspec.field(default_factory=WebSettings)
    xmpp: XmppSettings = msgspec.field(default_factory=XmppSettings)
    log: LogSettings = msgspec.field(default_factory=LogSettings)
    firewall: FirewallSettings = msgspec.field(default_factory=FirewallSettings)
    # Filled by parse(), one service at a time, so errors can name the service.
    services: dict[str, ServiceSettings] = msgspec.field(default_factory=dict)

    # -- derived values; computed, never stored twice --

    @property
    def data_dir(self) -> Path:
        return Path(self.node.data)

    @property
    def acme_path(self) -> Path:
        """Where an ACME client leaves its HTTP-01 files: [web] acme_dir, else acme-challenge/ in the data folder."""
        from polyport.datadir import ACME_DIR

        return Path(self.web.acme_dir) if self.web.acme_dir else self.data_dir / ACME_DIR

    @property
    def secret_key_path(self) -> Path:
        return Path(self.auth.secret_key_file) if self.auth.secret_key_file else self.data_dir / "secret.key"

    @property
    def main_domain(self) -> str:
        return (self.node.main_domain or socket.getfqdn() or "localhost").lower().rstrip(".")

    def service(self, name: str) -> ResolvedService:
        return ResolvedService(SERVICES_BY_NAME[name], self.services.get(name) or ServiceSettings(), self)

    def resolved_services(self) -> list[ResolvedService]:
        return [self.service(s.name) for s in SERVICES]


# Listener settings the CLI/API changes (GETMODULE/UPDATEMODULE), by their CommuniGate-style names. Such
# changes are kept in the store and win over the config file; the node applies limits at once, ports and
# enabling at its next start.
MODULE_KEYS: dict[str, str] = {
    "Enabled": "enabled", "Ports": "ports", "Bind": "bind", "TrustedOnly": "trusted_only",
    "MaxConnections": "max_connections", "MaxPerAddress": "max_per_address", "IdleTimeout": "idle_timeout",
    "MaxLine": "max_line",
}
RESTART_KEYS = frozenset({"enabled", "ports", "bind"})


def _coerce(field: str, value: Any) -> Any:
    if field in ("enabled", "trusted_only"):
        if isinstance(value, bool):
            return value
        text = str(value).strip().upper()
        if text in ("YES", "TRUE", "ON", "1"):
            return True
        if text in ("NO", "FALSE", "OFF", "0"):
            return False
        raise ValueError(f"expected YES or NO, got {value!r}")
    if field == "ports":
        items = value if isinstance(value, list) else [value]
        return [int(str(item)) for item in items]
    if field == "idle_timeout":
        return float(str(value))
    if field == "bind":
        return str(value)
    return int(str(value))


def module_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """CLI/API module settings ({MaxConnections=100;Ports=(25,2525);...}) as config field values;
    ValueError naming the key. A value `default` maps to None (back to the file's or the table's value)."""
    result: dict[str, Any] = {}
    known = {key.lower(): field for key, field in MODULE_KEYS.items()}
    for key, value in changes.items():
        field = known.get(key.lower())
        if field is None:
            raise ValueError(f"{key}: unknown listener setting (known: {', '.join(MODULE_KEYS)})")
        if isinstance(value, str) and value.lower() == "default":
            result[field] = None
            continue
        try:
            result[field] = _coerce(field, value)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{key}: {err}") from None
    return result


def with_module_changes(settings: ServiceSettings, overrides: dict[str, Any]) -> ServiceSettings:
    """`settings` with stored overrides applied (None values removed first); ValueError if invalid."""
    raw = msgspec.to_builtins(settings)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return msgspec.convert(raw, ServiceSettings)
    except msgspec.ValidationError as err:
        raise ValueError(_format_error("module settings", err).split(": ", 1)[1]) from None


def apply_store_overrides(config: Config, services: dict[str, Any], trusted: list[str] | None) -> None:
    """What the CLI/API stored (module settings, LAN addresses) over what the file says. The file's own
    settings are kept aside the first time, so removing an override brings the file's value back."""
    file_services: dict[str, ServiceSettings] = config.__dict__.setdefault("file_services", dict(config.services))
    for name, overrides in services.items():
        if name in SERVICES_BY_NAME and isinstance(overrides, dict):
            base = file_services.get(name) or ServiceSettings()
            config.services[name] = with_module_changes(base, overrides)
    if trusted is not None:
        config.network.trusted = list(trusted)


class ResolvedService:
    """A service row with this node's settings applied: what a listener or the firewall needs."""

    def __init__(self, spec: Service, settings: ServiceSettings, config: Config) -> None:
        self.spec = spec
        self.settings = settings
        self.enabled = spec.enabled_by_default if settings.enabled is None else settings.enabled
        self.trusted_only = spec.trusted_only if settings.trusted_only is None else settings.trusted_only
        base_ports = spec.ports if settings.ports is None else tuple(settings.ports)
        self.ports = tuple(offset_port(p, config.node.port_offset) if p else 0 for p in base_ports)
        self.bind = settings.bind if settings.bind is not None else config.node.bind
        self.idle_timeout = spec.idle_timeout if settings.idle_timeout is None else settings.idle_timeout

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def listening(self) -> bool:
        """Whether a node opens listeners for it: enabled and built."""
        return self.enabled and self.spec.built


def _format_error(source: str, err: Exception, prefix: str = "") -> str:
    """Turn msgspec's "<reason> - at `$.a.b`" into "<source>: key <prefix>a.b: <reason>"."""
    text = str(err)
    reason, sep, where = text.rpartition(" - at `$")
    if not sep:
        reason, where = text, ""
    key = prefix + where.rstrip("`").lstrip(".")
    # Our own checks say "name: why"; fold the name into the key.
    inner_key, sep, inner_reason = reason.partition(": ")
    if sep and inner_key.replace(".", "").replace("_", "").replace("-", "").isalnum():
        key = f"{key}.{inner_key}" if key and not key.endswith(".") else key + inner_key
        reason = inner_reason
    if reason.startswith("Object contains unknown field"):
        unknown = reason.split("`")[1]
        key = f"{key}.{unknown}" if key and not key.endswith(".") else key + unknown
        reason = "unknown setting (see `polyport config example`)"
    return f"{source}: key {key.rstrip('.') or '(top level)'}: {reason}"


def parse(text: str | bytes, source: str = "<config>") -> Config:
    """Parse TOML text into a validated Config, or raise ConfigError naming source, key and reason."""
    try:
        raw = tomllib.loads(text.decode() if isinstance(text, bytes) else text)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(f"{source}: not valid TOML: {err}") from None
    services = raw.pop("services", {})
    if not isinstance(services, dict):
        raise ConfigError(f"{source}: key services: expected a table of [services.<name>] sections")
    try:
        config = msgspec.convert(raw, Config)
    except msgspec.ValidationError as err:
        raise ConfigError(_format_error(source, err)) from None
    # Services one by one, so an error names the service (msgspec would say `services[...]`).
    for name, section in services.items():
        if name not in SERVICES_BY_NAME:
            known = ", ".join(s.name for s in SERVICES)
            raise ConfigError(f"{source}: key services.{name}: no such service (known: {known})")
        try:
            config.services[name] = msgspec.convert(section, ServiceSettings)
        except msgspec.ValidationError as err:
            raise ConfigError(_format_error(source, err, f"services.{name}.")) from None
    return config


def load(path: Path) -> Config:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the config file: {err.strerror}") from None
    return parse(data, str(path))


def load_for(config_file: Path | None, data_dir: Path | None) -> Config:
    """The config `serve` and the admin commands use: --config if given, else <data>/polyport.toml
    if it exists, else the defaults; then --data replaces the data folder."""
    if config_file is not None:
        config = load(config_file)
    else:
        candidate = (data_dir or DEFAULT_DATA_DIR) / CONFIG_FILE_NAME
        config = load(candidate) if candidate.is_file() else Config()
    if data_dir is not None:
        config.node.data = str(data_dir)
    return config


def with_overrides(config: Config, *, domain: str | None = None, bind: str | None = None,
                   port_offset: int | None = None) -> Config:
    """Apply serve's command-line flags; they win over the file."""
    if domain:
        config.node.main_domain = domain
    if bind is not None:
        config.node.bind = bind
    if port_offset is not None:
        config.node.port_offset = port_offset
    try:
        # Re-validate the node section with the flags applied.
        msgspec.convert(msgspec.to_builtins(config.node), NodeSettings)
    except msgspec.ValidationError as err:
        raise ConfigError(_format_error("command line", err).replace("key ", "flag for ", 1)) from None
    return config


# ---------------------------------------------------------------------------------------------------
# The commented example


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def _wrap(text: str, width: int = 98) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split():
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


def _section_lines(struct_type: type[msgspec.Struct], defaults: dict[str, Any] | None = None) -> list[str]:
    info = msgspec.inspect.type_info(struct_type)
    assert isinstance(info, msgspec.inspect.StructType)
    out: list[str] = []
    for field in info.fields:
        description = ""
        if isinstance(field.type, msgspec.inspect.Metadata) and field.type.extra_json_schema:
            description = field.type.extra_json_schema.get("description", "")
        out.extend(f"# {line}" for line in _wrap(description))
        if defaults is not None and field.name in defaults:
            default = defaults[field.name]
        elif field.default_factory is not msgspec.NODEFAULT:
            default = field.default_factory()
        else:
            default = field.default
        if default is None:
            out.append(f"# {field.name} = (unset)")
        else:
            out.append(f"# {field.name} = {_toml_value(default)}")
        out.append("")
    return out


def example() -> str:
    """A complete config file: every setting, commented out at its default, with what it does."""
    out = [
        "# Polyport node configuration (TOML).",
        "# Every setting is shown at its default, commented out; uncomment and change what you need.",
        "# Check a file with `polyport config check FILE`.",
        "",
    ]
    sections: list[tuple[str, type[msgspec.Struct]]] = [
        ("node", NodeSettings), ("store", StoreSettings), ("blobs", BlobSettings), ("tls", TlsSettings),
        ("network", NetworkSettings), ("cluster", ClusterSettings), ("auth", AuthSettings),
        ("mail", MailSettings), ("queue", QueueSettings), ("dns", DnsSettings), ("web", WebSettings),
        ("log", LogSettings),
        ("firewall", FirewallSettings),
    ]
    for name, struct_type in sections:
        out.append(f"[{name}]")
        out.extend(_section_lines(struct_type))
    out.append("# One section per service of the service table (`polyport services`).")
    out.append("")
    for spec in SERVICES:
        title = f"{spec.title}" + ("" if spec.built else " (not available yet)")
        out.append(f"# {title}")
        out.append(f"[services.{spec.name}]")
        out.extend(_section_lines(ServiceSettings, {
            "enabled": spec.enabled_by_default,
            "ports": list(spec.ports),
            "trusted_only": spec.trusted_only,
        }))
    return "\n".join(out).rstrip() + "\n"
