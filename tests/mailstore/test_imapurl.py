"""IMAP URLs with URLAUTH (RFC 5092, RFC 4467), pure: the parts read, the rump, the INTERNAL token; any
string parses or raises BadUrl; written URLs read back the same."""

from __future__ import annotations

import contextlib
import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyport.mailstore import imapurl
from polyport.mailstore.imapurl import BadUrl, MessageUrl, UrlAuth, UrlSection, parse_url, url_text

KEY = bytes(range(32))


def test_the_rfc_4467_example() -> None:
    rump = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;urlauth=submit+fred"
    url = parse_url(rump + ":internal:91354a473744909de610943775f92038")
    assert url == MessageUrl("INBOX", 20, None, UrlSection((1, 2)), None, "joe", "example.com",
                             UrlAuth(rump, "submit", "fred", None, "INTERNAL", "91354a473744909de610943775f92038"))
    rumped = parse_url(rump)
    assert rumped.urlauth == UrlAuth(rump, "submit", "fred")


def test_expire_and_access_identifiers() -> None:
    url = parse_url("imap://a%40b.example@host/Drafts;UIDVALIDITY=7/;UID=3/;PARTIAL=0.10"
                    ";EXPIRE=2030-01-02T03:04:05.5+01:30;URLAUTH=user+c%40d.example")
    assert url.user == "a@b.example"
    assert url.partial == (0, 10)
    assert url.urlauth is not None
    assert url.urlauth.kind == "user"
    assert url.urlauth.access_user == "c@d.example"
    assert url.urlauth.expire == datetime.datetime(2030, 1, 2, 3, 4, 5, 500000,
                                                   tzinfo=datetime.timezone(datetime.timedelta(hours=1, minutes=30)))
    assert url.urlauth.rump.endswith(";URLAUTH=user+c%40d.example")
    for access, kind in [("AUTHUSER", "authuser"), ("anonymous", "anonymous"), ("Submit+x", "submit")]:
        auth = parse_url(f"imap://u@h/INBOX/;UID=1;URLAUTH={access}").urlauth
        assert auth is not None and auth.kind == kind


@pytest.mark.parametrize(("url", "why"), [
    ("/INBOX/;UID=1;URLAUTH=anonymous", "a URLAUTH URL is absolute, with a user (imap://user@host/...)"),
    ("imap://host/INBOX/;UID=1;URLAUTH=anonymous", "a URLAUTH URL is absolute, with a user (imap://user@host/...)"),
    ("imap://u@h/INBOX/;UID=1;URLAUTH=somebody", "the access identifier is submit+user, user+user, authuser or "
                                                 "anonymous"),
    ("imap://u@h/INBOX/;UID=1;URLAUTH=user+", "the access identifier names no user"),
    ("imap://u@h/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL", "URLAUTH's verifier is :mechanism:token (32 or more "
                                                           "hex digits)"),
    ("imap://u@h/INBOX/;UID=1;URLAUTH=anonymous:INTERNAL:abc", "URLAUTH's verifier is :mechanism:token (32 or "
                                                               "more hex digits)"),
    ("imap://u@h/INBOX/;UID=1;URLAUTH=anonymous;URLAUTH=anonymous", "URLAUTH given twice"),
    ("imap://u@h/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z", "EXPIRE without URLAUTH"),
    ("imap://u@h/INBOX/;UID=1;EXPIRE=2030-13-01T00:00:00Z;URLAUTH=anonymous", "bad EXPIRE date-time "
                                                                              "2030-13-01T00:00:00Z"),
    ("imap://u@h/INBOX;URLAUTH=anonymous", "the URL names no message (;UID=)"),
    ("imap://u@h/INBOX/;UID=1/;SECTION=HEADER.FIELDS;URLAUTH=anonymous", "HEADER.FIELDS needs a list of field "
                                                                          "names"),
])
def test_bad_urls(url: str, why: str) -> None:
    with pytest.raises(BadUrl) as caught:
        parse_url(url)
    assert str(caught.value) == why


def test_the_token_is_hmac_sha256_of_the_rump() -> None:
    rump = "imap://joe@example.com/INBOX/;UID=20;URLAUTH=anonymous"
    token = imapurl.token(KEY, rump)
    assert len(token) == 64 and token == token.lower()
    auth = parse_url(f"{rump}:INTERNAL:{token.upper()}").urlauth
    assert auth is not None and imapurl.verified(KEY, auth)
    assert not imapurl.verified(bytes(32), auth)  # another key
    other = parse_url(f"{rump.replace('UID=20', 'UID=21')}:INTERNAL:{token}").urlauth
    assert other is not None and not imapurl.verified(KEY, other)  # another rump
    foreign = parse_url(f"{rump}:OTHER:{token}").urlauth
    assert foreign is not None and not imapurl.verified(KEY, foreign)  # only INTERNAL is known
    expiring = parse_url("imap://j@h/INBOX/;UID=1;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=anonymous").urlauth
    assert expiring is not None
    assert not imapurl.expired(expiring, datetime.datetime(2029, 12, 31, tzinfo=datetime.UTC).timestamp())
    assert imapurl.expired(expiring, datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC).timestamp())


