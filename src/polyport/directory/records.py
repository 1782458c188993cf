"""The directory's SQL: statements and the units of work the Directory runs (see store/sql.py).

Names reaching here are already canonical (lower-case, validated). Every unit is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgspec

from polyport.auth.passwords import StoredPassword
from polyport.directory.errors import (
    AlreadyExists,
    DomainNotEmpty,
    ProtectedObject,
    UnknownDomain,
    UnknownObject,
)
from polyport.store import Conflict, Row, Statement, Unit

ACCOUNT, ALIAS, FORWARDER, GROUP = "account", "alias", "forwarder", "group"
OBJECT_KINDS = (ACCOUNT, ALIAS, FORWARDER, GROUP)

# Server dictionaries (rows of server_dicts).
MAIN_DOMAIN = "main_domain"
SERVER_ACCOUNT_DEFAULTS = "account_defaults"
SERVER_DOMAIN_DEFAULTS = "domain_defaults"
SERVER_ACCOUNT_PREFS = "account_prefs"
SERVER_SERVICES = "services"  # listener settings changed through the CLI/API (UPDATEMODULE)
SERVER_NETWORK = "network"  # trusted networks set through the CLI/API (SETLANIPS)


def a_kind(kind: str) -> str:
    """ "an account", "a group": for messages."""
    return f"an {kind}" if kind[:1] in "aeiou" else f"a {kind}"


def dumps(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def loads(text: str) -> Any:
    return msgspec.json.decode(text)


GET_DICT = Statement("SELECT data FROM server_dicts WHERE name = :name")
ENSURE_DICT = Statement("INSERT INTO server_dicts (name, data) VALUES (:name, '{}') ON CONFLICT (name) DO NOTHING")
GET_DICT_FOR_UPDATE = Statement("SELECT data FROM server_dicts WHERE name = :name FOR UPDATE")
PUT_DICT = Statement("""
    INSERT INTO server_dicts (name, data) VALUES (:name, :data)
    ON CONFLICT (name) DO UPDATE SET data = excluded.data""")

FIND_DOMAIN = Statement("""
    SELECT d.id AS id, p.name AS name
    FROM domain_names a
    JOIN domain_names p ON p.domain_id = a.domain_id AND p.is_alias = 0
    JOIN domains d ON d.id = a.domain_id
    WHERE a.name = :name""")
DOMAIN_ROW = Statement("""
    SELECT id, settings, account_defaults, account_template, account_prefs, created FROM domains
    WHERE id = :id""")
DOMAIN_ROW_FOR_UPDATE = Statement("""
    SELECT id, settings, account_defaults, account_template, account_prefs, created FROM domains
    WHERE id = :id FOR UPDATE""")
LIST_DOMAINS = Statement("SELECT name FROM domain_names WHERE is_alias = 0 ORDER BY name")
DOMAIN_ALIASES = Statement(
    "SELECT name FROM domain_names WHERE domain_id = :id AND is_alias = 1 ORDER BY name")
INSERT_DOMAIN = Statement("""
    INSERT INTO domains (settings, account_defaults, account_template, created)
    VALUES (:settings, '{}', '{}', :created) RETURNING id""")
INSERT_DOMAIN_NAME = Statement(
    "INSERT INTO domain_names (name, domain_id, is_alias) VALUES (:name, :domain_id, :is_alias)")
RENAME_DOMAIN = Statement("UPDATE domain_names SET name = :new WHERE domain_id = :id AND is_alias = 0")
DELETE_DOMAIN_ALIASES = Statement("DELETE FROM domain_names WHERE domain_id = :id AND is_alias = 1")
DELETE_DOMAIN = Statement("DELETE FROM domains WHERE id = :id")
COUNT_OBJECTS = Statement("SELECT count(*) FROM objects WHERE domain_id = :domain_id")
COUNT_KIND = Statement("SELECT count(*) FROM objects WHERE domain_id = :domain_id AND kind = :kind")
SET_DOMAIN_COLUMN = {
    # The column names come from the fixed tuple below, never from input.
    column: Statement(f"UPDATE domains SET {column} = :data WHERE id = :id")  # noqa: S608
    for column in ("settings", "account_defaults", "account_template", "account_prefs")
}

FIND_OBJECT = Statement("""
    SELECT id, kind, target_id, target FROM objects WHERE domain_id = :domain_id AND name = :name""")
OBJECT_BY_ID = Statement("SELECT id, domain_id, name, kind FROM objects WHERE id = :id")
INSERT_OBJECT = Statement("""
    INSERT INTO objects (domain_id, name, kind, target_id, target, created)
    VALUES (:domain_id, :name, :kind, :target_id, :target, :created) RETURNING id""")
DELETE_OBJECT = Statement("DELETE FROM objects WHERE id = :id")
MOVE_OBJECT = Statement("UPDATE objects SET domain_id = :domain_id, name = :name WHERE id = :id")
MOVE_ALIASES = Statement("UPDATE objects SET domain_id = :domain_id WHERE target_id = :id")
SET_TARGET = Statement("UPDATE objects SET target = :target WHERE id = :id")
LIST_KIND = Statement("""
    SELECT o.name AS name, o.target AS target, t.name AS target_name
    FROM objects o LEFT JOIN objects t ON t.id = o.target_id
    WHERE o.domain_id = :domain_id AND o.kind = :kind ORDER BY o.name""")
LIST_OBJECTS = Statement("""
    SELECT o.name AS name, o.kind AS kind, o.target AS target, t.name AS target_name, a.storage AS storage
    FROM objects o LEFT JOIN objects t ON t.id = o.target_id LEFT JOIN accounts a ON a.id = o.id
    WHERE o.domain_id = :domain_id AND o.name > :after AND o.name LIKE :pattern ESCAPE '!'
      AND o.kind IN (:k1, :k2, :k3, :k4)
    ORDER BY o.name LIMIT :limit""")
COUNT_KIND = Statement("SELECT count(*) FROM objects WHERE domain_id = :domain_id AND kind = :kind")
COUNT_MATCHING = Statement("""
    SELECT count(*) FROM objects
    WHERE domain_id = :domain_id AND name LIKE :pattern ESCAPE '!' AND kind IN (:k1, :k2, :k3, :k4)""")
ACCOUNT_ALIASES = Statement(
    "SELECT name FROM objects WHERE target_id = :id AND kind = 'alias' ORDER BY name")
DELETE_ACCOUNT_ALIASES = Statement("DELETE FROM objects WHERE target_id = :id AND kind = 'alias'")

INSERT_ACCOUNT = Statement("""
    INSERT INTO accounts (id, storage, settings, prefs, rights, password_hash, scram_sha256, scram_sha1,
                          password_secret, password_changed)
    VALUES (:id, :storage, :settings, '{}', :rights, :password_hash, :scram_sha256, :scram_sha1, :password_secret,
            :password_changed)""")
ACCOUNT_ROW = Statement("""
    SELECT storage, settings, prefs, rights, password_hash, scram_sha256 FROM accounts WHERE id = :id""")
LIST_ACCOUNTS = Statement("""
    SELECT o.name AS name, a.storage AS storage FROM objects o JOIN accounts a ON a.id = o.id
    WHERE o.domain_id = :domain_id ORDER BY o.name""")
SET_ACCOUNT_COLUMN = {
    column: Statement(f"UPDATE accounts SET {column} = :data WHERE id = :id")  # noqa: S608
    for column in ("settings", "prefs", "rights")
}
SET_PASSWORD = Statement("""
    UPDATE accounts SET password_hash = :password_hash, scram_sha256 = :scram_sha256, scram_sha1 = :scram_sha1,
                        password_secret = :password_secret, password_changed = :changed
    WHERE id = :id""")
# SCRAM-SHA-1's keys for an account made before they were kept, unless its password changed meanwhile.
SET_SCRAM_SHA1 = Statement("""
    UPDATE accounts SET scram_sha1 = :scram_sha1 WHERE id = :id AND password_hash = :password_hash""")
# The account of a name or alias, locked for a read-modify-write of its dictionaries.
ACCOUNT_FOR_UPDATE = Statement("""
    SELECT a.id AS id, a.settings AS settings, a.prefs AS prefs, a.rights AS rights
    FROM domain_names n
    JOIN objects o ON o.domain_id = n.domain_id AND o.name = :name AND o.kind IN ('account', 'alias')
    LEFT JOIN objects t ON t.id = o.target_id
    JOIN accounts a ON a.id = COALESCE(t.id, o.id)
    WHERE n.name = :domain FOR UPDATE OF a""")
SET_STORAGE = Statement("UPDATE accounts SET storage = :storage WHERE id = :id")
RECORD_LOGIN = Statement("UPDATE accounts SET last_login = :at, last_address = :address WHERE id = :id")
ACCOUNT_INFO = Statement("""
    SELECT o.created AS created, a.password_changed AS password_changed, a.last_login AS last_login,
           a.last_address AS last_address
    FROM objects o JOIN accounts a ON a.id = o.id WHERE o.id = :id""")

INSERT_GROUP = Statement("INSERT INTO groups (id, settings) VALUES (:id, :settings)")
GROUP_SETTINGS = Statement("SELECT settings FROM groups WHERE id = :id")
GROUP_SETTINGS_FOR_UPDATE = Statement("SELECT settings FROM groups WHERE id = :id FOR UPDATE")
SET_GROUP_SETTINGS = Statement("UPDATE groups SET settings = :settings WHERE id = :id")
GROUP_MEMBERS = Statement(
    "SELECT address FROM group_members WHERE group_id = :id ORDER BY position")
CLEAR_MEMBERS = Statement("DELETE FROM group_members WHERE group_id = :id")
INSERT_MEMBER = Statement(
    "INSERT INTO group_members (group_id, position, address) VALUES (:id, :position, :address)")


# -- shared steps --------------------------------------------------------------------------------------

def server_dict(name: str) -> Unit[dict[str, Any]]:
    data = yield GET_DICT.value(name=name)
    return loads(data) if data else {}


def put_server_dict(name: str, value: Any) -> Unit[None]:
    yield PUT_DICT.run(name=name, data=dumps(value))


def main_domain_name() -> Unit[str]:
    name = yield GET_DICT.value(name=MAIN_DOMAIN)
    if not name:
        raise UnknownDomain("the store has no main domain yet (start the node once to create it)")
    return str(loads(name))


def find_domain(name: str) -> Unit[tuple[int, str]]:
    """(id, primary name) of a domain, by its name or one of its aliases."""
    row = yield FIND_DOMAIN.one(name=name)
    if row is None:
        raise UnknownDomain(f"unknown domain {name}")
    return int(row["id"]), str(row["name"])


def domain_row(domain_id: int) -> Unit[Row]:
    row = yield DOMAIN_ROW.one(id=domain_id)
    return row


@dataclass(frozen=True, slots=True)
class FoundObject:
    id: int
    domain_id: int
    domain: str  # primary name
    name: str
    kind: str
    target_id: int | None
    target: str | None

    @property
    def address(self) -> str:
        return f"{self.name}@{self.domain}"


def find_object(name: str, domain: str, kind: str | None = None, *,
                looking_for: str | None = None) -> Unit[FoundObject]:
    """The object `name` in `domain` (of `kind`, if given); UnknownObject names what was looked for."""
    domain_id, primary = yield from find_domain(domain)
    row = yield FIND_OBJECT.one(domain_id=domain_id, name=name)
    if row is None or (kind is not None and row["kind"] != kind):
        what = looking_for or kind or "object"
        raise UnknownObject(f"unknown {what} {name}@{primary}", what)
    return FoundObject(int(row["id"]), domain_id, primary, name, str(row["kind"]),
                       row["target_id"], row["target"])


def find_account(name: str, domain: str) -> Unit[FoundObject]:
    """An account by its name or by one of its aliases."""
    found = yield from find_object(name, domain, looking_for=ACCOUNT)
    if found.kind == ALIAS and found.target_id is not None:
        row = yield OBJECT_BY_ID.one(id=found.target_id)
        return FoundObject(int(row["id"]), found.domain_id, found.domain, str(row["name"]), ACCOUNT,
                           None, None)
    if found.kind != ACCOUNT:
        raise UnknownObject(f"{found.address} is a {found.kind}, not an account", ACCOUNT)
    return found


def insert_object(domain_id: int, domain: str, name: str, kind: str, created: int, *,
                  target_id: int | None = None, target: str | None = None) -> Unit[int]:
    existing = yield FIND_OBJECT.one(domain_id=domain_id, name=name)
    if existing is not None:
        raise AlreadyExists(f"{name}@{domain} already exists ({a_kind(existing['kind'])})",
                            str(existing["kind"]))
    try:
        object_id = yield INSERT_OBJECT.value(domain_id=domain_id, name=name, kind=kind,
                                              target_id=target_id, target=target, created=created)
    except Conflict:
        # Another transaction took the name between our check and our insert.
        raise AlreadyExists(f"{name}@{domain} already exists", kind) from None
    return int(object_id)


def check_limit(domain_id: int, kind: str, limit: int | None, domain: str) -> Unit[None]:
    if limit is None:
        return
    count = yield COUNT_KIND.value(domain_id=domain_id, kind=kind)
    if int(count) >= limit:
        raise AlreadyExists(f"{domain} already holds its limit of {limit} {kind}s", kind)


# -- domains -------------------------------------------------------------------------------------------

def create_domain(name: str, settings: dict[str, Any], created: int) -> Unit[int]:
    taken = yield FIND_DOMAIN.one(name=name)
    if taken is not None:
        what = "domain" if taken["name"] == name else f"alias of {taken['name']}"
        raise AlreadyExists(f"{name} already exists (a {what})", "domain")
    domain_id = yield INSERT_DOMAIN.value(settings=dumps(settings), created=created)
    try:
        yield INSERT_DOMAIN_NAME.run(name=name, domain_id=domain_id, is_alias=0)
    except Conflict:
        raise AlreadyExists(f"{name} already exists", "domain") from None
    return int(domain_id)


def delete_domain(name: str, force: bool) -> Unit[str]:
    domain_id, primary = yield from find_domain(name)
    main = yield from main_domain_name()
    if primary == main:
        raise ProtectedObject(f"{primary} is the main domain and cannot be removed")
    if not force:
        count = yield COUNT_OBJECTS.value(domain_id=domain_id)
        if count:
            raise DomainNotEmpty(f"{primary} still holds {count} accounts, aliases, forwarders or groups; "
                                 f"remove them first or force it")
    yield DELETE_DOMAIN.run(id=domain_id)
    return primary


def rename_domain(old: str, new: str) -> Unit[str]:
    domain_id, primary = yield from find_domain(old)
    taken = yield FIND_DOMAIN.one(name=new)
    if taken is not None:
        raise AlreadyExists(f"{new} already exists", "domain")
    try:
        yield RENAME_DOMAIN.run(new=new, id=domain_id)
    except Conflict:
        raise AlreadyExists(f"{new} already exists", "domain") from None
    main = yield from main_domain_name()
    if primary == main:
        yield from put_server_dict(MAIN_DOMAIN, new)
    return primary


def set_domain_aliases(name: str, aliases: list[str]) -> Unit[str]:
    domain_id, primary = yield from find_domain(name)
    yield DELETE_DOMAIN_ALIASES.run(id=domain_id)
    for alias in aliases:
        taken = yield FIND_DOMAIN.one(name=alias)
        if taken is not None:
            raise AlreadyExists(f"{alias} is already the name of {taken['name']}", "domain")
        yield INSERT_DOMAIN_NAME.run(name=alias, domain_id=domain_id, is_alias=1)
    return primary


def domain_aliases(domain_id: int) -> Unit[list[str]]:
    rows = yield DOMAIN_ALIASES.all(id=domain_id)
    return [str(r["name"]) for r in rows]


def domain_dict(name: str, column: str) -> Unit[dict[str, Any]]:
    domain_id, _ = yield from find_domain(name)
    row = yield from domain_row(domain_id)
    return loads(row[column])  # type: ignore[no-any-return]


def update_domain_dict(name: str, column: str, change: Any) -> Unit[dict[str, Any]]:
    """Apply `change(current) -> new` to one of a domain's dictionaries."""
    domain_id, _ = yield from find_domain(name)
    row = yield DOMAIN_ROW_FOR_UPDATE.one(id=domain_id)
    new = change(loads(row[column]))
    yield SET_DOMAIN_COLUMN[column].run(data=dumps(new), id=domain_id)
    return new  # type: ignore[no-any-return]


