"""The mailstore: mailboxes, messages, flags, UIDs and mod-sequences, quotas (see service.py)."""

from polyport.mailstore.errors import (
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
)
from polyport.mailstore.records import Appended, Copied, FlagChange, Mailbox
from polyport.mailstore.service import Acl, Changes, Mailstore, MessageFull, MessageMeta, Summary, ViewEntry

__all__ = [
    "Acl",
    "AclRefused",
    "Appended",
    "CannotDelete",
    "Changes",
    "Copied",
    "FlagChange",
    "InvalidMailboxName",
    "InvalidRights",
    "Mailbox",
    "MailboxExists",
    "Mailstore",
    "MailstoreError",
    "MessageFull",
    "MessageMeta",
    "MessageTooLarge",
    "MetadataTooLarge",
    "MetadataTooMany",
    "NoSuchMailbox",
    "NoSuchMessage",
    "NotPermitted",
    "OverQuota",
    "RecipientOverQuota",
    "Summary",
    "ViewEntry",
]
