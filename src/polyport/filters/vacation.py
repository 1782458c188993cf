"""The vacation answer (RFC 3834, RFC 5230): whether to send one, and the message itself. Pure; the
once-per-sender-per-period memory is delivery's (it is in the store)."""

from __future__ import annotations

import secrets
from email.utils import formatdate

from polyport.filters import Facts, Vacation
from polyport.filters.rules import human_generated


def should_answer(facts: Facts, own_addresses: set[str]) -> bool:
    """Only to a person (not a list, a bounce or a program: RFC 3834 2), only when the message was
    addressed to the account (its address in To or Cc: mass mail that Bcc'd it gets nothing), and never
    to the account itself."""
    sender = facts.sender.lower()
    if not sender or sender in own_addresses or not human_generated(facts):
        return False
    addressed = {a for name in ("to", "cc", "resent-to", "resent-cc") for a in facts.addresses(name)}
    return bool(addressed & own_addresses)


def answer(facts: Facts, vacation: Vacation, account: str, hostname: str, now: float) -> bytes:
    original_subject = (facts.header("subject") or [""])[0]
    subject = vacation.subject or f"Auto: {original_subject}".strip()
    message_ids = facts.message_ids("message-id")
    references = " ".join([*facts.message_ids("references"), *message_ids[:1]])
    lines = [f"From: <{account}>", f"To: <{facts.sender}>", f"Subject: {_header_text(subject)}",
             f"Date: {formatdate(now, localtime=True)}", f"Message-ID: <{secrets.token_hex(12)}@{hostname}>",
             "Auto-Submitted: auto-replied", "Precedence: bulk", "MIME-Version: 1.0",
             "Content-Type: text/plain; charset=utf-8", "Content-Transfer-Encoding: 8bit"]
    if message_ids:
        lines.append(f"In-Reply-To: {message_ids[0]}")
    if references:
        lines.append(f"References: {references}")
    body = vacation.reason.replace("\r\n", "\n").replace("\n", "\r\n")
    if not body.endswith("\r\n"):
        body += "\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode("utf-8")


def _header_text(text: str) -> str:
    if text.isascii():
        return " ".join(text.split())
    from email.header import Header

    return Header(text, "utf-8").encode()
