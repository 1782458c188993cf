"""Mailbox ACLs over the CLI/API: GETMAILBOXACL, SETMAILBOXACL (+/- rights), GETMAILBOXRIGHTS, with AUTH; their
error codes and who may use them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.cliapi.conftest import Cli
from tests.node_thread import ThreadedNode


@pytest.fixture(scope="module")
def people(node: ThreadedNode) -> None:
    directory = node.runtime.directory
    node.call(directory.create_domain("acl.test"))
    node.call(directory.create_domain("far.test"))
    node.call(directory.create_account("chief@acl.test", password="chief-pw", rights=["Domain"]))
    node.call(directory.create_account("other-chief@far.test", password="chief-pw", rights=["Domain"]))
    for name in ("alice", "bob", "carol", "dan", "eve"):
        node.call(directory.create_account(f"{name}@acl.test", password=f"{name}-pw"))
    node.call(directory.create_account("stranger@far.test", password="stranger-pw"))
    store = node.runtime.mailstore
    for name in ("alice", "bob", "carol", "dan", "eve"):
        account_id = node.call(directory.account(f"{name}@acl.test")).id
        node.call(store.ensure_defaults(account_id))
        node.call(store.create(account_id, "Shared"))


@pytest.fixture
def login(people: None, port: int) -> Iterator[Callable[[str, str], Cli]]:
    clients: list[Cli] = []

    def make(user: str, password: str) -> Cli:
        client = Cli(port).login(user, password)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_set_and_get_with_plus_and_minus(people: None, admin: Cli) -> None:
    assert admin.data("GETMAILBOXACL alice@acl.test MAILBOX Shared") == {}
    admin.ok('SETMAILBOXACL alice@acl.test MAILBOX Shared {bob="lr"; anyone="+l"; "-carol"=r;}')
    assert admin.data("GETMAILBOXACL alice@acl.test MAILBOX Shared") == {"anyone": "l", "bob": "lr", "-carol": "r"}
    admin.ok('SETMAILBOXACL alice@acl.test MAILBOX Shared {bob="+iw"; anyone="-l"; "-carol"="";}')
    assert admin.data("GETMAILBOXACL alice@acl.test MAILBOX Shared") == {"bob": "lrwi"}
    # CommuniGate's older letters: c (create) is kx, d (delete) is te; answers show them again.
    admin.ok('SETMAILBOXACL alice@acl.test MAILBOX Shared {bob=lrcd;}')
    assert admin.data("GETMAILBOXACL alice@acl.test MAILBOX Shared") == {"bob": "lrkxtecd"}
    admin.ok("SETMAILBOXACL alice@acl.test MAILBOX Shared {bob=\"\";}")
    assert admin.data("GETMAILBOXACL alice@acl.test MAILBOX Shared") == {}


def test_refusals(people: None, admin: Cli) -> None:
    admin.fails("SETMAILBOXACL alice@acl.test MAILBOX Shared {bob=lrq;}", 501, "not a right")
    admin.fails("SETMAILBOXACL alice@acl.test MAILBOX Shared {nobody=lr;}", 501, "nobody")
    admin.fails("SETMAILBOXACL alice@acl.test MAILBOX Shared {alice=lr;}", 501, "owner")
    admin.fails("SETMAILBOXACL alice@acl.test MAILBOX Shared {stranger@far.test=lr;}", 501)
    admin.fails("SETMAILBOXACL alice@acl.test MAILBOX Shared {bob=(l, r);}", 501, "string")
    # One bad entry and nothing changes.
    admin.fails("SETMAILBOXACL alice@acl.test MAILBOX Shared {bob=lr; nobody=lr;}", 501)
    assert admin.data("GETMAILBOXACL alice@acl.test MAILBOX Shared") == {}
    admin.fails("GETMAILBOXACL nobody@acl.test MAILBOX Shared", 513)
    admin.fails("GETMAILBOXACL alice@acl.test MAILBOX Nowhere", 501, "no mailbox")
    admin.fails("GETMAILBOXACL alice@acl.test Shared", 501)
    admin.fails("GETMAILBOXRIGHTS alice@acl.test MAILBOX Shared", 501, "AUTH")


def test_auth_acts_through_the_acl(people: None, admin: Cli) -> None:
    # bob may read carol's Shared but not administer it: 510; a mailbox he holds no right on is not there.
    admin.ok("SETMAILBOXACL carol@acl.test MAILBOX Shared {bob=lr;}")
    admin.fails("GETMAILBOXACL carol@acl.test MAILBOX Shared AUTH bob@acl.test", 510)
    admin.fails("GETMAILBOXACL carol@acl.test MAILBOX INBOX AUTH bob@acl.test", 501, "no mailbox")
    admin.fails("SETMAILBOXACL carol@acl.test MAILBOX Shared AUTH bob@acl.test {dan=lr;}", 510)
    admin.ok("SETMAILBOXACL carol@acl.test MAILBOX Shared {bob=+a;}")
    admin.ok("SETMAILBOXACL carol@acl.test MAILBOX Shared AUTH bob@acl.test {dan=lr;}")
    assert admin.data("GETMAILBOXACL carol@acl.test MAILBOX Shared AUTH bob@acl.test") == {
        "bob": "lra", "dan": "lr"}
    # The owner as AUTH is the owner; an account of another domain reaches nothing here.
    assert admin.data("GETMAILBOXACL carol@acl.test MAILBOX Shared AUTH carol@acl.test") == {
        "bob": "lra", "dan": "lr"}
    admin.fails("GETMAILBOXACL carol@acl.test MAILBOX Shared AUTH stranger@far.test", 501, "no mailbox")
    admin.fails("GETMAILBOXACL carol@acl.test MAILBOX Shared AUTH ghost@acl.test", 513)


def test_effective_rights(people: None, admin: Cli) -> None:
    admin.ok('SETMAILBOXACL dan@acl.test MAILBOX Shared {anyone=lrs; "-eve"=s; bob=+i;}')
    assert admin.data("GETMAILBOXRIGHTS dan@acl.test MAILBOX Shared AUTH bob@acl.test") == "lrsi"
    assert admin.data("GETMAILBOXRIGHTS dan@acl.test MAILBOX Shared AUTH eve@acl.test") == "lr"
    assert admin.data("GETMAILBOXRIGHTS dan@acl.test MAILBOX INBOX AUTH eve@acl.test") == ""
    assert admin.data("GETMAILBOXRIGHTS dan@acl.test MAILBOX Shared AUTH dan@acl.test") == "lrswipkxteacd"
    assert admin.data("GETMAILBOXRIGHTS dan@acl.test MAILBOX Shared AUTH stranger@far.test") == ""
    admin.fails("GETMAILBOXRIGHTS dan@acl.test MAILBOX Nowhere AUTH stranger@far.test", 501, "no mailbox")


def test_who_may(people: None, login: Callable[[str, str], Cli]) -> None:
    alice = login("alice@acl.test", "alice-pw")
    alice.ok("SETMAILBOXACL * MAILBOX INBOX {eve=lr;}")  # her own mailboxes
    assert alice.data("GETMAILBOXACL alice MAILBOX INBOX") == {"eve": "lr"}
    alice.fails("GETMAILBOXACL eve@acl.test MAILBOX INBOX", 510)
    alice.fails("SETMAILBOXACL eve@acl.test MAILBOX INBOX {alice=lr;}", 510)
    chief = login("chief@acl.test", "chief-pw")
    assert chief.data("GETMAILBOXACL alice@acl.test MAILBOX INBOX") == {"eve": "lr"}
    chief.ok("SETMAILBOXACL eve@acl.test MAILBOX INBOX {alice=lr;}")
    far = login("other-chief@far.test", "chief-pw")
    far.fails("GETMAILBOXACL alice@acl.test MAILBOX INBOX", 510)
    far.fails("SETMAILBOXACL alice@acl.test MAILBOX INBOX {anyone=lr;}", 510)
