"""SASL, server side, for every protocol: PLAIN (RFC 4616), LOGIN, SCRAM-SHA-256 (RFC 7677) and SCRAM-SHA-1
(RFC 5802).

A protocol session creates one `SaslExchange` per AUTHENTICATE/AUTH command and feeds it the client's
responses as raw bytes (the protocol does its own base64 and its own "*" cancel). Each step returns a
`Challenge` to send, or `Success` with the identity and any final server data (SCRAM's `v=`, which the
protocol sends as its last challenge or with its success reply, as its RFC says). Failures raise
`AuthFailure` subclasses; the `Authenticator` has counted them already.

SCRAM keeps no password on the server: the stored keys come from auth.passwords. An unknown user gets
a salt derived from the name, so the exchange looks the same as for a real one until the proof fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import ClassVar

from polyport.auth.login import (
    Authenticator,
    BadCredentials,
    Identity,
    LoginContext,
    Malformed,
    PlaintextRefused,
)
from polyport.auth.passwords import ScramKeys
from polyport.directory import LoginRecord

# Longest client message accepted in one step (a generous bound for names and proofs).
MAX_RESPONSE = 8192


@dataclass(frozen=True, slots=True)
class Challenge:
    data: bytes


@dataclass(frozen=True, slots=True)
class Success:
    identity: Identity
    data: bytes | None = None  # final server data to deliver (SCRAM's server signature)


Step = Challenge | Success


def _text(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise Malformed(f"the {what} is not UTF-8") from None


class Mechanism:
    name: ClassVar[str]
    plaintext: ClassVar[bool]  # carries the password itself: TLS or a trusted network only
    access_modes: ClassVar[frozenset[str] | None] = None  # offered only to these services' access modes

    @classmethod
    def offered(cls, ctx: LoginContext) -> bool:
        return (ctx.plaintext_allowed or not cls.plaintext) and (
            cls.access_modes is None or ctx.access_mode in cls.access_modes)

    def __init__(self, auth: Authenticator, ctx: LoginContext) -> None:
        self.auth = auth
        self.ctx = ctx

    async def start(self, initial: bytes | None) -> Step:
        raise NotImplementedError

    async def step(self, response: bytes) -> Step:
        raise NotImplementedError


class Plain(Mechanism):
    """RFC 4616: authzid NUL authcid NUL password, in one message."""

    name = "PLAIN"
    plaintext = True

    async def start(self, initial: bytes | None) -> Step:
        if initial is None:
            return Challenge(b"")
        return await self.step(initial)

    async def step(self, response: bytes) -> Step:
        parts = response.split(b"\0")
        try:
            if len(parts) != 3:
                raise Malformed("PLAIN wants authzid NUL authcid NUL password")
            authzid, authcid, password = (_text(p, "PLAIN message") for p in parts)
            if not authcid:
                raise Malformed("PLAIN: the login name is empty")
        except Malformed as err:
            raise await self.auth.fail(self.ctx, None, err) from None
        identity = await self.auth.login_plain(self.ctx, authcid, password, authzid=authzid,
                                               mechanism=self.name)
        return Success(identity)


class Login(Mechanism):
    """The LOGIN mechanism (draft-murchison-sasl-login): "Username:", then "Password:"."""

    name = "LOGIN"
    plaintext = True

    def __init__(self, auth: Authenticator, ctx: LoginContext) -> None:
        super().__init__(auth, ctx)
        self._user: str | None = None

    async def start(self, initial: bytes | None) -> Step:
        if initial is None or initial == b"":
            return Challenge(b"Username:")
        self._user = _text(initial, "user name")
        return Challenge(b"Password:")

    async def step(self, response: bytes) -> Step:
        if self._user is None:
            self._user = _text(response, "user name")
            return Challenge(b"Password:")
        identity = await self.auth.login_plain(self.ctx, self._user, _text(response, "password"),
                                               mechanism=self.name)
        return Success(identity)


def _scram_name(text: str) -> str:
    """RFC 5802 saslname: "=2C" is ",", "=3D" is "=", any other "=" is an error."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "=":
            code = text[i + 1:i + 3]
            if code == "2C":
                out.append(",")
            elif code == "3D":
                out.append("=")
            else:
                raise Malformed("SCRAM: bad '=' escape in a name")
            i += 3
        elif ch == ",":
            raise Malformed("SCRAM: unescaped ',' in a name")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _attributes(message: str) -> list[tuple[str, str]]:
    result: list[tuple[str, str]] = []
    for part in message.split(","):
        if len(part) < 2 or part[1] != "=":
            raise Malformed(f"SCRAM: malformed attribute {part[:20]!r}")
        result.append((part[0], part[2:]))
    return result


