"""imapclient (a third-party IMAP client library) against shared folders: its getacl/setacl, NAMESPACE, and
another account listing, selecting, appending to and being refused in a folder shared with it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from tests.interop.conftest import PASSWORD, MailNode, message


@pytest.fixture
def clients(mail_node: MailNode) -> Iterator[tuple[IMAPClient, str, IMAPClient, str]]:
    """Two accounts, each logged in with imapclient: (owner, owner's name, other, other's name)."""
    made = []
    for _ in range(2):
        address = mail_node.account()
        client = IMAPClient("127.0.0.1", port=mail_node.port("imap"), ssl=False, timeout=30)
        client.login(address, PASSWORD)
        made.append((client, address.split("@")[0]))
    (owner, owner_name), (other, other_name) = made
    yield owner, owner_name, other, other_name
    for client, _ in made:
        client.logout()


def test_getacl_setacl_and_a_shared_folder(clients: tuple[IMAPClient, str, IMAPClient, str]) -> None:
    owner, owner_name, other, other_name = clients
    assert {b"ACL", b"RIGHTS=TEXK"} <= {cap.upper() for cap in owner.capabilities()}
    owner.create_folder("Team")
    owner.append("Team", message(1), flags=[b"\\Seen"])
    assert owner.getacl("Team") == [(owner_name.encode(), b"lrswipkxteacd")]
    owner.setacl("Team", other_name, "lrsi")
    assert owner.getacl("Team") == [(owner_name.encode(), b"lrswipkxteacd"), (other_name.encode(), b"lrsi")]

    shared = f"~{owner_name}/Team"
    assert other.namespace().other == (("~", "/"),)
    assert [name for _, _, name in other.list_folders("", f"~{owner_name}/*")] == [shared]
    selected = other.select_folder(shared)
    assert selected[b"EXISTS"] == 1 and selected[b"READ-WRITE"]
    assert selected[b"PERMANENTFLAGS"] == (b"\\Seen",)
    other.append(shared, message(2), flags=[b"\\Flagged"])  # \Flagged needs "w": dropped
    # \Recent to the other account's session, which sees without claiming (RFC 3501 2.3.2): the owner has not
    # selected Team since either message came, message 2 included (its arrival is no claim).
    assert other.get_flags([1, 2]) == {1: (b"\\Seen", b"\\Recent"), 2: (b"\\Recent",)}
    other.add_flags([2], [b"\\Seen"])
    with pytest.raises(IMAPClientError, match="NOPERM"):
        other.add_flags([1], [b"\\Flagged"])
    with pytest.raises(IMAPClientError, match="NOPERM"):
        other.getacl(shared)

    # The owner takes the grant back: the folder is gone for the other account. (imapclient documents ""
    # as removing an entry, but imaplib sends arguments unquoted, and an empty astring is no argument: the
    # server answers BAD, as the grammar says. Quoted, it is the empty rights string.)
    with pytest.raises(IMAPClientError, match="BAD"):
        owner.setacl("Team", other_name, "")
    owner.setacl("Team", other_name, '""')
    assert owner.getacl("Team") == [(owner_name.encode(), b"lrswipkxteacd")]
    assert other.list_folders("", f"~{owner_name}/*") == []
    with pytest.raises(IMAPClientError, match="NONEXISTENT"):
        other.select_folder(shared)