def update_server_dict(name: str, change: Any) -> Unit[dict[str, Any]]:
    yield ENSURE_DICT.run(name=name)  # a row to lock, even the first time
    data = yield GET_DICT_FOR_UPDATE.value(name=name)
    current = loads(data) if data else {}
    new = change(current)
    yield from put_server_dict(name, new)
    return new  # type: ignore[no-any-return]


# -- accounts ------------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class NewAccount:
    name: str
    domain: str
    storage: str
    settings: dict[str, Any]  # explicit settings given by the caller, normalized
    rights: list[str]
    password: StoredPassword | None


def new_account_layers(domain: str) -> Unit[list[dict[str, Any]]]:
    """The settings layers a new account of `domain` starts with: server defaults, the domain's account
    defaults, and its template (to which the new account's own settings are added)."""
    domain_id, _ = yield from find_domain(domain)
    row = yield from domain_row(domain_id)
    server_defaults = yield from server_dict(SERVER_ACCOUNT_DEFAULTS)
    return [server_defaults, loads(row["account_defaults"]), loads(row["account_template"])]


def create_account(new: NewAccount, created: int, max_accounts: Any) -> Unit[tuple[int, str]]:
    """Create an account starting from its domain's template; `max_accounts(domain_settings_layers)`
    gives the domain's limit."""
    domain_id, primary = yield from find_domain(new.domain)
    row = yield DOMAIN_ROW_FOR_UPDATE.one(id=domain_id)  # limits hold under concurrency
    server_defaults = yield from server_dict(SERVER_DOMAIN_DEFAULTS)
    limit = max_accounts([server_defaults, loads(row["settings"])])
    yield from check_limit(domain_id, ACCOUNT, limit, primary)
    settings = {**loads(row["account_template"]), **new.settings}
    account_id = yield from insert_object(domain_id, primary, new.name, ACCOUNT, created)
    stored = new.password
    yield INSERT_ACCOUNT.run(id=account_id, storage=new.storage, settings=dumps(settings),
                             rights=dumps(new.rights), password_hash=stored.password_hash if stored else "",
                             scram_sha256=stored.scram_sha256 if stored else "",
                             scram_sha1=stored.scram_sha1 if stored else "",
                             password_secret=stored.secret if stored else "",
                             password_changed=created if stored else None)
    return account_id, primary


