"""DKIM (RFC 6376, RFC 8463): per-domain keys and our own signer on `cryptography` (dkimpy signs RSA
in pure Python, about 20 times slower: DESIGN's dependency table). Verification is dkimpy's (mailauth/)."""
