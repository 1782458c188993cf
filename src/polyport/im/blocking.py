"""Block lists (XEP-0191): the JIDs an account blocks, in the record store (table xmpp_blocks, migration
0014). An item is a bare JID (`user@domain`: the user from any resource), a full JID (that resource only),
a domain (everyone there) or a domain with a resource; `blocks` says whether an item covers a sender
(XEP-0191 3.1, as XEP-0016's JID matching). At most MAX_ITEMS items per account.
"""

from __future__ import annotations

from collections.abc import Iterable

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_ITEMS = 1000

LIST = Statement("SELECT jid FROM xmpp_blocks WHERE account_id = :account_id ORDER BY jid")
ADD = Statement("INSERT INTO xmpp_blocks (account_id, jid) VALUES (:account_id, :jid) ON CONFLICT DO NOTHING")
REMOVE = Statement("DELETE FROM xmpp_blocks WHERE account_id = :account_id AND jid = :jid")
CLEAR = Statement("DELETE FROM xmpp_blocks WHERE account_id = :account_id")


class BlocklistFull(ServiceError):
    """More items than a block list holds."""


def blocks(items: Iterable[tuple[str, str, str]], sender: tuple[str, str, str]) -> bool:
    """Whether any item, as (local, domain, resource) with "" for an absent part, covers the sender's JID
    (XEP-0016 2.1's order: full JID, bare JID, domain with resource, domain)."""
    local, domain, resource = sender
    for item_local, item_domain, item_resource in items:
        if item_domain != domain:
            continue
        if item_local and item_local != local:
            continue
        if item_resource and item_resource != resource:
            continue
        return True
    return False


class Blocklists:
    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def items(self, account_id: int) -> list[str]:
        def unit() -> Unit[list[str]]:
            rows = yield LIST.all(account_id=account_id)
            return [str(row["jid"]) for row in rows]

        return await self.records.read(unit())

    async def block(self, account_id: int, jids: list[str]) -> list[str]:
        """Add the JIDs (prepared); those that were not blocked already (BlocklistFull past the bound)."""
        def unit() -> Unit[list[str]]:
            rows = yield LIST.all(account_id=account_id)
            present = {str(row["jid"]) for row in rows}
            added = [jid for jid in dict.fromkeys(jids) if jid not in present]
            if len(present) + len(added) > MAX_ITEMS:
                raise BlocklistFull(f"a block list holds at most {MAX_ITEMS} items")
            for jid in added:
                yield ADD.run(account_id=account_id, jid=jid)
            return added

        return await self.records.write(unit())

    async def unblock(self, account_id: int, jids: list[str] | None) -> list[str]:
        """Remove the JIDs (None: every one); those that were blocked."""
        def unit() -> Unit[list[str]]:
            rows = yield LIST.all(account_id=account_id)
            present = [str(row["jid"]) for row in rows]
            if jids is None:
                yield CLEAR.run(account_id=account_id)
                return present
            removed = [jid for jid in dict.fromkeys(jids) if jid in present]
            for jid in removed:
                yield REMOVE.run(account_id=account_id, jid=jid)
            return removed

        return await self.records.write(unit())
