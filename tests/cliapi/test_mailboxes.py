"""Mailbox commands: LISTMAILBOXES, CREATEMAILBOX, RENAMEMAILBOX, DELETEMAILBOX, GETMAILBOXINFO,
SETMAILBOXCLASS, GETMAILBOXSUBSCRIPTION, SETMAILBOXSUBSCRIPTION; their error codes and who may use them."""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import pytest

from tests.cliapi.conftest import Cli
from tests.node_thread import POSTMASTER_PASSWORD, ThreadedNode

DEFAULTS = ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]


def message(subject: str, body: str = "Hello.\r\n") -> bytes:
    return (f"From: Alice <alice@example.com>\r\nTo: bob@mbox.test\r\nSubject: {subject}\r\n"
            f"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n\r\n{body}").encode()


@pytest.fixture(scope="module")
def people(node: ThreadedNode) -> None:
    directory = node.runtime.directory
    node.call(directory.create_domain("mbox.test"))
    node.call(directory.create_domain("else.test"))
    node.call(directory.create_account("boss@mbox.test", password="boss-pw", rights=["Domain"]))
    for name in ("bob", "carol", "dave", "erin", "fred", "gina", "hank"):
        node.call(directory.create_account(f"{name}@mbox.test", password=f"{name}-pw"))
    node.call(directory.create_account("stranger@else.test", password="stranger-pw"))


def account_id(node: ThreadedNode, address: str) -> int:
    return node.call(node.runtime.directory.account(address)).id


@pytest.fixture
def user(people: None, port: int) -> Iterator[Cli]:
    client = Cli(port).login("bob@mbox.test", "bob-pw")
    yield client
    client.close()


def test_an_account_lists_inbox_and_the_special_use_mailboxes_from_the_start(people: None, admin: Cli) -> None:
    listed = admin.data("LISTMAILBOXES carol@mbox.test")
    assert isinstance(listed, dict) and sorted(listed) == DEFAULTS
    inbox = listed["INBOX"]
    assert inbox["Messages"] == 0 and inbox["Size"] == 0 and inbox["Unseen"] == 0 and inbox["UIDNEXT"] == 1
    assert isinstance(inbox["UIDVALIDITY"], int) and isinstance(inbox["Created"], datetime.datetime)
    assert "Class" not in inbox and "Recent" not in inbox
    assert listed["Sent"]["SpecialUse"] == "\\Sent"
    assert admin.data("GETMAILBOXSUBSCRIPTION carol@mbox.test") == DEFAULTS


def test_counts_follow_the_messages(people: None, node: ThreadedNode, admin: Cli) -> None:
    owner = account_id(node, "dave@mbox.test")
    admin.data("LISTMAILBOXES dave@mbox.test")  # first use: INBOX exists
    store = node.runtime.mailstore
    node.call(store.append(owner, "INBOX", message("one")))
    node.call(store.append(owner, "INBOX", message("two"), ["\\Seen"]))
    info = admin.data("GETMAILBOXINFO dave@mbox.test MAILBOX INBOX")
    size = len(message("one")) + len(message("two"))
    assert (info["Messages"], info["Size"], info["Unseen"], info["UIDNEXT"]) == (2, size, 1, 3)
    assert info["HIGHESTMODSEQ"] >= 3
    assert admin.data("LISTMAILBOXES dave@mbox.test FILTER inbox")["INBOX"] == info  # INBOX in any case
    admin.fails("GETMAILBOXINFO dave@mbox.test MAILBOX Nowhere", 501, "no mailbox Nowhere")


def test_create_nested_and_list_folders_as_communigate_does(people: None, admin: Cli) -> None:
    admin.ok('CREATEMAILBOX erin@mbox.test MAILBOX "Projects/2026/Q1"')
    listed = admin.data("LISTMAILBOXES erin@mbox.test FILTER Projects*")
    # A mailbox holding other mailboxes maps to an array of its dictionary; a leaf to the dictionary.
    assert sorted(listed) == ["Projects", "Projects/2026", "Projects/2026/Q1"]
    assert isinstance(listed["Projects"], list) and listed["Projects"][0]["Messages"] == 0
    assert isinstance(listed["Projects/2026/Q1"], dict)
    admin.ok("DELETEMAILBOX erin@mbox.test MAILBOX Projects")  # only that one: its children stay
    listed = admin.data("LISTMAILBOXES erin@mbox.test FILTER Projects*")
    assert listed["Projects"] == []  # a folder without a mailbox of its own
    assert sorted(admin.data("LISTMAILBOXES erin@mbox.test FILTER %")) == [*DEFAULTS[:4], "Projects", *DEFAULTS[4:]]
    assert sorted(admin.data('LISTMAILBOXES erin@mbox.test FILTER "Projects/%"')) == ["Projects/2026"]


