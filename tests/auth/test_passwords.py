"""Password hashes: argon2id for logins, SCRAM-SHA-256 keys, SASLprep."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from polyport.auth.passwords import (
    PasswordHasher,
    decode_scram,
    encode_scram,
    saslprep,
    scram_keys,
)


async def test_make_and_verify(hasher: PasswordHasher) -> None:
    stored = await hasher.make("pa55 wörd")
    assert stored.password_hash.startswith("$argon2id$")
    assert await hasher.verify(stored.password_hash, "pa55 wörd")
    assert not await hasher.verify(stored.password_hash, "pa55 word")
    assert not await hasher.verify("", "anything")
    assert not await hasher.verify("not a hash", "anything")


def test_default_parameters_meet_owasp() -> None:
    hasher = PasswordHasher()
    try:
        stored = hasher.make_sync("x")
    finally:
        hasher.close()
    assert "m=19456,t=2,p=1" in stored.password_hash


def test_scram_keys_match_rfc_7677_example() -> None:
    """RFC 7677 section 3: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==, 4096."""
    keys = scram_keys("pencil", base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096)
    auth_message = (b"n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
                    b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0")
    server_signature = hmac.digest(keys.server_key, auth_message, "sha256")
    assert base64.b64encode(server_signature) == b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    proof = base64.b64decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
    client_key = bytes(a ^ b for a, b in zip(proof, hmac.digest(keys.stored_key, auth_message, "sha256"),
                                             strict=True))
    assert hashlib.sha256(client_key).digest() == keys.stored_key


def test_scram_encoding_round_trips() -> None:
    keys = scram_keys("secret", b"0123456789abcdef", 5000)
    assert decode_scram(encode_scram(keys)) == keys
    for bad in ("", "SCRAM-SHA-256$", "SCRAM-SHA-256$x:y$z", "PLAIN$1:2$3:4"):
        assert decode_scram(bad) is None


@pytest.mark.parametrize(("text", "prepared"), [
    ("I\u00adX", "IX"),  # soft hyphen mapped to nothing (RFC 4013 section 3 examples)
    ("user", "user"), ("USER", "USER"), ("\u00aa", "a"), ("\u2168", "IX"),
    ("a\u00a0b", "a b"),  # non-ASCII space mapped to space
])
def test_saslprep_examples(text: str, prepared: str) -> None:
    assert saslprep(text) == prepared


@pytest.mark.parametrize("text", ["\u0007", "\u0627\u0031"])
def test_saslprep_prohibits(text: str) -> None:
    with pytest.raises(ValueError):
        saslprep(text)
