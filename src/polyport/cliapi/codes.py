"""The CLI/API's reply codes, and the one place where errors become them.

Clients treat 200 and 201 as success and everything else as failure; scripts written for CommuniGate
look at a few codes and texts (../shared/reference/cgp-cli.md), which are kept here.
"""

from __future__ import annotations

import enum

from polyport.admin.errors import InUse
from polyport.auth.login import Malformed
from polyport.cliapi.wire import DataError
from polyport.directory import AlreadyExists, UnknownDomain, UnknownObject
from polyport.errors import ErrorKind, ServiceError
from polyport.mailstore import MailboxExists
from polyport.mailstore.flags import FlagError


class Code(enum.IntEnum):
    OK = 200
    INLINE = 201
    MORE = 300
    UNKNOWN_COMMAND = 500
    GENERAL = 501  # bad parameters and most refusals, with the reason in the text
    NOT_ALLOWED = 510  # not enough access rights, or not logged in
    UNKNOWN_DOMAIN = 512
    UNKNOWN_ACCOUNT = 513
    WRONG_PASSWORD = 515
    ACCOUNT_EXISTS = 520
    GROUP_EXISTS = 523
    FORWARDER_EXISTS = 524
    MAILBOX_EXISTS = 532
    UNKNOWN_FORWARDER = 553
    ACCOUNT_IN_USE = 555
    SERVER_ERROR = 599  # our fault; the log has the details


class CliError(Exception):
    """A refusal, with the code and one line of text the client gets."""

    def __init__(self, code: Code, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = " ".join(text.split())  # one line, always


def not_allowed(text: str = "Not enough access rights") -> CliError:
    return CliError(Code.NOT_ALLOWED, text)


def bad(text: str) -> CliError:
    return CliError(Code.GENERAL, text)


# The code for each kind of refusal; the text is the error's own. CommuniGate's codes name what was not
# found or is taken (512 a domain, 513 an account...), so those come from the class and object kind below.
BY_KIND: dict[ErrorKind, Code] = {
    ErrorKind.NOT_FOUND: Code.GENERAL,  # a mailbox: CommuniGate has no code of its own for it
    ErrorKind.EXISTS: Code.GENERAL,
    ErrorKind.INVALID: Code.GENERAL,
    ErrorKind.MALFORMED: Code.GENERAL,
    ErrorKind.FORBIDDEN: Code.NOT_ALLOWED,
    ErrorKind.PROTECTED: Code.GENERAL,
    ErrorKind.NOT_EMPTY: Code.GENERAL,
    ErrorKind.DISABLED: Code.GENERAL,
    ErrorKind.OVER_QUOTA: Code.GENERAL,
    ErrorKind.TOO_LARGE: Code.GENERAL,
    ErrorKind.THROTTLED: Code.WRONG_PASSWORD,  # every failed login is 515, whatever the reason
    ErrorKind.AUTH_FAILED: Code.WRONG_PASSWORD,
    ErrorKind.NEEDS_TLS: Code.WRONG_PASSWORD,
    ErrorKind.LOGIN_DENIED: Code.WRONG_PASSWORD,
    ErrorKind.REFUSED: Code.GENERAL,
}
_EXISTS = {"account": Code.ACCOUNT_EXISTS, "alias": Code.ACCOUNT_EXISTS, "group": Code.GROUP_EXISTS,
           "forwarder": Code.FORWARDER_EXISTS}
_UNKNOWN = {"account": Code.UNKNOWN_ACCOUNT, "alias": Code.UNKNOWN_ACCOUNT, "object": Code.UNKNOWN_ACCOUNT,
            "group": Code.UNKNOWN_ACCOUNT, "forwarder": Code.UNKNOWN_FORWARDER}


def from_error(err: Exception) -> CliError | None:
    """The reply for a typed error of the services or the data format; None if it is not one (a bug)."""
    if isinstance(err, CliError):
        return err
    if isinstance(err, DataError):
        return CliError(Code.GENERAL, f"Bad data: {err}")
    if isinstance(err, FlagError):
        return CliError(Code.GENERAL, _capital(str(err)))
    if not isinstance(err, ServiceError):
        return None
    if isinstance(err, UnknownDomain):
        return CliError(Code.UNKNOWN_DOMAIN, f"Unknown domain name: {err}")
    return CliError(_code(err), _capital(str(err)))


def _code(err: ServiceError) -> Code:
    """The finer codes first: what kind of object is unknown or taken, and a failed login's 515."""
    if isinstance(err, UnknownObject):
        return _UNKNOWN.get(err.object_kind, Code.UNKNOWN_ACCOUNT)
    if isinstance(err, AlreadyExists):
        return _EXISTS.get(err.object_kind, Code.GENERAL)
    if isinstance(err, MailboxExists):
        return Code.MAILBOX_EXISTS
    if isinstance(err, Malformed):
        return Code.WRONG_PASSWORD  # a broken login exchange is a failed login
    if isinstance(err, InUse):
        return Code.ACCOUNT_IN_USE  # CommuniGate's 555: the account is open elsewhere
    return BY_KIND[err.kind]


def _capital(text: str) -> str:
    """A sentence's first letter up, unless the text starts with a name (alice@..., example.com)."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.isalpha() and first.islower() else text
