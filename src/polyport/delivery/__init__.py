"""Delivery: recipient resolution and local delivery (see service.py)."""

from polyport.delivery.service import (
    Delivered,
    Delivery,
    DeliveryError,
    LocalTarget,
    MailboxFull,
    Options,
    Recipient,
    RecipientDisabled,
    RemoteNotAvailable,
    SenderNotOwned,
    Trace,
    UnknownRecipient,
)

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