@dataclass(frozen=True, slots=True)
class AccountRecord:
    found: FoundObject
    storage: str
    settings: dict[str, Any]
    prefs: dict[str, Any]
    rights: list[str]
    password_hash: str
    scram_sha256: str
    aliases: list[str]


def account_record(name: str, domain: str) -> Unit[AccountRecord]:
    found = yield from find_account(name, domain)
    row = yield ACCOUNT_ROW.one(id=found.id)
    alias_rows = yield ACCOUNT_ALIASES.all(id=found.id)
    return AccountRecord(found, str(row["storage"]), loads(row["settings"]), loads(row["prefs"]),
                         loads(row["rights"]), str(row["password_hash"]), str(row["scram_sha256"]),
                         [str(r["name"]) for r in alias_rows])


# An account (by its name or an alias's) with everything its effective settings need, in one statement:
# this is the path of every login and settings lookup. (The two server dictionaries are named literally:
# SERVER_ACCOUNT_DEFAULTS and SERVER_DOMAIN_DEFAULTS above.)
_ACCOUNT_VIEW_COLUMNS = """
    p.name AS domain, d.id AS domain_id, a.storage AS storage, a.settings AS settings, a.rights AS rights,
    a.password_hash AS password_hash, a.scram_sha256 AS scram_sha256, a.scram_sha1 AS scram_sha1,
    a.password_secret AS password_secret,
    d.account_defaults AS account_defaults, d.settings AS domain_settings,
    (SELECT data FROM server_dicts WHERE name = 'account_defaults') AS server_account_defaults,
    (SELECT data FROM server_dicts WHERE name = 'domain_defaults') AS server_domain_defaults"""
