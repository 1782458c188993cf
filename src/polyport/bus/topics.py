"""Bus topics: the only place that spells them, so publishers and subscribers cannot drift apart.

A topic is a dot-separated string (`directory`, `mailbox.42`). A subscription names one topic exactly, or
a prefix ending in `*` (`mailbox.*`: every mailbox), which the Redis bus will map to a pattern
subscription.
"""

from __future__ import annotations

DIRECTORY = "directory"
"""Every change to domains, accounts, aliases, forwarders, groups and server-wide settings."""

SERVER_METADATA = "server-metadata"
"""Changes to the server's shared METADATA entries (RFC 5464, mailbox ""): of interest to every account."""

QUEUE = "queue"
"""The outbound queue has mail to send now (a node of several workers: the one that sends hears it)."""

XMPP = "xmpp"
"""XMPP's routing between the workers (and nodes) that serve clients: resources as they change, stanzas for
a resource another worker holds (xmpp/router.py)."""

ANY_MAILBOX = "mailbox.*"
"""A prefix subscription to every mailbox's topic."""

ANY_ACCOUNT = "account.*"
"""A prefix subscription to every account's topic."""

WILDCARD = "*"


def mailbox(mailbox_id: int) -> str:
    """Changes to one mailbox's messages, flags, name or ACL."""
    return f"mailbox.{mailbox_id}"


def account(account_id: int) -> str:
    """Changes across an account's mailboxes: the list (created, deleted, renamed), their messages (a
    summary of `mailbox`'s events), subscriptions and METADATA entries."""
    return f"account.{account_id}"


def prefix_of(pattern: str) -> str | None:
    """The prefix a `...*` subscription matches, or None for an exact topic."""
    return pattern[:-1] if pattern.endswith(WILDCARD) else None


def matches(pattern: str, topic: str) -> bool:
    """Whether a subscription to `pattern` hears events published on `topic`."""
    prefix = prefix_of(pattern)
    return topic == pattern if prefix is None else topic.startswith(prefix)
