"""JIDs (RFC 7622): `[localpart@]domainpart[/resourcepart]`, each part prepared so that two JIDs that mean
the same address compare equal (pure).

How each part is prepared, and where it departs from the RFC's PRECIS profiles (RFC 8264/8265, which the
standard library does not implement; full PRECIS would need its Unicode property tables):
- localpart: the UsernameCaseMapped profile's steps (width mapping by NFKC of the fullwidth and
  halfwidth forms, lowercasing, NFC), then the characters the IdentifierClass allows, approximated as
  Unicode letters, digits and combining marks without a compatibility mapping (Ⅳ is refused) plus the
  printable ASCII characters, less the ones RFC 7622 3.3.1 forbids in a localpart (`"&'/:<>@`). Spaces,
  symbols, punctuation beyond ASCII and controls are refused.
- domainpart: lowercase ASCII, a final dot dropped; a domain with other characters is converted to its
  A-labels (IDNA, as mail domains are stored); an IP literal (`[::1]`, `127.0.0.1`) is kept. Labels of
  at most 63 octets.
- resourcepart: the OpaqueString profile: non-ASCII spaces mapped to ASCII space, NFC; controls refused.
Each part is 1 to 1023 octets (of UTF-8) once prepared.
"""

from __future__ import annotations

import functools
import ipaddress
import unicodedata
from dataclasses import dataclass

MAX_PART = 1023
_LOCAL_FORBIDDEN = frozenset("\"&'/:<>@")


class JidError(ValueError):
    """Not a JID (RFC 6120's `jid-malformed`)."""


def _octets(part: str, what: str) -> str:
    if not part:
        raise JidError(f"an empty {what}")
    if len(part.encode()) > MAX_PART:
        raise JidError(f"a {what} longer than {MAX_PART} octets")
    return part


def _width_mapped(text: str) -> str:
    """Fullwidth and halfwidth forms to their ordinary ones (PRECIS's width mapping rule)."""
    return "".join(unicodedata.normalize("NFKC", c) if unicodedata.east_asian_width(c) in ("F", "H") else c
                   for c in text)


def prepare_local(local: str) -> str:
    prepared = unicodedata.normalize("NFC", _width_mapped(local).lower())
    for c in prepared:
        if c in _LOCAL_FORBIDDEN:
            raise JidError(f"a localpart may not hold {c!r}")
        if c.isascii():
            if not 0x21 <= ord(c) <= 0x7E:
                raise JidError("a localpart may not hold spaces or control characters")
        elif (unicodedata.category(c)[0] not in "LN" and unicodedata.category(c) != "Mn") or \
                unicodedata.normalize("NFKC", c) != c:  # IdentifierClass: no compatibility characters
            raise JidError(f"a localpart may not hold {c!r} ({unicodedata.name(c, 'unnamed')})")
    return _octets(prepared, "localpart")


def prepare_domain(domain: str) -> str:
    if domain.endswith(".") and not domain.endswith(".."):
        domain = domain[:-1]
    _octets(domain, "domainpart")
    if domain.startswith("[") and domain.endswith("]"):
        try:
            return "[" + str(ipaddress.IPv6Address(domain[1:-1])) + "]"
        except ValueError:
            raise JidError("not an IPv6 address between the brackets") from None
    lowered = unicodedata.normalize("NFC", _width_mapped(domain).lower())
    if not lowered.isascii():
        try:
            lowered = lowered.encode("idna").decode("ascii")
        except UnicodeError:
            raise JidError("a domainpart that is not a domain name") from None
    labels = lowered.split(".")
    for label in labels:
        if not label or len(label) > 63:
            raise JidError("a domainpart whose labels are not 1 to 63 octets")
        if not all(c.isalnum() or c == "-" for c in label):
            raise JidError(f"a domainpart may not hold {next(c for c in label if not (c.isalnum() or c == '-'))!r}")
    return _octets(lowered, "domainpart")


def prepare_resource(resource: str) -> str:
    mapped = "".join(" " if c != " " and unicodedata.category(c) == "Zs" else c for c in resource)
    prepared = unicodedata.normalize("NFC", mapped)
    for c in prepared:
        if unicodedata.category(c) == "Cc":
            raise JidError("a resourcepart may not hold control characters")
    return _octets(prepared, "resourcepart")


@dataclass(frozen=True, slots=True)
class Jid:
    """A prepared JID; `local` and `resource` are "" where absent."""

    local: str
    domain: str
    resource: str = ""

    @classmethod
    def parse(cls, text: str) -> Jid:
        """The JID `text` names, prepared; JidError if it names none."""
        return _parse(text) if len(text) <= CACHED_LENGTH else cls._prepare(text)

    @classmethod
    def _prepare(cls, text: str) -> Jid:
        if len(text.encode()) > 3 * MAX_PART + 2:
            raise JidError("a JID longer than 3071 octets")
        rest, slash, resource = text.partition("/")
        local, at, domain = rest.partition("@")
        if not at:
            local, domain = "", rest
        return cls(prepare_local(local) if at else "", prepare_domain(domain),
                   prepare_resource(resource) if slash else "")

    @property
    def bare(self) -> Jid:
        return self if not self.resource else Jid(self.local, self.domain)

    @property
    def is_bare(self) -> bool:
        return not self.resource

    def with_resource(self, resource: str) -> Jid:
        return Jid(self.local, self.domain, prepare_resource(resource))

    def __str__(self) -> str:
        text = f"{self.local}@{self.domain}" if self.local else self.domain
        return f"{text}/{self.resource}" if self.resource else text


# Every stanza names JIDs, mostly the same few (its sender's, its addressee's) over and over: preparing
# them is most of what parsing costs, so the prepared ones are kept (a bounded cache, of short texts only:
# at most 8192 x 200 characters; errors are not kept).
CACHED_LENGTH = 200
_parse = functools.lru_cache(maxsize=8192)(Jid._prepare)
