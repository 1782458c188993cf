"""Multi-user chat (XEP-0045): one room's state and its rules, without I/O.

A `Room` takes the stanzas its occupants (and would-be occupants) send it, stamped with their real full
JID, and answers with an `Outcome`: the stanzas to send (each addressed to a real full JID), whether the
room's stored state changed (its configuration, affiliations or subject: a persistent room is saved), the
groupchat message to archive, and whether the room was destroyed. xmpp/rooms.py holds the rooms of a worker
and carries outcomes out; the store keeps persistent rooms (im/rooms.py).

What the room does, by XEP-0045's sections: entering (7.2: nick conflicts, bans, members-only, passwords,
the occupant limit, the presence of those already there, then the newcomer's own with status 110, history
and subject), presence changes and nick changes (7.6, status 303), leaving (7.14), groupchat messages with
a stanza-id the room gives (XEP-0359) and a history (7.2.15), private messages (7.5, as `allowpm` permits),
mediated invitations (7.8.2) and declines, the subject (8.1), moderation (8: kick, voice; 9: ban,
membership, admins; 10: owners), configuration with the muc#roomconfig form (10.1-10.2; a room created by a
MUC-aware client stays locked until its owner configures it, 10.1.1, or accepts the defaults, 10.1.2), and
destruction (10.9). An occupant is a nick; one account may be in a room under one nick from several
clients at once (7.2.1's option, as Prosody does): the others hear it join once and leave once. A client
may ping its own occupant JID to learn it is still in (XEP-0410). Service discovery of the room (6.4) with
the muc#roominfo form.
"""

from __future__ import annotations

import collections
import copy
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from typing import Any
from xml.etree import ElementTree as ET

from polyport.xmpp import wire
from polyport.xmpp.jid import Jid

NS = "http://jabber.org/protocol/muc"
USER_NS = NS + "#user"
ADMIN_NS = NS + "#admin"
OWNER_NS = NS + "#owner"
CONFIG_FORM = NS + "#roomconfig"
REQUEST_FORM = NS + "#request"
INFO_FORM = NS + "#roominfo"
SELF_PING_NS = NS + "#self-ping-optimization"
DATA_NS = "jabber:x:data"
DISCO_INFO_NS = "http://jabber.org/protocol/disco#info"
DISCO_ITEMS_NS = "http://jabber.org/protocol/disco#items"
PING_NS = "urn:xmpp:ping"
DELAY_NS = "urn:xmpp:delay"
SID_NS = "urn:xmpp:sid:0"
MAM_NS = "urn:xmpp:mam:2"
C = "{" + wire.CLIENT_NS + "}"
MUC = "{" + NS + "}"
USER = "{" + USER_NS + "}"
ADMIN = "{" + ADMIN_NS + "}"
OWNER = "{" + OWNER_NS + "}"
DATA = "{" + DATA_NS + "}"

AFFILIATIONS = ("owner", "admin", "member", "none", "outcast")
ROLES = ("moderator", "participant", "visitor", "none")
RANK = {"owner": 4, "admin": 3, "member": 2, "none": 1, "outcast": 0}
MAX_HISTORY = 50  # messages a room keeps for those who enter
MAX_HISTORY_MESSAGE = 16 * 1024  # a larger message is delivered and archived, but not kept in the history
MAX_HISTORY_BYTES = 32 * 1024  # a room's history in memory at most (its oldest messages go first)
MAX_INVITES = 20  # invitations in one message
DEFAULT_HISTORY = 20  # sent on entering unless the client asks for less (or more, up to MAX_HISTORY)
MAX_USERS_CHOICES = (10, 20, 30, 50, 100, 200, 500, 1000)
MAX_NICK = 256  # characters of a nick (a JID resourcepart's limit is bytes: 1023)
MAX_AFFILIATED = 10_000  # JIDs with an affiliation in one room
MAX_TEXT = 1024  # characters of a room's name, description or subject kept


class MucError(Exception):
    """A stanza the room refuses: the stanza error to answer with (RFC 6120 8.3.3's condition)."""

    def __init__(self, condition: str, text: str | None = None) -> None:
        super().__init__(text or condition)
        self.condition = condition
        self.text = text


@dataclass(slots=True)
class Config:
    """A room's configuration: the muc#roomconfig form's fields (10.2)."""

    name: str = ""
    description: str = ""
    persistent: bool = False
    public: bool = True
    members_only: bool = False
    moderated: bool = False
    password: str = ""  # "": none needed
    anonymous: bool = True  # semi-anonymous: only moderators see occupants' real JIDs ('whois' moderators)
    max_users: int = 100
    change_subject: bool = False  # participants may change the subject (moderators always may)
    invites: bool = False  # occupants may invite others (into a members-only room: making them members)
    private_messages: str = "anyone"  # who may send private messages: anyone, participants, moderators, none
    archive: bool = True  # its messages are archived (XEP-0313 for rooms) while the room is persistent

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass(slots=True)
class Occupant:
    nick: str
    bare: Jid  # the account's real bare JID
    role: str
    sessions: dict[Jid, ET.Element[str]] = field(default_factory=dict)  # real full JID -> its last presence

    @property
    def presence(self) -> ET.Element[str]:
        """The presence the others see: its latest client's."""
        return next(reversed(self.sessions.values()))

    @property
    def jid(self) -> Jid:
        return next(reversed(self.sessions))


@dataclass(slots=True)
class Outcome:
    sends: list[ET.Element[str]] = field(default_factory=list)  # each with `to` a real full JID
    changed: bool = False  # configuration, affiliations or subject: a persistent room is saved again
    archived: ET.Element[str] | None = None  # a groupchat message for the room's archive, as occupants got it
    archived_nick: str = ""
    archived_id: str = ""  # the stanza-id the room gave it
    destroyed: bool = False


