"""Names of domains and domain objects, and e-mail addresses built from them.

Names are case-insensitive and kept lower-case. Object names (accounts, aliases, forwarders, groups) use
`[a-z0-9_.-]`, at most 128 characters, with no leading, trailing or doubled dot (CommuniGate's rule,
and what every mail system accepts in a local part). Domain names use the same characters in dot-separated
labels; internationalised names are stored in their ASCII (IDNA) form.
"""

from __future__ import annotations

import re

from polyport.directory.errors import InvalidName

MAX_NAME = 128

_OBJECT = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def object_name(text: str, what: str = "name") -> str:
    """The canonical form of an account/alias/forwarder/group name, or InvalidName saying why."""
    name = text.strip().lower()
    if not name:
        raise InvalidName(f"{what} is empty")
    if len(name) > MAX_NAME:
        raise InvalidName(f"{what} {_shown(text)} is longer than {MAX_NAME} characters")
    if not _OBJECT.fullmatch(name):
        raise InvalidName(
            f"{what} {_shown(text)} may use only letters, digits, '_', '-' and '.' "
            f"(not at the start or end, not doubled)")
    return name


def domain_name(text: str) -> str:
    """The canonical form of a domain name: lower-case ASCII, no trailing dot."""
    name = text.strip().rstrip(".").lower()
    if not name:
        raise InvalidName("domain name is empty")
    if not name.isascii():
        try:
            name = name.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidName(f"domain name {_shown(text)} is not a valid international name") from None
    if len(name) > MAX_NAME:
        raise InvalidName(f"domain name {_shown(text)} is longer than {MAX_NAME} characters")
    labels = name.split(".")
    for label in labels:
        if not _LABEL.fullmatch(label) or len(label) > 63:
            raise InvalidName(
                f"domain name {_shown(text)} may use only letters, digits, '_' and '-' in "
                f"dot-separated labels of 1 to 63 characters (no '-' at a label's start or end)")
    return name


# RFC 5322 dot-atom characters for local parts of other systems' addresses (forwarder targets, members).
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
MAX_ADDRESS = 320


def mail_address(text: str, default_domain: str) -> str:
    """An address anywhere (a forwarder's target, a group member): `local@domain`, domain canonical.

    A bare local part is completed with `default_domain`. The local part keeps its case (other systems
    may care); it must be a dot-atom.
    """
    local, at, domain = text.strip().strip("<>").rpartition("@")
    if not at:
        local, domain = domain, default_domain
    if not local or len(local) > 64 or not _LOCAL_PART.fullmatch(local):
        raise InvalidName(f"{_shown(text)} is not a mail address (local@domain)")
    address = f"{local}@{domain_name(domain)}"
    if len(address) > MAX_ADDRESS:
        raise InvalidName(f"{_shown(text)} is longer than {MAX_ADDRESS} characters")
    return address