ACCOUNT_VIEW = Statement(f"""
    SELECT COALESCE(t.id, o.id) AS id, COALESCE(t.name, o.name) AS name, {_ACCOUNT_VIEW_COLUMNS}
    FROM domain_names n
    JOIN domains d ON d.id = n.domain_id
    JOIN domain_names p ON p.domain_id = d.id AND p.is_alias = 0
    JOIN objects o ON o.domain_id = d.id AND o.name = :name AND o.kind IN ('account', 'alias')
    LEFT JOIN objects t ON t.id = o.target_id
    JOIN accounts a ON a.id = COALESCE(t.id, o.id)
    WHERE n.name = :domain""")  # noqa: S608  (the f-string inserts a constant column list)
# The same by the account's id: a session re-reads who it is logged in as.
ACCOUNT_VIEW_BY_ID = Statement(f"""
    SELECT o.id AS id, o.name AS name, {_ACCOUNT_VIEW_COLUMNS}
    FROM accounts a
    JOIN objects o ON o.id = a.id
    JOIN domains d ON d.id = o.domain_id
    JOIN domain_names p ON p.domain_id = d.id AND p.is_alias = 0
    WHERE a.id = :id""")  # noqa: S608


@dataclass(frozen=True, slots=True)
class AccountView:
    id: int
    name: str
    domain: str
    domain_id: int
    storage: str
    rights: list[str]
    password_hash: str
    scram_sha256: str
    password_secret: str
    account_layers: list[dict[str, Any]]  # server defaults, domain's account defaults, the account's own
    domain_layers: list[dict[str, Any]]  # server domain defaults, the domain's own settings
    scram_sha1: str = ""

    @property
    def address(self) -> str:
        return f"{self.name}@{self.domain}"