@given(st.text(max_size=300))
def test_any_text_parses_or_raises_bad_url(text: str) -> None:
    with contextlib.suppress(BadUrl):
        parse_url(text)


URL_CHARS = st.sampled_from([*"imap:/@;=+.%-_~!$'()*,&TUVWXYZ0123456789abcdef:",
                             "UID=", "URLAUTH=", "EXPIRE=", "SECTION=", "PARTIAL=", "/;", "INTERNAL",
                             "2030-01-01T00:00:00Z", "%E2%82%AC", "%FF", "HEADER.FIELDS%20(A)"])


@given(st.lists(URL_CHARS, max_size=40).map("".join))
def test_url_like_text_parses_or_raises_bad_url(text: str) -> None:
    for candidate in (text, "imap://u@h/" + text, "/INBOX/;UID=1" + text):
        with contextlib.suppress(BadUrl):
            parse_url(candidate)


_names = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).filter(
    lambda n: not n.startswith(("~", "/")) and n[:5].upper() != "INBOX" and "//" not in n)
_sections = st.one_of(
    st.none(),
    st.builds(UrlSection, st.lists(st.integers(1, 2**32 - 1), min_size=1, max_size=4).map(tuple)),
    st.builds(UrlSection, st.just(()), st.sampled_from(["HEADER", "TEXT"])),
    st.builds(UrlSection, st.lists(st.integers(1, 99), min_size=1, max_size=3).map(tuple), st.just("MIME")),
    st.builds(UrlSection, st.just(()), st.sampled_from(["HEADER.FIELDS", "HEADER.FIELDS.NOT"]),
              st.lists(st.from_regex(r"[A-Za-z][A-Za-z0-9\-]{0,10}", fullmatch=True), min_size=1,
                       max_size=3).map(tuple)),
)
_users = st.from_regex(r"[a-z][a-z0-9.@\-]{0,15}", fullmatch=True)


@given(mailbox=_names, uid=st.integers(1, 2**32 - 1), uidvalidity=st.none() | st.integers(1, 2**32 - 1),
       section=_sections, partial=st.none() | st.tuples(st.integers(0, 10**9), st.none() | st.integers(1, 10**9)),
       user=_users, host=st.from_regex(r"[a-z][a-z0-9.\-]{0,20}", fullmatch=True),
       access=st.sampled_from(["anonymous", "authuser", "submit", "user"]), access_user=_users,
       expire=st.none() | st.datetimes(datetime.datetime(2000, 1, 1), datetime.datetime(2100, 1, 1)).map(
           lambda d: d.replace(microsecond=0, tzinfo=datetime.UTC)),
       token=st.none() | st.from_regex(r"[0-9a-f]{32,80}", fullmatch=True))
def test_written_urls_read_back(mailbox: str, uid: int, uidvalidity: int | None, section: UrlSection | None,
                                partial: tuple[int, int | None] | None, user: str, host: str, access: str,
                                access_user: str, expire: datetime.datetime | None, token: str | None) -> None:
    plain = MessageUrl(mailbox, uid, uidvalidity, section, partial, user, host)
    assert parse_url(url_text(plain)) == plain
    kind = access if access in ("anonymous", "authuser", "submit", "user") else "anonymous"
    named = access_user if kind in ("submit", "user") else None
    rump = url_text(MessageUrl(mailbox, uid, uidvalidity, section, partial, user, host,
                               UrlAuth("", kind, named, expire)))  # type: ignore[arg-type]
    auth = UrlAuth(rump, kind, named, expire, "INTERNAL" if token else None, token)  # type: ignore[arg-type]
    full = MessageUrl(mailbox, uid, uidvalidity, section, partial, user, host, auth)
    assert url_text(full) == rump + (f":INTERNAL:{token}" if token else "")
    assert parse_url(url_text(full)) == full


def test_a_mailbox_name_ending_with_the_delimiter_reads_back() -> None:
    """Found by the property test: "/;" ends a mailbox name, so a name ending with "/" has it escaped."""
    for validity in (None, 1):
        url = MessageUrl("0/", 1, validity, None, None, "a", "a")
        assert parse_url(url_text(url)) == url
