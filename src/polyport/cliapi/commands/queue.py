"""The outbound queue: CommuniGate's GETMESSAGEQUEUEINFO, RELEASESMTPQUEUE and REJECTQUEUEMESSAGE, and
Polyport's own LISTQUEUEMESSAGES and GETQUEUEMESSAGE (CommuniGate shows its queues only in WebAdmin).
Server administrators only: a queue holds every domain's mail."""

from __future__ import annotations

import datetime

from polyport import admin
from polyport.admin.queue import REJECTED
from polyport.cliapi.codes import bad
from polyport.cliapi.commands import Context, command
from polyport.cliapi.wire import Parser, Value


def _time(seconds: object) -> Value:
    if seconds is None:
        return None
    return datetime.datetime.fromtimestamp(int(str(seconds)), datetime.UTC)


def _entry(row: dict[str, object]) -> dict[str, Value]:
    return {
        "ID": str(row["ident"]), "From": str(row["sender"]), "Size": str(row["size"]),
        "Created": _time(row["created"]), "Origin": str(row["origin"]), "Recipients": str(row["recipients"]),
        "NextAttempt": _time(row["next_attempt"]), "Attempts": str(row["attempts"]),
        "LastError": "" if row["last_error"] is None else str(row["last_error"]),
    }


@command("GETMESSAGEQUEUEINFO")
async def get_message_queue_info(cx: Context, args: Parser) -> Value:
    """[module] [QUEUE domain]: messages waiting (for that domain), when the next attempt is, the last
    error."""
    if not args.at_end() and args.peek().upper() != "QUEUE":
        module = args.string()
        if module.upper() not in ("SMTP", "DEQUEUER"):
            raise bad(f"unknown module {module!r}: the queue is SMTP's")
    domain = args.string() if args.maybe_keyword("QUEUE") else None
    args.end()
    totals = await admin.queue_totals(cx.runtime, cx.actor, domain)
    return {"nTotal": str(totals.get("messages", 0)), "nRecipients": str(totals.get("recipients", 0)),
            "delayedTill": _time(totals.get("next_attempt")),
            "lastError": "" if totals.get("last_error") is None else str(totals["last_error"])}


@command("RELEASESMTPQUEUE")
async def release_smtp_queue(cx: Context, args: Parser) -> Value:
    """domain (or "*" for all): try its waiting messages now."""
    domain = args.string()
    args.end()
    await admin.release_queue(cx.runtime, cx.actor, None if domain == "*" else domain)
    return None


@command("REJECTQUEUEMESSAGE")
async def reject_queue_message(cx: Context, args: Parser) -> Value:
    """id [NONDN | REPORT "text"]: take a message out of the queue, telling its sender (unless NONDN)."""
    ident = args.string()
    quiet = args.maybe_keyword("NONDN") is not None
    reason = REJECTED
    if not quiet and args.maybe_keyword("REPORT"):
        reason = args.string()
    args.end()
    await admin.delete_queued_message(cx.runtime, cx.actor, ident, notify=not quiet, reason=reason)
    return None


@command("LISTQUEUEMESSAGES")
async def list_queue_messages(cx: Context, args: Parser) -> Value:
    """[limit]: the messages waiting, oldest first (Polyport's own)."""
    text = args.string() if not args.at_end() else "1000"
    if not text.isdigit() or not 0 < int(text) <= 100_000:
        raise bad("the limit is a number from 1 to 100000")
    limit = int(text)
    args.end()
    return [_entry(row) for row in await admin.queued_messages(cx.runtime, cx.actor, limit)]


@command("GETQUEUEMESSAGE")
async def get_queue_message(cx: Context, args: Parser) -> Value:
    """id: a waiting message and each recipient's state (Polyport's own)."""
    ident = args.string()
    args.end()
    message, recipients = await admin.queued_message(cx.runtime, cx.actor, ident)
    return {
        "ID": message.ident, "From": message.sender, "Size": str(message.size), "Created": _time(message.created),
        "Origin": message.origin,
        "Recipients": [{"Address": str(r["address"]), "Status": str(r["status"]), "Attempts": str(r["attempts"]),
                        "NextAttempt": _time(r["next_attempt"]),
                        "LastError": "" if r["last_error"] is None else str(r["last_error"])} for r in recipients],
    }
