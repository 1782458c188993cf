"""The administration API's own refusals. The services' typed errors (directory, mailstore, queue) pass
through unchanged; these are what only the administration layer decides: who may act, and requests that
make no sense whoever asks. They are `ServiceError`s with a kind (polyport/errors.py), so each protocol
answers them from its one table (the CLI/API: 510 for FORBIDDEN, 501 for INVALID and NOT_FOUND; the web:
403, 400, 404)."""

from __future__ import annotations

from polyport.errors import ErrorKind, ServiceError


class AdminError(ServiceError):
    """Base of the administration API's refusals; the message is fit to show an administrator."""

    kind = ErrorKind.REFUSED


class Forbidden(AdminError):
    """The actor lacks the rights for this (CommuniGate: "not enough access rights")."""

    kind = ErrorKind.FORBIDDEN

    def __init__(self, message: str = "Not enough access rights") -> None:
        super().__init__(message)


class Hidden(Forbidden):
    """A refusal that must not tell whether its object exists: a domain administrator asking about another
    domain (or one that does not exist: both look the same), or about an account it may not see. The
    CLI/API answers it as any refusal of rights (510); the web as "not found"."""

    kind = ErrorKind.FORBIDDEN


class InvalidRequest(AdminError):
    """Arguments that cannot be acted on whoever asks (an unknown module, a malformed network, taking
    Master rights from oneself...)."""

    kind = ErrorKind.INVALID


class NotFound(AdminError):
    """Something the request names is not there (a queued message)."""

    kind = ErrorKind.NOT_FOUND


class InUse(AdminError):
    """The object is the actor's own and cannot go while it acts (an account cannot delete itself):
    CommuniGate's "account in use", 555."""

    kind = ErrorKind.PROTECTED
