"""Prometheus metrics, one list for every protocol (exposed by the web listener when it exists).

Names follow `polyport_<what>` with labels `service` (the service table's name), `command`, and
`result` from one fixed vocabulary, so dashboards work the same for every protocol.
"""

from __future__ import annotations

import math
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

# Outcomes of a command, for every protocol.
RESULTS = ("ok", "bad-syntax", "user-error", "server-error", "io-error")

REGISTRY = CollectorRegistry(auto_describe=True)

connections = Counter("polyport_connections", "Connections accepted.", ["service"], registry=REGISTRY)
connections_refused = Counter(
    "polyport_connections_refused", "Connections refused by a listener's limits.",
    ["service", "reason"], registry=REGISTRY)
connections_open = Gauge("polyport_connections_open", "Connections open now.", ["service"],
                         registry=REGISTRY)
commands = Counter("polyport_commands", "Commands handled.", ["service", "command", "result"],
                   registry=REGISTRY)
command_seconds = Histogram(
    "polyport_command_seconds", "Time to handle a command.", ["service", "command"], registry=REGISTRY,
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10))
auth_successes = Counter("polyport_auth_successes", "Successful logins.", ["service", "mechanism"],
                         registry=REGISTRY)
auth_failures = Counter("polyport_auth_failures", "Failed logins.", ["service", "reason"],
                        registry=REGISTRY)
auth_lockouts = Counter("polyport_auth_lockouts", "Lockouts started by failed logins.", ["scope"],
                        registry=REGISTRY)

# UDP listeners (net/udp.py): every datagram that arrives is counted once in `datagrams_received`; one
# that never reaches the protocol's handler is also counted once in `datagrams_dropped`, with the limit
# that dropped it (net.udp.DropReason: busy, rate, too-large, untrusted, shutting-down).
datagrams_received = Counter("polyport_datagrams_received", "Datagrams received by UDP listeners.",
                             ["service"], registry=REGISTRY)
datagrams_dropped = Counter("polyport_datagrams_dropped", "Datagrams dropped unhandled by a UDP listener's limits.",
                            ["service", "reason"], registry=REGISTRY)
# Data port pools (net/ports.py): RTP media and FTP passive ports leased now, per service.
ports_leased = Gauge("polyport_ports_leased", "Data ports leased now (RTP media, FTP passive).", ["service"],
                     registry=REGISTRY)

# Instant messaging (XMPP; xmpp/ and im/): resources bound now and sessions waiting to be resumed (each
# worker's, summed over them), stream resumptions, and messages kept in archives and offline.
xmpp_resources = Gauge("polyport_xmpp_resources", "XMPP resources bound now.", registry=REGISTRY)
xmpp_rooms = Gauge("polyport_xmpp_rooms", "XMPP chat rooms held in memory now (XEP-0045).", registry=REGISTRY)
xmpp_s2s_links = Gauge("polyport_xmpp_s2s_links", "XMPP streams with other servers open now (federation).",
                       ["direction"], registry=REGISTRY)
xmpp_s2s_stanzas = Counter("polyport_xmpp_s2s_stanzas", "XMPP stanzas exchanged with other servers.", ["direction"],
                           registry=REGISTRY)
xmpp_detached = Gauge("polyport_xmpp_detached", "XMPP sessions whose connection was lost, waiting to be resumed.",
                      registry=REGISTRY)
xmpp_resumptions = Counter("polyport_xmpp_resumptions", "XMPP stream resumptions asked for (XEP-0198).", ["result"],
                           registry=REGISTRY)
xmpp_archived = Counter("polyport_xmpp_archived", "Messages written to accounts' archives (XEP-0313).",
                        registry=REGISTRY)
xmpp_offline = Counter("polyport_xmpp_offline", "Messages kept offline for an account (XEP-0160).",
                       registry=REGISTRY)


class CommandMetrics:
    """The command counter and timer of one service, with their labelled children cached: looking
    labels up in prometheus_client costs more than a small command does."""

    def __init__(self, service: str) -> None:
        self.service = service
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe(self, command: str, result: str, seconds: float) -> None:
        children = self._children.get((command, result))
        if children is None:
            children = (commands.labels(self.service, command, result),
                        command_seconds.labels(self.service, command))
            if len(self._children) < 10_000:
                self._children[(command, result)] = children
        children[0].inc()
        children[1].observe(seconds)


def exposition() -> bytes:
    """The metrics in Prometheus' text format."""
    return generate_latest(REGISTRY)


def merge(expositions: list[bytes], kinds: tuple[str, ...] | None = None) -> bytes:
    """Several processes' expositions as one (a node of several workers): every sample summed over them,
    except a `_created` time, which is the earliest. Families keep the order they first appear in; with
    `kinds`, only families of those types."""
    families: dict[str, tuple[str, str]] = {}  # name -> (type, help)
    samples: dict[str, dict[tuple[str, tuple[tuple[str, str], ...]], float]] = {}
    for text in expositions:
        for family in text_string_to_metric_families(text.decode()):
            if kinds is not None and family.type not in kinds:
                continue
            families.setdefault(family.name, (family.type, family.documentation))
            merged = samples.setdefault(family.name, {})
            for sample in family.samples:
                key = (sample.name, tuple(sorted(sample.labels.items())))
                if key not in merged:
                    merged[key] = sample.value
                elif sample.name.endswith("_created"):
                    merged[key] = min(merged[key], sample.value)
                else:
                    merged[key] += sample.value
    lines: list[str] = []
    for name, (kind, documentation) in families.items():
        # The parser names a counter's family without `_total`; the text format names it as its samples.
        named = f"{name}_total" if kind == "counter" and not name.endswith("_total") else name
        lines.append(f"# HELP {named} {_escape_help(documentation)}")
        lines.append(f"# TYPE {named} {kind}")
        for (sample_name, labels), value in samples[name].items():
            label_text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
            lines.append(f"{sample_name}{{{label_text}}} {_number(value)}" if labels
                         else f"{sample_name} {_number(value)}")
    return ("\n".join(lines) + "\n").encode() if lines else b""


def counters_of(exposition: bytes) -> bytes:
    """Only the counters and histograms of an exposition: what keeps counting after its process is gone
    (the parser gives `_created` times families of their own, as gauges, so they go too)."""
    return merge([exposition], kinds=("counter", "histogram", "summary"))


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return "NaN" if math.isnan(value) else repr(float(value))


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")
