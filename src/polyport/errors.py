"""What kind of refusal a service raised, in words no protocol owns.

The services raise typed errors (`MailstoreError`, `DirectoryError`, `DeliveryError`, `AuthFailure` and
their subclasses), all `ServiceError`s, each with a class attribute `kind`. A protocol answers by kind,
from one table in its `codes.py`, and looks at the class only where it has a finer code than the kind
gives (IMAP's NONEXISTENT, the CLI/API's 512 for a domain and 513 for an account). A new kind therefore
fails each protocol's table test until every protocol has an answer for it.
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorKind(enum.Enum):
    NOT_FOUND = "not-found"
    """No such thing: a mailbox, domain, account (alias, forwarder, group) or recipient."""
    EXISTS = "exists"
    """The name is taken: a mailbox, domain, account, alias, forwarder or group of that name exists."""
    INVALID = "invalid"
    """A name or value the service does not accept (a mailbox or account name, a setting's value); the
    request itself was well formed."""
    MALFORMED = "malformed"
    """What the client sent cannot be read: a rights string with a letter that is no right, a broken SASL
    exchange."""
    FORBIDDEN = "forbidden"
    """The requester may not do this: an ACL does not grant it, a sender address is not its own, mail for
    other domains is not sent on from here."""
    PROTECTED = "protected"
    """The object cannot be removed or renamed that way: the main domain, its postmaster, INBOX."""
    NOT_EMPTY = "not-empty"
    """The object still holds others (a domain its accounts) and cannot be removed before they are."""
    DISABLED = "disabled"
    """The address exists but takes no mail: a group that does not expand, forwarding that loops."""
    OVER_QUOTA = "over-quota"
    """Storing this would take an account over its size or message limit."""
    TOO_LARGE = "too-large"
    """The message is larger than the limit for one message."""
    THROTTLED = "throttled"
    """Too many failed logins from this address or for this account: refused for a while, whatever the
    password; the same request later may succeed."""
    AUTH_FAILED = "auth-failed"
    """The credentials could not be verified: an unknown name or a wrong password (the two look alike)."""
    NEEDS_TLS = "needs-tls"
    """Refused because the connection is not encrypted (a plaintext password without TLS)."""
    LOGIN_DENIED = "login-denied"
    """The credentials are right, but that account may not log in to this service or act as the account
    it asked to be."""
    REFUSED = "refused"
    """A refusal no finer kind describes; only its text says why (the families' own base classes)."""


class ServiceError(Exception):
    """Base of the services' typed refusals; the message is fit to show the user or admin who asked."""

    kind: ClassVar[ErrorKind] = ErrorKind.REFUSED
