"""IMAP's answers to refusals: the one place the services' errors become NO/BAD with response codes
(RFC 5530 codes where they fit)."""

from __future__ import annotations

from dataclasses import dataclass

from polyport.auth.login import Malformed
from polyport.errors import ErrorKind, ServiceError
from polyport.imap.fetch import UnknownEncoding
from polyport.imap.search import UnsupportedSearch
from polyport.mailstore.errors import TooManyKeywords
from polyport.mailstore.flags import FlagError
from polyport.mailstore.sections import NoSuchPart


@dataclass
class ImapRefusal(Exception):
    status: str  # "NO" or "BAD"
    text: str
    code: str | None = None


# The status and response code for each kind of refusal; the text is the error's own.
BY_KIND: dict[ErrorKind, tuple[str, str | None]] = {
    ErrorKind.NOT_FOUND: ("NO", "NONEXISTENT"),
    ErrorKind.EXISTS: ("NO", "ALREADYEXISTS"),
    ErrorKind.INVALID: ("NO", "CANNOT"),
    ErrorKind.MALFORMED: ("BAD", None),
    ErrorKind.FORBIDDEN: ("NO", "NOPERM"),
    ErrorKind.PROTECTED: ("NO", "CANNOT"),
    ErrorKind.NOT_EMPTY: ("NO", "HASCHILDREN"),
    ErrorKind.DISABLED: ("NO", None),
    ErrorKind.OVER_QUOTA: ("NO", "OVERQUOTA"),
    ErrorKind.TOO_LARGE: ("NO", "TOOBIG"),
    ErrorKind.THROTTLED: ("NO", "UNAVAILABLE"),
    ErrorKind.AUTH_FAILED: ("NO", "AUTHENTICATIONFAILED"),
    ErrorKind.NEEDS_TLS: ("NO", "PRIVACYREQUIRED"),
    ErrorKind.LOGIN_DENIED: ("NO", "AUTHORIZATIONFAILED"),  # RFC 5530 3; an authzid refused (AuthzidRefused) too
    ErrorKind.REFUSED: ("NO", None),
}
# Classes answered otherwise than their kind, most specific first.
BY_CLASS: tuple[tuple[type[Exception], tuple[str, str | None]], ...] = (
    (Malformed, ("NO", "AUTHENTICATIONFAILED")),  # a broken SASL exchange fails the login
    (TooManyKeywords, ("NO", "LIMIT")),  # RFC 5530: an implementation limit
    (FlagError, ("BAD", None)),
    (UnknownEncoding, ("NO", "UNKNOWN-CTE")),
    (NoSuchPart, ("BAD", None)),
    (UnsupportedSearch, ("BAD", None)),
)


def refusal_for(err: Exception) -> ImapRefusal | None:
    """The answer to a typed error; None for anything else (a bug: logged, answered NO [SERVERBUG])."""
    if isinstance(err, ImapRefusal):
        return err
    answer = next((answer for cls, answer in BY_CLASS if isinstance(err, cls)), None)
    if answer is None and isinstance(err, ServiceError):
        answer = BY_KIND[err.kind]
    if answer is None:
        return None
    status, code = answer
    return ImapRefusal(status, str(err), code)
