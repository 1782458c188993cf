"""What an XMPP server writes on a stream (pure): the stream header, features, stream and stanza errors,
and stanzas serialized from ElementTree elements. Reading is net/framing/xmlstream.py's.

`serialize` writes an element the way XMPP peers expect it: no namespace prefixes but the stream's own,
each namespace declared as the default one (`xmlns='...'`) on the first element that uses it, and the
stream's content namespace (`jabber:client`, `jabber:server`) left implicit at the top, where the stream
header declared it. ElementTree's own writer would invent `ns0:` prefixes, which several clients refuse.
"""

from __future__ import annotations

import datetime
import time
from xml.etree import ElementTree as ET

from polyport.net.framing import FrameError, FrameTooLarge
from polyport.net.framing.xmlstream import STREAMS_NS, Stanza, XmlStreamFramer
from polyport.xmpp.jid import Jid

CLIENT_NS = "jabber:client"
SERVER_NS = "jabber:server"
STREAM_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-streams"
STANZA_ERRORS_NS = "urn:ietf:params:xml:ns:xmpp-stanzas"
TLS_NS = "urn:ietf:params:xml:ns:xmpp-tls"
SASL_NS = "urn:ietf:params:xml:ns:xmpp-sasl"
BIND_NS = "urn:ietf:params:xml:ns:xmpp-bind"

# RFC 6120 4.9.3: the stream errors.
STREAM_ERRORS = frozenset({
    "bad-format", "bad-namespace-prefix", "conflict", "connection-timeout", "host-gone", "host-unknown",
    "improper-addressing", "internal-server-error", "invalid-from", "invalid-namespace", "invalid-xml",
    "not-authorized", "not-well-formed", "policy-violation", "remote-connection-failed", "reset",
    "resource-constraint", "restricted-xml", "see-other-host", "system-shutdown", "undefined-condition",
    "unsupported-encoding", "unsupported-feature", "unsupported-stanza-type", "unsupported-version",
})

# RFC 6120 8.3.3: the stanza errors, each with the error type the RFC gives it.
STANZA_ERRORS: dict[str, str] = {
    "bad-request": "modify", "conflict": "cancel", "feature-not-implemented": "cancel", "forbidden": "auth",
    "gone": "cancel", "internal-server-error": "cancel", "item-not-found": "cancel", "jid-malformed": "modify",
    "not-acceptable": "modify", "not-allowed": "cancel", "not-authorized": "auth", "policy-violation": "modify",
    "recipient-unavailable": "wait", "redirect": "modify", "registration-required": "auth",
    "remote-server-not-found": "cancel", "remote-server-timeout": "wait", "resource-constraint": "wait",
    "service-unavailable": "cancel", "subscription-required": "auth", "undefined-condition": "cancel",
    "unexpected-request": "wait",
}


def _attribute(value: str) -> str:
    return (value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("'", "&apos;")
            .replace('"', "&quot;").replace("\r", "&#13;").replace("\n", "&#10;").replace("\t", "&#9;"))


def _text(value: str) -> str:
    # ">" too: "]]>" may not appear in text; "\r" kept as a reference, or the reader would see "\n"
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")


escape_attribute = _attribute
escape_text = _text


def _split(name: str) -> tuple[str, str]:
    if name.startswith("{"):
        namespace, _, local = name[1:].partition("}")
        return namespace, local
    return "", name


def serialize(element: ET.Element[str], default_ns: str = CLIENT_NS) -> bytes:
    """The element as UTF-8 XML inside a stream whose default namespace is `default_ns`."""
    out: list[str] = []
    _write(element, default_ns, out)
    return "".join(out).encode()


def _write(element: ET.Element[str], inherited: str, out: list[str]) -> None:
    namespace, local = _split(element.tag)
    if namespace == STREAMS_NS:
        tag, declared = f"stream:{local}", inherited  # the header declared the prefix
    else:
        tag, declared = local, namespace
    out.append("<" + tag)
    if declared != inherited:
        out.append(f" xmlns='{_attribute(declared)}'")
    prefixes: dict[str, str] = {}
    for name, value in element.attrib.items():
        attribute_ns, attribute = _split(name)
        if attribute_ns == "http://www.w3.org/XML/1998/namespace":
            attribute = "xml:" + attribute
        elif attribute_ns:  # a prefix of its own, declared on this element (attributes have no default)
            prefix = prefixes.get(attribute_ns)
            if prefix is None:
                prefix = prefixes[attribute_ns] = f"a{len(prefixes)}"
                out.append(f" xmlns:{prefix}='{_attribute(attribute_ns)}'")
            attribute = f"{prefix}:{attribute}"
        out.append(f" {attribute}='{_attribute(value)}'")
    children = list(element)
    if not children and not element.text:
        out.append("/>")
    else:
        out.append(">")
        if element.text:
            out.append(_text(element.text))
        for child in children:
            _write(child, declared, out)
            if child.tail:
                out.append(_text(child.tail))
        out.append(f"</{tag}>")


def stream_header(*, domain: str, stream_id: str, to: str | None = None, content_ns: str = CLIENT_NS,
                  lang: str = "en") -> bytes:
    """The server's answer to a stream header (RFC 6120 4.7): its own header, version 1.0. A server's stream
    (`jabber:server`) declares dialback's prefix too (XEP-0220 2.1); one a server opens has no id."""
    to_attribute = f" to='{_attribute(to)}'" if to else ""
    dialback = " xmlns:db='jabber:server:dialback'" if content_ns == SERVER_NS else ""
    id_attribute = f" id='{_attribute(stream_id)}'" if stream_id else ""
    return (f"<?xml version='1.0'?><stream:stream xmlns='{content_ns}' xmlns:stream='{STREAMS_NS}'{dialback}"
            f"{id_attribute} from='{_attribute(domain)}'{to_attribute} version='1.0' "
            f"xml:lang='{_attribute(lang)}'>").encode()


