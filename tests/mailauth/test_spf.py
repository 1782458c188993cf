"""Our SPF checker against pyspf (the reference implementation), both asking the same DNS fixture."""

from __future__ import annotations

from collections.abc import Iterator

import dns.resolver
import pytest
import spf as pyspf

from polyport.mailauth.spf import Spf
from polyport.net.resolver import Resolver
from tests.dnsfixture import DnsFixture

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:spf")


@pytest.fixture(scope="module")
def zone() -> Iterator[DnsFixture]:
    fixture = DnsFixture()
    records = {
        "plain.test": ['"v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"'],
        "soft.test": ['"v=spf1 ip4:192.0.2.10 ~all"'],
        "neutral.test": ['"v=spf1 ?all"'],
        "amx.test": ['"v=spf1 a mx/24 -all"'],
        "inc.test": ['"v=spf1 include:plain.test -all"'],
        "redir.test": ['"v=spf1 redirect=plain.test"'],
        "macro.test": ['"v=spf1 exists:%{i}.allow.macro.test -all"'],
        "198.51.100.7.allow.macro.test": [],
        "two.test": ['"v=spf1 -all"', '"v=spf1 +all"'],
        "bad.test": ['"v=spf1 foo:bar -all"'],
        "loop.test": ['"v=spf1 include:loop.test -all"'],
        "deep.test": ['"v=spf1 ' + " ".join(f"include:d{i}.test" for i in range(11)) + ' -all"'],
        "voids.test": ['"v=spf1 a:n1.void.test a:n2.void.test a:n3.void.test -all"'],
        "nospf.test": ['"some other text"'],
        "ptr.test": ['"v=spf1 ptr -all"'],
    }
    for name, values in records.items():
        if values:
            fixture.add(name, "TXT", *values)
    fixture.add("198.51.100.7.allow.macro.test", "A", "127.0.0.2")
    fixture.add("amx.test", "A", "192.0.2.77")
    fixture.add("amx.test", "MX", "10 mail.amx.test.")
    fixture.add("mail.amx.test", "A", "203.0.113.5")
    fixture.add("55.2.0.192.in-addr.arpa", "PTR", "host.ptr.test.")
    fixture.add("host.ptr.test", "A", "192.0.2.55")
    fixture.add("56.2.0.192.in-addr.arpa", "PTR", "liar.ptr.test.")  # a name that does not resolve back
    fixture.add("liar.ptr.test", "A", "192.0.2.99")
    for i in range(11):
        fixture.add(f"d{i}.test", "TXT", '"v=spf1 -all"')
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = ["127.0.0.1"]
    resolver.port = fixture.port
    saved = dns.resolver.default_resolver
    dns.resolver.default_resolver = resolver  # pyspf asks dnspython's default resolver
    yield fixture
    dns.resolver.default_resolver = saved
    fixture.close()


CASES = [
    ("192.0.2.1", "plain.test"), ("198.51.100.1", "plain.test"), ("2001:db8::5", "plain.test"),
    ("192.0.2.10", "soft.test"), ("192.0.2.11", "soft.test"), ("192.0.2.1", "neutral.test"),
    ("192.0.2.77", "amx.test"), ("203.0.113.200", "amx.test"), ("203.0.114.1", "amx.test"),
    ("192.0.2.1", "inc.test"), ("198.51.100.1", "inc.test"), ("192.0.2.9", "redir.test"),
    ("198.51.100.7", "macro.test"), ("198.51.100.8", "macro.test"), ("192.0.2.1", "two.test"),
    ("192.0.2.1", "bad.test"), ("192.0.2.1", "loop.test"), ("192.0.2.1", "deep.test"),
    ("192.0.2.1", "voids.test"), ("192.0.2.1", "nospf.test"), ("192.0.2.1", "nxdomain.test"),
    ("192.0.2.55", "ptr.test"), ("192.0.2.56", "ptr.test"), ("192.0.2.57", "ptr.test"),
]


@pytest.mark.parametrize(("ip", "domain"), CASES)
async def test_results_match_pyspf(zone: DnsFixture, ip: str, domain: str) -> None:
    ours, _ = await Spf(Resolver([zone.server], timeout=2)).check_host(ip, domain, f"user@{domain}", "helo.test")
    theirs, _ = pyspf.check2(i=ip, s=f"user@{domain}", h="helo.test", timeout=5)
    assert ours == theirs, f"{ip} {domain}: ours {ours}, pyspf {theirs}"


async def test_dns_failure_is_temperror() -> None:
    result, _ = await Spf(Resolver(["127.0.0.1:9"], timeout=0.5)).check_host("192.0.2.1", "any.test", "a@any.test",
                                                                             "h")
    assert result == "temperror"
