"""A tiny authoritative DNS server on loopback for tests: records set in code, answered over UDP.

Nodes under test point `[dns] servers` at it (node_config(..., dns=fixture.server)), so MX, SPF, DKIM and
DMARC lookups get the answers a test wants and nothing asks the network.
"""

from __future__ import annotations

import socket
import threading
from collections import defaultdict

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset


class DnsFixture:
    def __init__(self) -> None:
        self.records: defaultdict[tuple[str, str], list[str]] = defaultdict(list)
        self.queries: list[tuple[str, str]] = []
        self.secure = False  # answer as a validating resolver would for signed zones (the AD bit)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, name="dns-fixture", daemon=True)
        self._thread.start()

    @property
    def server(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, rdtype: str, *values: str) -> DnsFixture:
        """Records of one name and type, in zone-file text ("10 mx.example.", "\\"v=spf1 -all\\"")."""
        self.records[(name.lower().rstrip("."), rdtype.upper())].extend(values)
        return self

    def clear(self, name: str, rdtype: str) -> None:
        self.records.pop((name.lower().rstrip("."), rdtype.upper()), None)

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
            except Exception:
                continue
            self.sock.sendto(self._answer(query).to_wire(), peer)

    def _answer(self, query: dns.message.Message) -> dns.message.Message:
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if self.secure:
            response.flags |= dns.flags.AD
        question = query.question[0]
        name = question.name.to_text().lower().rstrip(".")
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries.append((name, rdtype))
        values = self.records.get((name, rdtype))
        if values:
            response.answer.append(dns.rrset.from_text_list(question.name, 60, dns.rdataclass.IN, rdtype, values))
        elif not any(key[0] == name or key[0].endswith("." + name) for key in self.records):
            # A name above an existing one exists too (an empty non-terminal, RFC 8020): resolvers that
            # minimise query names (libunbound) ask for those first.
            response.set_rcode(dns.rcode.NXDOMAIN)
        return response

    def close(self) -> None:
        self.sock.close()