def account_view(name: str, domain: str) -> Unit[AccountView | None]:
    """The account `name` (or the account of alias `name`) in `domain`, or None."""
    row = yield ACCOUNT_VIEW.one(name=name, domain=domain)
    return to_account_view(row)


def to_account_view(row: Row | None) -> AccountView | None:
    if row is None:
        return None
    return AccountView(
        int(row["id"]), str(row["name"]), str(row["domain"]), int(row["domain_id"]), str(row["storage"]),
        loads(row["rights"]), str(row["password_hash"]), str(row["scram_sha256"]), str(row["password_secret"]),
        [loads(row["server_account_defaults"] or "{}"), loads(row["account_defaults"]), loads(row["settings"])],
        [loads(row["server_domain_defaults"] or "{}"), loads(row["domain_settings"])], str(row["scram_sha1"]))


def account_layers(name: str, domain: str) -> Unit[AccountView]:
    """The account, with its settings layers; UnknownDomain or UnknownObject saying what is missing."""
    view = yield from account_view(name, domain)
    if view is None:
        yield from find_account(name, domain)  # raises the precise error
        raise UnknownObject(f"unknown account {name}@{domain}", ACCOUNT)
    return view


def update_account_column(name: str, domain: str, column: str, change: Any) -> Unit[dict[str, Any]]:
    """Apply `change(current) -> new` to an account's settings, prefs or rights (by name or alias)."""
    row = yield ACCOUNT_FOR_UPDATE.one(name=name, domain=domain)
    if row is None:
        yield from find_account(name, domain)  # raises the precise error
        raise UnknownObject(f"unknown account {name}@{domain}", ACCOUNT)
    new = change(loads(row[column]))
    yield SET_ACCOUNT_COLUMN[column].run(data=dumps(new), id=row["id"])
    return new  # type: ignore[no-any-return]


