"""Delivery status notifications (RFC 3464, RFC 3461): the bounce or delay notice sent back to a sender.

Pure: facts in, the message's bytes out. A notice goes from the null reverse-path (so nothing ever
answers it), says Auto-Submitted (RFC 3834), and carries the original message (RET=FULL, the default up
to RETURN_FULL octets) or its header (RET=HDRS). Which senders get what is the queue's decision
(service.py `_returned`): a sender nothing vouched for gets `header_fields` at most.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from email.utils import formatdate

RETURN_FULL = 1024 * 1024  # larger originals come back as their header only


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    address: str
    status: str  # enhanced status code, like 5.1.1
    diagnostic: str  # the remote server's reply, or our own reason
    orcpt: str | None = None  # "rfc822;addr" as the client gave ORCPT
    remote_mta: str | None = None


def _header_section(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[:end + 2]


def header_fields(message: bytes, limit: int) -> bytes:
    """The message's header section, cut after the last whole field that ends within `limit` octets (a
    notice to a sender nobody vouched for returns no more than that: a forger can put anything in a header
    field, so the header alone could reflect as much as the body would)."""
    header = _header_section(message)
    if len(header) <= limit:
        return header
    end = limit
    while (crlf := header.rfind(b"\r\n", 0, end)) >= 0:
        if header[crlf + 2:crlf + 3] not in (b" ", b"\t"):  # not a folded line: the field ends here
            return header[:crlf + 2]
        end = crlf
    return b""


def _clean(text: str) -> str:
    return " ".join(text.split())


def build(*, action: str, reporting_mta: str, sender: str, recipients: Sequence[RecipientStatus], original: bytes,
          arrival: float, now: float, envid: str | None = None, ret: str | None = None,
          retry_until: float | None = None) -> bytes:
    """A notice for `recipients` of one message: `action` is "failed", "delayed", "delivered" (stored
    here) or "relayed" (sent on to a server that does not report back), the last two only when NOTIFY
    asked for SUCCESS."""
    boundary = f"=_polyport_{secrets.token_hex(8)}"
    failed = action == "failed"
    subject = {"failed": "Undelivered Mail Returned to Sender", "delayed": "Delayed Mail (still being retried)"}.get(
        action, "Successful Mail Delivery Report")
    listing = "\r\n".join(f"  <{r.address}>: {_clean(r.diagnostic)}" for r in recipients)
    if action in ("delivered", "relayed"):
        done = "delivered to the mailboxes" if action == "delivered" else \
            "sent on to the next server, which will not report further"
        human = (f"This is the mail system at {reporting_mta}.\r\n\r\n"
                 f"Your message was {done} of the recipients below, as you asked.\r\n\r\n{listing}\r\n")
    elif failed:
        human = (f"This is the mail system at {reporting_mta}.\r\n\r\n"
                 "Your message could not be delivered to the recipients below, and will not be tried again.\r\n"
                 f"\r\n{listing}\r\n")
    else:
        until = formatdate(retry_until, localtime=True) if retry_until else "a few days"
        human = (f"This is the mail system at {reporting_mta}.\r\n\r\n"
                 "Your message has not been delivered to the recipients below yet. Nothing needs to be done:\r\n"
                 f"delivery will be tried again until {until}.\r\n\r\n{listing}\r\n")
    fields = [f"Reporting-MTA: dns; {reporting_mta}"]
    if envid:
        fields.append(f"Original-Envelope-Id: {_clean(envid)}")
    fields.append(f"Arrival-Date: {formatdate(arrival, localtime=True)}")
    per_recipient = []
    for r in recipients:
        lines = []
        if r.orcpt:
            kind, _, addr = r.orcpt.partition(";")
            lines.append(f"Original-Recipient: {_clean(kind)};{_clean(addr)}")
        lines += [f"Final-Recipient: rfc822; {r.address}", f"Action: {action}", f"Status: {r.status}"]
        if r.remote_mta:
            lines.append(f"Remote-MTA: dns; {r.remote_mta}")
        lines.append(f"Diagnostic-Code: smtp; {_clean(r.diagnostic)}")
        if action == "delayed" and retry_until:
            lines.append(f"Will-Retry-Until: {formatdate(retry_until, localtime=True)}")
        per_recipient.append("\r\n".join(lines))
    status = "\r\n".join(fields) + "\r\n\r\n" + "\r\n\r\n".join(per_recipient) + "\r\n"
    if ret == "HDRS" or len(original) > RETURN_FULL:
        returned = (b"Content-Type: text/rfc822-headers\r\nContent-Description: Undelivered message header\r\n\r\n"
                    + _header_section(original))
    else:
        returned = b"Content-Type: message/rfc822\r\nContent-Description: Undelivered message\r\n\r\n" + original
    head = (f"From: Mail Delivery System <MAILER-DAEMON@{reporting_mta}>\r\n"
            f"To: <{sender}>\r\n"
            f"Subject: {subject}\r\n"
            f"Date: {formatdate(now, localtime=True)}\r\n"
            f"Message-ID: <{secrets.token_hex(12)}@{reporting_mta}>\r\n"
            "Auto-Submitted: auto-replied\r\n"
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\r\n\r\n'
            "This is a MIME-formatted delivery status notification.\r\n\r\n")
    body = (f"--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Description: Notification\r\n\r\n{human}\r\n"
            f"--{boundary}\r\nContent-Type: message/delivery-status\r\n"
            f"Content-Description: Delivery report\r\n\r\n{status}\r\n"
            f"--{boundary}\r\n")
    ending = f"\r\n--{boundary}--\r\n".encode()
    if not returned.endswith(b"\r\n"):
        returned += b"\r\n"
    return (head + body).encode("utf-8", "replace") + returned + ending


def wants(notify: str | None, what: str) -> bool:
    """Whether a recipient's NOTIFY asks for `what` (FAILURE, DELAY, SUCCESS); without NOTIFY, failures and
    delays are reported (RFC 3461 4.1 leaves it to us; this is what MTAs do)."""
    if notify is None:
        return what in ("FAILURE", "DELAY")
    return what in notify.split(",")