def test_create_refusals(people: None, admin: Cli) -> None:
    admin.ok('CREATEMAILBOX fred@mbox.test MAILBOX "Lists"')
    admin.fails('CREATEMAILBOX fred@mbox.test MAILBOX "Lists"', 532, "already exists")
    admin.fails("CREATEMAILBOX fred@mbox.test MAILBOX inbox", 532)
    admin.fails('CREATEMAILBOX fred@mbox.test MAILBOX "a//b"', 501, "empty level")
    admin.fails('CREATEMAILBOX fred@mbox.test MAILBOX "a*"', 501, "% or *")
    admin.fails("CREATEMAILBOX fred@mbox.test Lists2", 501, "MAILBOX")
    admin.fails("CREATEMAILBOX fred@mbox.test MAILBOX Lists2 COLOR red", 501)
    admin.fails("CREATEMAILBOX nobody@mbox.test MAILBOX Lists2", 513)
    admin.fails("CREATEMAILBOX fred@nowhere.test MAILBOX Lists2", 513)
    assert "Lists2" not in admin.data("LISTMAILBOXES fred@mbox.test")


def test_the_mailbox_limit_is_kept(people: None, node: ThreadedNode, admin: Cli) -> None:
    admin.ok("UPDATEACCOUNTSETTINGS gina@mbox.test {MaxMailboxes=7;}")
    admin.ok("CREATEMAILBOX gina@mbox.test MAILBOX Seventh")  # the six defaults, then this one
    admin.fails("CREATEMAILBOX gina@mbox.test MAILBOX Eighth", 501, "limit of 7 mailboxes")


def test_mailbox_classes(people: None, admin: Cli) -> None:
    admin.ok("CREATEMAILBOX hank@mbox.test MAILBOX Calendar CLASS IPF.Appointment")
    assert admin.data("GETMAILBOXINFO hank@mbox.test MAILBOX Calendar")["Class"] == "IPF.Appointment"
    admin.ok("CREATEMAILBOX hank@mbox.test MAILBOX Contacts AUTH hank@mbox.test CLASS IPF.Contact")
    assert admin.data("LISTMAILBOXES hank@mbox.test FILTER Contacts")["Contacts"]["Class"] == "IPF.Contact"
    admin.ok("SETMAILBOXCLASS hank@mbox.test MAILBOX Contacts CLASS IPF.Task")
    assert admin.data("GETMAILBOXINFO hank@mbox.test MAILBOX Contacts")["Class"] == "IPF.Task"
    admin.ok('SETMAILBOXCLASS hank@mbox.test MAILBOX Contacts CLASS ""')
    assert "Class" not in admin.data("GETMAILBOXINFO hank@mbox.test MAILBOX Contacts")
    admin.fails('CREATEMAILBOX hank@mbox.test MAILBOX Other CLASS "not a class"', 501, "not a mailbox class")
    admin.fails("CREATEMAILBOX hank@mbox.test MAILBOX Other CLASS A CLASS B", 501, "twice")
    admin.fails("SETMAILBOXCLASS hank@mbox.test MAILBOX Contacts", 501, "CLASS")
    admin.fails("SETMAILBOXCLASS hank@mbox.test MAILBOX Nowhere CLASS IPF.Note", 501, "no mailbox")


