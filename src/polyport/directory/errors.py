"""The directory's errors: typed, so each protocol maps them to its own reply codes in one place."""

from __future__ import annotations


class DirectoryError(Exception):
    """Base of the directory's refusals; the message is fit to show an admin."""


class InvalidName(DirectoryError):
    pass


class InvalidSetting(DirectoryError):
    pass


class UnknownDomain(DirectoryError):
    pass


class UnknownObject(DirectoryError):
    """No account, alias, forwarder or group of that name (`kind` says which was looked for)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class AlreadyExists(DirectoryError):
    """The name is taken (`kind` is what holds it: domain, account, alias, forwarder, group)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class DomainNotEmpty(DirectoryError):
    pass


class ProtectedObject(DirectoryError):
    """The main domain and its postmaster cannot be removed or renamed away."""
