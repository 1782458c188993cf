"""Our DKIM signer against dkimpy's verifier, on the messages that trip signers up."""

from __future__ import annotations

import pytest

import dkim
from polyport.dkim.keys import generate
from polyport.dkim.sign import SIGNED, sign

KEYS = generate()
RECORDS = {f"{k.selector}._domainkey.example.com.".encode(): k.txt_record().encode() for k in KEYS}


def verified(message: bytes) -> list[bool]:
    signed = sign(message, "example.com", KEYS) + message
    return [dkim.DKIM(signed).verify(idx=i, dnsfunc=lambda name, timeout=5: RECORDS.get(name, b""))
            for i in range(len(KEYS))]


@pytest.mark.parametrize("count", range(1, len(SIGNED) + 1))
def test_any_number_of_signed_fields(count: int) -> None:
    head = "".join(f"{name}: value {i}\r\n" for i, name in enumerate(SIGNED[:count]))
    assert verified(head.encode() + b"\r\nbody\r\n") == [True, True]


@pytest.mark.parametrize("message", [
    b"From: a@example.com\r\nSubject: folded\r\n\tacross  lines \r\n\r\nbody\r\n",
    b"From: a@example.com\r\n\r\n",  # no body
    b"From: a@example.com\r\nTo: x@y\r\nTo: z@y\r\n\r\nbody  with   spaces \t\r\n\r\n\r\n",
    b"From: a@example.com\r\nSubject: " + b"long " * 400 + b"\r\n\r\n" + b"x" * 3000 + b"\r\n",
])
def test_awkward_messages(message: bytes) -> None:
    assert verified(message) == [True, True]