class ScramSha256(Mechanism):
    name = "SCRAM-SHA-256"
    plaintext = False
    digest = "sha256"

    # Per-process key for the salts of unknown users (stable within the process, so asking twice for
    # the same unknown name gives the same salt, as it would for a real one).
    _fake_key = secrets.token_bytes(32)

    def __init__(self, auth: Authenticator, ctx: LoginContext) -> None:
        super().__init__(auth, ctx)
        self._state = "first"
        self._login = ""
        self._authzid = ""
        self._gs2_header = ""
        self._nonce = ""
        self._first_bare = ""
        self._server_first = ""
        self._record: LoginRecord | None = None
        self._keys: ScramKeys | None = None
        self._key = ""  # what failures count against (the account's address, however it was named)

    async def start(self, initial: bytes | None) -> Step:
        if initial is None or initial == b"":
            return Challenge(b"")
        return await self.step(initial)

    async def step(self, response: bytes) -> Step:
        try:
            if len(response) > MAX_RESPONSE:
                raise Malformed("SCRAM: message too long")
            message = _text(response, "SCRAM message")
            if self._state == "first":
                return await self._client_first(message)
            if self._state == "final":
                return await self._client_final(message)
        except Malformed as err:
            raise await self.auth.fail(self.ctx, self._key or self._login or None, err) from None
        raise Malformed("SCRAM: the exchange is over")

    async def _client_first(self, message: str) -> Step:
        flag, sep, rest = message.partition(",")
        if not sep:
            raise Malformed("SCRAM: no GS2 header")
        if flag.startswith("p="):
            raise Malformed("SCRAM: channel binding is not offered (use SCRAM-SHA-256, not -PLUS)")
        if flag not in ("n", "y"):
            raise Malformed("SCRAM: bad channel-binding flag")
        authzid_part, sep, bare = rest.partition(",")
        if not sep:
            raise Malformed("SCRAM: no client-first message")
        if authzid_part:
            if not authzid_part.startswith("a="):
                raise Malformed("SCRAM: bad authzid")
            self._authzid = _scram_name(authzid_part[2:])
        self._gs2_header = f"{flag},{authzid_part},"
        attrs = _attributes(bare)
        if attrs and attrs[0][0] == "m":
            raise Malformed("SCRAM: mandatory extensions are not supported")
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r" or not attrs[1][1]:
            raise Malformed("SCRAM: the client-first message needs n= and r=")
        self._login = _scram_name(attrs[0][1])
        if not self._login:
            raise Malformed("SCRAM: the user name is empty")
        client_nonce = attrs[1][1]
        if not client_nonce.isprintable() or "," in client_nonce:
            raise Malformed("SCRAM: bad nonce")
        self._first_bare = bare
        self._record, self._keys, self._key = await self.auth.scram_lookup(self.ctx, self._login, self.digest)
        keys = self._keys or self._fake_keys(self._login)
        self._nonce = client_nonce + base64.b64encode(secrets.token_bytes(18)).decode()
        self._server_first = (f"r={self._nonce},s={base64.b64encode(keys.salt).decode()},"
                              f"i={keys.iterations}")
        self._state = "final"
        return Challenge(self._server_first.encode())

    def _fake_keys(self, login: str) -> ScramKeys:
        # Per digest too: an unknown name's two salts differ, as a real account's do.
        salt = hmac.digest(self._fake_key, f"{self.digest}:{login.lower()}".encode(), "sha256")[:16]
        size = hashlib.new(self.digest).digest_size
        return ScramKeys(self.auth.passwords.scram_iterations, salt, secrets.token_bytes(size),
                         secrets.token_bytes(size))

    async def _client_final(self, message: str) -> Step:
        self._state = "done"
        without_proof, sep, proof_b64 = message.rpartition(",p=")
        if not sep:
            raise Malformed("SCRAM: the client-final message has no proof")
        attrs = dict(_attributes(without_proof))
        expected_binding = base64.b64encode(self._gs2_header.encode()).decode()
        if attrs.get("c") != expected_binding:
            raise Malformed("SCRAM: channel binding does not match the GS2 header")
        if attrs.get("r") != self._nonce:
            raise Malformed("SCRAM: the nonce does not match")
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            raise Malformed("SCRAM: the proof is not base64") from None
        auth_message = f"{self._first_bare},{self._server_first},{without_proof}".encode()
        keys, record = self._keys, self._record
        if keys is None or record is None or len(proof) != len(keys.stored_key):
            raise await self.auth.fail(self.ctx, self._key or self._login,
                                       BadCredentials("wrong name or password"))
        signature = hmac.digest(keys.stored_key, auth_message, self.digest)
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.new(self.digest, client_key).digest(), keys.stored_key):
            raise await self.auth.fail(self.ctx, self._key or self._login,
                                       BadCredentials("wrong name or password"))
        await self.auth.check_authzid(self.ctx, self._login, record, self._authzid)
        identity = await self.auth.succeed(self.ctx, record, self._login, self.name)
        server_signature = hmac.digest(keys.server_key, auth_message, self.digest)
        return Success(identity, b"v=" + base64.b64encode(server_signature))


