"""IMAP's answers to refusals: the one place the services' errors become NO/BAD with response codes
(RFC 5530 codes where they fit)."""

from __future__ import annotations

from dataclasses import dataclass

from polyport.auth.login import AccessDenied, AuthFailure, PlaintextRefused, Throttled
from polyport.imap.fetch import NoSuchPart, UnknownEncoding
from polyport.imap.search import UnsupportedSearch
from polyport.mailstore import (
    CannotDelete,
    InvalidMailboxName,
    InvalidRights,
    MailboxExists,
    MailstoreError,
    MessageTooLarge,
    NoSuchMailbox,
    NotPermitted,
    OverQuota,
)
from polyport.mailstore.flags import FlagError


@dataclass
class ImapRefusal(Exception):
    status: str  # "NO" or "BAD"
    text: str
    code: str | None = None


def refusal_for(err: Exception) -> ImapRefusal | None:
    """The answer to a typed error; None for anything else (a bug: logged, answered NO [SERVERBUG])."""
    if isinstance(err, ImapRefusal):
        return err
    text = str(err)
    if isinstance(err, NoSuchMailbox):
        return ImapRefusal("NO", text, "NONEXISTENT")
    if isinstance(err, MailboxExists):
        return ImapRefusal("NO", text, "ALREADYEXISTS")
    if isinstance(err, OverQuota):
        return ImapRefusal("NO", text, "OVERQUOTA")
    if isinstance(err, MessageTooLarge):
        return ImapRefusal("NO", text, "TOOBIG")
    if isinstance(err, InvalidMailboxName | CannotDelete):
        return ImapRefusal("NO", text, "CANNOT")
    if isinstance(err, NotPermitted):
        return ImapRefusal("NO", text, "NOPERM")
    if isinstance(err, InvalidRights):
        return ImapRefusal("BAD", text)
    if isinstance(err, MailstoreError):
        return ImapRefusal("NO", text)
    if isinstance(err, FlagError):
        return ImapRefusal("BAD", text)
    if isinstance(err, Throttled):
        return ImapRefusal("NO", text, "UNAVAILABLE")
    if isinstance(err, PlaintextRefused):
        return ImapRefusal("NO", text, "PRIVACYREQUIRED")
    if isinstance(err, AccessDenied):
        return ImapRefusal("NO", text, "AUTHORIZATIONFAILED")
    if isinstance(err, AuthFailure):
        return ImapRefusal("NO", text, "AUTHENTICATIONFAILED")
    if isinstance(err, UnknownEncoding):
        return ImapRefusal("NO", text, "UNKNOWN-CTE")
    if isinstance(err, NoSuchPart):
        return ImapRefusal("BAD", text)
    if isinstance(err, UnsupportedSearch):
        return ImapRefusal("BAD", text)
    return None
