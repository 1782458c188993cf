"""Publish-subscribe on the wire (XEP-0060), as personal eventing (XEP-0163) uses it, without I/O: a pubsub
request read into what it asks, a node's configuration and the forms that set it (publish-options,
XEP-0060 7.1.5; the owner's configure form, 8.2), and the event notifications subscribers get.

The subset is what the XMPP Compliance Suites ask of PEP and what clients use it for (OMEMO's device lists
and bundles, XEP-0384; avatars, XEP-0084; bookmarks, XEP-0402; nicknames, XEP-0172): publish with options
(creating the node on first publish, XEP-0163 "auto-create"), retrieve items (all, the last N, by id),
retract, purge, delete, create with options, and configure. Access models `presence` (the default: those
subscribed to the owner's presence), `open` and `whitelist` (the owner alone); subscriptions are implicit,
from the subscribers' entity capabilities (`+notify`), as XEP-0163 4 says.
"""

from __future__ import annotations

import secrets
from dataclasses import asdict, dataclass, fields, replace
from typing import Any
from xml.etree import ElementTree as ET

from polyport.im.pep import MAX_ITEMS
from polyport.xmpp import wire

NS = "http://jabber.org/protocol/pubsub"
OWNER_NS = NS + "#owner"
EVENT_NS = NS + "#event"
ERRORS_NS = NS + "#errors"
DATA_NS = "jabber:x:data"
PUBLISH_OPTIONS = NS + "#publish-options"
NODE_CONFIG = NS + "#node_config"
P = "{" + NS + "}"
O = "{" + OWNER_NS + "}"  # noqa: E741 (the owner namespace, as XEP-0060 writes it)
E = "{" + EVENT_NS + "}"
D = "{" + DATA_NS + "}"
C = "{" + wire.CLIENT_NS + "}"
ACCESS_MODELS = ("presence", "open", "whitelist")
MAX_NODE = 255  # characters of a node name (the store's index holds them whole)
MAX_ITEM_ID = 255
# What the account's disco#info says its PEP service does (XEP-0060 10's features, as pubsub#<name>).
FEATURES = tuple(NS + "#" + name for name in (
    "access-presence", "access-open", "access-whitelist", "auto-create", "auto-subscribe", "config-node",
    "create-and-configure", "create-nodes", "delete-items", "delete-nodes", "filtered-notifications",
    "item-ids", "last-published", "multi-items", "persistent-items", "presence-notifications",
    "presence-subscribe", "publish", "publish-options", "purge-nodes", "retract-items", "retrieve-items"))


class PubsubError(Exception):
    """A request refused: the stanza error, and XEP-0060's own condition where it has one."""

    def __init__(self, condition: str, text: str | None = None, pubsub: str | None = None) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text
        self.application = "{" + ERRORS_NS + "}" + pubsub if pubsub else None


@dataclass(frozen=True, slots=True)
class NodeConfig:
    access_model: str = "presence"
    max_items: int = 1
    persist_items: bool = True
    send_last_published_item: str = "on_sub_and_presence"
    notify_retract: bool = True
    deliver_payloads: bool = True
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


# -- requests --

@dataclass(frozen=True, slots=True)
class Publish:
    node: str
    item_id: str
    payload: ET.Element[str]
    options: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Items:
    node: str
    max_items: int | None
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Retract:
    node: str
    ids: tuple[str, ...]
    notify: bool


@dataclass(frozen=True, slots=True)
class Create:
    node: str
    options: dict[str, list[str]]


@dataclass(frozen=True, slots=True)
class Delete:
    node: str


@dataclass(frozen=True, slots=True)
class Purge:
    node: str


@dataclass(frozen=True, slots=True)
class Configure:
    node: str
    form: dict[str, list[str]] | None  # None: asks for the form


Request = Publish | Items | Retract | Create | Delete | Purge | Configure


def _node(element: ET.Element[str], required: bool = True) -> str:
    node = element.get("node", "")
    if required and not node:
        raise PubsubError("bad-request", "name the node", "nodeid-required")
    if len(node) > MAX_NODE:
        raise PubsubError("not-acceptable", "the node's name is too long")
    return node