def test_rename_one_mailbox_or_the_subtree(people: None, user: Cli) -> None:
    user.ok('CREATEMAILBOX * MAILBOX "Old/Child"')
    user.ok("RENAMEMAILBOX * MAILBOX Old INTO New")  # MAILBOX: that one only
    listed = user.data("LISTMAILBOXES * FILTER *")
    assert "New" in listed and "Old/Child" in listed and listed["Old"] == []
    user.ok('CREATEMAILBOX * MAILBOX "Tree/Leaf/Deep"')
    user.ok("RENAMEMAILBOX * MAILBOXES Tree INTO Forest")  # MAILBOXES: with everything under it
    listed = user.data("LISTMAILBOXES *")
    assert {"Forest", "Forest/Leaf", "Forest/Leaf/Deep"} <= set(listed)
    assert not any(name.startswith("Tree") for name in listed)
    user.fails("RENAMEMAILBOX * MAILBOX New INTO Forest", 532)
    user.fails("RENAMEMAILBOX * MAILBOX Nowhere INTO Else", 501, "no mailbox")
    user.fails('RENAMEMAILBOX * MAILBOX Forest INTO "Forest/Inside"', 501, "cannot rename")
    user.fails("RENAMEMAILBOX * MAILBOX New Else", 501, "INTO")


def test_delete_one_mailbox_or_the_subtree(people: None, user: Cli) -> None:
    user.ok('CREATEMAILBOX * MAILBOX "Gone/A/B"')
    user.ok('CREATEMAILBOX * MAILBOX "Gone/C"')
    user.ok("DELETEMAILBOX * MAILBOXES Gone")
    assert not any(name.startswith("Gone") for name in user.data("LISTMAILBOXES *"))
    user.fails("DELETEMAILBOX * MAILBOX Gone", 501, "no mailbox")
    user.fails("DELETEMAILBOX * MAILBOXES Gone", 501, "no mailbox")
    user.fails("DELETEMAILBOX * MAILBOX INBOX", 501, "INBOX cannot be deleted")
    user.fails("DELETEMAILBOX * MAILBOXES inbox", 501, "INBOX cannot be deleted")
    assert "INBOX" in user.data("LISTMAILBOXES *")


def test_subscriptions(people: None, user: Cli) -> None:
    user.ok('SETMAILBOXSUBSCRIPTION * (INBOX, "Lists/python", Sent, inbox)')
    assert user.data("GETMAILBOXSUBSCRIPTION bob@mbox.test") == ["INBOX", "Lists/python", "Sent"]
    user.fails('SETMAILBOXSUBSCRIPTION * (INBOX, "bad//name")', 501, "empty level")
    assert user.data("GETMAILBOXSUBSCRIPTION *") == ["INBOX", "Lists/python", "Sent"]  # unchanged
    user.fails("SETMAILBOXSUBSCRIPTION * {a=b;}", 501, "array")
    user.fails("SETMAILBOXSUBSCRIPTION *", 501)
    user.ok("SETMAILBOXSUBSCRIPTION * ()")
    assert user.data("GETMAILBOXSUBSCRIPTION *") == []


