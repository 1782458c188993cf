"""URLAUTH (RFC 4467): mailbox access keys, and who may use an authorized URL.

A mailbox access key is a random secret (32 bytes from `secrets`) per mailbox and per account that signed
URLs for it, made by the first GENURLAUTH that needs it and kept in mailbox_access_keys (migration 0013).
A URL's INTERNAL token is HMAC-SHA256 of its rump under that key (imapurl.py); RESETKEY deletes keys, so
every URL they signed stops working. The URL's own user ("imap://fred@host/...") names the account whose
key signed it, and whose rights on the mailbox it is read with.

Access identifiers (RFC 4467 section 3), against who asks (`Requester`):
- "anonymous": anyone;
- "authuser": any account of this server;
- "user+fred": only the account fred (by any of its names);
- "submit+fred": only the submission server acting for fred (BURL, RFC 4468): an IMAP session of fred
  itself does not qualify, as the access identifier is meant to limit the URL to the submit entity.
A session acting for fred (IMAP or submission) may use "anonymous", "authuser" and "user+fred" URLs; the
submission server acting for fred also "submit+fred" ones.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from polyport.mailstore.imapurl import UrlAuth
from polyport.store import Statement, Unit

KEY_SIZE = 32

GET_KEY = Statement("SELECT key FROM mailbox_access_keys WHERE mailbox_id = :mailbox_id AND account_id = :account_id")
ADD_KEY = Statement("""
    INSERT INTO mailbox_access_keys (mailbox_id, account_id, key) VALUES (:mailbox_id, :account_id, :key)
    ON CONFLICT (mailbox_id, account_id) DO NOTHING""")
DELETE_KEYS = Statement("DELETE FROM mailbox_access_keys WHERE account_id = :account_id")
DELETE_MAILBOX_KEY = Statement(
    "DELETE FROM mailbox_access_keys WHERE mailbox_id = :mailbox_id AND account_id = :account_id")


@dataclass(frozen=True, slots=True)
class Requester:
    """Who asks for a URL's data: an account (None: nobody logged in), and whether the submission server
    asks on its behalf (BURL)."""

    account_id: int | None
    submit: bool = False


def key_for(mailbox_id: int, account_id: int) -> Unit[bytes]:
    """The account's key for the mailbox, made now if it has none (a racing maker's key wins: one key)."""
    found = yield GET_KEY.value(mailbox_id=mailbox_id, account_id=account_id)
    if found is not None:
        return bytes(found)
    yield ADD_KEY.run(mailbox_id=mailbox_id, account_id=account_id, key=secrets.token_bytes(KEY_SIZE))
    made = yield GET_KEY.value(mailbox_id=mailbox_id, account_id=account_id)
    return bytes(made)


def reset(account_id: int, mailbox_id: int | None) -> Unit[None]:
    """Forget the account's keys: for one mailbox, or (None) for all of them."""
    if mailbox_id is None:
        yield DELETE_KEYS.run(account_id=account_id)
    else:
        yield DELETE_MAILBOX_KEY.run(mailbox_id=mailbox_id, account_id=account_id)


def allowed(auth: UrlAuth, requester: Requester, access_account: int | None) -> bool:
    """Whether `requester` may use a URL with this access identifier; `access_account` is the account the
    identifier's user names (submit+user, user+user), None when it names none here."""
    if auth.kind == "anonymous":
        return True
    if requester.account_id is None:
        return False
    if auth.kind == "authuser":
        return True
    if auth.kind == "submit" and not requester.submit:
        return False
    return access_account is not None and access_account == requester.account_id
