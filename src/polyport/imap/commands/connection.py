"""CAPABILITY, NOOP, LOGOUT, STARTTLS, LOGIN, AUTHENTICATE (SASL-IR), ENABLE, ID, NAMESPACE, IDLE, COMPRESS."""

from __future__ import annotations

from polyport import __version__
from polyport.imap import responses, wire
from polyport.imap.codes import ImapRefusal
from polyport.imap.session import ANY_STATE, AUTHENTICATED, ImapSession, State, handles
from polyport.net.connection import LineTooLong

# What ENABLE turns on (RFC 5161): CONDSTORE, QRESYNC (which implies CONDSTORE), UTF8=ACCEPT, IMAP4rev2.
ENABLABLE = ("CONDSTORE", "QRESYNC", "UTF8=ACCEPT", "IMAP4REV2")


@handles(wire.Capability, ANY_STATE)
async def capability(s: ImapSession, c: wire.Capability) -> None:
    s.send(b"* CAPABILITY " + " ".join(s.capabilities()).encode() + b"\r\n")
    await s.finish(c, "CAPABILITY completed")


@handles(wire.Noop, ANY_STATE)
async def noop(s: ImapSession, c: wire.Noop) -> None:
    await s.updates(c, force=True)
    s.ok(c.tag, "NOOP completed")


@handles(wire.Logout, ANY_STATE)
async def logout(s: ImapSession, c: wire.Logout) -> None:
    s.send(b"* BYE Polyport IMAP logging out\r\n")
    s.ok(c.tag, "LOGOUT completed")
    s.state = State.LOGOUT
    s.finished = True


@handles(wire.StartTls, frozenset({State.NOT_AUTHENTICATED}))
async def starttls(s: ImapSession, c: wire.StartTls) -> None:
    if s.conn.tls:
        raise ImapRefusal("BAD", "TLS is already on")
    s.ok(c.tag, "Begin TLS negotiation now")
    await s.conn.drain()
    dropped = await s.conn.start_tls(s.runtime.tls.context)
    if dropped:
        s.log.info("imap.starttls_dropped", bytes=dropped)


async def _logged_in(s: ImapSession, c: wire.Command, identity: object) -> None:
    from polyport.auth.login import Identity

    assert isinstance(identity, Identity)
    s.identity = identity
    s.state = State.AUTHENTICATED
    await s.mailstore.ensure_defaults(identity.account_id)
    s.ok(c.tag, "Logged in", "CAPABILITY " + " ".join(s.capabilities()))


@handles(wire.Login, frozenset({State.NOT_AUTHENTICATED}))
async def login(s: ImapSession, c: wire.Login) -> None:
    identity = await s.runtime.auth.login_plain(s.login_context(), c.username, c.password, mechanism="LOGIN")
    await _logged_in(s, c, identity)


@handles(wire.Authenticate, frozenset({State.NOT_AUTHENTICATED}))
async def authenticate(s: ImapSession, c: wire.Authenticate) -> None:
    """RFC 9051 6.2.2 with SASL-IR (RFC 4959): challenges as "+ base64", "*" cancels."""
    await _logged_in(s, c, await s.sasl_login(c.mechanism, c.initial_response))


@handles(wire.Enable, AUTHENTICATED)
async def enable(s: ImapSession, c: wire.Enable) -> None:
    newly = [name for name in c.capabilities if name in ENABLABLE and name not in s.enabled]
    if "CONDSTORE" in newly or "QRESYNC" in newly:
        s.condstore_used()  # QRESYNC implies CONDSTORE (RFC 7162 3.2.3)
    s.enabled.update(newly)
    if "UTF8=ACCEPT" in newly:
        s.utf8 = True
    if newly:
        s.send(b"* ENABLED " + " ".join("IMAP4rev2" if n == "IMAP4REV2" else n for n in newly).encode() + b"\r\n")
    await s.finish(c, "ENABLE completed")


@handles(wire.Id, ANY_STATE)
async def id_command(s: ImapSession, c: wire.Id) -> None:
    s.send(b'* ID ("name" "Polyport" "version" ' + responses.quoted_or_literal(__version__) + b")\r\n")
    await s.finish(c, "ID completed")


@handles(wire.Namespace, AUTHENTICATED)
async def namespace(s: ImapSession, c: wire.Namespace) -> None:
    # RFC 2342: other users' mailboxes are "~owner/name" (CommuniGate's foreign mailboxes, RFC 4314 ACLs).
    s.send(b'* NAMESPACE (("" "/")) (("~" "/")) NIL\r\n')
    await s.finish(c, "NAMESPACE completed")


@handles(wire.Idle, AUTHENTICATED)
async def idle(s: ImapSession, c: wire.Idle) -> None:
    """RFC 2177: "+ idling", changes as they happen, until DONE."""
    s.send(b"+ idling\r\n")
    await s.updates(None, force=True)
    await s.conn.drain()
    try:
        line = await s.wait_for_done_or_change()
    except LineTooLong:
        raise ImapRefusal("BAD", "expected DONE, got a line longer than the limit") from None
    if line.rstrip(b"\r\n").upper() != b"DONE":
        raise ImapRefusal("BAD", "expected DONE")
    await s.finish(c, "IDLE terminated")


@handles(wire.Compress, AUTHENTICATED)
async def compress(s: ImapSession, c: wire.Compress) -> None:
    """RFC 4978: the tagged OK goes out uncompressed; everything after it, both ways, is raw DEFLATE."""
    if s.conn.compressed:
        raise ImapRefusal("NO", "compression is already on", "COMPRESSIONACTIVE")
    await s.updates(c)
    s.ok(c.tag, "DEFLATE active")
    await s.conn.drain()
    dropped = s.conn.start_deflate()
    if dropped:
        s.log.info("imap.compress_dropped", bytes=dropped)
