"""POP3's answers to refusals: the one place the services' errors become -ERR with a response code
(RFC 2449 8, RFC 3206: AUTH and SYS/TEMP)."""

from __future__ import annotations

from polyport.auth.login import Malformed
from polyport.errors import ErrorKind, ServiceError

# The response code for each kind of refusal; the text is the error's own. A login refused for its
# credentials or the account's rights is AUTH (RFC 3206 4); everything else, a lockout too, is SYS/TEMP.
BY_KIND: dict[ErrorKind, str] = {
    ErrorKind.NOT_FOUND: "SYS/TEMP",
    ErrorKind.EXISTS: "SYS/TEMP",
    ErrorKind.INVALID: "SYS/TEMP",
    ErrorKind.MALFORMED: "SYS/TEMP",
    ErrorKind.FORBIDDEN: "SYS/TEMP",
    ErrorKind.PROTECTED: "SYS/TEMP",
    ErrorKind.NOT_EMPTY: "SYS/TEMP",
    ErrorKind.DISABLED: "SYS/TEMP",
    ErrorKind.OVER_QUOTA: "SYS/TEMP",
    ErrorKind.TOO_LARGE: "SYS/TEMP",
    ErrorKind.THROTTLED: "SYS/TEMP",
    ErrorKind.AUTH_FAILED: "AUTH",
    ErrorKind.NEEDS_TLS: "AUTH",
    ErrorKind.LOGIN_DENIED: "AUTH",
    ErrorKind.REFUSED: "SYS/TEMP",
}
# Classes answered otherwise than their kind.
BY_CLASS: tuple[tuple[type[ServiceError], str], ...] = (
    (Malformed, "AUTH"),  # a broken SASL exchange fails the login
)


def refusal_for(err: Exception) -> tuple[str, str | None] | None:
    """The text and response code of -ERR for a typed error; None for anything else (a bug: logged,
    answered "internal error")."""
    if not isinstance(err, ServiceError):
        return None
    code = next((code for cls, code in BY_CLASS if isinstance(err, cls)), BY_KIND[err.kind])
    text = str(err)
    if code == "AUTH" and not text:
        text = "authentication failed"
    return text, code
