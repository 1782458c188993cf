"""SMTP's replies for the services' refusals: the one place errors become codes (RFC 5321, RFC 3463)."""

from __future__ import annotations

from polyport.auth.login import AccessDenied, AuthFailure, Malformed, PlaintextRefused, Throttled
from polyport.delivery import (
    DeliveryError,
    MailboxFull,
    RecipientDisabled,
    RemoteNotAvailable,
    SenderNotOwned,
    UnknownRecipient,
)
from polyport.smtp.wire import Reply


def delivery_reply(error: DeliveryError) -> Reply:
    if isinstance(error, UnknownRecipient):
        return Reply(550, "5.1.1", str(error))
    if isinstance(error, RecipientDisabled):
        return Reply(550, "5.2.1", str(error))
    if isinstance(error, MailboxFull):
        return Reply(552, "5.2.2", str(error)) if error.permanent else Reply(452, "4.2.2", str(error))
    if isinstance(error, RemoteNotAvailable):
        return Reply(550, "5.7.1", str(error))
    if isinstance(error, SenderNotOwned):
        return Reply(553, "5.7.1", str(error))
    return Reply(451, "4.3.0", str(error))


def auth_reply(failure: AuthFailure) -> Reply:
    """RFC 4954 6 and RFC 5248's codes for a failed AUTH."""
    if isinstance(failure, Throttled):
        return Reply(454, "4.7.0", "too many failed logins; try again later")
    if isinstance(failure, PlaintextRefused):
        return Reply(538, "5.7.11", "encryption required for this mechanism; use STARTTLS first")
    if isinstance(failure, Malformed):
        return Reply(501, "5.5.2", str(failure) or "malformed authentication exchange")
    if isinstance(failure, AccessDenied):
        return Reply(535, "5.7.8", "this account may not send mail")
    return Reply(535, "5.7.8", "authentication credentials invalid")


# Replies with fixed text, by name, so sessions and tests agree.
BAD_SEQUENCE = Reply(503, "5.5.1", "bad sequence of commands")
NEED_HELLO = Reply(503, "5.5.1", "say EHLO (or HELO) first")
NEED_MAIL = Reply(503, "5.5.1", "MAIL FROM comes first")
NESTED_MAIL = Reply(503, "5.5.1", "a transaction is already open (RSET to start over)")
NO_RECIPIENTS = Reply(554, "5.5.1", "no valid recipients")
NEED_AUTH = Reply(530, "5.7.0", "authentication required")
NEED_TLS_FIRST = Reply(530, "5.7.0", "must issue a STARTTLS command first")
TOO_BIG = Reply(552, "5.3.4", "message size exceeds the fixed maximum message size")
TOO_MANY_RECIPIENTS = Reply(452, "4.5.3", "too many recipients")
TOO_MANY_HOPS = Reply(554, "5.4.6", "too many hops (a mail loop?)")
LINE_TOO_LONG = Reply(500, "5.5.2", "line too long")
TEMP_FAILURE = Reply(451, "4.3.0", "internal error; try again later")
