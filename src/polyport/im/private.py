"""Private XML storage (XEP-0049): each account's private XML fragments, one per namespace, as its clients
stored them (table xmpp_private, migration 0016). At most MAX_ITEMS namespaces an account and MAX_SIZE bytes
a fragment; past them `put` refuses (PrivateStorageFull)."""

from __future__ import annotations

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_ITEMS = 100
MAX_SIZE = 64 * 1024

GET = Statement("SELECT xml FROM xmpp_private WHERE account_id = :account_id AND namespace = :namespace")
COUNT = Statement("SELECT COUNT(*) FROM xmpp_private WHERE account_id = :account_id AND namespace <> :namespace")
PUT = Statement("""
    INSERT INTO xmpp_private (account_id, namespace, xml) VALUES (:account_id, :namespace, :xml)
    ON CONFLICT (account_id, namespace) DO UPDATE SET xml = excluded.xml""")


class PrivateStorageFull(ServiceError):
    """A fragment over MAX_SIZE, or a namespace past MAX_ITEMS."""


class PrivateStorage:
    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def get(self, account_id: int, namespace: str) -> str | None:
        def unit() -> Unit[str | None]:
            found = yield GET.value(account_id=account_id, namespace=namespace)
            return None if found is None else str(found)

        return await self.records.read(unit())

    async def put(self, account_id: int, namespace: str, xml: str) -> None:
        if len(xml.encode()) > MAX_SIZE:
            raise PrivateStorageFull(f"a private fragment holds at most {MAX_SIZE // 1024} KiB")

        def unit() -> Unit[None]:
            others = yield COUNT.value(account_id=account_id, namespace=namespace)
            if int(others or 0) >= MAX_ITEMS:
                raise PrivateStorageFull(f"an account keeps at most {MAX_ITEMS} private fragments")
            yield PUT.run(account_id=account_id, namespace=namespace, xml=xml)

        await self.records.write(unit())
