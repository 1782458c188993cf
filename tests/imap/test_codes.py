"""IMAP's answers to the services' refusals (imap/codes.py): one for every kind, and each error's as before."""

from __future__ import annotations

import pytest

from polyport.auth import login
from polyport.errors import ErrorKind, ServiceError
from polyport.imap.codes import BY_KIND, ImapRefusal, refusal_for
from polyport.imap.fetch import UnknownEncoding
from polyport.imap.search import UnsupportedSearch
from polyport.mailstore import errors as ms
from polyport.mailstore.flags import FlagError
from polyport.mailstore.sections import NoSuchPart
from polyport.mailstore.transfer import TransferError
from tests.service_errors import examples

ANSWERS: dict[type[Exception], tuple[str, str | None]] = {
    ms.MailstoreError: ("NO", None),
    ms.NoSuchMailbox: ("NO", "NONEXISTENT"),
    ms.MailboxExists: ("NO", "ALREADYEXISTS"),
    ms.InvalidMailboxName: ("NO", "CANNOT"),
    ms.NotPermitted: ("NO", "NOPERM"),
    ms.InvalidRights: ("BAD", None),
    ms.AclRefused: ("NO", None),
    ms.OverQuota: ("NO", "OVERQUOTA"),
    ms.RecipientOverQuota: ("NO", "OVERQUOTA"),
    ms.MessageTooLarge: ("NO", "TOOBIG"),
    ms.CannotDelete: ("NO", "CANNOT"),
    ms.TooManyKeywords: ("NO", "LIMIT"),
    TransferError: ("NO", None),
    login.AuthFailure: ("NO", "AUTHENTICATIONFAILED"),
    login.BadCredentials: ("NO", "AUTHENTICATIONFAILED"),
    login.Throttled: ("NO", "UNAVAILABLE"),
    login.PlaintextRefused: ("NO", "PRIVACYREQUIRED"),
    login.AccessDenied: ("NO", "AUTHORIZATIONFAILED"),
    login.AuthzidRefused: ("NO", "AUTHORIZATIONFAILED"),
    login.Malformed: ("NO", "AUTHENTICATIONFAILED"),
    FlagError: ("BAD", None),
    UnknownEncoding: ("NO", "UNKNOWN-CTE"),
    NoSuchPart: ("BAD", None),
    UnsupportedSearch: ("BAD", None),
}


def test_every_kind_has_an_answer() -> None:
    assert set(BY_KIND) == set(ErrorKind)
    for status, _code in BY_KIND.values():
        assert status in ("NO", "BAD")


@pytest.mark.parametrize("error", [*examples(), FlagError("x"), UnknownEncoding("x"), NoSuchPart("x"),
                                   UnsupportedSearch("x")], ids=lambda e: type(e).__name__)
def test_each_error_answer(error: Exception) -> None:
    refusal = refusal_for(error)
    assert refusal is not None
    assert refusal.text == str(error)
    if type(error) in ANSWERS:  # the mailstore's and logins' refusals: answered as they always were
        assert (refusal.status, refusal.code) == ANSWERS[type(error)]
    else:  # the directory's and delivery's, which IMAP does not meet today: by kind
        assert isinstance(error, ServiceError)
        assert (refusal.status, refusal.code) == BY_KIND[error.kind]


def test_other_errors_are_bugs_and_refusals_pass_through() -> None:
    assert refusal_for(ValueError("x")) is None
    refusal = ImapRefusal("BAD", "no", "CLIENTBUG")
    assert refusal_for(refusal) is refusal
