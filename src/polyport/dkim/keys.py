"""DKIM keys: made per domain (an RSA-2048 and an Ed25519 key, both used to sign, as RFC 8463 suggests
while receivers learn Ed25519), kept in the store, and the DNS TXT records that publish them."""

from __future__ import annotations

import base64
import functools
import time
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

RSA = "rsa-sha256"
ED25519 = "ed25519-sha256"


@dataclass(frozen=True, slots=True)
class DkimKey:
    selector: str
    algorithm: str  # RSA or ED25519
    private_pem: str

    def private_key(self) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
        return _load(self.private_pem)

    def txt_record(self) -> str:
        """The TXT record's text for <selector>._domainkey.<domain>."""
        public = self.private_key().public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode()}"
        der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


@functools.lru_cache(maxsize=1024)
def _load(pem: str) -> rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey:
    """Parsing an RSA key costs more than signing with it: each is parsed once."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise TypeError("a DKIM key is neither RSA nor Ed25519")
    return key


def generate(now: float | None = None) -> list[DkimKey]:
    """A new pair of keys, with selectors naming the month they were made in (p202611r, p202611e), so a
    rotation publishes new names beside the old."""
    month = time.strftime("%Y%m", time.gmtime(now))
    pem = serialization.PrivateFormat.PKCS8
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    return [
        DkimKey(f"p{month}r", RSA, rsa_key.private_bytes(serialization.Encoding.PEM, pem,
                                                          serialization.NoEncryption()).decode()),
        DkimKey(f"p{month}e", ED25519, ed_key.private_bytes(serialization.Encoding.PEM, pem,
                                                             serialization.NoEncryption()).decode()),
    ]


def zone_lines(domain: str, keys: list[DkimKey]) -> list[str]:
    """Zone-file lines publishing the keys (long values split into 255-octet strings)."""
    lines = []
    for key in keys:
        text = key.txt_record()
        chunks = " ".join(f'"{text[i:i + 255]}"' for i in range(0, len(text), 255))
        lines.append(f"{key.selector}._domainkey.{domain}. IN TXT ( {chunks} )")
    return lines
