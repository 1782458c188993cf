"""Trusted networks: who may relay, send plaintext passwords without TLS, and reach trusted-only services.

The default is loopback and this host's own addresses (each a single-address network), which is what
an admin on the machine, or a local webmail or proxy, needs, and nothing more.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from collections.abc import Iterable
from pathlib import Path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

LOOPBACK: tuple[Network, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))

_SIOCGIFADDR = 0x8915


def _ipv4_addresses() -> set[Address]:
    found: set[Address] = set()
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe, contextlib.suppress(OSError):
            packed = struct.pack("256s", name.encode()[:15])
            reply = fcntl.ioctl(probe.fileno(), _SIOCGIFADDR, packed)
            found.add(ipaddress.IPv4Address(reply[20:24]))
    return found


def _ipv6_addresses() -> set[Address]:
    found: set[Address] = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            hex_address = line.split()[0]
            found.add(ipaddress.IPv6Address(bytes.fromhex(hex_address)))
    return found


def host_addresses() -> set[Address]:
    """This host's own IP addresses (Linux: from the interfaces; elsewhere: from its name)."""
    found = _ipv4_addresses() | _ipv6_addresses()
    if not found:
        with contextlib.suppress(OSError):
            for info in socket.getaddrinfo(socket.gethostname(), None):
                found.add(ipaddress.ip_address(info[4][0]))
    return found


def default_networks() -> list[Network]:
    networks: list[Network] = list(LOOPBACK)
    for address in sorted(host_addresses(), key=lambda a: (a.version, int(a))):
        if not any(address in net for net in networks):
            networks.append(ipaddress.ip_network(address))
    return networks


def parse_networks(lines: Iterable[str]) -> list[Network]:
    """Networks from text: `10.0.0.0/8`, a single address, or a range `a-b` (CommuniGate's LAN IPs);
    ValueError naming the bad line."""
    networks: list[Network] = []
    for raw in lines:
        text = raw.strip()
        if not text or text.startswith(("#", ";")):
            continue
        try:
            if "-" in text:
                first, last = (ipaddress.ip_address(part.strip()) for part in text.split("-", 1))
                networks.extend(ipaddress.summarize_address_range(first, last))
            else:
                networks.append(ipaddress.ip_network(text, strict=False))
        except (ValueError, TypeError):
            raise ValueError(f"{text!r} is not an address, network or range") from None
    return networks


class TrustedNetworks:
    def __init__(self, networks: Iterable[Network]) -> None:
        self.replace(networks)

    def replace(self, networks: Iterable[Network]) -> None:
        """New networks, in effect for every check from now on (SETLANIPS)."""
        self.networks = list(networks)
        self._v4 = [n for n in self.networks if n.version == 4]
        self._v6 = [n for n in self.networks if n.version == 6]
        self._cache: dict[str, bool] = {}

    @classmethod
    def from_config(cls, configured: list[str] | None) -> TrustedNetworks:
        if configured is None:
            return cls(default_networks())
        return cls(ipaddress.ip_network(text, strict=False) for text in configured)

    def __contains__(self, address: str) -> bool:
        known = self._cache.get(address)
        if known is not None:
            return known
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        nets = self._v4 if ip.version == 4 else self._v6
        result = any(ip in net for net in nets)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[address] = result
        return result