def set_password(account_id: int, stored: StoredPassword, changed: int) -> Unit[None]:
    yield SET_PASSWORD.run(password_hash=stored.password_hash, scram_sha256=stored.scram_sha256,
                           scram_sha1=stored.scram_sha1, password_secret=stored.secret, changed=changed,
                           id=account_id)


def delete_object(name: str, domain: str, kind: str, protected: tuple[str, str] | None) -> Unit[str]:
    found = yield from find_object(name, domain, kind)
    if protected is not None and (found.name, found.domain) == protected:
        raise ProtectedObject(f"{found.address} administers the server and cannot be removed")
    yield DELETE_OBJECT.run(id=found.id)
    return found.address


def rename_object(name: str, domain: str, kind: str, new_name: str, new_domain: str,
                  protected: tuple[str, str] | None) -> Unit[tuple[str, str]]:
    found = yield from find_object(name, domain, kind)
    if protected is not None and (found.name, found.domain) == protected:
        raise ProtectedObject(f"{found.address} administers the server and cannot be renamed")
    target_domain_id, target_primary = yield from find_domain(new_domain)
    taken = yield FIND_OBJECT.one(domain_id=target_domain_id, name=new_name)
    if taken is not None:
        raise AlreadyExists(f"{new_name}@{target_primary} already exists ({a_kind(taken['kind'])})",
                            str(taken["kind"]))
    try:
        yield MOVE_OBJECT.run(domain_id=target_domain_id, name=new_name, id=found.id)
    except Conflict:
        raise AlreadyExists(f"{new_name}@{target_primary} already exists", kind) from None
    if kind == ACCOUNT and target_domain_id != found.domain_id:
        try:
            yield MOVE_ALIASES.run(domain_id=target_domain_id, id=found.id)
        except Conflict:
            raise AlreadyExists(f"an alias of {found.address} is already taken in {target_primary}",
                                ALIAS) from None
    return found.address, f"{new_name}@{target_primary}"


def set_account_aliases(name: str, domain: str, aliases: list[str], created: int) -> Unit[list[str]]:
    found = yield from find_account(name, domain)
    yield DELETE_ACCOUNT_ALIASES.run(id=found.id)
    for alias in aliases:
        yield from insert_object(found.domain_id, found.domain, alias, ALIAS, created, target_id=found.id)
    return aliases


def list_kind(domain: str, kind: str) -> Unit[list[Row]]:
    domain_id, _ = yield from find_domain(domain)
    rows = yield LIST_KIND.all(domain_id=domain_id, kind=kind)
    return rows  # type: ignore[no-any-return]


