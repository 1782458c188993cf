"""SMTP's replies for the services' refusals: the one place errors become codes (RFC 5321, RFC 3463)."""

from __future__ import annotations

from polyport.auth.login import AuthFailure, AuthzidRefused
from polyport.delivery import DeliveryError, MailboxFull, SenderNotOwned
from polyport.errors import ErrorKind, ServiceError
from polyport.mailstore.imapurl import BadUrl, NotAuthorized
from polyport.smtp.wire import Reply

Answer = tuple[int, str, str | None]  # code, enhanced code (RFC 3463), text (None: the error's own)

# The reply to each kind of refusal. A failed AUTH gets fixed texts (RFC 4954 6, RFC 5248). No service SMTP
# calls raises EXISTS, INVALID, PROTECTED, NOT_EMPTY or TOO_LARGE today; their replies are for completeness.
BY_KIND: dict[ErrorKind, Answer] = {
    ErrorKind.NOT_FOUND: (550, "5.1.1", None),
    ErrorKind.EXISTS: (550, "5.0.0", None),
    ErrorKind.INVALID: (501, "5.5.4", None),
    ErrorKind.MALFORMED: (501, "5.5.2", None),
    ErrorKind.FORBIDDEN: (550, "5.7.1", None),
    ErrorKind.PROTECTED: (550, "5.0.0", None),
    ErrorKind.NOT_EMPTY: (550, "5.0.0", None),
    ErrorKind.DISABLED: (550, "5.2.1", None),
    ErrorKind.OVER_QUOTA: (552, "5.2.2", None),
    ErrorKind.TOO_LARGE: (552, "5.3.4", None),
    ErrorKind.THROTTLED: (454, "4.7.0", "too many failed logins; try again later"),
    ErrorKind.AUTH_FAILED: (535, "5.7.8", "authentication credentials invalid"),
    ErrorKind.NEEDS_TLS: (538, "5.7.11", "encryption required for this mechanism; use STARTTLS first"),
    ErrorKind.LOGIN_DENIED: (535, "5.7.8", "this account may not send mail"),
    ErrorKind.REFUSED: (451, "4.3.0", None),  # no more is known: the client tries again rather than bounce
}
# Classes answered otherwise than their kind.
BY_CLASS: tuple[tuple[type[ServiceError], Answer], ...] = (
    (SenderNotOwned, (553, "5.7.1", None)),  # RFC 5321 4.2.2: mailbox name not allowed
    # RFC 4954 4: refused authentication data is 535 5.7.8; LOGIN_DENIED's text (AccessModes) would mislead.
    (AuthzidRefused, (535, "5.7.8", "authorization identity refused")),
)
QUOTA_TEMPORARY: Answer = (452, "4.2.2", None)  # MailboxFull when the domain's OverQuotaReply is temporary


def reply_for(error: ServiceError) -> Reply:
    """The reply to a refusal of the services: by its kind, or by its class where SMTP has a finer code."""
    if isinstance(error, MailboxFull) and not error.permanent:
        answer = QUOTA_TEMPORARY
    else:
        answer = next((answer for cls, answer in BY_CLASS if isinstance(error, cls)), BY_KIND[error.kind])
    code, enhanced, text = answer
    if text is None:
        text = str(error) or ("malformed authentication exchange" if error.kind is ErrorKind.MALFORMED else "")
    return Reply(code, enhanced, text)


def delivery_reply(error: DeliveryError) -> Reply:
    """A recipient or sender refused (RFC 5321 4.2.2, RFC 3463)."""
    return reply_for(error)


def auth_reply(failure: AuthFailure) -> Reply:
    """RFC 4954 6 and RFC 5248's codes for a failed AUTH."""
    return reply_for(failure)


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
# BURL (RFC 4468 section 6): a URL without URLAUTH gives the submission server no authorization to read it.
BURL_NOT_AUTHORIZED = Reply(554, "5.7.0", "the URL carries no URLAUTH authorization (GENURLAUTH it first)")


def burl_reply(url: str, error: BadUrl) -> Reply:
    """A BURL URL that does not resolve (RFC 4468 section 6: 554 5.6.6, "IMAP URL resolution failed"); one
    without URLAUTH authorizes nothing (554 5.7.0); one naming no IMAP server at all is beyond the trust of
    this submission server (554 5.7.14, as RFC 4468's erratum 896 corrects its 5.7.8)."""
    if isinstance(error, NotAuthorized):
        return BURL_NOT_AUTHORIZED
    if url[:7].lower() != "imap://":
        return Reply(554, "5.7.14", "URL resolution requires trust relationship: only this server's imap:// URLs")
    return Reply(554, "5.6.6", f"IMAP URL resolution failed: {error}")
