"""Delivery's refusals of a recipient or sender, typed so each protocol maps them to its own replies in one
place (smtp/codes.py)."""

from __future__ import annotations

from polyport.errors import ErrorKind, ServiceError


class DeliveryError(ServiceError):
    """A recipient that cannot be delivered to; the text is fit to show the sender."""

    kind = ErrorKind.REFUSED


class UnknownRecipient(DeliveryError):
    kind = ErrorKind.NOT_FOUND


class RecipientDisabled(DeliveryError):
    """The address exists but takes no mail (a group with Expand NO, an expansion loop)."""

    kind = ErrorKind.DISABLED


class MailboxFull(DeliveryError):
    """A local account of the recipient is over its quota; `permanent` is its domain's OverQuotaReply."""

    kind = ErrorKind.OVER_QUOTA

    def __init__(self, text: str, *, permanent: bool) -> None:
        super().__init__(text)
        self.permanent = permanent


class SenderNotOwned(DeliveryError):
    """A submitter named a sender address that is not its own (nor an alias of it)."""

    kind = ErrorKind.FORBIDDEN


class RemoteNotAvailable(DeliveryError):
    """The address is in another domain and this node has no outbound queue (a test node, say)."""

    kind = ErrorKind.FORBIDDEN