def list_accounts(domain: str) -> Unit[dict[str, str]]:
    domain_id, _ = yield from find_domain(domain)
    rows = yield LIST_ACCOUNTS.all(domain_id=domain_id)
    return {str(r["name"]): str(r["storage"]) for r in rows}


@dataclass(frozen=True, slots=True)
class ObjectEntry:
    name: str
    kind: str
    target: str | None  # alias: the account's name; forwarder: the address
    storage: str | None = None  # account: its storage type


@dataclass(frozen=True, slots=True)
class ObjectPage:
    objects: list[ObjectEntry]
    total: int  # objects matching the filter and kinds, across all pages
    cookie: str  # pass back to get the next page; "" when this was the last


def like_pattern(text: str) -> str:
    escaped = text.replace("!", "!!").replace("%", "!%").replace("_", "!_")
    return f"%{escaped}%"


def count_objects(domain: str) -> Unit[dict[str, int]]:
    """How many objects of each kind a domain holds (an index range each: no row is read)."""
    domain_id, _ = yield from find_domain(domain)
    counts = {}
    for kind in OBJECT_KINDS:
        counts[kind] = int((yield COUNT_KIND.value(domain_id=domain_id, kind=kind)) or 0)
    return counts


def list_objects(domain: str, pattern: str, kinds: tuple[str, ...], limit: int,
                 after: str, count: bool = True) -> Unit[ObjectPage]:
    domain_id, _ = yield from find_domain(domain)
    slots = (list(kinds) + [kinds[0]] * 4)[:4]
    rows = yield LIST_OBJECTS.all(domain_id=domain_id, after=after, pattern=pattern, limit=limit + 1,
                                  k1=slots[0], k2=slots[1], k3=slots[2], k4=slots[3])
    total = -1
    if count:  # matching every object costs a scan of the domain's names; callers that need no total skip it
        total = yield COUNT_MATCHING.value(domain_id=domain_id, pattern=pattern,
                                           k1=slots[0], k2=slots[1], k3=slots[2], k4=slots[3])
    entries = [ObjectEntry(str(r["name"]), str(r["kind"]),
                           str(r["target_name"]) if r["kind"] == ALIAS else r["target"], r["storage"])
               for r in rows[:limit]]
    cookie = entries[-1].name if len(rows) > limit and entries else ""
    return ObjectPage(entries, int(total), cookie)


# -- forwarders and groups -------------------------------------------------------------------------------

def create_forwarder(name: str, domain: str, target: str, created: int,
                     max_forwarders: Any) -> Unit[str]:
    domain_id, primary = yield from find_domain(domain)
    row = yield DOMAIN_ROW_FOR_UPDATE.one(id=domain_id)  # limits hold under concurrency
    server_defaults = yield from server_dict(SERVER_DOMAIN_DEFAULTS)
    yield from check_limit(domain_id, FORWARDER,
                           max_forwarders([server_defaults, loads(row["settings"])]), primary)
    yield from insert_object(domain_id, primary, name, FORWARDER, created, target=target)
    return f"{name}@{primary}"


def create_alias(name: str, domain: str, account: str, account_domain: str, created: int) -> Unit[str]:
    found = yield from find_account(account, account_domain)
    domain_id, primary = yield from find_domain(domain)
    if domain_id != found.domain_id:
        raise UnknownObject(f"an alias lives in its account's domain: {account}@{found.domain} is not "
                            f"in {primary}", ACCOUNT)
    yield from insert_object(domain_id, primary, name, ALIAS, created, target_id=found.id)
    return found.address


def set_forwarder(name: str, domain: str, target: str) -> Unit[str]:
    found = yield from find_object(name, domain, FORWARDER)
    yield SET_TARGET.run(target=target, id=found.id)
    return found.address


@dataclass(frozen=True, slots=True)
class GroupRecord:
    found: FoundObject
    settings: dict[str, Any]
    members: list[str]


def create_group(name: str, domain: str, settings: dict[str, Any], members: list[str], created: int,
                 max_groups: Any) -> Unit[str]:
    domain_id, primary = yield from find_domain(domain)
    row = yield DOMAIN_ROW_FOR_UPDATE.one(id=domain_id)  # limits hold under concurrency
    server_defaults = yield from server_dict(SERVER_DOMAIN_DEFAULTS)
    yield from check_limit(domain_id, GROUP, max_groups([server_defaults, loads(row["settings"])]), primary)
    group_id = yield from insert_object(domain_id, primary, name, GROUP, created)
    yield INSERT_GROUP.run(id=group_id, settings=dumps(settings))
    yield from _write_members(group_id, members)
    return f"{name}@{primary}"


