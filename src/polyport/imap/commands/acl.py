"""SETACL, DELETEACL, GETACL, LISTRIGHTS, MYRIGHTS (RFC 4314) over the mailstore's access control lists.

Identifiers are account names of the mailbox owner's domain, `anyone`, and either with "-" in front for
negative rights (mailstore/acl.py). Other accounts' mailboxes are "~owner/name" (the "~" namespace of
NAMESPACE). The owner has every right and is listed first by GETACL; its rights cannot be changed. Rights in
answers carry "c" and "d" as well, for RFC 2086 clients (section 2.1.1); "c" and "d" asked for are read
as "kx" and "te". GETACL, SETACL, DELETEACL and LISTRIGHTS need the "a" right, MYRIGHTS any right.
"""

from __future__ import annotations

from polyport.imap import responses, wire
from polyport.imap.session import AUTHENTICATED, ImapSession, handles
from polyport.mailstore import acl


def _mailbox(s: ImapSession, name: str) -> bytes:
    return responses.astring(name, utf8=s.utf8)


def _word(s: ImapSession, text: str) -> bytes:
    """An identifier or a rights string: an astring (RFC 4314 section 7)."""
    return responses.atom_or_string(text, utf8=s.utf8)


@handles(wire.SetAcl, AUTHENTICATED)
async def set_acl(s: ImapSession, c: wire.SetAcl) -> None:
    """RFC 4314 section 3.1: "+rights" adds, "-rights" removes, plain rights replace; an unknown right is
    BAD (mailstore InvalidRights), an entry left empty is removed."""
    await s.mailstore.change_acl(s.account_id, c.mailbox, [(c.identifier, c.operation, acl.parse(c.rights))])
    await s.finish(c, "SETACL completed")


@handles(wire.DeleteAcl, AUTHENTICATED)
async def delete_acl(s: ImapSession, c: wire.DeleteAcl) -> None:
    """RFC 4314 section 3.2."""
    await s.mailstore.change_acl(s.account_id, c.mailbox, [(c.identifier, "replace", "")])
    await s.finish(c, "DELETEACL completed")


@handles(wire.GetAcl, AUTHENTICATED)
async def get_acl(s: ImapSession, c: wire.GetAcl) -> None:
    """RFC 4314 sections 3.3 and 3.6: one ACL response, the owner first."""
    found = await s.mailstore.acl(s.account_id, c.mailbox)
    parts = [_mailbox(s, c.mailbox), _word(s, found.owner), acl.shown(acl.ALL).encode()]
    for identifier, rights in found.entries:
        parts += [_word(s, identifier), _word(s, acl.shown(rights))]
    s.send(b"* ACL " + b" ".join(parts) + b"\r\n")
    await s.finish(c, "GETACL completed")


@handles(wire.ListRights, AUTHENTICATED)
async def list_rights(s: ImapSession, c: wire.ListRights) -> None:
    """RFC 4314 sections 3.4 and 3.7: the rights always granted, then each that may be granted (alone)."""
    required, optional = await s.mailstore.list_rights(s.account_id, c.mailbox, c.identifier)
    parts = [_mailbox(s, c.mailbox), _word(s, c.identifier), _word(s, acl.shown(required) if required else "")]
    parts += [_word(s, rights) for rights in optional]
    s.send(b"* LISTRIGHTS " + b" ".join(parts) + b"\r\n")
    await s.finish(c, "LISTRIGHTS completed")


@handles(wire.MyRights, AUTHENTICATED)
async def my_rights(s: ImapSession, c: wire.MyRights) -> None:
    """RFC 4314 sections 3.5 and 3.8."""
    mailbox = await s.mailstore.mailbox(s.account_id, c.mailbox, need="")
    s.send(b"* MYRIGHTS " + _mailbox(s, c.mailbox) + b" " + _word(s, acl.shown(mailbox.rights)) + b"\r\n")
    await s.finish(c, "MYRIGHTS completed")