def test_auth_acts_with_that_accounts_rights_through_the_acl(people: None, admin: Cli) -> None:
    assert "INBOX" in admin.data("LISTMAILBOXES carol@mbox.test AUTH carol@mbox.test")  # the owner: everything
    admin.ok('CREATEMAILBOX carol@mbox.test MAILBOX "Team/Plans"')
    assert admin.data("LISTMAILBOXES carol@mbox.test AUTH bob@mbox.test") == {}  # no ACL entry: nothing shown
    admin.fails("GETMAILBOXINFO carol@mbox.test MAILBOX Team AUTH bob@mbox.test", 501, "no mailbox")
    admin.ok("SETMAILBOXACL carol@mbox.test MAILBOX Team {bob=l;}")
    admin.ok('SETMAILBOXACL carol@mbox.test MAILBOX "Team/Plans" {bob=lr;}')
    # "l" alone shows the name with an empty array; "r" shows the information too.
    assert admin.data("LISTMAILBOXES carol@mbox.test AUTH bob@mbox.test") == {
        "Team": [], "Team/Plans": admin.data('GETMAILBOXINFO carol@mbox.test MAILBOX "Team/Plans"')}
    assert admin.data('LISTMAILBOXES carol@mbox.test FILTER "%" AUTH bob@mbox.test') == {"Team": []}
    admin.fails("GETMAILBOXINFO carol@mbox.test MAILBOX Team AUTH bob@mbox.test", 510, "'r'")
    assert admin.data('GETMAILBOXINFO carol@mbox.test MAILBOX "Team/Plans" AUTH bob@mbox.test')["Messages"] == 0
    admin.fails('CREATEMAILBOX carol@mbox.test MAILBOX "Team/New" AUTH bob@mbox.test', 510, "'k'")
    admin.fails("CREATEMAILBOX carol@mbox.test MAILBOX Top AUTH bob@mbox.test", 510)
    admin.fails('DELETEMAILBOX carol@mbox.test MAILBOX "Team/Plans" AUTH bob@mbox.test', 510, "'x'")
    admin.fails("SETMAILBOXCLASS carol@mbox.test MAILBOX Team AUTH bob@mbox.test CLASS IPF.Note", 510, "'a'")
    admin.ok("SETMAILBOXACL carol@mbox.test MAILBOX Team {bob=+kx;}")
    admin.ok('CREATEMAILBOX carol@mbox.test MAILBOX "Team/New" AUTH bob@mbox.test')  # inherits Team's ACL
    admin.ok('RENAMEMAILBOX carol@mbox.test MAILBOX "Team/New" INTO "Team/Newer" AUTH bob@mbox.test')
    # MAILBOXES needs "x" on every mailbox it deletes: Team/Plans has none for bob, so nothing goes.
    admin.fails("DELETEMAILBOX carol@mbox.test MAILBOXES Team AUTH bob@mbox.test", 510, "'x'")
    assert {"Team", "Team/Plans", "Team/Newer"} <= set(admin.data("LISTMAILBOXES carol@mbox.test"))
    admin.ok('SETMAILBOXACL carol@mbox.test MAILBOX "Team/Plans" {bob=+x;}')
    admin.ok("DELETEMAILBOX carol@mbox.test MAILBOXES Team AUTH bob@mbox.test")
    assert not any(n.startswith("Team") for n in admin.data("LISTMAILBOXES carol@mbox.test"))
    admin.fails("LISTMAILBOXES carol@mbox.test AUTH ghost@mbox.test", 513)


def test_auth_of_another_domain_reaches_nothing(people: None, admin: Cli) -> None:
    admin.ok("CREATEMAILBOX carol@mbox.test MAILBOX Open")
    admin.ok("SETMAILBOXACL carol@mbox.test MAILBOX Open {anyone=lr;}")
    assert admin.data("LISTMAILBOXES carol@mbox.test AUTH stranger@else.test") == {}
    admin.fails("GETMAILBOXINFO carol@mbox.test MAILBOX Open AUTH stranger@else.test", 501, "no mailbox")
    assert "Open" in admin.data("LISTMAILBOXES carol@mbox.test AUTH dave@mbox.test")  # anyone: the domain's


def test_a_user_works_on_its_own_mailboxes_only(people: None, user: Cli) -> None:
    assert "INBOX" in user.data("LISTMAILBOXES bob")  # a bare name is in the caller's domain
    assert "INBOX" in user.data("LISTMAILBOXES *")
    user.ok("CREATEMAILBOX bob MAILBOX Mine")
    for command in ("LISTMAILBOXES carol", "CREATEMAILBOX carol MAILBOX X", "DELETEMAILBOX carol MAILBOX Sent",
                    "RENAMEMAILBOX carol MAILBOX Sent INTO X", "GETMAILBOXINFO carol MAILBOX INBOX",
                    "GETMAILBOXSUBSCRIPTION carol", "SETMAILBOXSUBSCRIPTION carol ()",
                    "SETMAILBOXCLASS carol MAILBOX INBOX CLASS IPF.Note", "LISTMAILBOXES stranger@else.test",
                    "LISTMAILBOXES ghost"):
        user.fails(command, 510)


def test_a_domain_administrator_works_inside_its_domain(people: None, port: int) -> None:
    boss = Cli(port).login("boss@mbox.test", "boss-pw")
    boss.ok("CREATEMAILBOX carol MAILBOX FromBoss")
    assert "FromBoss" in boss.data("LISTMAILBOXES carol")
    boss.ok("DELETEMAILBOX carol MAILBOX FromBoss")
    boss.fails("LISTMAILBOXES ghost", 513)  # in its domain, an unknown account is said to be unknown
    for command in ("LISTMAILBOXES stranger@else.test", "CREATEMAILBOX stranger@else.test MAILBOX X",
                    "GETMAILBOXSUBSCRIPTION postmaster@example.com", "LISTMAILBOXES postmaster@example.com"):
        boss.fails(command, 510)
    boss.close()


