"""Delivery: recipient resolution and local delivery (see service.py; its refusals in errors.py)."""

from polyport.delivery.errors import (
    DeliveryError,
    MailboxFull,
    RecipientDisabled,
    RemoteNotAvailable,
    SenderNotOwned,
    UnknownRecipient,
)
from polyport.delivery.service import Delivered, Delivery, LocalTarget, Options, Recipient, Trace

__all__ = [
    "Delivered",
    "Delivery",
    "DeliveryError",
    "LocalTarget",
    "MailboxFull",
    "Options",
    "Recipient",
    "RecipientDisabled",
    "RemoteNotAvailable",
    "SenderNotOwned",
    "Trace",
    "UnknownRecipient",
]
