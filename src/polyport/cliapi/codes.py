"""The CLI/API's reply codes, and the one place where errors become them.

Clients treat 200 and 201 as success and everything else as failure; scripts written for CommuniGate
look at a few codes and texts (../shared/reference/cgp-cli.md), which are kept here.
"""

from __future__ import annotations

import enum

from polyport.auth.login import AuthFailure
from polyport.cliapi.wire import DataError
from polyport.directory import (
    AlreadyExists,
    DirectoryError,
    DomainNotEmpty,
    InvalidName,
    InvalidSetting,
    ProtectedObject,
    UnknownDomain,
    UnknownObject,
)
from polyport.mailstore import MailboxExists, MailstoreError, NoSuchMailbox, NotPermitted
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
    if isinstance(err, UnknownDomain):
        return CliError(Code.UNKNOWN_DOMAIN, f"Unknown domain name: {err}")
    if isinstance(err, UnknownObject):
        return CliError(_UNKNOWN.get(err.kind, Code.UNKNOWN_ACCOUNT), _capital(str(err)))
    if isinstance(err, AlreadyExists):
        return CliError(_EXISTS.get(err.kind, Code.GENERAL), _capital(str(err)))
    if isinstance(err, InvalidName | InvalidSetting | DomainNotEmpty | ProtectedObject):
        return CliError(Code.GENERAL, _capital(str(err)))
    if isinstance(err, DirectoryError):
        return CliError(Code.GENERAL, _capital(str(err)))
    if isinstance(err, AuthFailure):
        return CliError(Code.WRONG_PASSWORD, _capital(str(err)))
    if isinstance(err, MailboxExists):
        return CliError(Code.MAILBOX_EXISTS, _capital(str(err)))
    if isinstance(err, NotPermitted):
        return CliError(Code.NOT_ALLOWED, _capital(str(err)))
    if isinstance(err, NoSuchMailbox):
        return CliError(Code.GENERAL, _capital(str(err)))  # CommuniGate has no code of its own for it
    if isinstance(err, MailstoreError | FlagError):  # a bad name, over quota, INBOX cannot be deleted...
        return CliError(Code.GENERAL, _capital(str(err)))
    return None


def _capital(text: str) -> str:
    """A sentence's first letter up, unless the text starts with a name (alice@..., example.com)."""
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.isalpha() and first.islower() else text
