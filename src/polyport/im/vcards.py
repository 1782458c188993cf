"""vCards (XEP-0054): each account's vCard as the XML its client set (table xmpp_vcards, migration 0014),
at most MAX_SIZE bytes (an avatar in PHOTO included)."""

from __future__ import annotations

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_SIZE = 256 * 1024

GET = Statement("SELECT vcard FROM xmpp_vcards WHERE account_id = :account_id")
PUT = Statement("""
    INSERT INTO xmpp_vcards (account_id, vcard) VALUES (:account_id, :vcard)
    ON CONFLICT (account_id) DO UPDATE SET vcard = excluded.vcard""")


class VcardTooLarge(ServiceError):
    """A vCard over MAX_SIZE bytes."""


class Vcards:
    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def get(self, account_id: int) -> str | None:
        def unit() -> Unit[str | None]:
            found = yield GET.value(account_id=account_id)
            return None if found is None else str(found)

        return await self.records.read(unit())

    async def put(self, account_id: int, vcard: str) -> None:
        if len(vcard.encode()) > MAX_SIZE:
            raise VcardTooLarge(f"a vCard holds at most {MAX_SIZE // 1024} KiB")

        def unit() -> Unit[None]:
            yield PUT.run(account_id=account_id, vcard=vcard)

        await self.records.write(unit())
