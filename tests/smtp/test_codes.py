"""SMTP's replies to the services' refusals (smtp/codes.py): one for every kind, and each error's as before."""

from __future__ import annotations

import pytest

from polyport import delivery
from polyport.auth import login
from polyport.auth.throttle import Lockout
from polyport.errors import ErrorKind, ServiceError
from polyport.smtp.codes import BY_KIND, auth_reply, delivery_reply, reply_for
from polyport.smtp.wire import Reply
from tests.service_errors import examples

OWN = None  # the error's own text
REPLIES: dict[type[ServiceError], tuple[int, str, str | None]] = {
    delivery.DeliveryError: (451, "4.3.0", OWN),
    delivery.UnknownRecipient: (550, "5.1.1", OWN),
    delivery.RecipientDisabled: (550, "5.2.1", OWN),
    delivery.MailboxFull: (552, "5.2.2", OWN),
    delivery.RemoteNotAvailable: (550, "5.7.1", OWN),
    delivery.SenderNotOwned: (553, "5.7.1", OWN),
    login.AuthFailure: (535, "5.7.8", "authentication credentials invalid"),
    login.BadCredentials: (535, "5.7.8", "authentication credentials invalid"),
    login.Throttled: (454, "4.7.0", "too many failed logins; try again later"),
    login.PlaintextRefused: (538, "5.7.11", "encryption required for this mechanism; use STARTTLS first"),
    login.AccessDenied: (535, "5.7.8", "this account may not send mail"),
    login.AuthzidRefused: (535, "5.7.8", "authorization identity refused"),
    login.Malformed: (501, "5.5.2", OWN),
}


def test_every_kind_has_a_reply() -> None:
    assert set(BY_KIND) == set(ErrorKind)
    for code, enhanced, _text in BY_KIND.values():
        assert 400 <= code < 600
        assert enhanced[0] == str(code)[0]  # RFC 3463: the class agrees with the reply's


@pytest.mark.parametrize("error", examples(), ids=lambda e: type(e).__name__)
def test_each_error_reply(error: ServiceError) -> None:
    reply = reply_for(error)
    if type(error) in REPLIES:  # delivery's and logins' refusals: answered as they always were
        code, enhanced, text = REPLIES[type(error)]
    else:  # the mailstore's and directory's, which SMTP does not meet today: by kind
        code, enhanced, text = BY_KIND[error.kind]
    assert reply == Reply(code, enhanced, str(error) if text is OWN else text)


def test_temporary_quota_and_the_protocol_entry_points() -> None:
    full = delivery.MailboxFull("<bob@example.com>: over quota", permanent=False)
    assert delivery_reply(full) == Reply(452, "4.2.2", "<bob@example.com>: over quota")
    assert delivery_reply(delivery.UnknownRecipient("<x@example.com>: no such user here")) == Reply(
        550, "5.1.1", "<x@example.com>: no such user here")
    assert auth_reply(login.Throttled(Lockout("address", 3))) == Reply(
        454, "4.7.0", "too many failed logins; try again later")
    assert auth_reply(login.Malformed()) == Reply(501, "5.5.2", "malformed authentication exchange")
    assert auth_reply(login.Malformed("PLAIN: the login name is empty")) == Reply(
        501, "5.5.2", "PLAIN: the login name is empty")
