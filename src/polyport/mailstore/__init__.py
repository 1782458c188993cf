"""The mailstore: mailboxes, messages, flags, UIDs and mod-sequences, quotas (see service.py)."""

from polyport.mailstore.errors import (
    CannotDelete,
    InvalidMailboxName,
    MailboxExists,
    MailstoreError,
    MessageTooLarge,
    NoSuchMailbox,
    NotPermitted,
    OverQuota,
)
from polyport.mailstore.records import Appended, Copied, FlagChange, Mailbox
from polyport.mailstore.service import Changes, Mailstore, MessageFull, MessageMeta, ViewEntry

__all__ = [
    "Appended",
    "CannotDelete",
    "Changes",
    "Copied",
    "FlagChange",
    "InvalidMailboxName",
    "Mailbox",
    "MailboxExists",
    "Mailstore",
    "MailstoreError",
    "MessageFull",
    "MessageMeta",
    "MessageTooLarge",
    "NoSuchMailbox",
    "NotPermitted",
    "OverQuota",
    "ViewEntry",
]