def _form(parent: ET.Element[str] | None, form_type: str) -> dict[str, list[str]]:
    """A submitted data form's fields (XEP-0004), FORM_TYPE checked."""
    form = parent.find(D + "x") if parent is not None else None
    if form is None:
        return {}
    values: dict[str, list[str]] = {}
    for item in form.findall(D + "field"):
        values[item.get("var", "")] = [value.text or "" for value in item.findall(D + "value")]
    kind = values.pop("FORM_TYPE", [form_type])
    if kind and kind[0] != form_type:
        raise PubsubError("bad-request", f"the form is {form_type}")
    return values


def parse(iq: ET.Element[str]) -> Request:
    """What a pubsub iq asks (PubsubError where it is malformed or asks for what is not supported)."""
    kind = iq.get("type")
    payload = iq[0]
    if payload.tag == P + "pubsub":
        verbs = list(payload)
        if not verbs:
            raise PubsubError("bad-request", "a pubsub request names what it does")
        verb = verbs[0]
        name = verb.tag
        if kind == "get" and name == P + "items":
            ids = tuple(item.get("id", "") for item in verb.findall(P + "item") if item.get("id"))
            maximum = verb.get("max_items")
            if maximum is not None and not (maximum.isascii() and maximum.isdigit()):
                raise PubsubError("bad-request", "max_items is a count")
            return Items(_node(verb), int(maximum.lstrip("0")[:6] or "0") if maximum else None, ids)
        if kind == "set" and name == P + "publish":
            items = verb.findall(P + "item")
            if len(items) != 1:
                raise PubsubError("bad-request", "publish one item", "invalid-payload")
            if len(items[0]) != 1:
                raise PubsubError("bad-request", "an item carries one payload", "invalid-payload")
            item_id = items[0].get("id") or secrets.token_hex(8)
            if len(item_id) > MAX_ITEM_ID:
                raise PubsubError("not-acceptable", "the item id is too long")
            options = _form(payload.find(P + "publish-options"), PUBLISH_OPTIONS)
            return Publish(_node(verb), item_id, items[0][0], options)
        if kind == "set" and name == P + "retract":
            ids = tuple(item.get("id", "") for item in verb.findall(P + "item"))
            if not ids or not all(ids):
                raise PubsubError("bad-request", "name the items to retract", "item-required")
            return Retract(_node(verb), ids, verb.get("notify") in ("1", "true"))
        if kind == "set" and name == P + "create":
            return Create(_node(verb), _form(payload.find(P + "configure"), NODE_CONFIG))
        raise PubsubError("feature-not-implemented", f"{name.rpartition('}')[2]} is not supported here",
                          "unsupported")
    if payload.tag == O + "pubsub":
        verbs = list(payload)
        if not verbs:
            raise PubsubError("bad-request", "a pubsub request names what it does")
        verb = verbs[0]
        if kind == "set" and verb.tag == O + "delete":
            return Delete(_node(verb))
        if kind == "set" and verb.tag == O + "purge":
            return Purge(_node(verb))
        if verb.tag == O + "configure":
            return Configure(_node(verb), _form(verb, NODE_CONFIG) if kind == "set" else None)
        raise PubsubError("feature-not-implemented", "not supported here", "unsupported")
    raise PubsubError("bad-request", "not a pubsub request")


# -- configuration --

def configured(config: NodeConfig, form: dict[str, list[str]], *, precondition: bool = False,
               options: bool = False) -> NodeConfig:
    """The configuration a form asks for. With `precondition` (publish-options on an existing node, XEP-0060
    7.1.5), a field the node has otherwise is `precondition-not-met`; otherwise (create, configure, the
    options a new node is made with) the field is set. Publish-options (`options`) that cannot be met are
    `precondition-not-met` too, which clients answer by configuring the node and trying again."""
    try:
        return _configured(config, form, precondition=precondition)
    except PubsubError as err:
        if options and err.application != "{" + ERRORS_NS + "}precondition-not-met":
            raise PubsubError("conflict", err.text, "precondition-not-met") from None
        raise