class Room:
    def __init__(self, jid: Jid, config: Config | None = None, affiliations: dict[Jid, str] | None = None, *,
                 subject: str = "", subject_by: str = "", locked: bool = False,
                 new_id: Callable[[], str], clock: Callable[[], float] = time.time) -> None:
        self.jid = jid
        self.service = Jid("", jid.domain)
        self.config = config or Config()
        self.affiliations: dict[Jid, str] = dict(affiliations or {})
        self.subject = subject
        self.subject_by = subject_by
        self.locked = locked  # created by a MUC-aware client: nobody else enters before it is configured
        self.occupants: dict[str, Occupant] = {}
        self.nicks: dict[Jid, str] = {}  # real full JID -> nick
        # Groupchat messages newcomers get: (when, the message, its size), and their sizes' sum.
        self.history: collections.deque[tuple[float, ET.Element[str], int]] = collections.deque(maxlen=MAX_HISTORY)
        self._history_bytes = 0
        self._new_id = new_id
        self._clock = clock

    # -- what the room is --

    def affiliation(self, jid: Jid) -> str:
        if jid == self.service:  # the server itself (an administrator's request): only it sends as the service
            return "owner"
        return self.affiliations.get(jid.bare, "none")

    @property
    def empty(self) -> bool:
        return not self.occupants

    def occupant_of(self, jid: Jid) -> Occupant | None:
        nick = self.nicks.get(jid)
        return self.occupants.get(nick) if nick is not None else None

    def sessions(self) -> Iterator[tuple[Occupant, Jid]]:
        for occupant in list(self.occupants.values()):
            for jid in list(occupant.sessions):
                yield occupant, jid

    def occupant_jid(self, nick: str) -> Jid:
        return Jid(self.jid.local, self.jid.domain, nick)

    def features(self) -> list[str]:
        c = self.config
        return [NS, DISCO_INFO_NS, SID_NS, SELF_PING_NS,
                "muc_persistent" if c.persistent else "muc_temporary",
                "muc_membersonly" if c.members_only else "muc_open",
                "muc_moderated" if c.moderated else "muc_unmoderated",
                "muc_passwordprotected" if c.password else "muc_unsecured",
                "muc_semianonymous" if c.anonymous else "muc_nonanonymous",
                "muc_public" if c.public else "muc_hidden",
                *([MAM_NS] if self.archiving else [])]

    @property
    def archiving(self) -> bool:
        return self.config.persistent and self.config.archive

    def may_read_archive(self, jid: Jid) -> bool:
        """Whether `jid` may query the room's archive: anyone of a public open room; in others, occupants and
        members."""
        if self.affiliation(jid) == "outcast":
            return False
        if self.config.public and not self.config.members_only:
            return True
        return jid in self.nicks or RANK[self.affiliation(jid)] >= RANK["member"]

    # -- presence --

    def presence(self, stanza: ET.Element[str], sender: Jid, nick: str, *, created: bool = False) -> Outcome:
        """Presence from `sender` to the occupant JID room/`nick`."""
        kind = stanza.get("type")
        current = self.nicks.get(sender)
        if kind in ("unavailable", "error"):
            return self.leave(sender, stanza) if current is not None else Outcome()
        if kind is not None:
            return Outcome()  # subscriptions and probes to a room are not answered
        entering = stanza.find(MUC + "x") is not None
        if current is None:
            if not entering:
                # 7.2.1 (since 1.32): a presence without the MUC element from someone not in the room is a
                # client that believes it is in (the room was lost and made again): told it is out, so that
                # it enters again, rather than let in half-informed.
                return Outcome(sends=[self.not_in(sender, nick)])
            return self.enter(stanza, sender, nick, created=created)
        if nick != current:
            self.occupants[current].sessions[sender] = _plain(stanza)
            return self.change_nick(sender, nick)
        occupant = self.occupants[current]
        occupant.sessions.pop(sender, None)
        occupant.sessions[sender] = _plain(stanza)  # the latest client's presence speaks for the occupant
        outcome = Outcome()
        if entering:
            # 7.2 business rules: a client that enters again while the room believes it in (it lost its
            # connection, or its server) gets everything again: it may know nothing of the room.
            self._welcome(outcome, occupant, sender, stanza.find(MUC + "x"), created=False, again=True)
        if len(occupant.sessions) == 1 or not entering:
            self._broadcast_presence(outcome, occupant, only_others=entering)
        return outcome

    def not_in(self, sender: Jid, nick: str) -> ET.Element[str]:
        kick = ET.Element(C + "presence", {"from": str(self.occupant_jid(nick)), "to": str(sender),
                                           "type": "unavailable"})
        x = ET.SubElement(kick, USER + "x")
        item = ET.SubElement(x, USER + "item", {"affiliation": self.affiliation(sender), "role": "none"})
        ET.SubElement(item, USER + "reason").text = "You are not in the room."
        for code in ("110", "307"):
            ET.SubElement(x, USER + "status", {"code": code})
        return kick

    def enter(self, stanza: ET.Element[str], sender: Jid, nick: str, *, created: bool = False) -> Outcome:
        if not nick or len(nick) > MAX_NICK or nick != nick.strip():
            raise MucError("jid-malformed", "a nick is needed (the resource of the room's JID you address)")
        affiliation = self.affiliation(sender)
        muc = stanza.find(MUC + "x")
        if self.locked and affiliation != "owner":
            raise MucError("item-not-found", "the room is being set up by its owner")
        if affiliation == "outcast":
            raise MucError("forbidden", "you are banned from this room")
        existing = self.occupants.get(nick)
        if existing is not None and existing.bare != sender.bare:
            raise MucError("conflict", "that nick is taken in this room")
        if self.config.members_only and RANK[affiliation] < RANK["member"]:
            raise MucError("registration-required", "the room is for its members")
        if self.config.password and affiliation != "owner":
            given = muc.findtext(MUC + "password") if muc is not None else None
            if given != self.config.password:
                raise MucError("not-authorized", "the room asks for a password")
        if existing is None and len(self.occupants) >= self.config.max_users and RANK[affiliation] < RANK["admin"]:
            raise MucError("service-unavailable", "the room is full")
        outcome = Outcome()
        if existing is not None:  # another client of an occupant: it alone hears the room as it enters
            existing.sessions[sender] = _plain(stanza)
            self.nicks[sender] = nick
            self._welcome(outcome, existing, sender, muc, created=False)
            return outcome
        occupant = Occupant(nick, sender.bare, self._role_for(affiliation), {sender: _plain(stanza)})
        self.occupants[nick] = occupant
        self.nicks[sender] = nick
        self._welcome(outcome, occupant, sender, muc, created=created)
        return outcome

    def _welcome(self, outcome: Outcome, occupant: Occupant, to: Jid, muc: ET.Element[str] | None, *,
                 created: bool, again: bool = False) -> None:
        """7.2.3-7.2.16: those already in, then the newcomer's presence to all (itself last), history, subject."""
        viewer = occupant.role
        for other in list(self.occupants.values()):
            if other is not occupant:
                outcome.sends.append(self._presence_of(other, to, viewer))
        for other, jid in self.sessions():
            if other is not occupant and len(occupant.sessions) == 1 and not again:
                outcome.sends.append(self._presence_of(occupant, jid, other.role))
        codes = ["110"]
        if not self.config.anonymous:
            codes.append("100")
        if self.archiving:
            codes.append("170")
        if created:
            codes.append("201")
        outcome.sends.append(self._presence_of(occupant, to, viewer, codes=codes))
        for stamp, message, _ in self._history(muc):
            copied = copy.deepcopy(message)
            copied.set("to", str(to))
            ET.SubElement(copied, "{" + DELAY_NS + "}delay", {"from": str(self.jid),
                                                              "stamp": wire.stamp(int(stamp * 1000))})
            outcome.sends.append(copied)
        subject = ET.Element(C + "message", {"from": str(self.occupant_jid(self.subject_by)) if self.subject_by
                                             else str(self.jid), "to": str(to), "type": "groupchat"})
        ET.SubElement(subject, C + "subject").text = self.subject
        outcome.sends.append(subject)

    def _history(self, muc: ET.Element[str] | None) -> list[tuple[float, ET.Element[str], int]]:
        """What of the history the newcomer asked for (7.2.15: maxstanzas, maxchars, seconds, since)."""
        items = list(self.history)
        wanted = muc.find(MUC + "history") if muc is not None else None
        count = DEFAULT_HISTORY
        if wanted is not None:
            try:
                if wanted.get("maxstanzas") is not None:
                    count = int(wanted.get("maxstanzas", "")[:12])
                if wanted.get("maxchars") is not None and int(wanted.get("maxchars", "")[:12]) == 0:
                    count = 0
                if wanted.get("seconds") is not None:
                    oldest = self._clock() - min(int(wanted.get("seconds", "")[:12]), 10 ** 10)
                    items = [item for item in items if item[0] >= oldest]
            except (ValueError, OverflowError):
                pass  # a history request that is not a number: the default
            since = wanted.get("since")
            if since:
                moment = wire.parse_stamp(since)
                if moment is not None:
                    items = [item for item in items if item[0] > moment]
        count = max(0, min(count, MAX_HISTORY))
        return items[len(items) - count:] if count else []

    def leave(self, sender: Jid, stanza: ET.Element[str] | None = None, *, codes: tuple[str, ...] = ()) -> Outcome:
        """A client of an occupant leaves (its unavailable presence)."""
        outcome = Outcome()
        nick = self.nicks.get(sender)
        if nick is None:
            return outcome
        occupant = self.occupants[nick]
        status = stanza.findtext(C + "status") if stanza is not None else None
        if len(occupant.sessions) > 1:  # the account's other clients stay: only this one hears it is out
            outcome.sends.append(self._presence_of(occupant, sender, occupant.role, codes=("110", *codes),
                                                   unavailable=True, status=status, shown=sender))
            latest = occupant.jid == sender
            del self.nicks[sender]
            del occupant.sessions[sender]
            if latest:  # the others see the presence of the client that is now the latest
                self._broadcast_presence(outcome, occupant)
            return outcome
        occupant.role = "none"
        for other, jid in self.sessions():
            own = other is occupant
            outcome.sends.append(self._presence_of(occupant, jid, other.role, unavailable=True, status=status,
                                                   codes=("110", *codes) if own else codes))
        del self.occupants[nick]
        del self.nicks[sender]
        occupant.sessions.pop(sender, None)
        return outcome

    def change_nick(self, sender: Jid, nick: str) -> Outcome:
        """7.6: unavailable from the old nick with status 303 naming the new one, then available from it."""
        if not nick or len(nick) > MAX_NICK or nick != nick.strip():
            raise MucError("jid-malformed", "a nick is needed")
        if nick in self.occupants:
            raise MucError("conflict", "that nick is taken in this room")
        old = self.nicks[sender]
        occupant = self.occupants.pop(old)
        outcome = Outcome()
        for other, jid in list(self.sessions()) + [(occupant, j) for j in occupant.sessions]:
            own = other is occupant
            gone = self._presence_of(occupant, jid, other.role, unavailable=True,
                                     codes=("303", "110") if own else ("303",))
            item = gone.find(USER + "x/" + USER + "item")
            assert item is not None
            item.set("nick", nick)
            outcome.sends.append(gone)
        occupant.nick = nick
        self.occupants[nick] = occupant
        for jid in occupant.sessions:
            self.nicks[jid] = nick
        for other, jid in self.sessions():
            outcome.sends.append(self._presence_of(occupant, jid, other.role,
                                                   codes=("110",) if other is occupant else ()))
        return outcome

    # -- messages --

    def message(self, stanza: ET.Element[str], sender: Jid, nick: str) -> Outcome:
        """A message from `sender` to the room (`nick` "") or to one occupant (a private message)."""
        kind = stanza.get("type", "normal")
        if kind == "error":
            return Outcome()
        occupant = self.occupant_of(sender)
        if nick:
            return self._private(stanza, sender, occupant, nick)
        if kind == "groupchat":
            if occupant is None:
                raise MucError("not-acceptable", "enter the room before you speak in it")
            if occupant.role == "visitor":
                raise MucError("forbidden", "the room is moderated: you have no voice")
            if stanza.find(C + "subject") is not None and stanza.find(C + "body") is None:
                return self._set_subject(stanza, occupant)
            return self._groupchat(stanza, occupant)
        user = stanza.find(USER + "x")
        if user is not None and (user.find(USER + "invite") is not None or user.find(USER + "decline") is not None):
            return self._invitations(sender, occupant, user)
        form = stanza.find(DATA + "x")
        if form is not None and _form_type(form) == REQUEST_FORM:
            return self._voice(form, occupant)
        raise MucError("bad-request", "a message to a room is a groupchat message, an invitation or a request")

    def _voice(self, form: ET.Element[str], occupant: Occupant | None) -> Outcome:
        """8.6: a visitor asks for voice (the moderators get the request as a form), or a moderator answers
        one (approved: the visitor becomes a participant)."""
        if occupant is None:
            raise MucError("not-acceptable", "enter the room first")
        values = {item.get("var", ""): item.findtext(DATA + "value") or "" for item in form.findall(DATA + "field")}
        if form.get("type") == "submit" and "muc#request_allow" in values:
            if occupant.role != "moderator":
                raise MucError("forbidden", "only moderators answer voice requests")
            target = self.occupants.get(values.get("muc#roomnick", ""))
            outcome = Outcome()
            if target is not None and values["muc#request_allow"] in ("1", "true") and target.role == "visitor":
                self._set_role(outcome, target, "participant", "")
            return outcome
        if occupant.role != "visitor" or values.get("muc#role") not in (None, "", "participant"):
            raise MucError("bad-request", "a visitor asks to become a participant")
        outcome = Outcome()
        for moderator in self.occupants.values():
            if moderator.role != "moderator":
                continue
            for jid in moderator.sessions:
                message = ET.Element(C + "message", {"from": str(self.jid), "to": str(jid)})
                request = ET.SubElement(message, DATA + "x", {"type": "form"})
                ET.SubElement(request, DATA + "title").text = "Voice request"
                _field(request, "FORM_TYPE", "hidden", REQUEST_FORM)
                _field(request, "muc#role", "list-single", "participant", "Requested role")
                _field(request, "muc#jid", "jid-single", str(occupant.jid), "User ID")
                _field(request, "muc#roomnick", "text-single", occupant.nick, "Room nickname")
                _field(request, "muc#request_allow", "boolean", "false", "Grant voice to this person?")
                outcome.sends.append(message)
        return outcome

    def _groupchat(self, stanza: ET.Element[str], occupant: Occupant) -> Outcome:
        outcome = Outcome()
        message = ET.Element(C + "message", {"from": str(self.occupant_jid(occupant.nick)), "type": "groupchat"})
        if stanza.get("id"):
            message.set("id", stanza.attrib["id"])
        if stanza.get("{http://www.w3.org/XML/1998/namespace}lang"):
            message.set("{http://www.w3.org/XML/1998/namespace}lang",
                        stanza.attrib["{http://www.w3.org/XML/1998/namespace}lang"])
        for child in stanza:
            # Only the room gives stanza-ids by its JID (XEP-0359 5), however a client spells the JID.
            if not (child.tag == "{" + SID_NS + "}stanza-id" and _names(child.get("by", ""), self.jid)):
                message.append(child)
        archived_id = self._new_id()
        ET.SubElement(message, "{" + SID_NS + "}stanza-id", {"by": str(self.jid), "id": archived_id})
        for _, jid in self.sessions():
            copied = copy.copy(message)
            copied.attrib = dict(message.attrib, to=str(jid))
            outcome.sends.append(copied)
        if message.find(C + "body") is not None:
            self.remember(self._clock(), message)
            if self.archiving:
                outcome.archived, outcome.archived_nick, outcome.archived_id = message, occupant.nick, archived_id
        return outcome

    def remember(self, stamp: float, message: ET.Element[str]) -> None:
        """A groupchat message into the history newcomers get (MAX_HISTORY messages, MAX_HISTORY_BYTES)."""
        size = len(wire.serialize(message))
        if size > MAX_HISTORY_MESSAGE:
            return
        if len(self.history) == self.history.maxlen:
            self._history_bytes -= self.history[0][2]
        self.history.append((stamp, message, size))
        self._history_bytes += size
        while self._history_bytes > MAX_HISTORY_BYTES and self.history:
            self._history_bytes -= self.history.popleft()[2]

    def _set_subject(self, stanza: ET.Element[str], occupant: Occupant) -> Outcome:
        if occupant.role != "moderator" and not (self.config.change_subject and occupant.role == "participant"):
            raise MucError("forbidden", "only moderators change this room's subject")
        self.subject = (stanza.findtext(C + "subject") or "")[:MAX_TEXT]
        self.subject_by = occupant.nick
        outcome = Outcome(changed=True)
        for _, jid in self.sessions():
            message = ET.Element(C + "message", {"from": str(self.occupant_jid(occupant.nick)), "to": str(jid),
                                                 "type": "groupchat"})
            ET.SubElement(message, C + "subject").text = self.subject
            outcome.sends.append(message)
        return outcome

    def _private(self, stanza: ET.Element[str], sender: Jid, occupant: Occupant | None, nick: str) -> Outcome:
        kind = stanza.get("type", "normal")
        if kind == "groupchat":
            raise MucError("bad-request", "a groupchat message goes to the room, not to an occupant")
        if occupant is None:
            raise MucError("not-acceptable", "enter the room before you send its occupants messages")
        target = self.occupants.get(nick)
        if target is None:
            raise MucError("item-not-found", f"nobody is {nick!r} in this room")
        allowed = self.config.private_messages
        if (allowed == "none" or (allowed == "moderators" and occupant.role != "moderator")
                or (allowed == "participants" and occupant.role == "visitor")):
            raise MucError("forbidden", "private messages are not allowed in this room")
        outcome = Outcome()
        for jid in target.sessions:
            message = copy.copy(stanza)
            message.attrib = dict(stanza.attrib, to=str(jid), **{"from": str(self.occupant_jid(occupant.nick))})
            message[:] = [*stanza, ET.Element(USER + "x")]
            outcome.sends.append(message)
        return outcome

    def _invitations(self, sender: Jid, occupant: Occupant | None, user: ET.Element[str]) -> Outcome:
        outcome = Outcome()
        affiliation = self.affiliation(sender)
        for decline in user.findall(USER + "decline"):  # 7.8.2: a declined invitation goes to its inviter
            to = _jid(decline.get("to", ""))
            message = ET.Element(C + "message", {"from": str(self.jid), "to": str(to)})
            x = ET.SubElement(message, USER + "x")
            declined = ET.SubElement(x, USER + "decline", {"from": str(sender.bare)})
            if decline.findtext(USER + "reason"):
                ET.SubElement(declined, USER + "reason").text = decline.findtext(USER + "reason")
            outcome.sends.append(message)
        invites = user.findall(USER + "invite")
        if not invites:
            return outcome
        if occupant is None:
            raise MucError("not-acceptable", "enter the room before you invite others")
        if len(invites) > MAX_INVITES:
            raise MucError("policy-violation", f"at most {MAX_INVITES} invitations a message")
        admin = RANK[affiliation] >= RANK["admin"]
        if self.config.members_only and not (admin or self.config.invites):
            raise MucError("forbidden", "only the room's admins invite to it")
        invited_jids = [_jid(invite.get("to", "")) for invite in invites]  # all valid, or none sent
        new_members = {to.bare for to in invited_jids if self.config.members_only and self.affiliation(to) == "none"}
        if any(self.affiliation(to) == "outcast" for to in invited_jids):
            raise MucError("forbidden", "someone invited is banned from this room")
        if len(self.affiliations) + len(new_members) > MAX_AFFILIATED:
            raise MucError("resource-constraint", f"a room keeps at most {MAX_AFFILIATED} affiliations")
        for invite, to in zip(invites, invited_jids, strict=True):
            if to.bare in new_members:
                self._affiliate(to.bare, "member")
                outcome.changed = True
            message = ET.Element(C + "message", {"from": str(self.jid), "to": str(to)})
            x = ET.SubElement(message, USER + "x")
            invited = ET.SubElement(x, USER + "invite", {"from": str(sender.bare)})
            if invite.findtext(USER + "reason"):
                ET.SubElement(invited, USER + "reason").text = invite.findtext(USER + "reason")
            if self.config.password:
                ET.SubElement(x, USER + "password").text = self.config.password
            ET.SubElement(message, C + "body").text = (f"{sender.bare} invites you to the room {self.jid}"
                                                       + (f": {invite.findtext(USER + 'reason')}"
                                                          if invite.findtext(USER + "reason") else ""))
            outcome.sends.append(message)
        return outcome

    # -- iq --

    def iq(self, stanza: ET.Element[str], sender: Jid, nick: str) -> Outcome:
        """An iq to the room or to an occupant. The room's archive (XEP-0313) is xmpp/rooms.py's."""
        kind = stanza.get("type")
        payload = stanza[0] if len(stanza) else None
        occupant = self.occupant_of(sender)
        if nick:
            return self._iq_to_occupant(stanza, sender, occupant, nick, payload)
        if kind not in ("get", "set") or payload is None:
            return Outcome()  # results and errors to the room itself answer nothing it asked
        tag = payload.tag
        if kind == "get" and tag == "{" + DISCO_INFO_NS + "}query" and not payload.get("node"):
            return self._reply(stanza, self._disco_info())
        if kind == "get" and tag == "{" + DISCO_ITEMS_NS + "}query":
            return self._reply(stanza, ET.Element("{" + DISCO_ITEMS_NS + "}query"))  # occupants not listed
        if tag == OWNER + "query":
            return self._owner(stanza, sender, payload)
        if tag == ADMIN + "query":
            return self._admin(stanza, sender, occupant, payload)
        raise MucError("service-unavailable")

    def _iq_to_occupant(self, stanza: ET.Element[str], sender: Jid, occupant: Occupant | None, nick: str,
                        payload: ET.Element[str] | None) -> Outcome:
        kind = stanza.get("type")
        if occupant is None:
            if kind in ("get", "set"):
                raise MucError("not-acceptable", "you are not in this room")  # XEP-0410: enter again
            return Outcome()
        if nick == occupant.nick and kind == "get" and payload is not None and payload.tag == "{" + PING_NS + "}ping":
            return self._reply(stanza, None)  # XEP-0410: the room answers a client's ping to itself
        target = self.occupants.get(nick)
        if target is None:
            if kind in ("get", "set"):
                raise MucError("item-not-found", f"nobody is {nick!r} in this room")
            return Outcome()
        forwarded = copy.copy(stanza)
        forwarded.attrib = dict(stanza.attrib, to=str(target.jid), **{"from": str(self.occupant_jid(occupant.nick))})
        return Outcome(sends=[forwarded])

    def _reply(self, iq: ET.Element[str], payload: ET.Element[str] | None) -> Outcome:
        return Outcome(sends=[wire.result(iq, payload, self.jid)])

    def _disco_info(self) -> ET.Element[str]:
        query = ET.Element("{" + DISCO_INFO_NS + "}query")
        ET.SubElement(query, "{" + DISCO_INFO_NS + "}identity", {"category": "conference", "type": "text",
                                                                 "name": self.config.name or self.jid.local})
        for feature in self.features():
            ET.SubElement(query, "{" + DISCO_INFO_NS + "}feature", {"var": feature})
        form = _form(query, "result", INFO_FORM)
        _field(form, "muc#roominfo_description", "text-single", self.config.description)
        _field(form, "muc#roominfo_subject", "text-single", self.subject)
        _field(form, "muc#roominfo_occupants", "text-single", str(len(self.occupants)))
        _field(form, "muc#roomconfig_roomname", "text-single", self.config.name)
        return query

    # -- owners (10) --

    def _owner(self, iq: ET.Element[str], sender: Jid, query: ET.Element[str]) -> Outcome:
        if self.affiliation(sender) != "owner":
            raise MucError("forbidden", "only the room's owners configure it")
        if iq.get("type") == "get":
            return self._reply(iq, self.config_form())
        destroy = query.find(OWNER + "destroy")
        if destroy is not None:
            return self.destroy(destroy.get("jid", ""), destroy.findtext(OWNER + "reason") or "", reply_to=iq)
        form = query.find(DATA + "x")
        if form is None:
            raise MucError("bad-request", "a configuration form, or destroy")
        if form.get("type") == "cancel":
            outcome = self._reply(iq, None)
            if self.locked:  # 10.1.3: a new room whose owner cancels its configuration goes
                outcome.sends.extend(self.destroy("", "").sends)
                outcome.destroyed = True
            return outcome
        if form.get("type") != "submit":
            raise MucError("bad-request", "submit the form, or cancel it")
        before = copy.copy(self.config)
        self.config = self.apply_form(form)
        self.locked = False
        outcome = self._reply(iq, None)
        outcome.changed = True
        if self.config.members_only and not before.members_only:  # 9.3 / 10.2: non-members leave (321)
            for occupant in list(self.occupants.values()):
                if RANK[self.affiliation(occupant.bare)] < RANK["member"]:
                    self._remove(outcome, occupant, ("321",))
        if self.config.moderated != before.moderated:
            for occupant in list(self.occupants.values()):
                role = self._role_for(self.affiliation(occupant.bare))
                if role != occupant.role and occupant.role != "moderator":
                    occupant.role = role
                    self._broadcast_presence(outcome, occupant)
        codes = ["104"]
        if self.config.anonymous != before.anonymous:
            codes.append("173" if self.config.anonymous else "172")
        for _, jid in self.sessions():  # 10.2.1: the occupants learn the configuration changed
            notice = ET.Element(C + "message", {"from": str(self.jid), "to": str(jid), "type": "groupchat"})
            x = ET.SubElement(notice, USER + "x")
            for code in codes:
                ET.SubElement(x, USER + "status", {"code": code})
            outcome.sends.append(notice)
        return outcome

    def config_form(self) -> ET.Element[str]:
        query = ET.Element(OWNER + "query")
        form = _form(query, "form", CONFIG_FORM)
        c = self.config
        form_title = ET.Element(DATA + "title")
        form_title.text = f"Configuration of {self.jid}"
        form.insert(0, form_title)
        _field(form, "muc#roomconfig_roomname", "text-single", c.name, "Name")
        _field(form, "muc#roomconfig_roomdesc", "text-single", c.description, "Description")
        _field(form, "muc#roomconfig_persistentroom", "boolean", _bool(c.persistent), "Keep the room when empty")
        _field(form, "muc#roomconfig_publicroom", "boolean", _bool(c.public), "List it in the directory")
        _field(form, "muc#roomconfig_membersonly", "boolean", _bool(c.members_only), "Members only")
        _field(form, "muc#roomconfig_moderatedroom", "boolean", _bool(c.moderated),
               "Moderated (only participants speak)")
        _field(form, "muc#roomconfig_passwordprotectedroom", "boolean", _bool(bool(c.password)), "Password needed")
        _field(form, "muc#roomconfig_roomsecret", "text-private", c.password, "Password")
        _field(form, "muc#roomconfig_whois", "list-single", "moderators" if c.anonymous else "anyone",
               "Who sees occupants' real addresses", options=("moderators", "anyone"))
        _field(form, "muc#roomconfig_maxusers", "list-single", str(c.max_users), "Occupants at most",
               options=tuple(str(n) for n in MAX_USERS_CHOICES))
        _field(form, "muc#roomconfig_changesubject", "boolean", _bool(c.change_subject),
               "Participants change the subject")
        _field(form, "muc#roomconfig_allowinvites", "boolean", _bool(c.invites), "Occupants invite others")
        _field(form, "muc#roomconfig_allowpm", "list-single", c.private_messages, "Who sends private messages",
               options=("anyone", "participants", "moderators", "none"))
        _field(form, "muc#roomconfig_enablearchiving", "boolean", _bool(c.archive), "Archive its messages")
        return query

    def apply_form(self, form: ET.Element[str]) -> Config:
        """The configuration a submitted form asks for (fields it leaves out keep their values); MucError
        for a value a field cannot take."""
        c = copy.copy(self.config)
        protected: bool | None = None
        for item in form.findall(DATA + "field"):
            name = item.get("var", "")
            values = [value.text or "" for value in item.findall(DATA + "value")]
            value = values[0] if values else ""
            if name == "FORM_TYPE":
                if value not in ("", CONFIG_FORM):
                    raise MucError("bad-request", f"the form is {CONFIG_FORM}")
            elif name == "muc#roomconfig_roomname":
                c.name = value[:MAX_TEXT]
            elif name == "muc#roomconfig_roomdesc":
                c.description = value[:MAX_TEXT]
            elif name in _BOOLEANS:
                setattr(c, _BOOLEANS[name], _parse_bool(name, value))
            elif name == "muc#roomconfig_passwordprotectedroom":
                protected = _parse_bool(name, value)
            elif name == "muc#roomconfig_roomsecret":
                c.password = value[:MAX_TEXT]
            elif name == "muc#roomconfig_whois":
                if value not in ("moderators", "anyone"):
                    raise MucError("not-acceptable", "whois is moderators or anyone")
                c.anonymous = value == "moderators"
            elif name == "muc#roomconfig_maxusers":
                count = int(value.lstrip("0")[:6] or "0") if value.isascii() and value.isdigit() else 0
                if not 1 <= count <= MAX_USERS_CHOICES[-1]:
                    raise MucError("not-acceptable", f"maxusers is a number up to {MAX_USERS_CHOICES[-1]}")
                c.max_users = count
            elif name == "muc#roomconfig_allowpm":
                if value not in ("anyone", "participants", "moderators", "none"):
                    raise MucError("not-acceptable", "allowpm is anyone, participants, moderators or none")
                c.private_messages = value
            # Other fields (owners and admins lists, languages, logging) are not kept: ignored as 10.2 allows.
        if protected is False:
            c.password = ""
        elif protected and not c.password:
            raise MucError("not-acceptable", "a password-protected room needs a password")
        return c

    def destroy(self, alternate: str, reason: str, *, reply_to: ET.Element[str] | None = None) -> Outcome:
        """10.9: every occupant is told the room is gone (and where to go instead)."""
        outcome = self._reply(reply_to, None) if reply_to is not None else Outcome()
        for occupant, jid in self.sessions():
            gone = ET.Element(C + "presence", {"from": str(self.occupant_jid(occupant.nick)), "to": str(jid),
                                               "type": "unavailable"})
            x = ET.SubElement(gone, USER + "x")
            ET.SubElement(x, USER + "item", {"affiliation": "none", "role": "none"})
            destroyed = ET.SubElement(x, USER + "destroy", {"jid": alternate} if alternate else {})
            if reason:
                ET.SubElement(destroyed, USER + "reason").text = reason
            if jid in occupant.sessions:
                ET.SubElement(x, USER + "status", {"code": "110"})
            outcome.sends.append(gone)
        self.occupants.clear()
        self.nicks.clear()
        outcome.destroyed = True
        return outcome

    def shutdown(self, text: str) -> Outcome:
        """Every occupant is out (status 332: the room's server stops holding it); the room stays as stored."""
        outcome = Outcome()
        for occupant, jid in self.sessions():
            gone = self._presence_of(occupant, jid, "moderator", unavailable=True, codes=("110", "332"))
            item = gone.find(USER + "x/" + USER + "item")
            assert item is not None
            item.set("role", "none")
            ET.SubElement(item, USER + "reason").text = text
            outcome.sends.append(gone)
        self.occupants.clear()
        self.nicks.clear()
        return outcome

    # -- admins and moderators (8, 9) --

    def _admin(self, iq: ET.Element[str], sender: Jid, occupant: Occupant | None,
               query: ET.Element[str]) -> Outcome:
        items = query.findall(ADMIN + "item")
        if not items:
            raise MucError("bad-request", "name items")
        mine = self.affiliation(sender)
        if iq.get("type") == "get":
            item = items[0]
            wanted_affiliation, wanted_role = item.get("affiliation"), item.get("role")
            result = ET.Element(ADMIN + "query")
            if wanted_affiliation in AFFILIATIONS and wanted_affiliation != "none":
                if RANK[mine] < RANK["admin"] and not (wanted_affiliation == "member" and RANK[mine] >= RANK["member"]
                                                       and self.config.members_only):
                    raise MucError("forbidden", "only the room's admins read its lists")
                for jid, affiliation in sorted(self.affiliations.items(), key=lambda pair: str(pair[0])):
                    if affiliation == wanted_affiliation:
                        ET.SubElement(result, ADMIN + "item", {"affiliation": affiliation, "jid": str(jid)})
            elif wanted_role in ROLES and wanted_role != "none":
                if occupant is None or occupant.role != "moderator":
                    raise MucError("forbidden", "only moderators read the occupants by role")
                for other in self.occupants.values():
                    if other.role == wanted_role:
                        ET.SubElement(result, ADMIN + "item", {
                            "role": other.role, "nick": other.nick, "jid": str(other.jid),
                            "affiliation": self.affiliation(other.bare)})
            else:
                raise MucError("bad-request", "ask for an affiliation or a role")
            return self._reply(iq, result)
        changes = [self._check_change(item, sender, occupant) for item in items]  # all allowed, or none made
        targets = [(attribute, target.nick if isinstance(target, Occupant) else target)
                   for target, attribute, _, _ in changes]
        if len(set(targets)) != len(targets):
            raise MucError("bad-request", "each item names a different occupant or JID")
        outcome = self._reply(iq, None)
        owners_left = {jid for jid, affiliation in self.affiliations.items() if affiliation == "owner"}
        for target, attribute, value, _ in changes:
            if attribute == "affiliation" and isinstance(target, Jid):
                if value == "owner":
                    owners_left.add(target)
                else:
                    owners_left.discard(target)
        if not owners_left:
            raise MucError("conflict", "a room keeps at least one owner")
        for target, attribute, value, reason in changes:
            actor = occupant.nick if occupant is not None else ""
            if attribute == "role":
                assert isinstance(target, Occupant)
                if value == "none":
                    self._remove(outcome, target, ("307",), reason=reason, actor=actor)
                else:
                    self._set_role(outcome, target, value, reason)
                continue
            assert isinstance(target, Jid)
            self._affiliate(target, value)
            outcome.changed = True
            for other in [o for o in self.occupants.values() if o.bare == target]:
                if value == "outcast":
                    self._remove(outcome, other, ("301",), reason=reason, actor=actor)
                elif self.config.members_only and RANK[value] < RANK["member"]:
                    self._remove(outcome, other, ("321",), reason=reason, actor=actor)
                else:
                    self._set_role(outcome, other, self._role_for(value), reason)
        return outcome

    def _set_role(self, outcome: Outcome, occupant: Occupant, role: str, reason: str) -> None:
        promoted = role == "moderator" and occupant.role != "moderator"
        occupant.role = role
        if promoted and self.config.anonymous:  # a new moderator learns the real JIDs it may see now
            for other in self.occupants.values():
                if other is not occupant:
                    outcome.sends.extend(self._presence_of(other, jid, "moderator") for jid in occupant.sessions)
        self._broadcast_presence(outcome, occupant, reason=reason)

    def _check_change(self, item: ET.Element[str], sender: Jid,
                      occupant: Occupant | None) -> tuple[Occupant | Jid, str, str, str]:
        mine = self.affiliation(sender)
        reason = item.findtext(ADMIN + "reason") or ""
        role, affiliation = item.get("role"), item.get("affiliation")
        if role is not None:
            if role not in ROLES:
                raise MucError("bad-request", f"no role {role!r}")
            if occupant is None or occupant.role != "moderator":
                raise MucError("forbidden", "only moderators change roles")
            target = self.occupants.get(item.get("nick", ""))
            if target is None:
                raise MucError("item-not-found", f"nobody is {item.get('nick', '')!r} in this room")
            theirs = self.affiliation(target.bare)
            if RANK[mine] < RANK["admin"] and (target.role == "moderator" or RANK[theirs] > RANK[mine]):
                raise MucError("not-allowed", "a moderator changes the roles of those below it only")
            if role == "moderator" and RANK[mine] < RANK["admin"]:
                raise MucError("forbidden", "only admins make moderators")
            if RANK[theirs] >= RANK["admin"] and role != "moderator":
                raise MucError("not-allowed", "an admin or owner stays a moderator")
            return target, "role", role, reason
        if affiliation is None or affiliation not in AFFILIATIONS:
            raise MucError("bad-request", "an item names a role or an affiliation")
        if item.get("jid"):
            jid = _jid(item.get("jid", "")).bare
        elif (named := self.occupants.get(item.get("nick", ""))) is not None:
            jid = named.bare
        else:
            raise MucError("bad-request", "an affiliation is given to a JID")
        if RANK[mine] < RANK["admin"]:
            raise MucError("forbidden", "only the room's admins change affiliations")
        theirs = self.affiliation(jid)
        if mine == "admin" and (RANK[affiliation] >= RANK["admin"] or RANK[theirs] >= RANK["admin"]):
            raise MucError("not-allowed", "an admin changes the affiliations of members and others only")
        if affiliation != "none" and jid not in self.affiliations and len(self.affiliations) >= MAX_AFFILIATED:
            raise MucError("resource-constraint", f"a room keeps at most {MAX_AFFILIATED} affiliations")
        return jid, "affiliation", affiliation, reason

    def _affiliate(self, jid: Jid, affiliation: str) -> None:
        if affiliation == "none":
            self.affiliations.pop(jid.bare, None)
        else:
            self.affiliations[jid.bare] = affiliation

    def _remove(self, outcome: Outcome, occupant: Occupant, codes: tuple[str, ...], *, reason: str = "",
                actor: str = "") -> None:
        """An occupant removed by the room (kicked 307, banned 301, no longer a member 321, gone 333)."""
        for jid in list(occupant.sessions):
            self.nicks.pop(jid, None)
        self.occupants.pop(occupant.nick, None)
        occupant.role = "none"
        for other, jid in [*self.sessions(), *((occupant, j) for j in occupant.sessions)]:
            own = other is occupant
            gone = self._presence_of(occupant, jid, "moderator" if own else other.role, unavailable=True,
                                     codes=("110", *codes) if own else codes)
            item = gone.find(USER + "x/" + USER + "item")
            assert item is not None
            if actor:
                ET.SubElement(item, USER + "actor", {"nick": actor})
            if reason:
                ET.SubElement(item, USER + "reason").text = reason
            outcome.sends.append(gone)

    def gone(self, jid: Jid) -> Outcome:
        """A client the server no longer finds (its connection ended without a word to the room): out,
        the others told with status 333."""
        occupant = self.occupant_of(jid)
        if occupant is None:
            return Outcome()
        if len(occupant.sessions) > 1:
            self.nicks.pop(jid, None)
            occupant.sessions.pop(jid, None)
            return Outcome()
        outcome = Outcome()
        self._remove(outcome, occupant, ("333",))
        outcome.sends = [send for send in outcome.sends if send.get("to") != str(jid)]
        return outcome

    # -- presence stanzas --

    def _role_for(self, affiliation: str) -> str:
        if RANK[affiliation] >= RANK["admin"]:
            return "moderator"
        if self.config.moderated and affiliation == "none":
            return "visitor"
        return "participant"

    def _broadcast_presence(self, outcome: Outcome, occupant: Occupant, *, reason: str = "",
                            only_others: bool = False) -> None:
        for other, jid in self.sessions():
            if only_others and other is occupant:
                continue
            presence = self._presence_of(occupant, jid, other.role, codes=("110",) if other is occupant else ())
            if reason:
                item = presence.find(USER + "x/" + USER + "item")
                assert item is not None
                ET.SubElement(item, USER + "reason").text = reason
            outcome.sends.append(presence)

    def _presence_of(self, occupant: Occupant, to: Jid, viewer_role: str, *, codes: tuple[str, ...] | list[str] = (),
                     unavailable: bool = False, status: str | None = None,
                     shown: Jid | None = None) -> ET.Element[str]:
        """The occupant's presence as `to` sees it: from its occupant JID, with its affiliation and role, and
        its real JID where the room shows it to `to` (a non-anonymous room, or `to` a moderator)."""
        if unavailable:
            presence = ET.Element(C + "presence", {"type": "unavailable"})
            if status:
                ET.SubElement(presence, C + "status").text = status
        else:
            presence = copy.copy(occupant.presence)
            presence.attrib = {}
        presence.set("from", str(self.occupant_jid(occupant.nick)))
        presence.set("to", str(to))
        x = ET.SubElement(presence, USER + "x")
        item = ET.SubElement(x, USER + "item", {"affiliation": self.affiliation(occupant.bare),
                                                "role": occupant.role})
        if not self.config.anonymous or viewer_role == "moderator" or to in occupant.sessions:
            item.set("jid", str(shown or occupant.jid))
        for code in codes:
            ET.SubElement(x, USER + "status", {"code": code})
        return presence

    # -- what the store keeps --

    def stored(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(),
                "affiliations": {str(jid): affiliation for jid, affiliation in self.affiliations.items()},
                "subject": self.subject, "subject_by": self.subject_by}


