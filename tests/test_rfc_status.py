"""docs/rfc-status.md names everything the servers advertise: each IMAP capability, SMTP EHLO keyword
and POP3 CAPA tag has a row or a mention in its protocol's section, as README's port table is checked
against the service table (test_readme.py).

The lists come from the sessions themselves, built on stand-ins for the connection and the services and
asked in every state, with and without TLS and a trusted network, so a capability added to a session
fails this test until the page says how far it is supported."""

from __future__ import annotations

import enum
import inspect
import itertools
import re
from pathlib import Path
from typing import Any
from unittest.mock import MagicMock

import pytest

from polyport.auth.login import Authenticator
from polyport.auth.sasl import MECHANISMS
from polyport.imap import session as imap
from polyport.pop3 import session as pop3
from polyport.smtp import session as smtp

DOC = Path(__file__).parents[1] / "docs" / "rfc-status.md"
SECTIONS = {"imap": "## IMAP ", "smtp": "## SMTP", "pop3": "## POP3 "}
MAX_MESSAGE_SIZE = 12_345_678  # values that appear in capabilities (APPENDLIMIT=, SIZE)


def text() -> str:
    return DOC.read_text()


def section(protocol: str) -> str:
    """The protocol's part of the page: its heading up to the next one."""
    page = text()
    start = page.index("\n" + SECTIONS[protocol]) + 1
    end = page.find("\n## ", start)
    return page[start:end if end >= 0 else len(page)]


def general_rows() -> str:
    """The table before the first protocol's section (SASL mechanisms, TLS)."""
    page = text()
    return page[:page.index("\n## ")]


def mentions(where: str, name: str) -> bool:
    """`name` as a word of its own: "ID" is not found in "OBJECTID", nor "SORT" in "SORT=DISPLAY"."""
    return re.search(rf"(?<![\w=+-]){re.escape(name)}(?![\w=+-])", where) is not None


def build(cls: type, **known: Any) -> Any:
    """A session on stand-ins: the arguments it is known to need by name, a MagicMock for any other."""
    arguments = {name: known.get(name, MagicMock()) for name in list(inspect.signature(cls).parameters)}
    return cls(**arguments)


def runtime() -> MagicMock:
    rt = MagicMock()
    rt.auth = build(Authenticator)  # the real choice of mechanisms for a connection
    rt.mailstore.max_message_size = MAX_MESSAGE_SIZE
    rt.config.mail.max_message_size = MAX_MESSAGE_SIZE
    rt.config.mail.max_recipients = 100
    rt.delivery.hostname = "mx.example.com"
    return rt


def connections() -> list[MagicMock]:
    conns = []
    for tls, trusted, compressed in itertools.product((False, True), repeat=3):
        conn = MagicMock()
        conn.id, conn.remote_ip, conn.remote_port = "c1", "192.0.2.1", 40000
        conn.tls, conn.trusted, conn.compressed = tls, trusted, compressed
        conn.tls_version = "TLSv1.3" if tls else None
        conns.append(conn)
    return conns


def service(name: str) -> MagicMock:
    svc = MagicMock()
    svc.name = name
    return svc


def every_state(module: Any) -> list[Any]:
    states = getattr(module, "State", None)
    return list(states) if isinstance(states, type) and issubclass(states, enum.Enum) else [None]


def advertised(protocol: str) -> set[str]:
    found: set[str] = set()
    for conn in connections():
        if protocol == "imap":
            for state in every_state(imap):
                session = build(imap.ImapSession, conn=conn, runtime=runtime(), service=service("imap"))
                session.state = state
                found.update(session.capabilities())
        elif protocol == "pop3":
            for state in every_state(pop3):
                session = build(pop3.Pop3Session, conn=conn, runtime=runtime(), service=service("pop3"))
                session.state = state
                found.update(session.capabilities())
        else:
            for mode in smtp.Mode:
                session = build(smtp.SmtpSession, conn=conn, runtime=runtime(), service=service("smtp"), mode=mode)
                found.update(session.extensions())
    return found


def names(protocol: str, capability: str) -> list[str]:
    """What the page must mention for one advertised capability: its name without the values that vary
    (APPENDLIMIT=<size>, SIZE <size>, IMPLEMENTATION <version>), and each SASL mechanism that SMTP's AUTH
    and POP3's SASL list (IMAP advertises each as its own AUTH=<mechanism>)."""
    if protocol == "imap":
        name, equals, value = capability.partition("=")
        if equals and not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]*", value):  # a number, not a name
            return [name]
        return [capability]
    keyword, *parameters = capability.split()
    if keyword in ("AUTH", "SASL"):  # RFC 4954 3, RFC 2449 6.3: the mechanisms follow
        return [keyword, *parameters]
    return [keyword]


@pytest.mark.parametrize("protocol", ["imap", "smtp", "pop3"])
def test_every_advertised_capability_is_in_its_section(protocol: str) -> None:
    capabilities = advertised(protocol)
    assert capabilities, "the session advertised nothing: the stand-ins no longer fit it"
    where = section(protocol)
    missing = sorted({name for capability in capabilities for name in names(protocol, capability)
                      if not mentions(where, name)})
    assert not missing, f"docs/rfc-status.md's {protocol.upper()} section does not mention {missing}"


def test_the_lists_are_the_sessions() -> None:
    """The stand-ins reach the interesting states: AUTH only where it is allowed, STARTTLS before TLS."""
    imap_caps = advertised("imap")
    assert {"STARTTLS", "LOGINDISABLED", "AUTH=PLAIN", "AUTH=SCRAM-SHA-256", "COMPRESS=DEFLATE", "IDLE"} <= imap_caps
    assert f"APPENDLIMIT={MAX_MESSAGE_SIZE}" in imap_caps
    smtp_caps = advertised("smtp")
    assert {"STARTTLS", "REQUIRETLS", f"SIZE {MAX_MESSAGE_SIZE}"} <= smtp_caps
    assert any(c.startswith("AUTH ") and "PLAIN" in c.split() for c in smtp_caps)
    pop3_caps = advertised("pop3")
    assert {"STLS", "USER", "TOP", "UIDL"} <= pop3_caps
    assert any(c.startswith("SASL ") for c in pop3_caps)


def test_every_sasl_mechanism_has_a_row() -> None:
    rows = [line for line in general_rows().splitlines() if line.startswith("|")]
    for mechanism in MECHANISMS:
        assert any(mentions(row, mechanism) for row in rows), f"docs/rfc-status.md has no row for SASL {mechanism}"
