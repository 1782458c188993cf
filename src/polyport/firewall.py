"""Host firewall rules for one Polyport node, as an nftables file or an iptables, ufw or firewalld script.

`polyport firewall --format FORMAT` prints `render(config, FORMAT, trusted)`. Every format opens the same
things, read from the service table and this node's config, so the firewall matches what the node listens on:

- each listening service (enabled and built): its ports on each of its transports, plus its data port range
  (FTP passive data, RTP media). Data ports are opened per transfer or call, too late to change a firewall,
  so they are opened up front;
- trusted-only services (CLI/API, LDAP, ACAP, TFTP by default) from the trusted networks only, IPv4 and IPv6
  each from their own family's networks; the others from anywhere;
- cluster peers on every port: CLI/API is the inter-node channel, a peer may host the shared store or
  event bus, and a peer that cannot reach some port is a cluster that half works;
- `[firewall] allow_tcp` from anywhere (SSH by default), so applying the rules does not lock the admin out;
- loopback, established and related traffic (replies to the node's own SMTP to other MXes, DNS lookups and
  SIP), the ICMP that IP needs and the ICMPv6 without which IPv6 stops working (neighbour discovery);
  outgoing traffic; everything else coming in is dropped.

A service that is enabled but not built gets a comment and no rule: nothing listens there, and an open port
with nothing behind it is attack surface with no use. Disabled services do not appear at all.

Implementation notes:
- Pure: no I/O. The same config and trusted networks give the same text, byte for byte: services in service
  table order, ports merged and sorted, networks collapsed and sorted.
- Each format can be applied again after a change, and replaces what it applied before (nftables, iptables)
  or skips what is already there (ufw, firewalld, whose headers say how to remove what is no longer needed).
- Rules are built once (`RuleSet`) and only spelled differently per format, so formats cannot drift apart.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network
from typing import Literal, TypeAlias

from polyport.config import Config, ResolvedService
from polyport.service_table import PortRange, Transport, offset_range

__all__ = ["FORMATS", "Format", "render"]

Format = Literal["nftables", "iptables", "ufw", "firewalld"]
FORMATS: tuple[str, ...] = ("nftables", "iptables", "ufw", "firewalld")

Network: TypeAlias = IPv4Network | IPv6Network

NFT_TABLE = "polyport"
IPTABLES_CHAIN = "POLYPORT-INPUT"
PEERS_LABEL = "polyport cluster peer"


@dataclass(frozen=True, slots=True)
class OpenPorts:
    """Ports opened for one reason: a service (its listening and data ports), or allow_tcp."""

    label: str  # the rules' own comment, as firewall listings show it: "polyport smtp"
    title: str  # the comment line above the rules: "SMTP (MX)"
    # Per transport, in the service table's order; spans sorted, none overlapping or touching.
    spans_by_transport: tuple[tuple[Transport, tuple[PortRange, ...]], ...]
    trusted_only: bool


@dataclass(frozen=True, slots=True)
class RuleSet:
    """What the firewall opens, independent of format."""

    open_ports: tuple[OpenPorts, ...]
    notes: tuple[str, ...]  # comment lines for the header: services skipped, services nobody can reach
    trusted_v4: tuple[IPv4Network, ...]
    trusted_v6: tuple[IPv6Network, ...]
    peers_v4: tuple[IPv4Network, ...]
    peers_v6: tuple[IPv6Network, ...]
    port_offset: int

    @property
    def peers(self) -> tuple[Network, ...]:
        return (*self.peers_v4, *self.peers_v6)


def render(config: Config, fmt: Format, trusted: Sequence[IPv4Network | IPv6Network]) -> str:
    """The firewall for this node in `fmt`; `trusted` is the node's resolved trusted networks."""
    try:
        renderer = _RENDERERS[fmt]
    except KeyError:
        raise ValueError(f"unknown firewall format `{fmt}` (known: {', '.join(FORMATS)})") from None
    return renderer(_build_rule_set(config, trusted))


# ---------------------------------------------------------------------------------------------------
# What to open


