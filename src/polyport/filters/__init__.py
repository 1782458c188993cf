"""Mail filters run at delivery: CommuniGate's account rules (rules.py) and Sieve (sieve.py, RFC 5228).

Pure: both read `Facts` about one message for one account and return a `Decision` (where to store it,
where to send it on, whether to answer); delivery carries it out. The vacation answer's own rules
(RFC 3834: never to lists, bounces or automatic mail; once per sender per period) are in vacation.py;
the `#Vacation` and `#Redirect` rules WebUser sets and reads back are autoreply.py.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.utils import getaddresses

from polyport.wildcard import Wildcard

_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:[ \t]*(.*)$", re.DOTALL)
_MSG_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # printable, no spaces, no < or > inside


@dataclass(frozen=True, slots=True)
class Vacation:
    reason: str
    subject: str | None = None
    days: int = 7
    addresses: tuple[str, ...] = ()  # the account's other addresses (Sieve :addresses)


@dataclass
class Decision:
    keep: bool = True  # the implicit keep: INBOX, unless something cancels it
    kept: bool = False  # an explicit keep (Sieve `keep`): nothing later cancels it (RFC 5228 4.3)
    fileinto: list[str] = field(default_factory=list)
    redirect: list[str] = field(default_factory=list)
    reject: str | None = None
    vacation: Vacation | None = None
    flags: list[str] = field(default_factory=list)
    stopped: bool = False

    def mailboxes(self) -> list[str]:
        """Where to store it: the fileinto targets, and INBOX if the implicit keep still holds."""
        boxes = list(dict.fromkeys(self.fileinto))
        if (self.keep or self.kept) and "INBOX" not in boxes:
            boxes.insert(0, "INBOX")
        return boxes


class Facts:
    """One message as the filters see it: envelope, header fields (decoded, unfolded), size."""

    def __init__(self, sender: str, recipient: str, message: bytes) -> None:
        self.sender = sender
        self.recipient = recipient
        self.size = len(message)
        end = message.find(b"\r\n\r\n")
        head = message if end < 0 else message[:end]
        self.fields: list[tuple[str, str]] = []
        self.raw_fields: list[tuple[str, str]] = []  # undecoded (RFC 2047 words left alone), unfolded
        for raw in re.split(rb"\r\n(?![ \t])", head):
            match = _FIELD.match(raw)
            if match:
                name = match.group(1).decode("ascii", "replace").lower()
                value = match.group(2).replace(b"\r\n", b"").decode("utf-8", "replace")
                self.raw_fields.append((name, value.strip()))
                self.fields.append((name, _decoded(value)))

    def header(self, name: str) -> list[str]:
        name = name.lower()
        return [value for field_name, value in self.fields if field_name == name]

    def message_ids(self, name: str) -> list[str]:
        """The msg-ids (`<left@right>`) of a Message-ID, In-Reply-To or References field, taken from the
        raw field: an encoded word there is not a msg-id, and must not smuggle a line break into a reply."""
        ids: list[str] = []
        for field_name, value in self.raw_fields:
            if field_name == name.lower():
                ids.extend(_MSG_ID.findall(value))
        return ids

    def addresses(self, name: str) -> list[str]:
        return [address.lower() for _, address in getaddresses(self.header(name)) if address]


def _decoded(value: str) -> str:
    if "=?" not in value:
        return value.strip()
    try:
        return str(make_header(decode_header(value))).strip()
    except (ValueError, LookupError):
        return value.strip()


def matches(pattern: str, value: str) -> bool:
    """CommuniGate and Sieve :matches wildcards (* and ?), case-insensitively; every other character is
    itself. The account's owner writes the pattern and any sender the value (a header field as long as
    the message): wildcard.py matches in O(n + m), O(n * m) at worst with `?`, and never backtracks."""
    return _compiled(pattern.lower()).fullmatch(value.lower())


@functools.lru_cache(maxsize=256)  # a few patterns per account, met at every delivery
def _compiled(pattern: str) -> Wildcard:
    return Wildcard(pattern, one="?")
