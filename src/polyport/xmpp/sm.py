"""Stream management (XEP-0198) counters and the queue of unacknowledged stanzas, for one stream (pure).

Once a client enables it, each side counts the stanzas (iq, message, presence) it has handled of the
other's; `<r/>` asks for the count, `<a h='n'/>` gives it. The server keeps what it sent until the client
acknowledges it: on resumption (a new connection naming this stream's id and its `h`) what the client did
not get is sent again; where the stream is not resumed in time, the messages among it are treated as
undeliverable (the session re-routes or keeps them offline). Counts are modulo 2^32 (XEP-0198 4).
"""

from __future__ import annotations

import secrets
from collections import deque
from dataclasses import dataclass, field

NS = "urn:xmpp:sm:3"
MODULO = 2**32
# Stanzas sent and not yet acknowledged; past either bound the stream ends (resource-constraint). Room for a
# login's burst (hundreds of offline messages and contacts' presence) and a full archive page of large
# messages before the client could have answered an <r/>.
MAX_UNACKED = 10_000
MAX_UNACKED_BYTES = 32 * 1024 * 1024
REQUEST_EVERY = 5  # unacknowledged stanzas after which the server asks for an acknowledgement
RESUME_SECONDS = 300  # how long a resumable stream's session waits for its client to come back
REQUEST = b"<r xmlns='" + NS.encode() + b"'/>"


class AckError(Exception):
    """The client acknowledged more stanzas than were sent (XEP-0198 4: handled-count-too-high)."""

    def __init__(self, h: int, sent: int) -> None:
        super().__init__(f"the client acknowledged {h} stanzas; {sent} were sent")
        self.h = h
        self.sent = sent


@dataclass(slots=True)
class StreamManagement:
    resumable: bool
    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    handled: int = 0  # the client's stanzas handled here: the `h` the server reports
    sent: int = 0  # stanzas sent to the client since it enabled stream management
    unacked: deque[bytes] = field(default_factory=deque)  # the last len(unacked) of them, oldest first
    unacked_bytes: int = 0
    requested: bool = False  # an <r/> is out and unanswered

    def received(self) -> None:
        self.handled = (self.handled + 1) % MODULO

    def sending(self, stanza: bytes) -> bool:
        """Count a stanza sent; whether to ask the client for an acknowledgement now."""
        self.sent = (self.sent + 1) % MODULO
        self.unacked.append(stanza)
        self.unacked_bytes += len(stanza)
        if not self.requested and len(self.unacked) >= REQUEST_EVERY:
            self.requested = True
            return True
        return False

    @property
    def overflowing(self) -> bool:
        return len(self.unacked) > MAX_UNACKED or self.unacked_bytes > MAX_UNACKED_BYTES

    def acknowledged(self, h: int) -> None:
        """The client has handled `h` stanzas of those sent: forget them (AckError if more than sent)."""
        outstanding = (self.sent - h) % MODULO
        if outstanding > len(self.unacked):  # h is behind what an earlier ack said: nothing to forget
            if (h - self.sent) % MODULO <= MODULO // 2 and h != self.sent:
                raise AckError(h, self.sent)
            return
        while len(self.unacked) > outstanding:
            self.unacked_bytes -= len(self.unacked.popleft())
        self.requested = False

    def unacknowledged(self) -> list[bytes]:
        return list(self.unacked)


def parse_h(text: str | None) -> int:
    """An `h` attribute: an unsigned 32-bit integer (ValueError otherwise)."""
    if text is None or not text.isdigit():
        raise ValueError(f"h is a non-negative integer, not {text!r}")
    value = int(text)
    if value >= MODULO:
        raise ValueError(f"h {value} is over 2^32 - 1")
    return value
