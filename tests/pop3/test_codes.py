"""POP3's answers to the services' refusals (pop3/codes.py): one for every kind, and each error's as the
session gave them before."""

from __future__ import annotations

import pytest

from polyport.auth import login
from polyport.auth.throttle import Lockout
from polyport.errors import ErrorKind, ServiceError
from polyport.mailstore import MailstoreError
from polyport.pop3.codes import BY_KIND, refusal_for
from tests.service_errors import examples


def test_every_kind_has_a_response_code() -> None:
    assert set(BY_KIND) == set(ErrorKind)
    assert set(BY_KIND.values()) <= {"AUTH", "SYS/TEMP", "SYS/PERM", "IN-USE", "LOGIN-DELAY"}


@pytest.mark.parametrize("error", examples(), ids=lambda e: type(e).__name__)
def test_each_error_answer(error: ServiceError) -> None:
    if isinstance(error, login.Throttled):
        expected = "SYS/TEMP"
    elif isinstance(error, login.AuthFailure):
        expected = "AUTH"
    elif isinstance(error, MailstoreError):
        expected = "SYS/TEMP"
    else:  # the directory's and delivery's, which POP3 does not meet today: by kind
        expected = BY_KIND[error.kind]
    assert refusal_for(error) == (str(error), expected)


def test_texts() -> None:
    assert refusal_for(login.Throttled(Lockout("account", 4.2))) == (
        "too many failed logins from this account; try again in 5 s", "SYS/TEMP")
    assert refusal_for(login.BadCredentials()) == ("authentication failed", "AUTH")
    assert refusal_for(login.Malformed()) == ("authentication failed", "AUTH")
    assert refusal_for(login.AuthzidRefused()) == ("authorization identity refused", "AUTH")
    assert refusal_for(MailstoreError()) == ("", "SYS/TEMP")
    assert refusal_for(ValueError("x")) is None
