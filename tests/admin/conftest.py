"""The administration API on a real store (both backends: these tests use `records`, so they are marked
`store`), with the cast of CommuniGate's rights: the server administrator, a domain administrator with
some rights, one with only the Domain right, plain users, a server administrator inside a tenant domain
(whom the tenant's administrator may not touch), and an account of another domain."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from polyport.admin import Actor
from polyport.auth.credcache import CredentialCache
from polyport.auth.login import Authenticator
from polyport.auth.passwords import PasswordHasher
from polyport.auth.throttle import Throttle
from polyport.bus import LocalBus
from polyport.config import Config
from polyport.directory import Directory
from polyport.mailstore import Mailstore
from polyport.net.trusted import TrustedNetworks
from polyport.queue import Queue
from polyport.store import LocalBlobStore, RecordStore

PASSWORD = "pw-123456"


@dataclass
class Services:
    """What a node's Runtime gives the administration API."""

    directory: Directory
    mailstore: Mailstore
    queue: Queue
    auth: Authenticator
    config: Config
    trusted: TrustedNetworks


@dataclass
class Cast:
    master: Actor  # postmaster@example.com
    boss: Actor  # boss@tenant.test: Domain, CanCreateAccounts, CanModifySettings
    reader: Actor  # reader@tenant.test: Domain alone
    user: Actor  # user@tenant.test: no rights
    fixed: Actor  # fixed@tenant.test: no rights, PWDAllowed=NO, RulesAllowed=None
    root: Actor  # root@tenant.test: Master, inside the tenant's domain
    victim: Actor  # victim@other.test: no rights, another domain


@pytest.fixture
async def services(records: RecordStore, directory: Directory, hasher: PasswordHasher, bus: LocalBus,
                   tmp_path: Path) -> Services:
    blobs = LocalBlobStore(tmp_path / "blobs")
    auth = Authenticator(directory, hasher, CredentialCache(600, 1000),
                         Throttle(window=60, max_per_address=50, max_per_account=50, lockout=60))
    return Services(directory, Mailstore(records, blobs, directory, bus), Queue(records, blobs, None, "mx.test"),
                    auth, Config(), TrustedNetworks([]))


async def _actor(directory: Directory, address: str, rights: list[str], **settings: str) -> Actor:
    info = await directory.create_account(address, password=PASSWORD, rights=rights, settings=settings or None)
    return Actor(f"{info.name}@{info.domain}", info.id, frozenset(rights))


@pytest.fixture
async def cast(services: Services) -> Cast:
    directory = services.directory
    await directory.create_domain("tenant.test")
    await directory.create_domain("other.test")
    return Cast(
        master=await _actor(directory, "postmaster@example.com", ["Master"]),
        boss=await _actor(directory, "boss@tenant.test", ["Domain", "CanCreateAccounts", "CanModifySettings"]),
        reader=await _actor(directory, "reader@tenant.test", ["Domain"]),
        user=await _actor(directory, "user@tenant.test", []),
        fixed=await _actor(directory, "fixed@tenant.test", [], PWDAllowed="NO", RulesAllowed="None"),
        root=await _actor(directory, "root@tenant.test", ["Master"]),
        victim=await _actor(directory, "victim@other.test", []),
    )
