"""GENURLAUTH, RESETKEY and URLFETCH (RFC 4467, capability URLAUTH), and the URLMECH response code.

GENURLAUTH signs URL rumps ("imap://fred@host/INBOX/;UID=20;URLAUTH=submit+fred") naming the session's own
user with the INTERNAL mechanism (HMAC-SHA256 under the mailbox access key, made on first use);
RESETKEY forgets keys, so the URLs they signed stop working; URLFETCH answers each URL with its data, or
NIL for one that does not verify, has expired, is not for this user, or names nothing (RFC 4467 6.3: the
command itself still succeeds). The URL grammar is mailstore/imapurl.py's, keys and access rules
mailstore/urlauth.py's.

Implementation notes:
- A malformed rump or an unknown mechanism in GENURLAUTH is BAD; a rump naming another user, a mailbox
  the account cannot read or a changed UIDVALIDITY is NO. Nothing is generated unless all are good.
- URLMECH (RFC 4467 section 6.4) goes in an untagged OK after SELECT and EXAMINE, and after RESETKEY.
- URLFETCH data is a literal; a NUL goes as 0x80, as FETCH's BODY[] sends it (imap/fetch.py).
- RFC 5524's URLFETCH options (BODYPARTSTRUCTURE, BINARY) are not offered (no URLAUTH=BINARY).
"""

from __future__ import annotations

from polyport.imap import responses, wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.fetch import plain_literal
from polyport.imap.session import AUTHENTICATED, ImapSession, handles
from polyport.mailstore.imapurl import INTERNAL, BadUrl, parse_url
from polyport.mailstore.urlauth import Requester

URLMECH = b"* OK [URLMECH " + INTERNAL.encode() + b"] URLAUTH mechanisms\r\n"


def _check_mechanism(mechanism: str) -> None:
    if mechanism != INTERNAL:
        raise ImapRefusal("BAD", f"unknown URLAUTH mechanism {mechanism[:30]} (only {INTERNAL})")


@handles(wire.GenUrlAuth, AUTHENTICATED)
async def genurlauth(s: ImapSession, c: wire.GenUrlAuth) -> None:
    for rump, mechanism in c.urls:
        _check_mechanism(mechanism)
        try:
            parse_url(rump)
        except BadUrl as err:
            raise ImapRefusal("BAD", f"bad URL: {err}") from None
    generated: list[bytes] = []
    for rump, _ in c.urls:
        try:
            generated.append(responses.quoted_or_literal(await s.mailstore.generate_url(s.account_id, rump)))
        except BadUrl as err:
            raise ImapRefusal("NO", f"cannot authorize {rump[:200]}: {err}") from None
    s.send(b"* GENURLAUTH " + b" ".join(generated) + b"\r\n")
    await s.finish(c, "GENURLAUTH completed")


@handles(wire.ResetKey, AUTHENTICATED)
async def resetkey(s: ImapSession, c: wire.ResetKey) -> None:
    for mechanism in c.mechanisms:
        _check_mechanism(mechanism)
    await s.mailstore.reset_access_keys(s.account_id, c.mailbox)
    s.send(URLMECH)
    await s.finish(c, "RESETKEY completed" if c.mailbox is None else f"RESETKEY completed for {c.mailbox}")


@handles(wire.UrlFetch, AUTHENTICATED)
async def urlfetch(s: ImapSession, c: wire.UrlFetch) -> None:
    requester = Requester(s.account_id)
    for url in c.urls:
        try:
            data: bytes | None = await s.mailstore.fetch_url(url, requester)
        except BadUrl as err:
            s.log.info("imap.urlfetch_refused", reason=str(err))
            data = None
        value = responses.NIL if data is None else responses.literal(plain_literal(data))
        s.send(b"* URLFETCH " + responses.quoted_or_literal(url) + b" " + value + b"\r\n")
        await s.conn.drain()
    await s.finish(c, "URLFETCH completed")
