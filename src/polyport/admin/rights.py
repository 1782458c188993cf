"""Who acts, and what they may do: the rights checks every administration function makes first.

CommuniGate's model: the server administrator (the `Master` right; postmaster of the main domain) may do
everything; an account with the `Domain` right administers its own domain, and the `CanCreate...` and
`CanModifySettings` rights widen what it may change there; any account may act on some of its own data
(settings users may set, prefs, its password where `PWDAllowed`). A domain administrator never acts on an
account holding rights it does not hold itself (it must not take over the server's administrators), and
to it a domain that does not exist and someone else's look the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from polyport.admin.errors import Forbidden, Hidden
from polyport.auth.login import Authenticator, Identity
from polyport.config import Config
from polyport.directory import Directory, InvalidName, LoginRecord, UnknownDomain
from polyport.mailstore import Mailstore
from polyport.net.trusted import TrustedNetworks
from polyport.queue import Queue

MASTER = "Master"
DOMAIN_ADMIN = "Domain"
CAN_CREATE_ACCOUNTS = "CanCreateAccounts"
CAN_CREATE_ALIASES = "CanCreateAliases"
CAN_CREATE_FORWARDERS = "CanCreateForwarders"
CAN_CREATE_GROUPS = "CanCreateGroups"
CAN_MODIFY_SETTINGS = "CanModifySettings"

HOLDS_MORE = "Not enough access rights: the account holds rights you do not"


class Services(Protocol):
    """What the administration functions act through (a node's `Runtime` is one)."""

    @property
    def directory(self) -> Directory: ...

    @property
    def mailstore(self) -> Mailstore: ...

    @property
    def queue(self) -> Queue: ...

    @property
    def auth(self) -> Authenticator: ...

    @property
    def config(self) -> Config: ...

    @property
    def trusted(self) -> TrustedNetworks: ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: an account (its canonical address, id and rights), or the server itself (`SERVER`: the
    node's own work, or `polyport` run as root on the data folder), which has every right."""

    address: str
    account_id: int | None
    rights: frozenset[str]

    @classmethod
    def of(cls, identity: Identity) -> Actor:
        return cls(identity.address, identity.account_id, frozenset(identity.rights))

    @property
    def is_master(self) -> bool:
        return MASTER in self.rights

    @property
    def domain(self) -> str:
        """The actor's own domain ("" for the server itself)."""
        return self.address.rpartition("@")[2]


SERVER = Actor("", None, frozenset({MASTER}))


def require_master(actor: Actor) -> None:
    if not actor.is_master:
        raise Forbidden()


async def require_domain(directory: Directory, actor: Actor, domain: str, right: str | None = None) -> str:
    """The domain's primary name, if the actor may administer it (with `right`, when given). To a domain
    administrator an unknown domain and someone else's look the same (Hidden)."""
    if actor.is_master:
        return (await directory.domain(domain)).name
    if DOMAIN_ADMIN not in actor.rights or (right is not None and right not in actor.rights):
        raise Forbidden()
    try:
        primary = (await directory.domain(domain)).name
    except (UnknownDomain, InvalidName):
        raise Hidden() from None
    if primary != actor.domain:
        raise Hidden()
    return primary


def _own(actor: Actor, address: str, record: LoginRecord | None) -> bool:
    """Whether `address` (whose login record is `record`) names the actor's own account."""
    return actor.account_id is not None and (
        address.lower() == actor.address or (record is not None and record.account_id == actor.account_id))


async def is_me(directory: Directory, actor: Actor, address: str) -> bool:
    """Whether `address` names the actor's own account (by its name, an alias or a domain alias)."""
    if actor.account_id is None:
        return False
    if address.lower() == actor.address:
        return True
    return _own(actor, address, await directory.login_record(address))


async def require_object(directory: Directory, actor: Actor, address: str, right: str | None = None, *,
                         own: bool = False) -> str:
    """`address` (of an account, alias, forwarder or group), if the actor may act on it: a server
    administrator always; the account itself when `own`; a domain administrator inside its domain (with
    `right`), and never on an account holding rights it does not hold itself."""
    if actor.is_master:
        return address
    record = await directory.login_record(address)
    if own and _own(actor, address, record):
        return address
    await require_domain(directory, actor, address.rpartition("@")[2], right)
    if record is not None and not set(record.rights) <= actor.rights:
        raise Hidden(HOLDS_MORE)
    return address
