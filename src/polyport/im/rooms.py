"""Persistent multi-user chat rooms (XEP-0045) in the record store (table xmpp_rooms, migration 0017): each
room of a MUC service (`conference.<domain>`) by name, with what xmpp/muc.py's `Room.stored` says of it (its
configuration, affiliations and subject) as JSON. Temporary rooms live only in the worker that holds them.
A room's messages are in the room archive (im/archive.py, ROOMS), which goes with the room. At most
MAX_ROOMS persistent rooms a service; past it `save` refuses a new one (RoomsFull)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_ROOMS = 10_000
MAX_LISTED = 1_000  # rooms a service's directory (disco#items) lists at most

DOMAIN = Statement("SELECT domain_id FROM domain_names WHERE name = :domain")
LOAD = Statement("SELECT id, state FROM xmpp_rooms WHERE service = :service AND name = :name")
COUNT = Statement("SELECT COUNT(*) FROM xmpp_rooms WHERE service = :service")
INSERT = Statement("""
    INSERT INTO xmpp_rooms (domain_id, service, name, state, created)
    VALUES (:domain_id, :service, :name, :state, :created)""")
UPDATE = Statement("UPDATE xmpp_rooms SET state = :state WHERE id = :id")
DELETE = Statement("DELETE FROM xmpp_rooms WHERE service = :service AND name = :name")
ALL = Statement("SELECT name, state FROM xmpp_rooms WHERE service = :service ORDER BY name LIMIT :limit")
EVERY = Statement("SELECT service, name, state FROM xmpp_rooms ORDER BY service, name LIMIT :limit")


class RoomsFull(ServiceError):
    """A service holds MAX_ROOMS persistent rooms already."""


class NoSuchDomain(ServiceError):
    """The room's domain is not served here (any more)."""


@dataclass(frozen=True, slots=True)
class StoredRoom:
    id: int
    service: str
    name: str
    state: dict[str, Any]


class RoomStore:
    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def load(self, service: str, name: str) -> StoredRoom | None:
        def unit() -> Unit[StoredRoom | None]:
            row = yield LOAD.one(service=service, name=name)
            return None if row is None else StoredRoom(int(row["id"]), service, name, json.loads(str(row["state"])))

        return await self.records.read(unit())

    async def save(self, service: str, name: str, domain: str, state: dict[str, Any]) -> int:
        """Keep the room (a new one, or new state for one kept); its id."""
        text = json.dumps(state, separators=(",", ":"))

        def unit() -> Unit[int]:
            row = yield LOAD.one(service=service, name=name)
            if row is not None:
                yield UPDATE.run(id=row["id"], state=text)
                return int(row["id"])
            domain_id = yield DOMAIN.value(domain=domain)
            if domain_id is None:
                raise NoSuchDomain(f"{domain} is not served here")
            count = yield COUNT.value(service=service)
            if int(count or 0) >= MAX_ROOMS:
                raise RoomsFull(f"{service} keeps at most {MAX_ROOMS} rooms")
            yield INSERT.run(domain_id=domain_id, service=service, name=name, state=text,
                             created=int(time.time()))
            found = yield LOAD.one(service=service, name=name)
            return int(found["id"])

        return await self.records.write(unit())

    async def delete(self, service: str, name: str) -> bool:
        def unit() -> Unit[bool]:
            gone = yield DELETE.run(service=service, name=name)
            return bool(gone)

        return await self.records.write(unit())

    async def rooms(self, service: str | None = None, limit: int = MAX_LISTED) -> list[StoredRoom]:
        """A service's rooms by name (every service's, where None), at most `limit`."""
        def unit() -> Unit[list[StoredRoom]]:
            if service is None:
                rows = yield EVERY.all(limit=limit)
            else:
                rows = yield ALL.all(service=service, limit=limit)
            return [StoredRoom(0, str(row["service"]) if service is None else service, str(row["name"]),
                               json.loads(str(row["state"]))) for row in rows]

        return await self.records.read(unit())
