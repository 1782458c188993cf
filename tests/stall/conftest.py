"""A node with every built service, shared by a stall test module, and what the tests put in it."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

from polyport.config import MailSettings
from polyport.mailstore import Mailstore
from polyport.store import Statement, Unit
from tests.node_thread import ThreadedNode, node_config

PASSWORD = "stall-pass-1"
# The size limit of messages (SMTP SIZE, IMAP APPENDLIMIT): the default, [mail] max_message_size. What a
# large message costs the loop grows with its size, so a smaller limit here would hide what a node with
# the default limit stalls for.
MAX_SIZE = MailSettings().max_message_size


class StallNode:
    def __init__(self, running: ThreadedNode) -> None:
        self.running = running
        self.ports = {b.service: b.port for b in running.node.bound_listeners()}
        self.counter = 0

    def call(self, coro: Any, timeout: float = 60) -> Any:
        return self.running.call(coro, timeout)

    @property
    def runtime(self) -> Any:
        return self.running.runtime

    @property
    def mailstore(self) -> Mailstore:
        return self.running.runtime.mailstore

    def account(self, name: str = "user", password: str = PASSWORD, domain: str = "example.com") -> str:
        self.counter += 1
        address = f"{name}{self.counter}@{domain}"
        self.call(self.runtime.directory.create_account(address, password=password))
        return address

    def account_id(self, address: str) -> int:
        return int(self.call(self.runtime.directory.account(address)).id)

    def deliver(self, address: str, data: bytes, mailbox: str = "INBOX") -> int:
        """Store a message as delivery does; returns its UID."""
        owner = self.account_id(address)

        async def put() -> int:
            await self.mailstore.ensure_defaults(owner)
            return int((await self.mailstore.append(owner, mailbox, data)).uid)

        return int(self.call(put()))


# Copies of a mailbox's messages, in one statement each way (as tests/imap/test_session_search.py makes
# its hundred thousand): appending them one by one would take minutes.
COPY_MESSAGES = Statement("""
    WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < :copies)
    INSERT INTO messages (mailbox_id, uid, modseq, flags, keywords, internal_date, saved, size, body_id, thread_id)
    SELECT m.mailbox_id, m.uid + :distinct * k.n, m.modseq, m.flags, m.keywords, m.internal_date + k.n, m.saved,
           m.size, m.body_id, m.thread_id
    FROM messages m, k WHERE m.mailbox_id = :mailbox_id""")
COPY_COUNTS = Statement("""
    UPDATE mailboxes SET uidnext = uidnext + :distinct * :copies, messages = messages * (:copies + 1),
           unseen = unseen * (:copies + 1), size = size * (:copies + 1) WHERE id = :mailbox_id""")
COPY_REFS = Statement("""
    UPDATE bodies SET refs = refs + :copies
    WHERE id IN (SELECT body_id FROM messages WHERE mailbox_id = :mailbox_id)""")


def fill(node: StallNode, address: str, messages: list[bytes], copies: int) -> None:
    """INBOX of `address` holding `messages`, then `copies` more copies of them (new UIDs, same bodies)."""
    owner = node.account_id(address)

    async def put() -> int:
        await node.mailstore.ensure_defaults(owner)
        await node.mailstore.append_many(owner, "INBOX", [(data, [], None) for data in messages])
        return int((await node.mailstore.mailbox(owner, "INBOX")).id)

    mailbox_id = node.call(put())

    def copy() -> Unit[None]:
        yield COPY_REFS.run(copies=copies, mailbox_id=mailbox_id)
        yield COPY_MESSAGES.run(copies=copies, distinct=len(messages), mailbox_id=mailbox_id)
        yield COPY_COUNTS.run(copies=copies, distinct=len(messages), mailbox_id=mailbox_id)

    node.call(node.mailstore.store.write(copy()), timeout=120)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StallNode]:
    # Loopback is trusted (plain logins, relaying from it); the probes and the hostile clients connect there.
    extra = f'[network]\ntrusted = ["127.0.0.0/8"]\n[mail]\nmax_message_size = {MAX_SIZE}\n'
    running = ThreadedNode(node_config(tmp_path_factory.mktemp("stall-node"), "imap", 0, extra)).start()
    # The objects alive once the node has started (pytest's and the test modules' among them, which a
    # node's process does not have) are frozen out of the garbage collector's full collections. A full
    # collection walks every object the process tracks, with all threads waiting: in this process
    # 0.1-0.15 s, and more on a loaded machine, whatever command set it off. What is measured here is
    # what a command holds the loop for; how long the collector's pauses are is the node's own matter
    # (the report of issue 12's harness: gc.freeze() after start-up in node.py).
    gc.collect()
    gc.freeze()
    try:
        yield StallNode(running)
    finally:
        gc.unfreeze()
        running.stop()


def big_message(size: int, *, subject: str = "Large", line: bytes = b"lorem ipsum dolor sit amet " * 2) -> bytes:
    """A plain text message of about `size` bytes, in lines of 56 characters."""
    header = (f"From: Alice <alice@example.org>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
              f"Date: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject.replace(' ', '.')}@example.org>\r\n"
              "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n").encode()
    body_line = line + b"\r\n"
    return header + body_line * max(1, (size - len(header)) // len(body_line))
