"""SASL's framing over a line protocol (RFC 4422 4; IMAP RFC 9051 6.2.2, POP3 RFC 5034 4, SMTP RFC 4954 4).

The mechanisms themselves are `auth.sasl`'s; this is the protocol's part of each step: the challenge
goes out as the protocol's prefix ("+ " or "334 ") and base64, the client's answer comes back as one
base64 line under a size limit, "*" cancels. What goes wrong raises a `SaslFramingError` subclass, which
each protocol's `refuse` turns into its own reply.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

from polyport.auth import sasl
from polyport.net.connection import Connection, LineTooLong


class SaslFramingError(Exception):
    """The client's side of an exchange could not be used; the exchange is over."""


class SaslTooLong(SaslFramingError):
    def __init__(self) -> None:
        super().__init__("the response is too long")


class SaslCancelled(SaslFramingError):
    def __init__(self) -> None:
        super().__init__("authentication cancelled")


class SaslNotBase64(SaslFramingError):
    def __init__(self) -> None:
        super().__init__("the response is not base64")


class SaslNotEmpty(SaslFramingError):
    """SCRAM's server signature goes out as a last challenge whose answer must be empty."""

    def __init__(self) -> None:
        super().__init__("the answer to the last challenge must be empty")


def decode_strict(line: bytes) -> bytes:
    """Base64 with nothing but the alphabet and its padding (IMAP and SMTP)."""
    return base64.b64decode(line, validate=True)


async def answer(conn: Connection, prefix: bytes, challenge: bytes, last: bool,
                 decode: Callable[[bytes], bytes] = decode_strict) -> bytes:
    """Send one challenge and read the client's answer, decoded."""
    conn.write(prefix + base64.b64encode(challenge) + b"\r\n")
    await conn.drain()
    try:
        line = (await conn.read_line(limit=sasl.MAX_RESPONSE * 2)).rstrip(b"\r\n")
    except LineTooLong:
        raise SaslTooLong() from None
    if line == b"*":
        raise SaslCancelled()
    try:
        response = decode(line)
    except (binascii.Error, ValueError):
        raise SaslNotBase64() from None
    if last and response:
        raise SaslNotEmpty()
    return response