def _write_members(group_id: int, members: list[str]) -> Unit[None]:
    yield CLEAR_MEMBERS.run(id=group_id)
    # Each member once (addresses compared without case, as every mail system treats them), order kept.
    unique: dict[str, str] = {}
    for address in members:
        unique.setdefault(address.lower(), address)
    for position, address in enumerate(unique.values()):
        yield INSERT_MEMBER.run(id=group_id, position=position, address=address)


def group_record(name: str, domain: str) -> Unit[GroupRecord]:
    found = yield from find_object(name, domain, GROUP)
    settings = yield GROUP_SETTINGS.value(id=found.id)
    rows = yield GROUP_MEMBERS.all(id=found.id)
    return GroupRecord(found, loads(settings), [str(r["address"]) for r in rows])


def update_group(name: str, domain: str, settings: Any, members: list[str] | None) -> Unit[str]:
    """`settings(current) -> new`; members replaced when given."""
    found = yield from find_object(name, domain, GROUP)
    current = yield GROUP_SETTINGS_FOR_UPDATE.value(id=found.id)
    yield SET_GROUP_SETTINGS.run(settings=dumps(settings(loads(current))), id=found.id)
    if members is not None:
        yield from _write_members(found.id, members)
    return found.address


# -- mail routing ---------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Route:
    """What one address of a hosted domain is, for delivery (delivery/ expands it)."""

    kind: str  # account, forwarder, group, or "unknown"
    name: str  # the object's name (an alias's account's name for an alias)
    domain: str  # the domain's primary name
    account_id: int | None = None  # account (or alias)
    target: str | None = None  # forwarder's destination address
    members: tuple[str, ...] = ()  # group members
    group_settings: dict[str, Any] | None = None
    domain_layers: tuple[dict[str, Any], ...] = ()  # for an unknown name: server and domain settings

    @property
    def address(self) -> str:
        return f"{self.name}@{self.domain}"


def route(names: tuple[str, ...], domain: str) -> Unit[Route | None]:
    """The first of `names` (the local part, then its base without a +detail) that `domain` has, or an
    "unknown" route with the domain's settings; None when the domain is not hosted here."""
    row = yield FIND_DOMAIN.one(name=domain)
    if row is None:
        return None
    domain_id, primary = int(row["id"]), str(row["name"])
    for name in names:
        found = yield FIND_OBJECT.one(domain_id=domain_id, name=name)
        if found is None:
            continue
        kind = str(found["kind"])
        if kind == ACCOUNT:
            return Route(ACCOUNT, name, primary, account_id=int(found["id"]))
        if kind == ALIAS:
            target = yield OBJECT_BY_ID.one(id=found["target_id"])
            return Route(ACCOUNT, str(target["name"]), primary, account_id=int(target["id"]))
        if kind == FORWARDER:
            return Route(FORWARDER, name, primary, target=str(found["target"]))
        settings = yield GROUP_SETTINGS.value(id=found["id"])
        members = yield GROUP_MEMBERS.all(id=found["id"])
        return Route(GROUP, name, primary, members=tuple(str(m["address"]) for m in members),
                     group_settings=loads(settings))
    domain_row_ = yield DOMAIN_ROW.one(id=domain_id)
    server_defaults = yield from server_dict(SERVER_DOMAIN_DEFAULTS)
    layers = (server_defaults, loads(domain_row_["settings"]))
    return Route("unknown", names[0] if names else "", primary, domain_layers=layers)


# -- DKIM keys --------------------------------------------------------------------------------------------

DOMAIN_KEYS = Statement("""
    SELECT k.selector, k.algorithm, k.private_key FROM domain_keys k
    JOIN domain_names n ON n.domain_id = k.domain_id WHERE n.name = :name ORDER BY k.created, k.selector""")
INSERT_DOMAIN_KEY = Statement("""
    INSERT INTO domain_keys (domain_id, selector, algorithm, private_key, created)
    VALUES (:domain_id, :selector, :algorithm, :private_key, :created) ON CONFLICT DO NOTHING""")


def add_domain_keys(name: str, keys: list[tuple[str, str, str]], created: int) -> Unit[None]:
    domain_id, _ = yield from find_domain(name)
    for selector, algorithm, private_key in keys:
        yield INSERT_DOMAIN_KEY.run(domain_id=domain_id, selector=selector, algorithm=algorithm,
                                    private_key=private_key, created=created)