def _build_rule_set(config: Config, trusted: Sequence[Network]) -> RuleSet:
    """What to open for this node: allow_tcp first, then the listening services in service table order."""
    port_offset = config.node.port_offset
    open_ports: list[OpenPorts] = []
    notes: list[str] = []
    trusted_v4, trusted_v6 = _by_family(trusted)
    peers_v4, peers_v6 = _by_family(ipaddress.ip_network(peer, strict=False) for peer in config.cluster.peers)

    kept_open = _merge_spans(PortRange(port, port, Transport.TCP) for port in config.firewall.allow_tcp)
    if kept_open:
        open_ports.append(OpenPorts("polyport allow_tcp", "Kept open by [firewall] allow_tcp",
                                    ((Transport.TCP, kept_open),), trusted_only=False))

    for service in config.resolved_services():
        spans_by_transport = _service_spans(service, port_offset)
        if service.listening and spans_by_transport:
            title = service.spec.title
            data_ports = service.spec.data_ports
            if data_ports is not None and service.ports:
                title += f", and its data ports {offset_range(data_ports, port_offset)}"
            open_ports.append(OpenPorts(f"polyport {service.name}", title,
                                        tuple(spans_by_transport.items()), service.trusted_only))
            if service.trusted_only and not trusted:
                notes.append(f"{service.name} ({service.spec.title}) answers trusted networks only, and none "
                             "are given: only this host and cluster peers can reach it")
        elif service.enabled:
            where = ", ".join(str(span) for spans in spans_by_transport.values() for span in spans)
            notes.append(f"skipped {service.name} ({service.spec.title}{', ' + where if where else ''}): "
                         "not available yet, so nothing listens there")

    return RuleSet(tuple(open_ports), tuple(notes), trusted_v4, trusted_v6, peers_v4, peers_v6, port_offset)


def _service_spans(service: ResolvedService, port_offset: int) -> dict[Transport, tuple[PortRange, ...]]:
    """A service's listening ports (offset already applied) and data ports (offset applied here), per
    transport, in the service table's transport order."""
    spans: dict[Transport, list[PortRange]] = {}
    for transport in service.spec.transports:
        spans.setdefault(transport, []).extend(PortRange(port, port, transport) for port in service.ports if port)
    if service.spec.data_ports is not None:
        data_ports = offset_range(service.spec.data_ports, port_offset)
        spans.setdefault(data_ports.transport, []).append(data_ports)
    return {transport: _merge_spans(found) for transport, found in spans.items() if found}


def _merge_spans(spans: Iterable[PortRange]) -> tuple[PortRange, ...]:
    """Sorted, with overlapping or touching spans joined (all on one transport). nftables refuses overlapping
    elements, and the other formats would otherwise repeat a rule."""
    merged: list[PortRange] = []
    for span in sorted(spans, key=lambda s: (s.first, s.last)):
        if merged and span.first <= merged[-1].last + 1:
            previous = merged[-1]
            merged[-1] = PortRange(previous.first, max(previous.last, span.last), previous.transport)
        else:
            merged.append(span)
    return tuple(merged)


def _by_family(networks: Iterable[Network]) -> tuple[tuple[IPv4Network, ...], tuple[IPv6Network, ...]]:
    """IPv4 and IPv6 networks apart, each collapsed and sorted: overlapping networks would be refused by an
    nftables interval set, and would make duplicate rules elsewhere."""
    listed = list(networks)
    v4 = ipaddress.collapse_addresses(n for n in listed if isinstance(n, IPv4Network))
    v6 = ipaddress.collapse_addresses(n for n in listed if isinstance(n, IPv6Network))
    return tuple(v4), tuple(v6)


# ---------------------------------------------------------------------------------------------------
# Shared text


def _address(network: Network) -> str:
    """A host as a plain address, a network in CIDR form: how people write them in firewall rules."""
    return str(network.network_address) if network.prefixlen == network.max_prefixlen else str(network)


def _port_span(span: PortRange, separator: str) -> str:
    return f"{span.first}{separator}{span.last}" if span.is_range else str(span.first)


