"""GETMETADATA and SETMETADATA (RFC 5464, capability METADATA: server and mailbox entries).

The mailbox "" names the server. Entries are stored and answered lower-case (entry names are
case-insensitive, RFC 5464 3.2); those without a value are left out of the answer, as the RFC's DEPTH
example leaves out the entry asked for itself. One METADATA response carries every entry found, none is
sent when nothing was. Values are quoted strings when they may be, literals otherwise, and literal8
(~{n}) when they hold a NUL. Unsolicited METADATA responses (RFC 5464 4.4.2) are not sent.

Access (RFC 5464 3.3; mailstore/service.py): private entries of another account's mailbox need it to be
visible, shared ones "r" to read and "w" to write; the server's shared entries are read by everyone and
written only by accounts holding the server administrator's right ("Master", the admin API's MASTER).
"""

from __future__ import annotations

from polyport.imap import responses, wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.session import AUTHENTICATED, ImapSession, handles
from polyport.mailstore import MetadataTooLarge, MetadataTooMany

SERVER_ADMIN_RIGHT = "Master"  # admin/rights.py MASTER (not imported: the admin package imports the world)


def _value(data: bytes, utf8: bool) -> bytes:
    if b"\0" in data:
        return b"~" + responses.literal(data)  # RFC 3516 literal8, which RFC 5464's value allows
    return responses.quoted_or_literal(data, utf8=utf8)


def _mailbox(s: ImapSession, name: str) -> bytes:
    return b'""' if name == "" else responses.astring(name, utf8=s.utf8)


@handles(wire.GetMetadata, AUTHENTICATED)
async def get_metadata(s: ImapSession, c: wire.GetMetadata) -> None:
    """RFC 5464 4.2: MAXSIZE leaves out larger values and reports the largest left out in the tagged OK's
    [METADATA LONGENTRIES n]."""
    found = await s.mailstore.get_metadata(s.account_id, c.mailbox, c.entries, c.depth)
    longest = 0
    parts: list[bytes] = []
    for name, value in found:
        if c.maxsize is not None and len(value) > c.maxsize:
            longest = max(longest, len(value))
            continue
        parts.append(responses.atom_or_string(name, utf8=s.utf8) + b" " + _value(value, s.utf8))
    if parts:
        s.send(b"* METADATA " + _mailbox(s, c.mailbox) + b" (" + b" ".join(parts) + b")\r\n")
    code = f"METADATA LONGENTRIES {longest}" if longest else None
    await s.finish(c, "GETMETADATA completed", code)


@handles(wire.SetMetadata, AUTHENTICATED)
async def set_metadata(s: ImapSession, c: wire.SetMetadata) -> None:
    """RFC 5464 4.3: all or none; NO [METADATA MAXSIZE n] for a value over the limit, NO [METADATA TOOMANY]
    past the number of entries allowed."""
    assert s.identity is not None
    admin = SERVER_ADMIN_RIGHT in s.identity.rights
    try:
        await s.mailstore.set_metadata(s.account_id, c.mailbox, c.entries, server_admin=admin)
    except MetadataTooLarge as err:
        raise ImapRefusal("NO", str(err), f"METADATA MAXSIZE {err.limit}") from None
    except MetadataTooMany as err:
        raise ImapRefusal("NO", str(err), "METADATA TOOMANY") from None
    await s.finish(c, "SETMETADATA completed")
