"""Personal eventing (XEP-0163): each account's publish-subscribe nodes (tables xmpp_pep_nodes and
xmpp_pep_items, migration 0018), each with its configuration (xmpp/pubsub.py's NodeConfig, as JSON) and its
items, oldest first. A publish replaces an item of the same id and keeps the node to its `max_items`, in one
unit of work that holds the node's row (PostgreSQL: FOR UPDATE), so that two publishes to one node (two
clients republishing a device list) follow each other, each deciding on the node's configuration as it is
then. Limits: MAX_NODES nodes an account, MAX_PAYLOAD bytes an item (an avatar's data is the large one),
MAX_ITEMS items a node, MAX_ACCOUNT_BYTES of items an account."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_NODES = 100
MAX_ITEMS = 256
MAX_PAYLOAD = 256 * 1024
MAX_ACCOUNT_BYTES = 4 * 1024 * 1024

NODE = Statement("SELECT config FROM xmpp_pep_nodes WHERE account_id = :account_id AND node = :node")
NODE_HELD = Statement(
    "SELECT config FROM xmpp_pep_nodes WHERE account_id = :account_id AND node = :node FOR UPDATE")
CREATE_IF_ABSENT = Statement("""
    INSERT INTO xmpp_pep_nodes (account_id, node, config) VALUES (:account_id, :node, :config)
    ON CONFLICT (account_id, node) DO NOTHING""")
ACCOUNT_BYTES = Statement("""
    SELECT COALESCE(SUM(LENGTH(payload)), 0) FROM xmpp_pep_items
    WHERE account_id = :account_id AND NOT (node = :node AND item_id = :item_id)""")
LAST_N = Statement("""
    SELECT item_id, stamp, payload FROM xmpp_pep_items WHERE account_id = :account_id AND node = :node
    ORDER BY seq DESC LIMIT :limit""")
ONE_ITEM = Statement("""
    SELECT item_id, stamp, payload FROM xmpp_pep_items WHERE account_id = :account_id AND node = :node
    AND item_id = :item_id""")
NODES = Statement("SELECT node, config FROM xmpp_pep_nodes WHERE account_id = :account_id ORDER BY node")
COUNT_NODES = Statement("SELECT COUNT(*) FROM xmpp_pep_nodes WHERE account_id = :account_id")
CREATE = Statement("INSERT INTO xmpp_pep_nodes (account_id, node, config) VALUES (:account_id, :node, :config)")
CONFIGURE = Statement("UPDATE xmpp_pep_nodes SET config = :config WHERE account_id = :account_id AND node = :node")
DELETE_NODE = Statement("DELETE FROM xmpp_pep_nodes WHERE account_id = :account_id AND node = :node")
DELETE_ITEMS = Statement("DELETE FROM xmpp_pep_items WHERE account_id = :account_id AND node = :node")
DELETE_ITEM = Statement(
    "DELETE FROM xmpp_pep_items WHERE account_id = :account_id AND node = :node AND item_id = :item_id")
INSERT_ITEM = Statement("""
    INSERT INTO xmpp_pep_items (account_id, node, item_id, stamp, payload)
    VALUES (:account_id, :node, :item_id, :stamp, :payload)""")
ITEMS = Statement("""
    SELECT item_id, stamp, payload FROM xmpp_pep_items WHERE account_id = :account_id AND node = :node
    ORDER BY seq""")
SURPLUS = Statement("""
    SELECT seq FROM xmpp_pep_items WHERE account_id = :account_id AND node = :node
    ORDER BY seq DESC LIMIT -1 OFFSET :keep""")
SURPLUS_PG = Statement("""
    SELECT seq FROM xmpp_pep_items WHERE account_id = :account_id AND node = :node
    ORDER BY seq DESC OFFSET :keep""")
DELETE_SEQ = Statement("DELETE FROM xmpp_pep_items WHERE seq = :seq")


class PepRefused(ServiceError):
    """A node or item past its limits (`what`: "nodes", "size" or "quota")."""

    def __init__(self, message: str, what: str) -> None:
        super().__init__(message)
        self.what = what


@dataclass(frozen=True, slots=True)
class PepItem:
    id: str
    stamp: int  # milliseconds since the epoch
    payload: str  # the item's one child element, as XML


class PepNodes:
    def __init__(self, records: RecordStore) -> None:
        self.records = records

    async def config(self, account_id: int, node: str) -> dict[str, Any] | None:
        """The node's configuration, or None where the account has no such node."""
        def unit() -> Unit[dict[str, Any] | None]:
            found = yield NODE.value(account_id=account_id, node=node)
            return None if found is None else dict(json.loads(str(found)))

        return await self.records.read(unit())

    async def nodes(self, account_id: int) -> dict[str, dict[str, Any]]:
        def unit() -> Unit[dict[str, dict[str, Any]]]:
            rows = yield NODES.all(account_id=account_id)
            return {str(row["node"]): dict(json.loads(str(row["config"]))) for row in rows}

        return await self.records.read(unit())

    async def create(self, account_id: int, node: str, config: dict[str, Any]) -> bool:
        """Create the node; False if it exists."""
        def unit() -> Unit[bool]:
            found = yield NODE.value(account_id=account_id, node=node)
            if found is not None:
                return False
            count = yield COUNT_NODES.value(account_id=account_id)
            if int(count or 0) >= MAX_NODES:
                raise PepRefused(f"an account has at most {MAX_NODES} nodes", "nodes")
            created = yield CREATE_IF_ABSENT.run(account_id=account_id, node=node, config=json.dumps(config))
            return bool(created)

        return await self.records.write(unit())

    async def configure(self, account_id: int, node: str, config: dict[str, Any]) -> None:
        """New configuration for an existing node (items past its max_items go)."""
        def unit() -> Unit[None]:
            yield CONFIGURE.run(account_id=account_id, node=node, config=json.dumps(config))
            yield from self._trim(account_id, node, int(config.get("max_items", 1)))

        return await self.records.write(unit())

    async def publish(self, account_id: int, node: str, item: PepItem,
                      decide: Callable[[dict[str, Any] | None], dict[str, Any]]) -> dict[str, Any]:
        """Keep the item under the configuration `decide` gives for the node as stored (None: there is no
        such node yet; it is made with that configuration); items past its max_items go. The configuration
        used. `decide` may refuse (its exception goes to the caller, nothing stored); PepRefused past the
        limits."""
        if len(item.payload.encode()) > MAX_PAYLOAD:
            raise PepRefused(f"an item holds at most {MAX_PAYLOAD // 1024} KiB", "size")
        held = NODE_HELD if self.records.dialect == "postgresql" else NODE  # SQLite: writes are serial anyway

        def unit() -> Unit[dict[str, Any]]:
            found = yield held.value(account_id=account_id, node=node)
            if found is None:
                count = yield COUNT_NODES.value(account_id=account_id)
                if int(count or 0) >= MAX_NODES:
                    raise PepRefused(f"an account has at most {MAX_NODES} nodes", "nodes")
                yield CREATE_IF_ABSENT.run(account_id=account_id, node=node, config=json.dumps(decide(None)))
                found = yield held.value(account_id=account_id, node=node)  # ours, or one made meanwhile
            config = decide(dict(json.loads(str(found))))
            used = yield ACCOUNT_BYTES.value(account_id=account_id, node=node, item_id=item.id)
            if int(used or 0) + len(item.payload) > MAX_ACCOUNT_BYTES:
                raise PepRefused(f"an account keeps at most {MAX_ACCOUNT_BYTES // 1024 // 1024} MiB of items",
                                 "quota")
            yield DELETE_ITEM.run(account_id=account_id, node=node, item_id=item.id)
            if not config.get("persist_items", True):
                yield DELETE_ITEMS.run(account_id=account_id, node=node)  # a transient node: the last only
            yield INSERT_ITEM.run(account_id=account_id, node=node, item_id=item.id, stamp=item.stamp,
                                  payload=item.payload)
            yield from self._trim(account_id, node, int(config.get("max_items", 1)))
            return config

        return await self.records.write(unit())

    def _trim(self, account_id: int, node: str, keep: int) -> Unit[None]:
        keep = max(1, min(keep, MAX_ITEMS))
        surplus = SURPLUS_PG if self.records.dialect == "postgresql" else SURPLUS
        rows = yield surplus.all(account_id=account_id, node=node, keep=keep)
        for row in rows:
            yield DELETE_SEQ.run(seq=row["seq"])

    async def items(self, account_id: int, node: str, *, last: int | None = None,
                    ids: tuple[str, ...] = ()) -> list[PepItem]:
        """The node's items, oldest first: all, the `last` N, or those of these ids."""
        def unit() -> Unit[list[PepItem]]:
            if ids:
                rows = []
                for item_id in ids[:MAX_ITEMS]:
                    row = yield ONE_ITEM.one(account_id=account_id, node=node, item_id=item_id)
                    if row is not None:
                        rows.append(row)
            elif last is not None:
                rows = list(reversed((yield LAST_N.all(account_id=account_id, node=node, limit=last))))
            else:
                rows = yield ITEMS.all(account_id=account_id, node=node)
            return [PepItem(str(row["item_id"]), int(row["stamp"]), str(row["payload"])) for row in rows]

        return await self.records.read(unit())

    async def retract(self, account_id: int, node: str, item_id: str) -> bool:
        def unit() -> Unit[bool]:
            gone = yield DELETE_ITEM.run(account_id=account_id, node=node, item_id=item_id)
            return bool(gone)

        return await self.records.write(unit())

    async def delete(self, account_id: int, node: str) -> bool:
        def unit() -> Unit[bool]:
            yield DELETE_ITEMS.run(account_id=account_id, node=node)
            gone = yield DELETE_NODE.run(account_id=account_id, node=node)
            return bool(gone)

        return await self.records.write(unit())

    async def last_items(self, account_ids: list[int], nodes: list[str]) -> list[tuple[int, str, dict[str, Any],
                                                                                      PepItem]]:
        """The last item of each of these nodes of these accounts: (account, node, its configuration, item)."""
        nodes = sorted(set(nodes))[:100]
        found: list[tuple[int, str, dict[str, Any], PepItem]] = []
        if not nodes:
            return found
        for start in range(0, len(account_ids), LAST_ITEMS_CHUNK):
            chunk = account_ids[start:start + LAST_ITEMS_CHUNK]
            statement = _last_items_statement(len(chunk), len(nodes))
            params: dict[str, object] = {f"a{n}": account for n, account in enumerate(chunk)}
            params.update({f"n{n}": node for n, node in enumerate(nodes)})

            def unit(statement: Statement = statement, params: dict[str, object] = params) -> Unit[None]:
                rows = yield statement.all(**params)
                found.extend((int(row["account_id"]), str(row["node"]), dict(json.loads(str(row["config"]))),
                              PepItem(str(row["item_id"]), int(row["stamp"]), str(row["payload"]))) for row in rows)

            await self.records.read(unit())
        return found

    async def purge(self, account_id: int, node: str) -> None:
        def unit() -> Unit[None]:
            yield DELETE_ITEMS.run(account_id=account_id, node=node)

        await self.records.write(unit())


@functools.lru_cache(maxsize=256)
def _last_items_statement(accounts: int, nodes: int) -> Statement:
    account_names = ", ".join(f":a{n}" for n in range(accounts))
    node_names = ", ".join(f":n{n}" for n in range(nodes))
    return Statement(f"""
        SELECT n.account_id, n.node, n.config, i.item_id, i.stamp, i.payload
        FROM xmpp_pep_nodes n JOIN xmpp_pep_items i ON i.account_id = n.account_id AND i.node = n.node
        WHERE n.account_id IN ({account_names}) AND n.node IN ({node_names})
        AND i.seq = (SELECT MAX(seq) FROM xmpp_pep_items j WHERE j.account_id = n.account_id
                     AND j.node = n.node)""")  # noqa: S608 (parameter names only)


LAST_ITEMS_CHUNK = 200  # accounts one query asks about


def now_ms() -> int:
    return int(time.time() * 1000)