_BOOLEANS = {"muc#roomconfig_persistentroom": "persistent", "muc#roomconfig_publicroom": "public",
             "muc#roomconfig_membersonly": "members_only", "muc#roomconfig_moderatedroom": "moderated",
             "muc#roomconfig_changesubject": "change_subject", "muc#roomconfig_allowinvites": "invites",
             "muc#roomconfig_enablearchiving": "archive"}


def _plain(presence: ET.Element[str]) -> ET.Element[str]:
    """A client's presence as the room keeps it: its children but the MUC extension's."""
    kept = ET.Element(C + "presence")
    kept.extend(child for child in presence if child.tag not in (MUC + "x", USER + "x"))
    return kept


def _names(text: str, jid: Jid) -> bool:
    """Whether `text` is `jid`, as JIDs compare (case, and Unicode forms, prepared)."""
    from polyport.xmpp.jid import JidError

    try:
        return Jid.parse(text) == jid
    except JidError:
        return False


def _jid(text: str) -> Jid:
    from polyport.xmpp.jid import JidError

    try:
        return Jid.parse(text)
    except JidError:
        raise MucError("jid-malformed", f"{text!r} is not a JID") from None


def _form_type(form: ET.Element[str]) -> str:
    for item in form.findall(DATA + "field"):
        if item.get("var") == "FORM_TYPE":
            return item.findtext(DATA + "value") or ""
    return ""


def _bool(value: bool) -> str:
    return "1" if value else "0"


def _parse_bool(name: str, value: str) -> bool:
    if value in ("1", "true"):
        return True
    if value in ("0", "false", ""):
        return False
    raise MucError("not-acceptable", f"{name} is a boolean")


def _form(parent: ET.Element[str], kind: str, form_type: str) -> ET.Element[str]:
    form = ET.SubElement(parent, DATA + "x", {"type": kind})
    _field(form, "FORM_TYPE", "hidden", form_type)
    return form


def _field(form: ET.Element[str], name: str, kind: str, value: str, label: str = "", *,
           options: tuple[str, ...] = ()) -> None:
    item = ET.SubElement(form, DATA + "field", {"var": name, "type": kind})
    if label:
        item.set("label", label)
    for option in options:
        ET.SubElement(ET.SubElement(item, DATA + "option", {"label": option}), DATA + "value").text = option
    ET.SubElement(item, DATA + "value").text = value