def _header(fmt: str, rules: RuleSet) -> list[str]:
    lines = [
        f"# Host firewall for one Polyport node, generated by `polyport firewall --format {fmt}`.",
        "# It opens only what this node listens on: regenerate it after changing services, trusted",
        "# networks, cluster peers or [firewall] allow_tcp.",
    ]
    if rules.port_offset:
        lines.append(f"# Ports include --port-offset {rules.port_offset} (added to every port below 1024).")
    lines.extend(f"# {note}" for note in rules.notes)
    return lines


def _sh_quote(text: str) -> str:
    """Single-quoted for sh, always: the rules read the same whatever the text."""
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _rule_title(open_ports: OpenPorts) -> str:
    return f"# {open_ports.title}" + (": trusted networks only" if open_ports.trusted_only else "")


# ---------------------------------------------------------------------------------------------------
# nftables

# Ping, and ICMP errors not tied to a tracked connection (those pass as "related").
NFT_ICMP_TYPES = "echo-request, destination-unreachable, time-exceeded, parameter-problem"
# IPv6 does not work without neighbour discovery and router advertisements; MLD queries keep the multicast
# that neighbour discovery uses flowing through snooping switches; packet-too-big is path MTU discovery.
NFT_ICMPV6_TYPES = ("destination-unreachable, packet-too-big, time-exceeded, parameter-problem, "
                    "echo-request, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
                    "mld-listener-query")


def _nft_ports(spans: tuple[PortRange, ...]) -> str:
    texts = [_port_span(span, "-") for span in spans]
    return texts[0] if len(texts) == 1 else "{ " + ", ".join(texts) + " }"


def _nft_set(name: str, address_type: str, networks: Sequence[Network]) -> list[str]:
    if not networks:
        return []  # nft has no empty `elements`; rules that would use the set are left out too
    return [
        f"    set {name} {{",
        f"        type {address_type}",
        "        flags interval",
        "        elements = { " + ", ".join(_address(n) for n in networks) + " }",
        "    }",
        "",
    ]


def _nftables(rules: RuleSet) -> str:
    sets = [
        *_nft_set("peers_v4", "ipv4_addr", rules.peers_v4),
        *_nft_set("peers_v6", "ipv6_addr", rules.peers_v6),
        *_nft_set("trusted_v4", "ipv4_addr", rules.trusted_v4),
        *_nft_set("trusted_v6", "ipv6_addr", rules.trusted_v6),
    ]
    input_rules = [
        'iif "lo" accept',
        "# Replies to the node's own connections (SMTP to other MXes, DNS, SIP) and their ICMP errors.",
        "ct state established,related accept",
        "ct state invalid drop",
        f"icmp type {{ {NFT_ICMP_TYPES} }} accept",
        "# IPv6 needs neighbour discovery and router advertisements; packet-too-big is path MTU discovery.",
        f"icmpv6 type {{ {NFT_ICMPV6_TYPES} }} accept",
        "# DHCPv6 replies come from the server's link-local address, so they are not tracked replies.",
        "ip6 saddr fe80::/10 udp sport 547 udp dport 546 accept",
    ]
    if rules.peers:
        input_rules.append("# Cluster peers reach every port.")
    if rules.peers_v4:
        input_rules.append(f'ip saddr @peers_v4 accept comment "{PEERS_LABEL}"')
    if rules.peers_v6:
        input_rules.append(f'ip6 saddr @peers_v6 accept comment "{PEERS_LABEL}"')
    trusted_sources = [f"{family} saddr @{set_name} " for family, set_name, networks in
                       (("ip", "trusted_v4", rules.trusted_v4), ("ip6", "trusted_v6", rules.trusted_v6))
                       if networks]
    for open_ports in rules.open_ports:
        sources = trusted_sources if open_ports.trusted_only else [""]
        if not sources:
            continue
        input_rules.append(_rule_title(open_ports))
        input_rules.extend(
            f'{source}{transport} dport {_nft_ports(spans)} accept comment "{open_ports.label}"'
            for source in sources for transport, spans in open_ports.spans_by_transport
        )

    out = [
        "#!/usr/sbin/nft -f",
        *_header("nftables", rules),
        "",
        "# Declaring the table and deleting it before defining it makes the file re-runnable: the table is",
        "# replaced whole, in one transaction, so no old rule lingers and the host is never open in between.",
        f"table inet {NFT_TABLE} {{}}",
        f"delete table inet {NFT_TABLE}",
        "",
        f"table inet {NFT_TABLE} {{",
        *sets,
        "    chain input {",
        "        type filter hook input priority filter; policy drop;",
        *(f"        {line}" for line in input_rules),
        "    }",
        "",
        "    # Outgoing traffic is the node's own: SMTP to other MXes, DNS lookups, SIP to other domains.",
        "    chain output {",
        "        type filter hook output priority filter; policy accept;",
        "    }",
        "}",
    ]
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------
# iptables

