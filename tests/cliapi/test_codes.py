"""The CLI/API's codes for the services' refusals (cliapi/codes.py): one for every kind, and each error's
as before."""

from __future__ import annotations

import pytest

from polyport.admin import errors as admin_errors
from polyport.auth import login
from polyport.cliapi.codes import BY_KIND, CliError, Code, from_error
from polyport.cliapi.wire import DataError
from polyport.directory import errors as d
from polyport.errors import ErrorKind, ServiceError
from polyport.mailstore import errors as ms
from polyport.mailstore.flags import FlagError
from polyport.mailstore.transfer import TransferError
from tests.service_errors import examples

CODES: dict[type[Exception], Code] = {
    ms.MailstoreError: Code.GENERAL,
    ms.NoSuchMailbox: Code.GENERAL,
    ms.MailboxExists: Code.MAILBOX_EXISTS,
    ms.InvalidMailboxName: Code.GENERAL,
    ms.NotPermitted: Code.NOT_ALLOWED,
    ms.InvalidRights: Code.GENERAL,
    ms.AclRefused: Code.GENERAL,
    ms.OverQuota: Code.GENERAL,
    ms.RecipientOverQuota: Code.GENERAL,
    ms.MessageTooLarge: Code.GENERAL,
    ms.CannotDelete: Code.GENERAL,
    TransferError: Code.GENERAL,
    d.DirectoryError: Code.GENERAL,
    d.InvalidName: Code.GENERAL,
    d.InvalidSetting: Code.GENERAL,
    d.UnknownDomain: Code.UNKNOWN_DOMAIN,
    d.UnknownObject: Code.UNKNOWN_ACCOUNT,
    d.AlreadyExists: Code.ACCOUNT_EXISTS,
    d.DomainNotEmpty: Code.GENERAL,
    d.ProtectedObject: Code.GENERAL,
    login.AuthFailure: Code.WRONG_PASSWORD,
    login.BadCredentials: Code.WRONG_PASSWORD,
    login.Throttled: Code.WRONG_PASSWORD,
    login.PlaintextRefused: Code.WRONG_PASSWORD,
    login.AccessDenied: Code.WRONG_PASSWORD,
    login.Malformed: Code.WRONG_PASSWORD,
    FlagError: Code.GENERAL,
    admin_errors.AdminError: Code.GENERAL,
    admin_errors.Forbidden: Code.NOT_ALLOWED,
    admin_errors.Hidden: Code.NOT_ALLOWED,
    admin_errors.InvalidRequest: Code.GENERAL,
    admin_errors.NotFound: Code.GENERAL,
    admin_errors.InUse: Code.ACCOUNT_IN_USE,
}


def test_every_kind_has_a_code() -> None:
    assert set(BY_KIND) == set(ErrorKind)


@pytest.mark.parametrize("error", [*examples(), FlagError("a flag")], ids=lambda e: type(e).__name__)
def test_each_error_code(error: Exception) -> None:
    reply = from_error(error)
    assert reply is not None
    if type(error) in CODES:  # the directory's, mailstore's, logins' and administration's refusals
        assert reply.code is CODES[type(error)]
    else:  # delivery's, which the CLI/API does not meet today: by kind
        assert isinstance(error, ServiceError)
        assert reply.code is BY_KIND[error.kind]


@pytest.mark.parametrize(("object_kind", "unknown", "exists"), [
    ("account", Code.UNKNOWN_ACCOUNT, Code.ACCOUNT_EXISTS),
    ("alias", Code.UNKNOWN_ACCOUNT, Code.ACCOUNT_EXISTS),
    ("group", Code.UNKNOWN_ACCOUNT, Code.GROUP_EXISTS),
    ("forwarder", Code.UNKNOWN_FORWARDER, Code.FORWARDER_EXISTS),
    ("object", Code.UNKNOWN_ACCOUNT, Code.GENERAL),
    ("domain", Code.UNKNOWN_ACCOUNT, Code.GENERAL),
])
def test_unknown_and_taken_names_by_object_kind(object_kind: str, unknown: Code, exists: Code) -> None:
    assert reply(d.UnknownObject("unknown x", object_kind)) == (unknown, "Unknown x")
    assert reply(d.AlreadyExists("x already exists", object_kind)) == (exists, "X already exists")


def test_texts() -> None:
    assert reply(d.UnknownDomain("example.org")) == (Code.UNKNOWN_DOMAIN, "Unknown domain name: example.org")
    assert reply(ms.OverQuota("over quota:\n  MaxMessages")) == (Code.GENERAL, "Over quota: MaxMessages")
    assert reply(d.ProtectedObject("postmaster@example.com administers the server")) == (
        Code.GENERAL, "postmaster@example.com administers the server")
    assert reply(DataError("unexpected end", 3)) == (Code.GENERAL, "Bad data: unexpected end at position 3")
    refusal = CliError(Code.NOT_ALLOWED, "no")
    assert from_error(refusal) is refusal
    assert from_error(ValueError("x")) is None


def reply(error: Exception) -> tuple[Code, str]:
    answer = from_error(error)
    assert answer is not None
    return answer.code, answer.text
