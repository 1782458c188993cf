"""Delivery's own SQL: the vacation answer's memory."""

from __future__ import annotations

from polyport.store import Statement, Unit

# One statement, so two deliveries at once cannot both claim (PostgreSQL re-checks the WHERE against the
# row the other one wrote; SQLite runs one writer).
CLAIM_REPLY = Statement("""
    INSERT INTO vacation_replies (account_id, address, replied) VALUES (:account_id, :address, :replied)
    ON CONFLICT (account_id, address) DO UPDATE SET replied = :replied WHERE vacation_replies.replied <= :cutoff
    RETURNING replied""")


def claim_reply(account_id: int, address: str, now: int, period: int) -> Unit[bool]:
    """Whether `address` may have an answer now (none within `period` seconds); if so, it is noted."""
    claimed = yield CLAIM_REPLY.value(account_id=account_id, address=address, replied=now, cutoff=now - period)
    return claimed is not None
