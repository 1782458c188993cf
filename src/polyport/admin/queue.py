"""The outbound queue: what waits, trying it now, taking a message out. Server administrators only: a
queue holds every domain's mail."""

from __future__ import annotations

from polyport.admin.errors import NotFound
from polyport.admin.rights import Actor, Services, require_master
from polyport.queue.records import QueuedMessage

REJECTED = "deleted from the queue by the administrator"


async def queue_totals(s: Services, actor: Actor, domain: str | None = None) -> dict[str, object]:
    """Messages and recipients waiting (for `domain`'s recipients), the next attempt, the last error."""
    require_master(actor)
    return await s.queue.totals(domain)


async def release_queue(s: Services, actor: Actor, domain: str | None = None) -> int:
    """Try the messages waiting for `domain` (None: every one) now; how many recipients that was."""
    require_master(actor)
    return await s.queue.retry(domain=domain)


async def queued_messages(s: Services, actor: Actor, limit: int = 1000) -> list[dict[str, object]]:
    """The messages waiting, oldest first."""
    require_master(actor)
    return await s.queue.waiting(limit)


async def queued_message(s: Services, actor: Actor, ident: str) -> tuple[QueuedMessage, list[dict[str, object]]]:
    """A waiting message and each recipient's state."""
    require_master(actor)
    try:
        return await s.queue.show(ident)
    except KeyError:
        raise NotFound(f"no message {ident} in the queue") from None


async def delete_queued_message(s: Services, actor: Actor, ident: str, *, notify: bool = True,
                                reason: str = REJECTED) -> None:
    """Take a message out of the queue; unless `notify` is false its sender gets a failure notice giving
    `reason` for each recipient still waiting."""
    require_master(actor)
    try:
        if notify:
            await s.queue.reject(ident, reason)
        else:
            await s.queue.delete(ident)
    except KeyError:
        raise NotFound(f"no message {ident} in the queue") from None
