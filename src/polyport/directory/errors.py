"""The directory's errors: typed, so each protocol maps them to its own reply codes in one place."""

from __future__ import annotations

from polyport.errors import ErrorKind, ServiceError


class DirectoryError(ServiceError):
    """Base of the directory's refusals; the message is fit to show an admin."""

    kind = ErrorKind.REFUSED


class InvalidName(DirectoryError):
    kind = ErrorKind.INVALID


class InvalidSetting(DirectoryError):
    kind = ErrorKind.INVALID


class UnknownDomain(DirectoryError):
    kind = ErrorKind.NOT_FOUND


class UnknownObject(DirectoryError):
    """No account, alias, forwarder or group of that name (`object_kind` says which was looked for)."""

    kind = ErrorKind.NOT_FOUND

    def __init__(self, message: str, object_kind: str) -> None:
        super().__init__(message)
        self.object_kind = object_kind


class AlreadyExists(DirectoryError):
    """The name is taken (`object_kind` is what holds it: domain, account, alias, forwarder, group)."""

    kind = ErrorKind.EXISTS

    def __init__(self, message: str, object_kind: str) -> None:
        super().__init__(message)
        self.object_kind = object_kind


class DomainNotEmpty(DirectoryError):
    kind = ErrorKind.NOT_EMPTY


class ProtectedObject(DirectoryError):
    """The main domain and its postmaster cannot be removed or renamed away."""

    kind = ErrorKind.PROTECTED
