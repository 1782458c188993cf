"""The mailstore's refusals, typed so each protocol maps them to its own replies in one place."""

from __future__ import annotations

from polyport.errors import ErrorKind, ServiceError


class MailstoreError(ServiceError):
    """Base of the mailstore's refusals; the message is fit to show a user."""

    kind = ErrorKind.REFUSED


class NoSuchMailbox(MailstoreError):
    kind = ErrorKind.NOT_FOUND


class NoSuchMessage(MailstoreError):
    """A message named by UID is no longer there (expunged meanwhile): REPLACE (RFC 8508) of it fails."""

    kind = ErrorKind.NOT_FOUND


class MailboxExists(MailstoreError):
    kind = ErrorKind.EXISTS


class InvalidMailboxName(MailstoreError):
    kind = ErrorKind.INVALID


class NotPermitted(MailstoreError):
    """The mailbox is not the user's and its ACL does not grant what was asked (RFC 4314)."""

    kind = ErrorKind.FORBIDDEN


class InvalidRights(MailstoreError):
    """A rights string holds a letter that is not a right (RFC 4314 section 2.1): a syntax error."""

    kind = ErrorKind.MALFORMED


class AclRefused(MailstoreError):
    """An ACL change that cannot be made: an unknown identifier, or the owner's own rights."""

    kind = ErrorKind.REFUSED  # two reasons, no one kind: IMAP answers a plain NO


class OverQuota(MailstoreError):
    """Storing this would take the account over its MaxAccountSize or MaxMessages."""

    kind = ErrorKind.OVER_QUOTA


class RecipientOverQuota(OverQuota):
    """Local delivery found this account over its quota (nothing was stored for anyone)."""

    kind = ErrorKind.OVER_QUOTA

    def __init__(self, account_id: int, text: str) -> None:
        super().__init__(text)
        self.account_id = account_id


class MessageTooLarge(MailstoreError):
    kind = ErrorKind.TOO_LARGE


class CannotDelete(MailstoreError):
    """INBOX cannot be deleted; a mailbox cannot be renamed onto itself or under itself."""

    kind = ErrorKind.PROTECTED


class MetadataTooLarge(MailstoreError):
    """A METADATA value over the per-entry limit (RFC 5464 4.3: NO [METADATA MAXSIZE n])."""

    kind = ErrorKind.TOO_LARGE

    def __init__(self, text: str, limit: int) -> None:
        super().__init__(text)
        self.limit = limit


class TooManyKeywords(MailstoreError):
    """A client's STORE or APPEND would give a mailbox more keywords than flags.MAX_MAILBOX_KEYWORDS
    (IMAP: NO [LIMIT], RFC 5530)."""


class MetadataTooMany(MailstoreError):
    """Setting these METADATA entries would pass the entry count limit (RFC 5464 4.3: NO [METADATA TOOMANY])."""

    kind = ErrorKind.OVER_QUOTA