IPTABLES_ICMP_TYPES = ("echo-request", "destination-unreachable", "time-exceeded", "parameter-problem")
# 130 is the MLD listener query, which ip6tables has no name for.
IP6TABLES_ICMPV6_TYPES = (
    "destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem", "echo-request",
    "router-advertisement", "neighbour-solicitation", "neighbour-advertisement", "130",
)


def _iptables_restore_input(rules: RuleSet, family: Literal[4, 6]) -> list[str]:
    """The iptables-restore (family 4) or ip6tables-restore (family 6) input for the POLYPORT-INPUT chain."""
    append = f"-A {IPTABLES_CHAIN}"
    trusted: Sequence[Network] = rules.trusted_v4 if family == 4 else rules.trusted_v6
    peers: Sequence[Network] = rules.peers_v4 if family == 4 else rules.peers_v6
    lines = [
        "*filter",
        "# Declaring a chain that exists empties it (the rest of the table is kept, --noflush): re-runnable.",
        f":{IPTABLES_CHAIN} - [0:0]",
        "# Outgoing traffic is the node's own: SMTP to other MXes, DNS lookups, SIP to other domains.",
        ":OUTPUT ACCEPT [0:0]",
        f"{append} -i lo -j ACCEPT",
        "# Replies to the node's own connections and their ICMP errors.",
        f"{append} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
        f"{append} -m conntrack --ctstate INVALID -j DROP",
    ]
    if family == 4:
        lines.extend(f"{append} -p icmp --icmp-type {kind} -j ACCEPT" for kind in IPTABLES_ICMP_TYPES)
    else:
        lines.append("# IPv6 needs neighbour discovery and router advertisements; 130 is the MLD query.")
        lines.extend(f"{append} -p ipv6-icmp --icmpv6-type {kind} -j ACCEPT"
                     for kind in IP6TABLES_ICMPV6_TYPES)
        lines.append("# DHCPv6 replies come from the server's link-local address, so they are not tracked.")
        lines.append(f"{append} -s fe80::/10 -p udp --sport 547 --dport 546 -j ACCEPT")
    if peers:
        lines.append("# Cluster peers reach every port.")
        lines.extend(f'{append} -s {_address(peer)} -m comment --comment "{PEERS_LABEL}" -j ACCEPT'
                     for peer in peers)
    for open_ports in rules.open_ports:
        sources = [f"-s {_address(net)} " for net in trusted] if open_ports.trusted_only else [""]
        if not sources:
            continue
        lines.append(_rule_title(open_ports))
        lines.extend(
            f"{append} {source}-p {transport} --dport {_port_span(span, ':')} "
            f'-m comment --comment "{open_ports.label}" -j ACCEPT'
            for source in sources for transport, spans in open_ports.spans_by_transport for span in spans
        )
    lines.extend([f"{append} -j DROP", "COMMIT"])
    return lines


def _iptables(rules: RuleSet) -> str:
    out = [
        "#!/bin/sh",
        *_header("iptables", rules),
        "# Run as root. It fills the chain POLYPORT-INPUT for IPv4 and IPv6, then jumps to it from INPUT;",
        "# run it again to replace the chain's rules.",
        "set -e",
        "",
    ]
    families: tuple[tuple[str, str, Literal[4, 6]], ...] = (
        ("iptables-restore", "POLYPORT_IPV4", 4),
        ("ip6tables-restore", "POLYPORT_IPV6", 6),
    )
    for restore, delimiter, family in families:
        out.append(f"{restore} --noflush <<'{delimiter}'")
        out.extend(_iptables_restore_input(rules, family))
        out.extend([delimiter, ""])
    out.append("# The chain is complete before INPUT jumps to it; the jump goes first in INPUT, once.")
    out.extend(f"{command} -C INPUT -j {IPTABLES_CHAIN} 2>/dev/null || "
               f"{command} -I INPUT 1 -j {IPTABLES_CHAIN}"
               for command in ("iptables", "ip6tables"))
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------
# ufw


