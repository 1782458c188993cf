"""One example of every typed error of the services, with its kind, for the tests of the protocols' answers."""

from __future__ import annotations

from polyport.admin.errors import AdminError, Forbidden, Hidden, InUse, InvalidRequest, NotFound
from polyport.auth.login import (
    AccessDenied,
    AuthFailure,
    AuthzidRefused,
    BadCredentials,
    Malformed,
    PlaintextRefused,
    Throttled,
)
from polyport.auth.throttle import Lockout
from polyport.delivery import (
    DeliveryError,
    MailboxFull,
    RecipientDisabled,
    RemoteNotAvailable,
    SenderNotOwned,
    UnknownRecipient,
)
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
from polyport.errors import ErrorKind, ServiceError
from polyport.mailstore import (
    AclRefused,
    CannotDelete,
    InvalidMailboxName,
    InvalidRights,
    MailboxExists,
    MailstoreError,
    MessageTooLarge,
    MetadataTooLarge,
    MetadataTooMany,
    NoSuchMailbox,
    NoSuchMessage,
    NotPermitted,
    OverQuota,
    RecipientOverQuota,
    TooManyKeywords,
)
from polyport.mailstore.transfer import TransferError

K = ErrorKind
# Every error class of the services and its kind: a new class fails tests/test_errors.py until it is
# listed here (and so has been given a kind on purpose, not inherited one by accident).
KINDS: dict[type[ServiceError], ErrorKind] = {
    MailstoreError: K.REFUSED,
    NoSuchMailbox: K.NOT_FOUND,
    NoSuchMessage: K.NOT_FOUND,
    MetadataTooLarge: K.TOO_LARGE,
    MetadataTooMany: K.OVER_QUOTA,
    TooManyKeywords: K.REFUSED,
    MailboxExists: K.EXISTS,
    InvalidMailboxName: K.INVALID,
    NotPermitted: K.FORBIDDEN,
    InvalidRights: K.MALFORMED,
    AclRefused: K.REFUSED,
    OverQuota: K.OVER_QUOTA,
    RecipientOverQuota: K.OVER_QUOTA,
    MessageTooLarge: K.TOO_LARGE,
    CannotDelete: K.PROTECTED,
    TransferError: K.REFUSED,
    DirectoryError: K.REFUSED,
    InvalidName: K.INVALID,
    InvalidSetting: K.INVALID,
    UnknownDomain: K.NOT_FOUND,
    UnknownObject: K.NOT_FOUND,
    AlreadyExists: K.EXISTS,
    DomainNotEmpty: K.NOT_EMPTY,
    ProtectedObject: K.PROTECTED,
    DeliveryError: K.REFUSED,
    UnknownRecipient: K.NOT_FOUND,
    RecipientDisabled: K.DISABLED,
    MailboxFull: K.OVER_QUOTA,
    SenderNotOwned: K.FORBIDDEN,
    RemoteNotAvailable: K.FORBIDDEN,
    AuthFailure: K.AUTH_FAILED,
    BadCredentials: K.AUTH_FAILED,
    Throttled: K.THROTTLED,
    PlaintextRefused: K.NEEDS_TLS,
    AccessDenied: K.LOGIN_DENIED,
    AuthzidRefused: K.LOGIN_DENIED,
    Malformed: K.MALFORMED,
    AdminError: K.REFUSED,
    Forbidden: K.FORBIDDEN,
    Hidden: K.FORBIDDEN,
    InvalidRequest: K.INVALID,
    NotFound: K.NOT_FOUND,
    InUse: K.PROTECTED,
}


def examples() -> list[ServiceError]:
    """One instance of every error class, made as the services make them (for the protocols' tests)."""
    special: dict[type[ServiceError], ServiceError] = {
        RecipientOverQuota: RecipientOverQuota(7, "the account is over its quota"),
        MetadataTooLarge: MetadataTooLarge("the value is over 16384 bytes", 16384),
        UnknownObject: UnknownObject("unknown account bob@example.com", "account"),
        AlreadyExists: AlreadyExists("bob@example.com already exists", "account"),
        MailboxFull: MailboxFull("<bob@example.com>: mailbox full", permanent=True),
        Throttled: Throttled(Lockout("address", 9.5)),
    }
    return [special.get(cls) or cls(f"a {cls.__name__}") for cls in KINDS]
