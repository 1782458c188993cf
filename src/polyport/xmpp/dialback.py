"""Server dialback (XEP-0220) without I/O: the keys (XEP-0185), the elements both servers write, and what a
received dialback element asks.

Dialback proves that a server speaks for a domain by asking that domain's own server, found in the DNS:
the originating server sends a key on its stream (`<db:result>`); the receiving server connects to the
originating domain's server and asks whether that key is its (`<db:verify>`). A key is an HMAC of the two
domains and the stream's id under a secret only the originating domain's servers know, so any of them,
in any worker or node, can answer for any other without remembering what was sent.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Literal
from xml.etree import ElementTree as ET

from polyport.xmpp import wire
from polyport.xmpp.jid import Jid, JidError

NS = "jabber:server:dialback"
FEATURE_NS = "urn:xmpp:features:dialback"
DB = "{" + NS + "}"
MAX_KEY = 256  # characters of a key: ours are 64; a longer one is nobody's


def key(secret: bytes, receiving: str, originating: str, stream_id: str) -> str:
    """XEP-0185 2.4: HMAC-SHA256 of "receiving originating stream-id" under the hex SHA-256 of the secret."""
    return hmac.new(hashlib.sha256(secret).hexdigest().encode(),
                    f"{receiving} {originating} {stream_id}".encode(), hashlib.sha256).hexdigest()


def valid(secret: bytes, receiving: str, originating: str, stream_id: str, given: str) -> bool:
    return hmac.compare_digest(key(secret, receiving, originating, stream_id).encode(), given.encode())


class DialbackError(Exception):
    """A dialback element that asks nothing sensible (a stream's `<invalid-from/>` or `<bad-format/>`)."""

    def __init__(self, condition: str, text: str) -> None:
        super().__init__(text)
        self.condition = condition


@dataclass(frozen=True, slots=True)
class Request:
    """A received `<db:result>` or `<db:verify>`: a key to check (`type` None), or the answer to one."""

    kind: Literal["result", "verify"]
    sender: str  # the element's `from`: a domain
    to: str  # its `to`: a domain
    stream_id: str  # a verify's `id` (the stream the key was sent on); "" for a result
    key: str  # the key, for a question; "" for an answer
    type: str | None  # None for a question; "valid", "invalid" or "error" for an answer


def parse(element: ET.Element[str]) -> Request:
    """What a `<db:result>`/`<db:verify>` asks or answers; DialbackError if it is unusable."""
    kind = element.tag[len(DB):] if element.tag.startswith(DB) else ""
    if kind not in ("result", "verify"):
        raise DialbackError("unsupported-stanza-type", f"{element.tag} is not a dialback element")
    domains = []
    for attribute in ("from", "to"):
        try:
            jid = Jid.parse(element.get(attribute, ""))
        except JidError:
            raise DialbackError("improper-addressing", f"a dialback {kind} names two domains") from None
        if jid.local or jid.resource:
            raise DialbackError("improper-addressing", f"a dialback {kind} names domains, not addresses")
        domains.append(jid.domain)
    answer = element.get("type")
    if answer is not None and answer not in ("valid", "invalid", "error"):
        raise DialbackError("bad-format", f"no dialback answer {answer!r}")
    stream_id = element.get("id", "")
    if kind == "verify" and not stream_id:
        raise DialbackError("bad-format", "a dialback verify names the stream (id)")
    text = (element.text or "").strip()
    if answer is None and not 0 < len(text) <= MAX_KEY:
        raise DialbackError("bad-format", "a dialback key is missing or too long")
    return Request("result" if kind == "result" else "verify", domains[0], domains[1], stream_id,
                   text if answer is None else "", answer)


def element(kind: Literal["result", "verify"], sender: str, to: str, *, key: str = "", stream_id: str = "",
            answer: str | None = None) -> bytes:
    """`<db:result>`/`<db:verify>` as a server writes it: with the `db` prefix its stream header declares
    (XEP-0220 2.1; some servers look for the prefix rather than the namespace)."""
    attributes = f" from='{wire.escape_attribute(sender)}' to='{wire.escape_attribute(to)}'"
    if stream_id:
        attributes += f" id='{wire.escape_attribute(stream_id)}'"
    if answer is not None:
        return f"<db:{kind}{attributes} type='{answer}'/>".encode()
    return f"<db:{kind}{attributes}>{wire.escape_text(key)}</db:{kind}>".encode()
