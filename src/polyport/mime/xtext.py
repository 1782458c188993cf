"""xtext (RFC 3461 4): how ENVID and ORCPT travel in SMTP parameters. Pure."""

from __future__ import annotations

import re

_HEX = re.compile(r"\+([0-9A-F]{2})")


class XtextError(ValueError):
    pass


def decode(text: str) -> str:
    if any(ord(c) < 33 or ord(c) > 126 or c == "=" for c in text):
        raise XtextError("bad xtext")
    if "+" in text and len(_HEX.findall(text)) != text.count("+"):
        raise XtextError("bad xtext: + must be followed by two upper-case hex digits")
    return _HEX.sub(lambda m: chr(int(m.group(1), 16)), text)


def encode(text: str) -> str:
    return "".join(c if 33 <= ord(c) <= 126 and c not in "+=" else "".join(f"+{b:02X}" for b in c.encode())
                   for c in text)
