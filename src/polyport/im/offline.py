"""Offline messages (XEP-0160): a message for an account none of whose resources is available waits in the
record store (table xmpp_offline, migration 0014) until the account sends available presence, then is
delivered, oldest first, and forgotten.

Bounds: at most MAX_MESSAGES messages and MAX_BYTES of them per account, and a message of at most
MAX_MESSAGE bytes; past them `store` refuses (OfflineFull), and the sender is told the recipient cannot
take it (`service-unavailable`, as XEP-0160 3 says for a full store).
"""

from __future__ import annotations

import time

from polyport import metrics
from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_MESSAGES = 500
MAX_BYTES = 2 * 1024 * 1024
MAX_MESSAGE = 64 * 1024

USAGE = Statement("SELECT COUNT(*) AS n, COALESCE(SUM(LENGTH(stanza)), 0) AS size FROM xmpp_offline "
                  "WHERE account_id = :account_id")
ADD = Statement("INSERT INTO xmpp_offline (account_id, stanza, created) VALUES (:account_id, :stanza, :created)")
WAITING = Statement("SELECT id, stanza FROM xmpp_offline WHERE account_id = :account_id ORDER BY id")
FORGET = Statement("DELETE FROM xmpp_offline WHERE account_id = :account_id AND id <= :last")


class OfflineFull(ServiceError):
    """The account's offline store holds as much as it may."""


class OfflineMessages:
    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def store(self, account_id: int, stanza: str, now: float | None = None) -> None:
        """Keep a message (its XML) for the account (OfflineFull past the bounds)."""
        if len(stanza.encode()) > MAX_MESSAGE:
            raise OfflineFull(f"a message over {MAX_MESSAGE} bytes is not kept offline")

        def unit() -> Unit[None]:
            usage = yield USAGE.one(account_id=account_id)
            if int(usage["n"]) >= MAX_MESSAGES or int(usage["size"]) + len(stanza) > MAX_BYTES:
                raise OfflineFull("the recipient's offline messages are full")
            yield ADD.run(account_id=account_id, stanza=stanza, created=int(now if now is not None else time.time()))

        await self.records.write(unit())
        metrics.xmpp_offline.inc()

    async def take(self, account_id: int) -> list[str]:
        """The messages waiting, oldest first, forgotten in the same unit of work: two resources that come
        online at once do not both get them."""
        def unit() -> Unit[list[str]]:
            rows = yield WAITING.all(account_id=account_id)
            if rows:
                yield FORGET.run(account_id=account_id, last=int(rows[-1]["id"]))
            return [str(row["stanza"]) for row in rows]

        return await self.records.write(unit())
