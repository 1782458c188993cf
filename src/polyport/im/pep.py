"""Personal eventing (XEP-0163): each account's publish-subscribe nodes (tables xmpp_pep_nodes and
xmpp_pep_items, migration 0018), each with its configuration (xmpp/pubsub.py's NodeConfig, as JSON) and its
items, oldest first. A publish replaces an item of the same id and keeps the node to its `max_items`, in one
unit of work. Limits: MAX_NODES nodes an account, MAX_PAYLOAD bytes an item (an avatar's data is the large
one), MAX_ITEMS items a node."""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from typing import Any

from polyport.errors import ServiceError
from polyport.store import RecordStore, Statement, Unit

MAX_NODES = 100
MAX_ITEMS = 256
MAX_PAYLOAD = 256 * 1024

NODE = Statement("SELECT config FROM xmpp_pep_nodes WHERE account_id = :account_id AND node = :node")
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
    """A node or item past its limits."""


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
                raise PepRefused(f"an account has at most {MAX_NODES} nodes")
            yield CREATE.run(account_id=account_id, node=node, config=json.dumps(config))
            return True

        return await self.records.write(unit())

    async def configure(self, account_id: int, node: str, config: dict[str, Any]) -> None:
        """New configuration for an existing node (items past its max_items go)."""
        def unit() -> Unit[None]:
            yield CONFIGURE.run(account_id=account_id, node=node, config=json.dumps(config))
            yield from self._trim(account_id, node, int(config.get("max_items", 1)))

        return await self.records.write(unit())

    async def publish(self, account_id: int, node: str, item: PepItem, config: dict[str, Any]) -> None:
        """Keep the item (the node created first, with `config`, where it does not exist; items past its
        max_items go). PepRefused past the limits."""
        if len(item.payload.encode()) > MAX_PAYLOAD:
            raise PepRefused(f"an item holds at most {MAX_PAYLOAD // 1024} KiB")

        def unit() -> Unit[None]:
            found = yield NODE.value(account_id=account_id, node=node)
            current = config
            if found is None:
                count = yield COUNT_NODES.value(account_id=account_id)
                if int(count or 0) >= MAX_NODES:
                    raise PepRefused(f"an account has at most {MAX_NODES} nodes")
                yield CREATE.run(account_id=account_id, node=node, config=json.dumps(config))
            else:
                current = dict(json.loads(str(found)))
            yield DELETE_ITEM.run(account_id=account_id, node=node, item_id=item.id)
            if not current.get("persist_items", True):
                yield DELETE_ITEMS.run(account_id=account_id, node=node)  # a transient node: the last only
            yield INSERT_ITEM.run(account_id=account_id, node=node, item_id=item.id, stamp=item.stamp,
                                  payload=item.payload)
            yield from self._trim(account_id, node, int(current.get("max_items", 1)))

        await self.records.write(unit())

    def _trim(self, account_id: int, node: str, keep: int) -> Unit[None]:
        keep = max(1, min(keep, MAX_ITEMS))
        surplus = SURPLUS_PG if self.records.dialect == "postgresql" else SURPLUS
        rows = yield surplus.all(account_id=account_id, node=node, keep=keep)
        for row in rows:
            yield DELETE_SEQ.run(seq=row["seq"])

    async def items(self, account_id: int, node: str) -> list[PepItem]:
        def unit() -> Unit[list[PepItem]]:
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
