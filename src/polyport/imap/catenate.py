"""CATENATE (RFC 4469): the message an APPEND builds from TEXT literals and IMAP URLs (RFC 5092).

A URL names a message, or a section of one, in a mailbox the account may read ("r") on this server:
relative ("/INBOX;UIDVALIDITY=n/;UID=m/;SECTION=1.2") or absolute ("imap://user@host/INBOX/;UID=m") with,
when given, the account's own login or address as user and its own domain as host. UIDVALIDITY, when
given, must be the mailbox's; SECTION takes FETCH's section-spec (cut as FETCH cuts it); PARTIAL=
offset[.length] a slice of what the rest names. A URLAUTH-authorized URL (RFC 4467, which RFC 4469 section
3 allows) is resolved as URLFETCH resolves it, for this account: any user's, when its token verifies and its
access identifier lets this account use it. The URL grammar is mailstore/imapurl.py's. A URL naming only a
mailbox, or anything else that does not resolve, is NO [BADURL url]; a result over the append limit is
NO [TOOBIG]. Mailbox names in URLs are percent-encoded UTF-8 (RFC 5092 section 3.2).
"""

from __future__ import annotations

from collections.abc import Sequence

from polyport.imap.codes import ImapRefusal
from polyport.mailstore import Mailstore, NoSuchMailbox, NotPermitted
from polyport.mailstore.imapurl import BadUrl, MessageUrl, parse_url
from polyport.mailstore.urlauth import Requester

__all__ = ["BadUrl", "MessageUrl", "build", "parse_url", "resolve"]


async def resolve(mailstore: Mailstore, account_id: int, address: str, login: str, url: MessageUrl,
                  text: str = "") -> bytes:
    """The bytes a URL (`text` as written, parsed as `url`) names, read as the account; BadUrl when they
    cannot be."""
    if url.urlauth is not None:
        return await mailstore.fetch_url(text, Requester(account_id))
    if url.user is not None and url.user.lower() not in (address.lower(), login.lower(),
                                                          address.split("@")[0].lower()):
        raise BadUrl("the URL names another user")
    if url.host is not None and url.host != address.rsplit("@", 1)[-1].lower():
        raise BadUrl("the URL names another server")
    try:
        mailbox = await mailstore.mailbox(account_id, url.mailbox)  # needs "r" in another account's
    except (NoSuchMailbox, NotPermitted) as err:
        raise BadUrl(str(err)) from None
    return await mailstore.url_bytes(mailbox, url)


async def build(mailstore: Mailstore, account_id: int, address: str, login: str,
                parts: Sequence[bytes | str]) -> bytes:
    """The message CATENATE's parts make: NO [BADURL url] for a URL that does not resolve, NO [TOOBIG]
    once it outgrows the append limit."""
    limit = mailstore.max_message_size
    out = bytearray()
    for part in parts:
        if isinstance(part, str):
            try:
                piece = await resolve(mailstore, account_id, address, login, parse_url(part), part)
            except BadUrl as err:
                # url-resp-text is TEXT-CHARs but "]" (RFC 4469 section 5)
                shown = "".join(ch for ch in part if ch not in "]\r\n")
                raise ImapRefusal("NO", f"{err}", f"BADURL {shown}") from None
        else:
            piece = part
        out += piece
        if len(out) > limit:
            raise ImapRefusal("NO", f"the message would be larger than {limit} bytes", "TOOBIG")
    return bytes(out)