class ScramSha1(ScramSha256):
    """RFC 5802's original: XMPP's mandatory mechanism (RFC 6120 13.8.3), for XMPP clients without SHA-256
    (offered to XMPP only: other protocols' clients that rank it first, cyrus-sasl's say, would meet accounts
    without its keys). An account gets its keys when its password is set, at its first login that shows
    the password, or at once from a recoverable password."""

    name = "SCRAM-SHA-1"
    digest = "sha1"
    access_modes = frozenset({"XMPP"})


MECHANISMS: dict[str, type[Mechanism]] = {
    mech.name: mech for mech in (ScramSha256, ScramSha1, Plain, Login)
}


async def exchange(name: str, auth: Authenticator, ctx: LoginContext) -> Mechanism:
    """A new exchange for mechanism `name` (case-insensitive); Malformed if unknown, PlaintextRefused if
    it would carry a password in the clear where that is not allowed."""
    mech = MECHANISMS.get(name.upper())
    if mech is None or (mech.access_modes is not None and ctx.access_mode not in mech.access_modes):
        offered = ", ".join(known for known, kind in MECHANISMS.items() if kind.offered(ctx))
        raise Malformed(f"unknown SASL mechanism {name[:40]!r} (offered: {offered})")
    if mech.plaintext and not ctx.plaintext_allowed:
        raise await auth.fail(ctx, None, PlaintextRefused(
            f"{mech.name} sends the password in the clear; use STARTTLS first, or SCRAM-SHA-256"))
    return mech(auth, ctx)


async def converse(mechanism: Mechanism, initial: bytes | None,
                   ask: Callable[[bytes, bool], Awaitable[bytes]]) -> Identity:
    """Run an exchange to its end. `ask(challenge, last)` is the protocol's part: send the challenge, read
    and decode the client's answer (its own base64, its own "*" cancel and line limit). `last` marks
    SCRAM's server signature, sent as a final challenge whose answer must be empty (IMAP, POP3)."""
    step = await mechanism.start(initial)
    while isinstance(step, Challenge):
        step = await mechanism.step(await ask(step.data, False))
    if step.data is not None:
        await ask(step.data, True)
    return step.identity
