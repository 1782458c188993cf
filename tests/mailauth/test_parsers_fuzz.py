"""Property tests of the mail-authentication parsers: whatever a DNS record or a policy file holds, the
answer is a result, never an exception."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from polyport.mailauth import _tags, strip_forged
from polyport.mailauth.spf import Spf
from polyport.net.resolver import Answer, DnsNotFound
from polyport.queue.tlspolicy import parse_policy

RESULTS = {"pass", "fail", "softfail", "neutral", "none", "temperror", "permerror"}


class FakeResolver:
    """Every TXT lookup answers the record under test; everything else does not exist."""

    def __init__(self, record: str) -> None:
        self.record = record

    async def txt(self, name: str) -> list[str]:
        return [self.record]

    async def mx(self, domain: str) -> list[str] | None:
        return None

    async def addresses(self, host: str) -> list[str]:
        raise DnsNotFound(host)

    async def query(self, name: str, rdtype: str) -> Answer:
        raise DnsNotFound(name)


terms = st.lists(st.one_of(
    st.sampled_from(["all", "-all", "~all", "?all", "a", "mx", "ptr", "a/24", "mx//64", "include:x.test",
                     "redirect=x.test", "exists:%{i}.x.test", "ip4:192.0.2.0/24", "ip6:2001:db8::/32",
                     "exp=x.test", "%{l}", "a:%{d2r}.x"]),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=20)), max_size=8)


@given(terms)
@settings(max_examples=200, deadline=None)
def test_any_spf_record_gives_a_result(parts: list[str]) -> None:
    record = " ".join(["v=spf1", *parts])
    result, why = asyncio.run(Spf(FakeResolver(record)).check_host(  # type: ignore[arg-type]
        "192.0.2.7", "x.test", "user@x.test", "helo.test"))
    assert result in RESULTS and isinstance(why, str)


@given(st.text(max_size=300))
@settings(max_examples=300)
def test_any_policy_text_parses_or_is_refused(text: str) -> None:
    try:
        policy = parse_policy(text, "id", 0)
    except ValueError:
        return
    assert policy.mode in ("enforce", "testing", "none") and policy.expires <= 31_557_600


@given(st.binary(max_size=300))
@settings(max_examples=300)
def test_any_header_survives_tags_and_stripping(data: bytes) -> None:
    assert isinstance(_tags(data), dict)
    stripped = strip_forged(data, "mx.example.com")
    assert len(stripped) <= len(data) + 2