def _configured(config: NodeConfig, form: dict[str, list[str]], *, precondition: bool) -> NodeConfig:
    changes: dict[str, Any] = {}
    for name, values in form.items():
        value = values[0] if values else ""
        short = name.removeprefix("pubsub#")
        if short == "access_model":
            if value not in ACCESS_MODELS:
                raise PubsubError("not-acceptable", f"the access models are {', '.join(ACCESS_MODELS)}",
                                  "unsupported-access-model" if not precondition else "precondition-not-met")
            changes["access_model"] = value
        elif short == "max_items":
            if value == "max":
                changes["max_items"] = MAX_ITEMS
            elif value.isascii() and value.isdigit() and int(value.lstrip("0")[:6] or "0") >= 1:
                changes["max_items"] = min(int(value.lstrip("0")[:6]), MAX_ITEMS)  # kept to what the server keeps
            else:
                raise PubsubError("not-acceptable", f"max_items is 1 to {MAX_ITEMS} or max")
        elif short in ("persist_items", "notify_retract", "deliver_payloads"):
            if value not in ("0", "1", "true", "false"):
                raise PubsubError("not-acceptable", f"{name} is a boolean")
            changes[short] = value in ("1", "true")
        elif short == "send_last_published_item":
            if value not in ("never", "on_sub", "on_sub_and_presence"):
                raise PubsubError("not-acceptable", "send_last_published_item is never, on_sub or "
                                  "on_sub_and_presence")
            changes[short] = value
        elif short == "title":
            changes["title"] = value[:256]
        # Other fields (notification types, item expiry, ...) are not kept: ignored, as 8.2.4 allows.
    wanted = replace(config, **changes)
    if precondition and wanted != config:
        raise PubsubError("conflict", "the node is configured otherwise", "precondition-not-met")
    return wanted


def config_form(node: str, config: NodeConfig) -> ET.Element[str]:
    """The owner's configure form (XEP-0060 8.2.1)."""
    pubsub = ET.Element(O + "pubsub")
    configure = ET.SubElement(pubsub, O + "configure", {"node": node})
    form = ET.SubElement(configure, D + "x", {"type": "form"})
    for name, kind, value, options in (
            ("FORM_TYPE", "hidden", NODE_CONFIG, ()),
            ("pubsub#title", "text-single", config.title, ()),
            ("pubsub#access_model", "list-single", config.access_model, ACCESS_MODELS),
            ("pubsub#max_items", "text-single", str(config.max_items), ()),
            ("pubsub#persist_items", "boolean", "1" if config.persist_items else "0", ()),
            ("pubsub#send_last_published_item", "list-single", config.send_last_published_item,
             ("never", "on_sub", "on_sub_and_presence")),
            ("pubsub#notify_retract", "boolean", "1" if config.notify_retract else "0", ()),
            ("pubsub#deliver_payloads", "boolean", "1" if config.deliver_payloads else "0", ())):
        field = ET.SubElement(form, D + "field", {"var": name, "type": kind})
        for option in options:
            ET.SubElement(ET.SubElement(field, D + "option"), D + "value").text = option
        ET.SubElement(field, D + "value").text = value
    return pubsub


# -- what goes out --

def items_result(node: str, items: list[tuple[str, str]]) -> ET.Element[str]:
    """An items request's answer: (id, payload XML) pairs."""
    pubsub = ET.Element(P + "pubsub")
    found = ET.SubElement(pubsub, P + "items", {"node": node})
    for item_id, payload in items:
        item = ET.SubElement(found, P + "item", {"id": item_id})
        parsed = wire.parse_stanza(payload)
        if parsed is not None:
            item.append(parsed)
    return pubsub


def published_result(node: str, item_id: str) -> ET.Element[str]:
    pubsub = ET.Element(P + "pubsub")
    ET.SubElement(ET.SubElement(pubsub, P + "publish", {"node": node}), P + "item", {"id": item_id})
    return pubsub


def event(owner: str, node: str, *, items: list[tuple[str, str]] = (),  # type: ignore[assignment]
          retracted: tuple[str, ...] = (), deleted: bool = False, purged: bool = False,
          payloads: bool = True) -> ET.Element[str]:
    """A notification (XEP-0060 7.1.2.1, 7.2.2.1, 8.4.3.1, 8.5.3.1), addressed later to each subscriber."""
    message = ET.Element(C + "message", {"from": owner, "type": "headline"})
    body = ET.SubElement(message, E + "event")
    if deleted:
        ET.SubElement(body, E + "delete", {"node": node})
    elif purged:
        ET.SubElement(body, E + "purge", {"node": node})
    else:
        found = ET.SubElement(body, E + "items", {"node": node})
        for item_id, payload in items:
            item = ET.SubElement(found, E + "item", {"id": item_id})
            parsed = wire.parse_stanza(payload) if payloads else None
            if parsed is not None:
                item.append(parsed)
        for item_id in retracted:
            ET.SubElement(found, E + "retract", {"id": item_id})
    return message
