"""Entity capabilities (XEP-0115): what a client's presence says it supports, as the hash of its service
discovery answer. The server learns a hash once (it asks one client that announced it, checks that the
answer hashes to it and is well-formed as 5.4 says, and keeps what it needs of it, the nodes its `+notify`
features name, in the key-value store the workers share); personal eventing (XEP-0163) reads them to know
which nodes each client wants notifications of. An account teaches the server at most LEARN_LIMIT hashes
an hour: a client cannot fill the store with hashes of its own making."""

from __future__ import annotations

import base64
import hashlib
from xml.etree import ElementTree as ET

from polyport.store.memory import KeyValueStore

NS = "http://jabber.org/protocol/caps"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DATA_NS = "jabber:x:data"
HASHES = {"sha-1": "sha1", "sha-256": "sha256"}
KEPT_SECONDS = 7 * 86_400.0
MAX_KNOWN = 10_000
MAX_NODES = 200  # `+notify` nodes of one hash kept at most
MAX_NODE = 255  # characters of a node name kept
LEARN_LIMIT = 20  # hashes one account teaches the server in LEARN_WINDOW at most
LEARN_WINDOW = 3600.0


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
    """The hash a disco#info answer has, and its features; None where it is not one, or is not what 5.4
    accepts: an identity or feature twice, two forms of one FORM_TYPE, a FORM_TYPE that is not hidden, or a
    '<' anywhere (it would let two features hash as one: a client could claim another's hash)."""
    info = "{" + DISCO_INFO_NS + "}"
    identities = [(i.get("category", ""), i.get("type", ""),
                   i.get("{http://www.w3.org/XML/1998/namespace}lang", ""), i.get("name", ""))
                  for i in query.findall(info + "identity")]
    features = [f.get("var", "") for f in query.findall(info + "feature")]
    if len(set(identities)) != len(identities) or len(set(features)) != len(features):
        return None
    texts = [*features, *(part for identity in identities for part in identity)]
    forms = []
    for form in query.findall("{" + DATA_NS + "}x"):
        form_type = ""
        form_fields = []
        for field in form.findall("{" + DATA_NS + "}field"):
            values = [v.text or "" for v in field.findall("{" + DATA_NS + "}value")]
            if field.get("var") == "FORM_TYPE":
                if field.get("type") not in (None, "hidden"):
                    return None
                form_type = values[0] if values else ""
            else:
                form_fields.append((field.get("var", ""), values))
                texts.extend([field.get("var", ""), *values])
        if form_type:
            forms.append((form_type, form_fields))
            texts.append(form_type)
    if algorithm not in HASHES or any("<" in text for text in texts):
        return None
    if len({form_type for form_type, _ in forms}) != len(forms):
        return None
    return ver(identities, features, forms, algorithm), frozenset(features)


def announced(presence: ET.Element[str]) -> tuple[str, str, str] | None:
    """A presence's capabilities: (node, ver, hash); None without them (or with a hash not supported)."""
    c = presence.find("{" + NS + "}c")
    if c is None or c.get("hash") not in HASHES or not c.get("ver") or len(c.get("ver", "")) > 100:
        return None
    return c.get("node", ""), c.get("ver", ""), c.get("hash", "")


def notify_nodes(features: frozenset[str]) -> frozenset[str]:
    """The nodes a client wants notifications of: its `<node>+notify` features (XEP-0163 4), as many and
    as long as the server keeps."""
    nodes = sorted(feature[:-len("+notify")] for feature in features
                   if feature.endswith("+notify") and len(feature) <= MAX_NODE + len("+notify"))
    return frozenset(nodes[:MAX_NODES])


def query(node: str, caps_ver: str) -> ET.Element[str]:
    return ET.Element("{" + DISCO_INFO_NS + "}query", {"node": f"{node}#{caps_ver}"})


class CapsCache:
    """The `+notify` nodes of each hash: those this worker knows, and those any worker (or node) learned,
    in the key-value store."""

    def __init__(self, kv: KeyValueStore | None) -> None:
        self.kv = kv
        self.known: dict[str, frozenset[str]] = {}

    async def nodes(self, caps_hash: str, caps_ver: str) -> frozenset[str] | None:
        key = f"{caps_hash}:{caps_ver}"
        found = self.known.get(key)
        if found is None and self.kv is not None:
            text = await self.kv.get("xmpp:caps:" + key)
            if text is not None:
                found = self._keep(key, frozenset(filter(None, text.split("\n"))))
        return found

    async def learned(self, caps_hash: str, caps_ver: str, features: frozenset[str], account_id: int) -> bool:
        """Keep what a hash's answer says (its `+notify` nodes); False where the account taught the server
        too many hashes lately (nothing kept)."""
        if self.kv is not None and await self.kv.hit(f"xmpp:caps-learned:{account_id}", LEARN_WINDOW,
                                                     LEARN_LIMIT + 1) > LEARN_LIMIT:
            return False
        key = f"{caps_hash}:{caps_ver}"
        nodes = notify_nodes(features)
        self._keep(key, nodes)
        if self.kv is not None:
            await self.kv.set("xmpp:caps:" + key, "\n".join(sorted(nodes)), ttl=KEPT_SECONDS)
        return True

    def _keep(self, key: str, features: frozenset[str]) -> frozenset[str]:
        if len(self.known) >= MAX_KNOWN:
            self.known.clear()
        self.known[key] = features
        return features