def features(*children: ET.Element[str]) -> bytes:
    """`<stream:features>` with each offered feature."""
    root = ET.Element(f"{{{STREAMS_NS}}}features")
    root.extend(children)
    return serialize(root)


def stream_error(condition: str, text: str | None = None) -> bytes:
    """A stream error and the stream's end (RFC 6120 4.9): the last thing sent on the stream."""
    if condition not in STREAM_ERRORS:
        raise ValueError(f"{condition} is not a stream error condition")
    inner = f"<{condition} xmlns='{STREAM_ERRORS_NS}'/>"
    if text:
        inner += f"<text xmlns='{STREAM_ERRORS_NS}'>{_text(text)}</text>"
    return f"<stream:error>{inner}</stream:error></stream:stream>".encode()


STREAM_END = b"</stream:stream>"


def stanza_error(stanza: ET.Element[str], condition: str, text: str | None = None,
                 error_type: str | None = None, application: str | None = None) -> ET.Element[str]:
    """The error reply to `stanza` (RFC 6120 8.3): the same kind and id, `to` and `from` swapped, type
    "error", an `<error/>` with the condition (and its RFC type unless `error_type` says otherwise), and
    an application-specific condition (`{namespace}name`) when given."""
    if condition not in STANZA_ERRORS:
        raise ValueError(f"{condition} is not a stanza error condition")
    reply = ET.Element(stanza.tag)
    for name in ("id",):
        if name in stanza.attrib:
            reply.set(name, stanza.attrib[name])
    if "from" in stanza.attrib:
        reply.set("to", stanza.attrib["from"])
    if "to" in stanza.attrib:
        reply.set("from", stanza.attrib["to"])
    reply.set("type", "error")
    namespace, _ = _split(stanza.tag)
    error = ET.SubElement(reply, f"{{{namespace}}}error" if namespace else "error",
                          {"type": error_type or STANZA_ERRORS[condition]})
    ET.SubElement(error, f"{{{STANZA_ERRORS_NS}}}{condition}")
    if text:
        ET.SubElement(error, f"{{{STANZA_ERRORS_NS}}}text").text = text
    if application:
        ET.SubElement(error, application)
    return reply


def parse_stanza(xml: str, content_ns: str = CLIENT_NS) -> ET.Element[str] | None:
    """A stanza `serialize` wrote, read back through the stream framer (which refuses DTDs and entities,
    as on a client's stream); None if it is not one stanza."""
    framer = XmlStreamFramer()
    try:
        framer.feed(f"<stream:stream xmlns='{content_ns}' xmlns:stream='{STREAMS_NS}'>".encode())
        framer.feed(xml.encode())
        framer.next_frame()
        frame = framer.next_frame()
    except (FrameError, FrameTooLarge):
        return None
    return frame.element if isinstance(frame, Stanza) else None


def addressed(stanza: ET.Element[str], to: Jid, *, sender: Jid | None = None) -> ET.Element[str]:
    """A copy of the stanza addressed to `to` (and from `sender`, when given)."""
    copy = ET.Element(stanza.tag, stanza.attrib)
    copy.extend(stanza)
    copy.text = stanza.text
    copy.set("to", str(to))
    if sender is not None:
        copy.set("from", str(sender))
    return copy


def parse_stamp(text: str) -> float | None:
    """XEP-0082's DateTime as Unix time; None where it is not one, or names no zone (Z or an offset)."""
    try:
        parsed = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed.timestamp() if parsed.tzinfo is not None else None


def stamp(milliseconds: int | None = None) -> str:
    """A moment (now, unless given in milliseconds since the epoch) as XEP-0082's DateTime, in UTC."""
    moment = datetime.datetime.fromtimestamp(
        (time.time() * 1000 if milliseconds is None else milliseconds) / 1000, datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def as_client(element: ET.Element[str]) -> ET.Element[str]:
    """A stanza from a server's stream (`jabber:server`) as the same stanza in `jabber:client`, in place:
    the server's own code reads one namespace."""
    prefix, replacement = "{" + SERVER_NS + "}", "{" + CLIENT_NS + "}"
    for node in element.iter():
        if node.tag.startswith(prefix):
            node.tag = replacement + node.tag[len(prefix):]
    return element


def result(iq: ET.Element[str], payload: ET.Element[str] | None, entity: Jid) -> ET.Element[str]:
    """The result of an iq an entity of ours (`entity`: a room, a service, the server) answers, to its sender."""
    reply = ET.Element("{" + CLIENT_NS + "}iq", {"type": "result", "from": iq.get("to", str(entity)),
                                                 "to": iq.get("from", "")})
    if iq.get("id") is not None:
        reply.set("id", iq.attrib["id"])
    if payload is not None:
        reply.append(payload)
    return reply


def error_condition(error: ET.Element[str] | None, namespace: str) -> str:
    """The defined condition of a stream error (`namespace` STREAM_ERRORS_NS) or a stanza's `<error/>`
    (STANZA_ERRORS_NS): the name of its child in that namespace that is not `<text/>`; "" if none."""
    if error is None:
        return ""
    prefix = "{" + namespace + "}"
    return next((child.tag[len(prefix):] for child in error
                 if child.tag.startswith(prefix) and child.tag != prefix + "text"), "")
