"""The settings schema: every account and domain setting, its kind, default and meaning.

Settings are dictionaries in CommuniGate's model and spelling. A value is stored in its canonical
CommuniGate form (`YES`, `100M`, `unlimited`, an array of strings), so what an admin sets is what the
CLI/API gives back. Effective settings are layered, never stored twice:

    account:  schema defaults < server account defaults < domain's account defaults < the account's own
    domain:   schema defaults < server domain defaults < the domain's own

Protocols and services read typed values through `size_limit`, `count_limit`, `is_yes` and
`access_allowed`. A later issue adding a setting adds one `Spec` line here.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from polyport.directory.errors import InvalidSetting

Value = str | list[Any] | dict[str, Any]  # a string, a list of names (MODES), the arrays of RULES; any of
# them nested for a setting Polyport does not use
Dictionary = dict[str, Any]

UNLIMITED = "unlimited"
DEFAULT = "default"  # as a value in an update: remove the key, so the inherited value applies


class Kind(enum.Enum):
    STRING = "a one-line string"  # a name or an address, which may end up in a header field
    BOOL = "YES or NO"
    SIZE = "a size (like 100M) or unlimited"
    COUNT = "a number or unlimited"
    CHOICE = "one of the choices"
    MODES = "All, None, or a list of access modes"
    RULES = "an array of rules: (priority, name, (conditions), (actions))"
    SIEVE = "a Sieve script (RFC 5228)"


# CommuniGate's access modes (services an account or domain may use).
ACCESS_MODES = (
    "Mail", "Relay", "Signal", "Mobile", "TLS", "POP", "IMAP", "MAPI", "AirSync", "SIP", "XMPP",
    "WebMail", "XIMSS", "FTP", "ACAP", "PWD", "LDAP", "RADIUS", "S/MIME", "WebCAL", "WebSite", "PBX",
    "HTTP", "MobilePBX", "XMedia", "YMedia", "MobilePronto",
)


@dataclass(frozen=True, slots=True)
class Spec:
    name: str
    kind: Kind
    default: Value
    doc: str
    choices: tuple[str, ...] = ()
    user: bool = False  # the account's own user may change it (not only administrators)
    server: bool = False  # only server administrators may change it (a limit set on a domain's admins)


def _specs(*specs: Spec) -> dict[str, Spec]:
    return {spec.name: spec for spec in specs}


ACCOUNT_SETTINGS = _specs(
    Spec("RealName", Kind.STRING, "", "The person's name, used in the From of mail they write.", user=True),
    Spec("AccessModes", Kind.MODES, "All", "Services the account may use; None disables logins."),
    Spec("MaxAccountSize", Kind.SIZE, UNLIMITED, "Storage quota for all mailboxes."),
    Spec("MaxMailboxes", Kind.COUNT, UNLIMITED, "Most mailboxes the account may have."),
    Spec("MaxMessages", Kind.COUNT, UNLIMITED, "Most messages the account may store, in all mailboxes."),
    Spec("MaxWebSize", Kind.SIZE, UNLIMITED, "Storage quota for the account's files; also the most its files "
         "shared in chats (XEP-0363) may take together."),
    Spec("MaxWebFiles", Kind.COUNT, UNLIMITED, "Most files the account may store."),
    Spec("MaxMailOutSize", Kind.SIZE, UNLIMITED, "Largest message the account may send."),
    Spec("RulesAllowed", Kind.CHOICE, "Any", "Which mail rules the user may set.",
         ("Any", "Filter Only", "None")),
    Spec("PWDAllowed", Kind.BOOL, "YES", "The user may change their own password."),
    Spec("RecoverPassword", Kind.STRING, "", "Address that password-recovery mail goes to.", user=True),
    Spec("RecoverablePassword", Kind.BOOL, "NO",
         "Also keep the password encrypted with the server's key, so challenge-response logins (APOP) "
         "work; takes effect at the next password change."),
    Spec("ServiceClass", Kind.STRING, "", "Name of the class of service the account belongs to."),
    Spec("Rules", Kind.RULES, [],
         "Mail rules applied at delivery, in CommuniGate's form: (priority, name, (conditions), (actions)), "
         "highest priority first. Conditions: From, Sender, To, Cc, Any To or Cc, Subject, Header Field, "
         "Size, Human Generated; actions: Store in, Redirect to (no copy kept), Forward to (a copy kept), "
         "Reply with (vacation), Reject with, Discard, Mark, Stop Processing.", user=True),
    Spec("ChatHistoryDays", Kind.COUNT, "365",
         "Days the server keeps the account's chat messages, both ways, for its clients to read again "
         "(XMPP's message archive, XEP-0313); 0 keeps none. A change applies to messages from then on.",
         user=True),
    Spec("SieveScript", Kind.SIEVE, "",
         "A Sieve script (RFC 5228: fileinto, redirect, keep, discard, reject, vacation) run at delivery, after "
         "the rules.", user=True),
)

DOMAIN_SETTINGS = _specs(
    Spec("DomainAccessModes", Kind.MODES, "All", "Services the domain's accounts may use at all.",
         server=True),
    Spec("MaxAccounts", Kind.COUNT, UNLIMITED, "Most accounts the domain may hold.", server=True),
    Spec("MaxForwarders", Kind.COUNT, UNLIMITED, "Most forwarders the domain may hold.", server=True),
    Spec("MaxGroups", Kind.COUNT, UNLIMITED, "Most groups the domain may hold.", server=True),
    Spec("MailToUnknown", Kind.CHOICE, "Rejected",
         "Mail for names the domain does not have: refused at RCPT (no backscatter), accepted and "
         "thrown away, or rerouted to MailRerouteAddress (a catch-all).", ("Rejected", "Discarded", "Rerouted")),
    Spec("MailRerouteAddress", Kind.STRING, "",
         "Where mail for unknown names goes when MailToUnknown is Rerouted (an address; a bare name is "
         "in the domain)."),
    Spec("OverQuotaReply", Kind.CHOICE, "Temporary",
         "How a recipient over quota is refused: 452 4.2.2, so the sender retries (Temporary), or "
         "552 5.2.2 at once (Permanent).", ("Temporary", "Permanent")),
)

GROUP_SETTINGS = _specs(
    Spec("RealName", Kind.STRING, "", "The group's display name."),
    Spec("RemoveAuthor", Kind.BOOL, "NO", "Do not send the author a copy of their own message."),
    Spec("RemoveToAndCc", Kind.BOOL, "NO", "Send one copy to members already in To or Cc."),
    Spec("SetReplyTo", Kind.BOOL, "NO", "Set Reply-To to the group's address."),
    Spec("Expand", Kind.BOOL, "YES", "Deliver to the members (NO: hold nothing, refuse mail)."),
    Spec("SharedRoster", Kind.BOOL, "NO", "Members see each other in their XMPP rosters, under the group's "
         "RealName (or its name), with each other's presence, without asking."),
)

_SIZE = re.compile(r"([0-9]+)([KMGT]?)", re.IGNORECASE)
# Not in a one-line value: C0 and C1 controls and DEL (a CR or LF would end the header field a RealName or an
# address is written into, RFC 5322 2.2; the others have no place in a name), and the line and paragraph
# separators, which Python's splitlines() and some clients take for line ends.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Not in a text of several lines (a rule's reply or rejection): the same, but for TAB, LF and CR.
_CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
# The actions whose argument is such a text (a body, or a notice's reason that dsn.py puts on one line).
_TEXT_ACTIONS = {"reply with", "reply to all with", "reject with"}
_NOT_ONE_LINE = "control characters (a line end, a tab, NUL...) are not allowed"
_DIGITS = re.compile(r"[0-9]+")
_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
_YES = {"yes", "true", "on", "1"}
_NO = {"no", "false", "off", "0"}


def _normalize_value(spec: Spec, raw: Any) -> Value:
    if spec.kind is Kind.MODES:
        return _normalize_modes(spec, raw)
    if spec.kind is Kind.RULES:
        return _normalize_rules(spec, raw)
    if spec.kind is Kind.SIEVE:
        if not isinstance(raw, str):
            raise InvalidSetting(f"{spec.name}: expected {spec.kind.value}")
        from polyport.filters.sieve import check_script

        problem = check_script(raw)
        if problem:
            raise InvalidSetting(f"{spec.name}: {problem}")
        return raw
    if isinstance(raw, bool):
        raw = "YES" if raw else "NO"
    if isinstance(raw, int):
        raw = str(raw)
    if not isinstance(raw, str):
        raise InvalidSetting(f"{spec.name}: expected {spec.kind.value}, got {type(raw).__name__}")
    text = raw.strip()
    if spec.kind is Kind.STRING:
        if _CONTROL.search(raw):
            raise InvalidSetting(f"{spec.name}: {_NOT_ONE_LINE}")
        return raw
    if spec.kind is Kind.BOOL:
        if text.lower() in _YES:
            return "YES"
        if text.lower() in _NO:
            return "NO"
    elif spec.kind in (Kind.SIZE, Kind.COUNT):
        if text.lower() == UNLIMITED:
            return UNLIMITED
        if spec.kind is Kind.COUNT and _DIGITS.fullmatch(text):
            return str(int(text))
        match = _SIZE.fullmatch(text)
        if spec.kind is Kind.SIZE and match:
            return f"{int(match.group(1))}{match.group(2).upper()}"
    elif spec.kind is Kind.CHOICE:
        for choice in spec.choices:
            if text.lower() == choice.lower():
                return choice
        raise InvalidSetting(f"{spec.name}: {raw!r} is not one of {', '.join(spec.choices)}")
    raise InvalidSetting(f"{spec.name}: {raw!r} is not {spec.kind.value}")


def _strings(spec: Spec, items: Any, what: str) -> list[list[str]]:
    if not isinstance(items, list):
        raise InvalidSetting(f"{spec.name}: {what} must be an array of arrays")
    out = []
    for item in items:
        parts = item if isinstance(item, list) else [item]
        if not parts or not all(isinstance(p, str | int) for p in parts):
            raise InvalidSetting(f"{spec.name}: each of the {what} is an array of strings")
        out.append([str(p) for p in parts])
    return out


def _normalize_rules(spec: Spec, raw: Any) -> Value:
    if not isinstance(raw, list):
        raise InvalidSetting(f"{spec.name}: expected {spec.kind.value}")
    rules: list[Any] = []
    for rule in raw:
        if not isinstance(rule, list) or len(rule) != 4:
            raise InvalidSetting(f"{spec.name}: each rule is (priority, name, (conditions), (actions))")
        priority, name, conditions, actions = rule
        if not _DIGITS.fullmatch(str(priority)) or int(str(priority)) > 10:
            raise InvalidSetting(f"{spec.name}: a rule's priority is 0 to 10")
        if not isinstance(name, str):
            raise InvalidSetting(f"{spec.name}: a rule's name is a string")
        from polyport.filters.rules import check_rule

        normalized = [str(int(str(priority))), name, _strings(spec, conditions, "conditions"),
                      _strings(spec, actions, "actions")]
        problem = check_rule(normalized) or _rule_control_characters(normalized)
        if problem:
            raise InvalidSetting(f"{spec.name}: rule {name!r}: {problem}")
        rules.append(normalized)
    return rules


def _rule_control_characters(rule: list[Any]) -> str | None:
    """Why a rule holds a control character where it must not, or None. All of a rule is one line (its name,
    the conditions, mailbox names, addresses, flags that IMAP writes in a FLAGS line) but the text of a
    reply or a rejection."""
    _, name, conditions, actions = rule
    if _CONTROL.search(name):
        return f"its name: {_NOT_ONE_LINE}"
    for condition in conditions:
        if any(_CONTROL.search(part) for part in condition):
            return f"condition {condition[0]!r}: {_NOT_ONE_LINE}"
    for verb, *arguments in actions:
        text = verb.lower() in _TEXT_ACTIONS
        if _CONTROL.search(verb) or any((_CONTROL_IN_TEXT if text else _CONTROL).search(a) for a in arguments):
            return f"action {verb!r}: {_NOT_ONE_LINE}"
    return None


def _normalize_modes(spec: Spec, raw: Any) -> Value:
    items: list[Any]
    if isinstance(raw, str):
        if raw.strip().lower() in ("all", "none"):
            return raw.strip().capitalize()
        items = [part for part in re.split(r"[,\s]+", raw.strip().strip("()")) if part]
    elif isinstance(raw, list):
        items = raw
    else:
        raise InvalidSetting(f"{spec.name}: expected {spec.kind.value}")
    known = {mode.lower(): mode for mode in ACCESS_MODES}
    result: list[str] = []
    for item in items:
        mode = known.get(str(item).lower())
        if mode is None:
            raise InvalidSetting(f"{spec.name}: {item!r} is not an access mode "
                                 f"(known: All, None, {', '.join(ACCESS_MODES)})")
        if mode not in result:
            result.append(mode)
    return result


# A setting Polyport does not use (CommuniGate has well over a hundred, and integrations send them in
# their defaults): kept as given, stored, returned, inherited, used by nothing; never an error when it is
# well formed: a CommuniGate-style name, and strings, arrays and dictionaries of them.
_UNUSED_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_UNUSED_DEPTH = 4
# Names that are not settings though they travel with them in CommuniGate's dictionaries (the password,
# a group's members): each has its own command, and must never be stored as a setting's plain text.
RESERVED = frozenset({"password", "members"})
# What an object's unused settings may take together (as JSON): they are read with every effective setting.
UNUSED_MAX = 64 * 1024
# In an unused setting's text: line ends and tabs (multi-line values exist), no other control character.
_UNUSED_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def normalize(schema: Mapping[str, Spec], key: str, raw: Any) -> Value:
    """The canonical stored form of `raw` for setting `key`, or InvalidSetting saying why."""
    name = canonical_key(schema, key)  # any case, as CommuniGate accepts; stored in the canonical spelling
    spec = schema.get(name)
    if spec is None:
        return _unused_value(name, raw, 0)
    return _normalize_value(spec, raw)


def _unused_value(key: str, raw: Any, depth: int) -> Value:
    if isinstance(raw, bool):
        return "YES" if raw else "NO"
    if isinstance(raw, int | str):
        if isinstance(raw, str) and _UNUSED_CONTROL.search(raw):
            raise InvalidSetting(f"{key}: control characters other than line ends and tabs are not allowed")
        return str(raw)
    if depth < _UNUSED_DEPTH and isinstance(raw, list):
        return [_unused_value(key, item, depth + 1) for item in raw]
    if depth < _UNUSED_DEPTH and isinstance(raw, dict):
        return {str(k): _unused_value(key, item, depth + 1) for k, item in raw.items()}
    raise InvalidSetting(f"{key}: a setting Polyport does not use holds strings, and arrays and dictionaries "
                         f"of them, {_UNUSED_DEPTH} deep at most")


def unused(schema: Mapping[str, Spec], settings: Iterable[str]) -> list[str]:
    """Those of the settings' names that Polyport does not use (kept for CommuniGate's integrations)."""
    return [key for key in settings if key not in schema]


def server_only(schema: Mapping[str, Spec], keys: Iterable[str]) -> list[str]:
    """Those of `keys` that only server administrators may change (a setting Polyport does not use too:
    should a later version use it, no domain administrator's value may be waiting for it)."""
    result = []
    for key in keys:
        name = canonical_key(schema, key)
        spec = schema.get(name)
        if spec is None or spec.server:
            result.append(name)
    return result


def canonical_key(schema: Mapping[str, Spec], key: str) -> str:
    """A known setting's spelling whatever the case; an unused one's as given, if it is a setting name."""
    if key in schema:
        return key
    for name in schema:
        if name.lower() == key.lower():
            return name
    if key.lower() in RESERVED:
        raise InvalidSetting(f"{key} is not a setting: set it with its own command (a password with "
                             f"passwd or SETACCOUNTPASSWORD, members with the group's)")
    if _UNUSED_KEY.fullmatch(key):
        return key
    raise InvalidSetting(f"{key!r} is not a setting name (a letter, then letters, digits, '_', '-' or '.')")


def _forget(schema: Mapping[str, Spec], result: Dictionary, name: str) -> None:
    """Drop `name` from `result`, in any case for a setting Polyport does not use (a known one has one
    spelling already): CommuniGate's names are case-insensitive."""
    result.pop(name, None)
    if name not in schema:
        folded = name.lower()
        for other in [key for key in result if key.lower() == folded]:
            del result[other]


def _bounded(schema: Mapping[str, Spec], result: Dictionary) -> Dictionary:
    unused_keys = unused(schema, result)
    if unused_keys and len(json.dumps({key: result[key] for key in unused_keys})) > UNUSED_MAX:
        raise InvalidSetting(f"the settings Polyport does not use take more than {UNUSED_MAX // 1024} KiB together")
    return result


def validate(schema: Mapping[str, Spec], values: Mapping[str, Any]) -> Dictionary:
    """A whole dictionary, normalized (for SET..., which replaces); `default` values are dropped."""
    result: Dictionary = {}
    for key, raw in values.items():
        name = canonical_key(schema, key)
        _forget(schema, result, name)
        if not (isinstance(raw, str) and raw.lower() == DEFAULT):
            result[name] = normalize(schema, name, raw)
    return _bounded(schema, result)


def merge(schema: Mapping[str, Spec], current: Mapping[str, Any], changes: Mapping[str, Any]) -> Dictionary:
    """`current` with `changes` applied (for UPDATE...): `default` removes a key."""
    result = dict(current)
    for key, raw in changes.items():
        name = canonical_key(schema, key)
        _forget(schema, result, name)
        if not (isinstance(raw, str) and raw.lower() == DEFAULT):
            result[name] = normalize(schema, name, raw)
    return _bounded(schema, result)


_DEFAULTS: dict[int, Dictionary] = {}


def schema_defaults(schema: Mapping[str, Spec]) -> Dictionary:
    """The schema's defaults (computed once per schema; callers get their own copy)."""
    defaults = _DEFAULTS.get(id(schema))
    if defaults is None:
        defaults = _DEFAULTS[id(schema)] = {name: spec.default for name, spec in schema.items()}
    return dict(defaults)


def layered(schema: Mapping[str, Spec], layers: Iterable[Mapping[str, Any]]) -> Dictionary:
    """Effective settings: schema defaults, then each layer in turn (most general first)."""
    result = schema_defaults(schema)
    for layer in layers:
        for key, value in layer.items():
            if key not in result and key not in schema:
                _forget(schema, result, key)  # an unused setting overrides a more general one in any case
            result[key] = value
    return result


# -- typed readers ------------------------------------------------------------------------------------

def size_limit(value: Value) -> int | None:
    """Bytes for a SIZE value; None for unlimited."""
    if not isinstance(value, str) or value.lower() == UNLIMITED:
        return None
    match = _SIZE.fullmatch(value.strip())
    if not match:
        return None
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).upper()]


def count_limit(value: Value) -> int | None:
    if not isinstance(value, str) or not _DIGITS.fullmatch(value.strip()):
        return None
    return int(value)


def is_yes(value: Value) -> bool:
    return isinstance(value, str) and value.upper() == "YES"


def access_allowed(modes: Value, mode: str) -> bool:
    """Whether an AccessModes value (All, None, or a list) grants `mode`."""
    if isinstance(modes, str):
        return modes == "All"
    return mode in modes
