"""Message archive management (XEP-0313) on the wire (pure): a query's filter and page as the client asked
(its data form, XEP-0004, and result set management, XEP-0059), the messages that carry each result, the
`<fin/>` that ends them, and which messages are archived at all with the stanza-id (XEP-0359) the
recipient's archive gives them.
"""

from __future__ import annotations

from dataclasses import dataclass
from xml.etree import ElementTree as ET

from polyport.im.archive import DEFAULT_PAGE, MAX_PAGE, Archived
from polyport.xmpp import wire
from polyport.xmpp.jid import Jid, JidError

NS = "urn:xmpp:mam:2"
EXTENDED_NS = "urn:xmpp:mam:2#extended"  # after-id and before-id fields (XEP-0313 4.1.4)
RSM_NS = "http://jabber.org/protocol/rsm"
DATA_NS = "jabber:x:data"
FORWARD_NS = "urn:xmpp:forward:0"
DELAY_NS = "urn:xmpp:delay"
SID_NS = "urn:xmpp:sid:0"
HINTS_NS = "urn:xmpp:hints"
C = "{" + wire.CLIENT_NS + "}"
FIELDS = ("with", "start", "end", "after-id", "before-id")


class QueryError(ValueError):
    """A query the archive cannot answer as asked: `bad-request` (XEP-0313 5.1.1)."""


@dataclass(frozen=True, slots=True)
class Query:
    query_id: str
    with_jid: str | None = None  # a bare JID (full JIDs are matched by their bare part here)
    start: int | None = None  # milliseconds since the epoch
    end: int | None = None
    after: str | None = None
    before: str | None = None
    last_page: bool = False  # RSM <before/> with no id: the newest page
    limit: int = DEFAULT_PAGE
    with_full: str | None = None  # the `with` JID whole (a room's archive is by occupant: room@service/nick)


def _timestamp(text: str) -> int:
    """XEP-0082 DateTime as milliseconds since the epoch (a zone is required: Z or an offset)."""
    moment = wire.parse_stamp(text)
    if moment is None:
        raise QueryError(f"{text!r} is not a date and time with its zone (XEP-0082)")
    return int(moment * 1000)


def parse_query(query: ET.Element[str]) -> Query:
    """The query element of an iq set (QueryError where a field is not what it may be)."""
    values: dict[str, str] = {}
    form = query.find("{" + DATA_NS + "}x")
    if form is not None:
        for field in form.findall("{" + DATA_NS + "}field"):
            name = field.get("var", "")
            value = field.findtext("{" + DATA_NS + "}value")
            if name == "FORM_TYPE":
                if value not in (None, NS):
                    raise QueryError(f"the form is {NS}, not {value!r}")
            elif name in FIELDS and value is not None and value.strip():
                values[name] = value.strip()
            elif name not in FIELDS:
                raise QueryError(f"no field {name!r} (the fields are {', '.join(FIELDS)})")
    with_jid = with_full = None
    if "with" in values:
        try:
            given = Jid.parse(values["with"])
            with_jid, with_full = str(given.bare), str(given)
        except JidError:
            raise QueryError(f"{values['with']!r} is not a JID") from None
    after, before, last_page, limit = values.get("after-id"), values.get("before-id"), False, DEFAULT_PAGE
    page = query.find("{" + RSM_NS + "}set")
    if page is not None:
        maximum = page.findtext("{" + RSM_NS + "}max")
        if maximum is not None:
            if not (maximum.strip().isascii() and maximum.strip().isdigit()):
                raise QueryError(f"max is a count, not {maximum!r}")
            limit = min(int(maximum.strip().lstrip("0")[:9] or "0"), MAX_PAGE)
        after = (page.findtext("{" + RSM_NS + "}after") or "").strip() or after
        before_element = page.find("{" + RSM_NS + "}before")
        if before_element is not None:
            named = (before_element.text or "").strip()
            before, last_page = (named, False) if named else (before, before is None)
    if after and before:
        raise QueryError("a page goes after an item or before one, not both")
    return Query(query.get("queryid", ""), with_jid,
                 _timestamp(values["start"]) if "start" in values else None,
                 _timestamp(values["end"]) if "end" in values else None, after, before, last_page, limit, with_full)


def result(item: Archived, query_id: str, to: Jid, archive: Jid) -> ET.Element[str]:
    """The message that carries one archived message to the querying client (XEP-0313 4.2)."""
    message = ET.Element(C + "message", {"to": str(to), "from": str(archive)})
    found = ET.SubElement(message, "{" + NS + "}result", {"id": item.id})
    if query_id:
        found.set("queryid", query_id)
    forwarded = ET.SubElement(found, "{" + FORWARD_NS + "}forwarded")
    ET.SubElement(forwarded, "{" + DELAY_NS + "}delay", {"stamp": wire.stamp(item.stamp)})
    original = wire.parse_stanza(item.stanza)
    if original is not None:
        forwarded.append(original)
    return message


def fin(items: list[Archived], complete: bool) -> ET.Element[str]:
    """The iq result's payload after the results (XEP-0313 4.3, XEP-0059 2.6)."""
    done = ET.Element("{" + NS + "}fin")
    if complete:
        done.set("complete", "true")
    page = ET.SubElement(done, "{" + RSM_NS + "}set")
    if items:
        ET.SubElement(page, "{" + RSM_NS + "}first").text = items[0].id
        ET.SubElement(page, "{" + RSM_NS + "}last").text = items[-1].id
    return done


def form() -> ET.Element[str]:
    """The query form's fields, for a client that asks what it may filter by (XEP-0313 4.1.5)."""
    query = ET.Element("{" + NS + "}query")
    x = ET.SubElement(query, "{" + DATA_NS + "}x", {"type": "form"})
    kind = ET.SubElement(x, "{" + DATA_NS + "}field", {"var": "FORM_TYPE", "type": "hidden"})
    ET.SubElement(kind, "{" + DATA_NS + "}value").text = NS
    for name, kind_of in (("with", "jid-single"), ("start", "text-single"), ("end", "text-single"),
                          ("after-id", "text-single"), ("before-id", "text-single")):
        ET.SubElement(x, "{" + DATA_NS + "}field", {"var": name, "type": kind_of})
    return query


def archived(message: ET.Element[str]) -> bool:
    """Whether a message goes into the archives (XEP-0313 5.1.1, XEP-0334): a chat or normal message with a
    body, unless it asks not to be kept."""
    if message.get("type", "normal") not in ("chat", "normal") or message.find(C + "body") is None:
        return False
    return message.find("{" + HINTS_NS + "}no-store") is None and \
        message.find("{" + HINTS_NS + "}no-permanent-store") is None


def strip_stanza_ids(message: ET.Element[str], *owners: Jid) -> None:
    """Remove stanza-ids that claim to come from these archives (XEP-0359 5: only the server gives them)."""
    named = {str(owner) for owner in owners}
    for child in list(message):
        if child.tag == "{" + SID_NS + "}stanza-id" and child.get("by") in named:
            message.remove(child)


def add_stanza_id(message: ET.Element[str], archive: Jid, archive_id: str) -> None:
    ET.SubElement(message, "{" + SID_NS + "}stanza-id", {"by": str(archive), "id": archive_id})