def test_commands_need_a_login(people: None, cli: Cli) -> None:
    cli.fails("LISTMAILBOXES bob@mbox.test", 510)


def test_mailbox_aliases_are_not_supported(people: None, admin: Cli) -> None:
    admin.fails("GETMAILBOXALIASES bob@mbox.test", 500, "unknown command")
    admin.fails("SETMAILBOXALIASES bob@mbox.test {a=INBOX;}", 500, "unknown command")
    listed = admin.data("LISTCLICOMMANDS")
    for name in ("LISTMAILBOXES", "CREATEMAILBOX", "RENAMEMAILBOX", "DELETEMAILBOX", "GETMAILBOXINFO",
                 "SETMAILBOXCLASS", "GETMAILBOXSUBSCRIPTION", "SETMAILBOXSUBSCRIPTION"):
        assert name in listed
    assert "GETMAILBOXALIASES" not in listed


@pytest.mark.interop
def test_cgpcli_drives_the_mailbox_commands(people: None, port: int) -> None:
    from CGPCLI import Server
    from CGPCLI.Errors import CommandFailedError

    server = Server("127.0.0.1", port)
    server.connect()
    server.login("postmaster", POSTMASTER_PASSWORD)
    try:
        assert server.create_mailbox("carol@mbox.test", '"Py/Lib"', mailbox_class="IPF.Note")["header"] == "200"
        listed = server.list_mailboxes("carol@mbox.test", filter='"Py*"')["body"]
        assert set(listed) == {"Py", "Py/Lib"} and listed["Py/Lib"]["Class"] == "IPF.Note"
        assert server.rename_mailbox("carol@mbox.test", "Py", "Snake", mailboxes=True)["header"] == "200"
        assert server.get_mailbox_info("carol@mbox.test", '"Snake/Lib"')["body"]["Messages"] == 0
        assert server.delete_mailbox("carol@mbox.test", "Snake", mailboxes=True)["header"] == "200"
        with pytest.raises(CommandFailedError, match="532"):
            server.create_mailbox("carol@mbox.test", "INBOX")
        server.set_mailbox_subscription("carol@mbox.test", ["INBOX", "Sent"])
        assert server.get_mailbox_subscription("carol@mbox.test")["body"] == ["INBOX", "Sent"]
    finally:
        server.disconnect()


def test_auth_of_another_domain_never_lands_on_a_namesake_there(node: ThreadedNode, people: None,
                                                                admin: Cli) -> None:
    """"~twin/..." is resolved in the acting account's domain: an AUTH account of another domain must not
    reach that domain's own twin's mailboxes in place of the owner's."""
    directory = node.runtime.directory
    node.call(directory.create_account("twin@mbox.test", password="twin-pw"))
    node.call(directory.create_account("twin@else.test", password="twin-pw"))
    for owner in ("twin@mbox.test", "twin@else.test"):
        admin.ok(f"CREATEMAILBOX {owner} MAILBOX Secret")
    admin.ok("SETMAILBOXACL twin@else.test MAILBOX Secret {stranger=lra;}")
    admin.fails("GETMAILBOXINFO twin@mbox.test MAILBOX Secret AUTH stranger@else.test", 501, "no mailbox")
    admin.fails("GETMAILBOXACL twin@mbox.test MAILBOX Secret AUTH stranger@else.test", 501, "no mailbox")
    admin.fails("SETMAILBOXACL twin@mbox.test MAILBOX Secret AUTH stranger@else.test {anyone=lr;}", 501,
                "no mailbox")
    assert admin.data("GETMAILBOXACL twin@else.test MAILBOX Secret") == {"stranger": "lra"}
    assert admin.data("GETMAILBOXACL twin@mbox.test MAILBOX Secret") == {}
    assert admin.data("GETMAILBOXRIGHTS twin@mbox.test MAILBOX Secret AUTH stranger@else.test") == ""
