"""Delivery's own SQL: the vacation answer's memory."""

from __future__ import annotations

from polyport.store import Statement, Unit

LAST_REPLY = Statement("SELECT replied FROM vacation_replies WHERE account_id = :account_id AND address = :address")
REMEMBER_REPLY = Statement("""
    INSERT INTO vacation_replies (account_id, address, replied) VALUES (:account_id, :address, :replied)
    ON CONFLICT (account_id, address) DO UPDATE SET replied = :replied""")


def claim_reply(account_id: int, address: str, now: int, period: int) -> Unit[bool]:
    """Whether `address` may have an answer now (none within `period` seconds); if so, it is noted, in
    the same unit, so two deliveries at once send one answer."""
    last = yield LAST_REPLY.value(account_id=account_id, address=address)
    if last is not None and now - int(last) < period:
        return False
    yield REMEMBER_REPLY.run(account_id=account_id, address=address, replied=now)
    return True
