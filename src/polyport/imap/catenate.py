"""CATENATE (RFC 4469): the message an APPEND builds from TEXT literals and IMAP URLs (RFC 5092).

A URL names a message, or a section of one, in a mailbox the account may read ("r") on this server:
relative ("/INBOX;UIDVALIDITY=n/;UID=m/;SECTION=1.2") or absolute ("imap://user@host/INBOX/;UID=m") with,
when given, the account's own login or address as user and its own domain as host. UIDVALIDITY, when
given, must be the mailbox's; SECTION takes FETCH's section-spec (imap/fetch.py cuts the bytes);
PARTIAL=offset[.length] a slice of what the rest names. A URL naming only a mailbox, with URLAUTH
(RFC 4467 is not done) or anything else that does not resolve, is NO [BADURL url]; a result over the
append limit is NO [TOOBIG]. Mailbox names in URLs are percent-encoded UTF-8 (RFC 5092 section 3.2).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import unquote

from polyport.imap import wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.fetch import NoSuchPart, section_bytes
from polyport.mailstore import Mailstore, NoSuchMailbox, NotPermitted

_NUMBER = re.compile(r"[1-9][0-9]{0,9}")
_PARTIAL = re.compile(r"([0-9]{1,20})(?:\.([1-9][0-9]{0,19}))?")


class BadUrl(Exception):
    """Why a URL does not resolve (the text of the NO [BADURL url])."""


@dataclass(frozen=True, slots=True)
class MessageUrl:
    """An IMAP URL naming a message or a part of one (RFC 5092 section 6, without URLAUTH)."""

    mailbox: str
    uid: int
    uidvalidity: int | None = None
    section: wire.Section | None = None
    partial: tuple[int, int | None] | None = None
    user: str | None = None  # absolute URLs: the user and host before the path
    host: str | None = None


def _number(text: str, what: str) -> int:
    if not _NUMBER.fullmatch(text) or int(text) > 2**32 - 1:
        raise BadUrl(f"{what} is not a number from 1 to 4294967295")
    return int(text)


def parse_url(url: str) -> MessageUrl:
    """The parts of an IMAP URL naming a message (pure); BadUrl when it is not one."""
    user: str | None = None
    host: str | None = None
    if url[:7].lower() == "imap://":
        rest = url[7:]
        slash = rest.find("/")
        if slash < 0:
            raise BadUrl("the URL names no mailbox")
        server, path = rest[:slash], rest[slash + 1:]
        if "@" in server:
            userinfo, server = server.rsplit("@", 1)
            user = unquote(userinfo.split(";", 1)[0]) or None  # ";AUTH=..." says how to log in: ignored
        host = server.rsplit(":", 1)[0].lower() if not server.endswith("]") else server.lower()
    elif url.startswith("/"):
        path = url[1:]
    else:
        raise BadUrl("a URL is imap://... or a path from /")
    # enc-mailbox [";UIDVALIDITY=" n] "/;UID=" n ["/;SECTION=" s] ["/;PARTIAL=" p]: ";" is never in the
    # encoded mailbox name, so "/;" parts the pieces even though "/" may be in the name.
    head, *rest_pieces = path.split("/;")
    name, _, validity = head.partition(";")
    uidvalidity: int | None = None
    if validity:
        key, _, value = validity.partition("=")
        if key.upper() != "UIDVALIDITY":
            raise BadUrl(f"unexpected ;{key[:30]} after the mailbox")
        uidvalidity = _number(value, "UIDVALIDITY")
    try:
        mailbox = unquote(name, errors="strict")
    except UnicodeDecodeError:
        raise BadUrl("the mailbox name is not UTF-8") from None
    if not mailbox:
        raise BadUrl("the URL names no mailbox")
    uid: int | None = None
    section: wire.Section | None = None
    partial: tuple[int, int | None] | None = None
    for piece in rest_pieces:
        key, _, value = piece.partition("=")
        key = key.upper()
        if ";" in value:
            raise BadUrl("URLAUTH (RFC 4467) is not supported")
        if key == "UID" and uid is None:
            uid = _number(value.rstrip("/"), "UID")
        elif key == "SECTION" and uid is not None and section is None and partial is None:
            try:
                section = wire.parse_section(unquote(value).encode())
            except (wire.ParseError, UnicodeEncodeError):
                raise BadUrl(f"bad section {value[:40]}") from None
        elif key == "PARTIAL" and uid is not None and partial is None:
            match = _PARTIAL.fullmatch(value)
            if match is None:
                raise BadUrl("PARTIAL is offset[.length]")
            partial = int(match.group(1)), int(match.group(2)) if match.group(2) else None
        else:
            raise BadUrl(f"unexpected ;{key[:30]} in the URL")
    if uid is None:
        raise BadUrl("the URL names no message (;UID=)")
    return MessageUrl(wire.canonical_inbox(mailbox), uid, uidvalidity, section, partial, user, host)


async def resolve(mailstore: Mailstore, account_id: int, address: str, login: str, url: MessageUrl) -> bytes:
    """The bytes a URL names, read as the account; BadUrl when they cannot be."""
    if url.user is not None and url.user.lower() not in (address.lower(), login.lower(),
                                                          address.split("@")[0].lower()):
        raise BadUrl("the URL names another user")
    if url.host is not None and url.host != address.rsplit("@", 1)[-1].lower():
        raise BadUrl("the URL names another server")
    try:
        mailbox = await mailstore.mailbox(account_id, url.mailbox)  # needs "r" in another account's
    except (NoSuchMailbox, NotPermitted) as err:
        raise BadUrl(str(err)) from None
    if url.uidvalidity is not None and url.uidvalidity != mailbox.uidvalidity:
        raise BadUrl("the mailbox's UIDVALIDITY has changed")
    found = await mailstore.full(mailbox.id, url.uid, url.uid)
    if not found:
        raise BadUrl(f"no message with UID {url.uid}")
    message = found[0]
    data = await mailstore.read(message.blob, size=message.size)
    if url.section is not None:
        try:
            data = section_bytes(data, message.structure(), url.section)
        except NoSuchPart as err:
            raise BadUrl(str(err)) from None
    if url.partial is not None:
        start, length = url.partial
        data = data[start:] if length is None else data[start:start + length]
    return data


async def build(mailstore: Mailstore, account_id: int, address: str, login: str,
                parts: Sequence[bytes | str]) -> bytes:
    """The message CATENATE's parts make: NO [BADURL url] for a URL that does not resolve, NO [TOOBIG]
    once it outgrows the append limit."""
    limit = mailstore.max_message_size
    out = bytearray()
    for part in parts:
        if isinstance(part, str):
            try:
                piece = await resolve(mailstore, account_id, address, login, parse_url(part))
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
