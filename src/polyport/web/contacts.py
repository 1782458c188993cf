"""The personal address book: one vCard (RFC 6350) per message in the account's "Contacts" mailbox.

CommuniGate keeps contacts the same way (a mailbox of class IPF.Contact holding vCards), so CardDAV and
ACAP can serve this mailbox later without moving anything, and IMAP clients see it as a folder.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from polyport.mailstore import Mailstore, MailstoreError, NoSuchMailbox

MAILBOX = "Contacts"
CLASS = "IPF.Contact"


@dataclass(frozen=True, slots=True)
class Contact:
    uid: str  # the vCard's UID (a new one when empty)
    name: str
    emails: tuple[str, ...] = ()
    phones: tuple[str, ...] = ()
    note: str = ""
    message_uid: int = 0  # where it is stored (the mailbox's UID), once stored


def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")
            .replace("\r", ""))


def _unescape(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        ch = value[i]
        if ch == "\\" and i + 1 < len(value):
            nxt = value[i + 1]
            out.append("\n" if nxt in "nN" else nxt)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def to_vcard(contact: Contact) -> str:
    lines = ["BEGIN:VCARD", "VERSION:4.0", f"UID:{_escape(contact.uid)}", f"FN:{_escape(contact.name)}"]
    lines += [f"EMAIL:{_escape(e)}" for e in contact.emails]
    lines += [f"TEL:{_escape(p)}" for p in contact.phones]
    if contact.note:
        lines.append(f"NOTE:{_escape(contact.note)}")
    lines.append("END:VCARD")
    return "\r\n".join(lines) + "\r\n"


def parse_vcard(text: str, message_uid: int = 0) -> Contact | None:
    """The fields we show of a vCard (3.0 or 4.0); None if it is not one. Lines are unfolded first."""
    unfolded = text.replace("\r\n ", "").replace("\r\n\t", "").replace("\n ", "").replace("\n\t", "")
    fields: dict[str, list[str]] = {}
    for line in unfolded.splitlines():
        name, colon, value = line.partition(":")
        if not colon:
            continue
        key = name.split(";", 1)[0].split(".")[-1].upper()
        fields.setdefault(key, []).append(_unescape(value.strip()))
    if "BEGIN" not in fields:
        return None
    name = (fields.get("FN") or [""])[0]
    if not name and fields.get("N"):
        parts = fields["N"][0].split(";")
        name = " ".join(p for p in (parts[1] if len(parts) > 1 else "", parts[0]) if p)
    return Contact((fields.get("UID") or [""])[0], name, tuple(fields.get("EMAIL", ())), tuple(fields.get("TEL", ())),
                   (fields.get("NOTE") or [""])[0], message_uid)


async def _mailbox_id(store: Mailstore, account_id: int, *, create: bool) -> int | None:
    try:
        return (await store.mailbox(account_id, MAILBOX)).id
    except NoSuchMailbox:
        if not create:
            return None
    try:
        return (await store.create(account_id, MAILBOX, mailbox_class=CLASS)).id
    except MailstoreError:  # made meanwhile by another request
        return (await store.mailbox(account_id, MAILBOX)).id


async def load(store: Mailstore, account_id: int) -> list[Contact]:
    mailbox_id = await _mailbox_id(store, account_id, create=False)
    if mailbox_id is None:
        return []
    found = []
    for full in await store.full(mailbox_id, 1, 2**32 - 1):
        if full.flags & 8:  # \Deleted
            continue
        data = await store.read(full.blob, size=full.size)
        _, _, body = data.partition(b"\r\n\r\n")
        contact = parse_vcard(body.decode("utf-8", "replace"), full.uid)
        if contact is not None:
            found.append(contact)
    found.sort(key=lambda c: (c.name or (c.emails[0] if c.emails else "")).casefold())
    return found


async def add(store: Mailstore, account_id: int, contact: Contact) -> None:
    mailbox_id = await _mailbox_id(store, account_id, create=True)
    assert mailbox_id is not None
    uid = contact.uid or str(uuid.uuid4())
    message = EmailMessage(policy=SMTP)
    message["Subject"] = contact.name or (contact.emails[0] if contact.emails else "contact")
    message["X-Contact-UID"] = uid
    card = to_vcard(Contact(uid, contact.name, contact.emails, contact.phones, contact.note))
    message.set_content(card, subtype="vcard", charset="utf-8", cte="8bit")
    await store.append(account_id, MAILBOX, bytes(message), ["\\Seen"])


async def delete(store: Mailstore, account_id: int, uids: Sequence[int]) -> None:
    mailbox_id = await _mailbox_id(store, account_id, create=False)
    if mailbox_id is None or not uids:
        return
    await store.store_flags(mailbox_id, list(uids), "add", ["\\Deleted"])
    await store.expunge(mailbox_id, list(uids))
