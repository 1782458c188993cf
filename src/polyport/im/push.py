"""Push registrations (XEP-0357): where each account's clients asked to be woken when a message waits for
them (an app server's JID and a node there) and the publish options each notification carries (the app
server's secret, as the client gave them). Table xmpp_push (migration 0020); at most MAX_REGISTRATIONS an
account, the oldest replaced past it (a phone reinstalled many times leaves stale ones behind)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit, unit_of

MAX_REGISTRATIONS = 10
MAX_OPTIONS = 4096  # bytes of the publish options form

LIST = Statement("""
    SELECT service, node, options FROM xmpp_push WHERE account_id = :account_id ORDER BY created, service, node""")
PUT = Statement("""
    INSERT INTO xmpp_push (account_id, service, node, options, created)
    VALUES (:account_id, :service, :node, :options, :created)
    ON CONFLICT (account_id, service, node) DO UPDATE SET options = excluded.options, created = excluded.created""")
OLDEST = Statement("""
    SELECT service, node FROM xmpp_push WHERE account_id = :account_id ORDER BY created, service, node LIMIT 1""")
COUNT = Statement("SELECT COUNT(*) FROM xmpp_push WHERE account_id = :account_id")
REMOVE = Statement("DELETE FROM xmpp_push WHERE account_id = :account_id AND service = :service AND node = :node")
REMOVE_SERVICE = Statement("DELETE FROM xmpp_push WHERE account_id = :account_id AND service = :service")


class PushOptionsTooLarge(ServiceError):
    """Publish options over MAX_OPTIONS bytes."""


@dataclass(frozen=True, slots=True)
class Registration:
    service: str  # the app server's JID
    node: str
    options: str  # the publish-options form's XML, or ""


class PushRegistrations:
    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def enable(self, account_id: int, service: str, node: str, options: str = "") -> None:
        if len(options.encode()) > MAX_OPTIONS:
            raise PushOptionsTooLarge(f"publish options hold at most {MAX_OPTIONS} bytes")

        def unit() -> Unit[None]:
            yield REMOVE.run(account_id=account_id, service=service, node=node)
            count = yield COUNT.value(account_id=account_id)
            if int(count or 0) >= MAX_REGISTRATIONS:
                oldest = yield OLDEST.one(account_id=account_id)
                yield REMOVE.run(account_id=account_id, service=oldest["service"], node=oldest["node"])
            yield PUT.run(account_id=account_id, service=service, node=node, options=options, created=time.time_ns())

        await self.records.write(unit())

    async def disable(self, account_id: int, service: str, node: str | None = None) -> None:
        """One registration, or (no node) every one with that app server (XEP-0357 6)."""
        if node is None:
            await self.records.write(unit_of(REMOVE_SERVICE.run(account_id=account_id, service=service)))
        else:
            await self.records.write(unit_of(REMOVE.run(account_id=account_id, service=service, node=node)))

    async def registrations(self, account_id: int) -> list[Registration]:
        rows = await self.records.read(unit_of(LIST.all(account_id=account_id)))
        return [Registration(str(r["service"]), str(r["node"]), str(r["options"])) for r in rows]
