"""The events the mailstore publishes for IMAP NOTIFY (RFC 5465) on the account's topic, after commit:
message changes of any of its mailboxes, subscriptions, METADATA entries (the server's shared ones on
their own topic)."""

from __future__ import annotations

from polyport.bus import LocalBus, topics
from polyport.bus.events import Event, MailboxListChanged, MessagesChanged, MetadataChanged, SubscriptionsChanged
from polyport.mailstore import Mailstore


def drained(subscription: object) -> list[Event]:
    events: list[Event] = []
    while (event := subscription.get_nowait()) is not None:  # type: ignore[attr-defined]
        events.append(event)
    return events


async def test_account_topic_hears_messages_subscriptions_and_metadata(mailstore: Mailstore, account: int,
                                                                       bus: LocalBus) -> None:
    heard = bus.subscribe(topics.account(account))
    server = bus.subscribe(topics.SERVER_METADATA)
    work = await mailstore.create(account, "Work")
    appended = await mailstore.append(account, "Work", b"Subject: x\r\n\r\nhi\r\n")
    await mailstore.store_flags(work.id, [appended.uid], "add", ["\\Deleted"])
    await mailstore.expunge(work.id)
    await mailstore.subscribe(account, "Work")
    await mailstore.unsubscribe(account, "Work")
    await mailstore.set_subscriptions(account, ["Work", "INBOX"])
    await mailstore.set_metadata(account, "Work", [("/private/comment", b"a"), ("/shared/comment", b"b")])
    await mailstore.set_metadata(account, "", [("/shared/admin", b"c")], server_admin=True)
    assert drained(heard) == [
        MailboxListChanged(account),
        MessagesChanged(account, work.id, "append"),
        MessagesChanged(account, work.id, "flags"),
        MessagesChanged(account, work.id, "expunge"),
        SubscriptionsChanged(account, ("Work",), True),
        SubscriptionsChanged(account, ("Work",), False),
        SubscriptionsChanged(account, ("Work",), True),  # INBOX was subscribed already
        SubscriptionsChanged(account, ("Archive", "Drafts", "Junk", "Sent", "Trash"), False),  # replaced
        MetadataChanged(account, work.id, ("/private/comment",), private_to=account),
        MetadataChanged(account, work.id, ("/shared/comment",)),
    ]
    assert drained(server) == [MetadataChanged(None, None, ("/shared/admin",))]
