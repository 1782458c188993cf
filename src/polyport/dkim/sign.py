"""Signing (RFC 6376 with relaxed/relaxed canonicalization; RFC 8463 for Ed25519). Pure: bytes in, a
DKIM-Signature field out. The headers signed are those a reply or a list would not change, From twice
(the second an empty instance, so nobody can add another From unnoticed)."""

from __future__ import annotations

import base64
import hashlib
import re
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from polyport.dkim.keys import DkimKey

SIGNED = ("from", "reply-to", "subject", "date", "to", "cc", "message-id", "in-reply-to", "references",
          "mime-version", "content-type", "content-transfer-encoding", "list-id", "list-unsubscribe",
          "sender", "resent-from", "resent-date")
_WSP = re.compile(rb"[ \t]+")
_FIELD = re.compile(rb"^([!-9;-~]+)[ \t]*:")


def split(message: bytes) -> tuple[list[bytes], bytes]:
    """(header fields, each with its folded lines and CRLF; the body after the empty line)."""
    end = message.find(b"\r\n\r\n")
    head, body = (message, b"") if end < 0 else (message[:end + 2], message[end + 4:])
    fields: list[bytes] = []
    for line in head.split(b"\r\n")[:-1] if head.endswith(b"\r\n") else head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += line + b"\r\n"
        else:
            fields.append(line + b"\r\n")
    return fields, body


def relaxed_header(field: bytes) -> bytes:
    name, _, value = field.partition(b":")
    value = value.replace(b"\r\n", b"")
    value = _WSP.sub(b" ", value).strip(b" ")
    return name.strip().lower() + b":" + value + b"\r\n"


def relaxed_body(body: bytes) -> bytes:
    lines = body.split(b"\r\n")
    out = [_WSP.sub(b" ", line).rstrip(b" ") for line in lines]
    while out and out[-1] == b"":
        out.pop()
    return b"\r\n".join(out) + b"\r\n" if out else b""


def sign(message: bytes, domain: str, keys: list[DkimKey], *, now: float | None = None) -> bytes:
    """DKIM-Signature fields (one per key, Ed25519 first) to put in front of `message`."""
    fields, body = split(message)
    body_hash = base64.b64encode(hashlib.sha256(relaxed_body(body)).digest()).decode()
    by_name: dict[bytes, list[bytes]] = {}
    for field in fields:
        match = _FIELD.match(field)
        if match:
            by_name.setdefault(match.group(1).lower(), []).append(field)
    names = [n for n in SIGNED if n.encode() in by_name]
    chosen: list[bytes] = []
    signed_names: list[str] = []
    for name in names:
        instances = by_name[name.encode()]
        for field in reversed(instances):  # RFC 6376 5.4.2: from the bottom up
            chosen.append(field)
            signed_names.append(name)
    signed_names.append("from")  # over-signed: no further From may be added
    timestamp = int(time.time() if now is None else now)
    out = []
    for key in sorted(keys, key=lambda k: k.algorithm != "ed25519-sha256"):
        # The field is folded first (only where folding whitespace is allowed: between tags, and after
        # the colons of h=) and signed as folded, so what a verifier canonicalizes is what was signed.
        names = [f"{n}:" for n in signed_names[:-1]] + [f"{signed_names[-1]};"]
        names[0] = "h=" + names[0]
        words = f"v=1; a={key.algorithm}; c=relaxed/relaxed; d={domain}; s={key.selector}; t={timestamp};".split(" ")
        header = _fold("DKIM-Signature: ", [*words, *names, f"bh={body_hash};", "b="])
        data = b"".join(relaxed_header(f) for f in chosen) + relaxed_header(header.encode())[:-2]
        private = key.private_key()
        if isinstance(private, ed25519.Ed25519PrivateKey):
            signature = private.sign(hashlib.sha256(data).digest())
        else:
            assert isinstance(private, rsa.RSAPrivateKey)
            signature = private.sign(data, padding.PKCS1v15(), hashes.SHA256())
        encoded = base64.b64encode(signature).decode()
        # b='s value may hold folding whitespace anywhere (RFC 6376 3.5); verifiers drop it with the value.
        out.append((header + "\r\n\t" + "\r\n\t".join(encoded[i:i + 76] for i in range(0, len(encoded), 76))
                    + "\r\n").encode())
    return b"".join(out)


def _fold(start: str, words: list[str]) -> str:
    """`start` and the words joined into lines of at most 78 characters. A word ending in ":" (inside h=)
    is followed by a line break or nothing, never a space, so h= reads the same folded or not; other words
    by a space."""
    lines: list[str] = []
    current = start
    for word in words:
        joiner = "" if current.endswith((":", " ")) else " "
        if current.strip() and len(current) + len(joiner) + len(word) > 78:
            lines.append(current)
            current = "\t" + word
        else:
            current = f"{current}{joiner}{word}"
    lines.append(current)
    return "\r\n".join(lines)
