"""The mailstore's refusals, typed so each protocol maps them to its own replies in one place."""

from __future__ import annotations


class MailstoreError(Exception):
    """Base of the mailstore's refusals; the message is fit to show a user."""


class NoSuchMailbox(MailstoreError):
    pass


class MailboxExists(MailstoreError):
    pass


class InvalidMailboxName(MailstoreError):
    pass


class NotPermitted(MailstoreError):
    """The mailbox is not the user's and its ACL does not grant what was asked (RFC 4314)."""


class InvalidRights(MailstoreError):
    """A rights string holds a letter that is not a right (RFC 4314 section 2.1): a syntax error."""


class AclRefused(MailstoreError):
    """An ACL change that cannot be made: an unknown identifier, or the owner's own rights."""


class OverQuota(MailstoreError):
    """Storing this would take the account over its MaxAccountSize or MaxMessages."""


class RecipientOverQuota(OverQuota):
    """Local delivery found this account over its quota (nothing was stored for anyone)."""

    def __init__(self, account_id: int, text: str) -> None:
        super().__init__(text)
        self.account_id = account_id


class MessageTooLarge(MailstoreError):
    pass


class CannotDelete(MailstoreError):
    """INBOX cannot be deleted; a mailbox cannot be renamed onto itself or under itself."""