def _ufw(rules: RuleSet) -> str:
    out = [
        "#!/bin/sh",
        *_header("ufw", rules),
        "# Run as root. ufw's own rules already accept loopback, established and related traffic, the",
        "# ICMP and ICMPv6 that IP needs (neighbour discovery included) and DHCP replies; IPv6 rules apply",
        "# when /etc/default/ufw says IPV6=yes. Running it again skips rules ufw already has; rules no",
        "# longer needed stay until removed (`ufw status numbered`, `ufw delete N`).",
        "set -e",
        "",
        "# Every allow goes in before incoming traffic is denied, so an SSH session is never cut off midway.",
    ]
    if rules.peers:
        out.append("# Cluster peers reach every port.")
        out.extend(f"ufw allow from {_address(peer)} comment {_sh_quote(PEERS_LABEL)}"
                   for peer in rules.peers)
    trusted: tuple[Network, ...] = (*rules.trusted_v4, *rules.trusted_v6)
    for open_ports in rules.open_ports:
        sources = [_address(net) for net in trusted] if open_ports.trusted_only else ["any"]
        if not sources:
            continue
        out.append(_rule_title(open_ports))
        out.extend(
            f"ufw allow proto {transport} from {source} to any port {_port_span(span, ':')} "
            f"comment {_sh_quote(open_ports.label)}"
            for source in sources for transport, spans in open_ports.spans_by_transport for span in spans
        )
    out.extend([
        "",
        "ufw default deny incoming",
        "# Outgoing traffic is the node's own: SMTP to other MXes, DNS lookups, SIP to other domains.",
        "ufw default allow outgoing",
        "ufw --force enable",
    ])
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------------------
# firewalld


def _firewalld(rules: RuleSet) -> str:
    command = "firewall-cmd --permanent"
    out = [
        "#!/bin/sh",
        *_header("firewalld", rules),
        "# Run as root with firewalld running. Everything goes into the permanent configuration and takes",
        "# effect at once, at the reload at the end. firewalld's own rules already accept loopback,",
        "# established and related traffic and ICMP and ICMPv6 (neighbour discovery included); its zones",
        "# refuse everything not added to them and allow outgoing traffic. Ports go to the default zone;",
        "# cluster peers go to the trusted zone, which accepts all their traffic. Running it again skips",
        "# what firewalld already has; what is no longer needed stays until removed (--remove-port,",
        "# --remove-rich-rule, --remove-source).",
        "set -e",
        "",
    ]
    if rules.peers:
        out.append("# Cluster peers reach every port.")
        out.extend(f"{command} --zone=trusted --add-source={_address(peer)}" for peer in rules.peers)
    trusted: tuple[tuple[str, Network], ...] = (
        *(("ipv4", net) for net in rules.trusted_v4),
        *(("ipv6", net) for net in rules.trusted_v6),
    )
    for open_ports in rules.open_ports:
        if open_ports.trusted_only:
            if not trusted:
                continue
            lines = [
                f"{command} --add-rich-rule="
                + _sh_quote(f'rule family="{family}" source address="{_address(net)}" '
                            f'port port="{_port_span(span, "-")}" protocol="{transport}" accept')
                for family, net in trusted
                for transport, spans in open_ports.spans_by_transport for span in spans
            ]
        else:
            lines = [f"{command} --add-port={_port_span(span, '-')}/{transport}"
                     for transport, spans in open_ports.spans_by_transport for span in spans]
        out.extend([_rule_title(open_ports), *lines])
    out.extend(["", "firewall-cmd --reload"])
    return "\n".join(out) + "\n"


_RENDERERS: dict[str, Callable[[RuleSet], str]] = {
    "nftables": _nftables,
    "iptables": _iptables,
    "ufw": _ufw,
    "firewalld": _firewalld,
}
