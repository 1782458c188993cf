"""Entity capabilities (XEP-0115): what a client's presence says it supports, as the hash of its service
discovery answer. The server learns a hash's features once (it asks one client that announced it, checks
that the answer hashes to it, and keeps it in the key-value store the workers share); personal eventing
(XEP-0163) reads its `+notify` features to know which nodes each client wants notifications of."""

from __future__ import annotations

import base64
import hashlib
from xml.etree import ElementTree as ET

from polyport.store.memory import KeyValueStore

NS = "http://jabber.org/protocol/caps"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DATA_NS = "jabber:x:data"
HASHES = {"sha-1": "sha1", "sha-256": "sha256"}
KEPT_SECONDS = 30 * 86_400.0
MAX_KNOWN = 10_000
MAX_FEATURES = 1000  # features of one answer kept at most


def verification(identities: list[tuple[str, str, str, str]], features: list[str],
                 forms: list[tuple[str, list[tuple[str, list[str]]]]] = ()) -> str:  # type: ignore[assignment]
    """XEP-0115 5.1's verification string: identities (category/type/lang/name), features, then each
    extended form by FORM_TYPE with its fields by name and their values, sorted, each followed by '<'."""
    text = "".join(f"{'/'.join(identity)}<" for identity in sorted(identities))
    text += "".join(f"{feature}<" for feature in sorted(features))
    for form_type, form_fields in sorted(forms):
        text += f"{form_type}<"
        for name, values in sorted(form_fields):
            text += f"{name}<" + "".join(f"{value}<" for value in sorted(values))
    return text


def ver(identities: list[tuple[str, str, str, str]], features: list[str],
        forms: list[tuple[str, list[tuple[str, list[str]]]]] = (),  # type: ignore[assignment]
        algorithm: str = "sha-1") -> str:
    digest = hashlib.new(HASHES[algorithm], verification(identities, features, forms).encode(),
                         usedforsecurity=False).digest()
    return base64.b64encode(digest).decode()


def answered_ver(query: ET.Element[str], algorithm: str) -> tuple[str, frozenset[str]] | None:
    """The hash a disco#info answer has, and its features; None where it is not one (or names a feature
    or identity twice, which 5.4 says to refuse)."""
    info = "{" + DISCO_INFO_NS + "}"
    identities = [(i.get("category", ""), i.get("type", ""),
                   i.get("{http://www.w3.org/XML/1998/namespace}lang", ""), i.get("name", ""))
                  for i in query.findall(info + "identity")]
    features = [f.get("var", "") for f in query.findall(info + "feature")]
    if len(set(identities)) != len(identities) or len(set(features)) != len(features):
        return None
    forms = []
    for form in query.findall("{" + DATA_NS + "}x"):
        form_type = ""
        form_fields = []
        for field in form.findall("{" + DATA_NS + "}field"):
            values = [v.text or "" for v in field.findall("{" + DATA_NS + "}value")]
            if field.get("var") == "FORM_TYPE":
                form_type = values[0] if values else ""
            else:
                form_fields.append((field.get("var", ""), values))
        if form_type:
            forms.append((form_type, form_fields))
    if algorithm not in HASHES:
        return None
    return ver(identities, features, forms, algorithm), frozenset(features[:MAX_FEATURES])


def announced(presence: ET.Element[str]) -> tuple[str, str, str] | None:
    """A presence's capabilities: (node, ver, hash); None without them (or with a hash not supported)."""
    c = presence.find("{" + NS + "}c")
    if c is None or c.get("hash") not in HASHES or not c.get("ver") or len(c.get("ver", "")) > 100:
        return None
    return c.get("node", ""), c.get("ver", ""), c.get("hash", "")


def notify_nodes(features: frozenset[str]) -> frozenset[str]:
    """The nodes a client wants notifications of: its `<node>+notify` features (XEP-0163 4)."""
    return frozenset(feature[:-len("+notify")] for feature in features if feature.endswith("+notify"))


def query(node: str, caps_ver: str) -> ET.Element[str]:
    return ET.Element("{" + DISCO_INFO_NS + "}query", {"node": f"{node}#{caps_ver}"})


class CapsCache:
    """Features by hash: this worker's, and those any worker (or node) learned, in the key-value store."""

    def __init__(self, kv: KeyValueStore | None) -> None:
        self.kv = kv
        self.known: dict[str, frozenset[str]] = {}

    def local(self, caps_hash: str, caps_ver: str) -> frozenset[str] | None:
        return self.known.get(f"{caps_hash}:{caps_ver}")

    async def features(self, caps_hash: str, caps_ver: str) -> frozenset[str] | None:
        key = f"{caps_hash}:{caps_ver}"
        found = self.known.get(key)
        if found is None and self.kv is not None:
            text = await self.kv.get("xmpp:caps:" + key)
            if text is not None:
                found = self._keep(key, frozenset(filter(None, text.split("\n"))))
        return found

    async def learned(self, caps_hash: str, caps_ver: str, features: frozenset[str]) -> None:
        key = f"{caps_hash}:{caps_ver}"
        self._keep(key, features)
        if self.kv is not None:
            await self.kv.set("xmpp:caps:" + key, "\n".join(sorted(features)), ttl=KEPT_SECONDS)

    def _keep(self, key: str, features: frozenset[str]) -> frozenset[str]:
        if len(self.known) >= MAX_KNOWN:
            self.known.clear()
        self.known[key] = features
        return features

