"""Two-way sync with isync's mbsync: a local Maildir and a Polyport account, a few hundred messages, over
IMAPS (993) and over STARTTLS (143), mbsync checking the node's certificate.

One scenario per transport: messages placed on the server and in the Maildir (and a folder on each side)
before the first sync; then flag changes, deletions, new messages and a new folder on both sides before a
second sync; after each sync both sides must hold the same messages (by Message-ID) with the same flags, as
imaplib sees the server and as the Maildir's file names say. A third sync must change nothing."""

from __future__ import annotations

import imaplib
import itertools
import os
import subprocess
import time
from collections.abc import Set as AbstractSet
from pathlib import Path

import pytest

from tests.interop.conftest import (
    PASSWORD,
    MailNode,
    message,
    message_id,
    need_binary,
    server_mailboxes,
    server_state,
    uids,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(300)]

# Maildir info letters (https://cr.yp.to/proto/maildir.html) and the IMAP flags they stand for.
LETTERS = {"D": "\\Draft", "F": "\\Flagged", "R": "\\Answered", "S": "\\Seen", "T": "\\Deleted"}
FLAG_LETTERS = {flag: letter for letter, flag in LETTERS.items()}

State = dict[str, dict[str, set[str]]]  # mailbox -> Message-ID -> flags
_unique = itertools.count()


class Maildir:
    """The near side: one Maildir folder per mailbox (SubFolders Verbatim, so `A/B` is the folder A/B)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def folder(self, mailbox: str) -> Path:
        return self.root / mailbox

    def files(self, mailbox: str) -> dict[str, Path]:
        """Message-ID -> file of every message in one folder."""
        found: dict[str, Path] = {}
        for sub in ("new", "cur"):
            for path in sorted((self.folder(mailbox) / sub).iterdir()):
                ident = message_id(path.read_bytes())
                assert ident not in found, f"{ident} twice in {mailbox}: {found[ident].name}, {path.name}"
                found[ident] = path
        return found

    def state(self, mailbox: str) -> dict[str, set[str]]:
        return {ident: flags_of(path) for ident, path in self.files(mailbox).items()}

    def mailboxes(self) -> set[str]:
        return {str(p.parent.relative_to(self.root)) for p in self.root.rglob("cur") if p.is_dir()}

    def add(self, mailbox: str, data: bytes, flags: AbstractSet[str] = frozenset()) -> None:
        """A message written the way a mail client delivers one: no UID of mbsync's in its name yet."""
        folder = self.folder(mailbox)
        for sub in ("new", "cur", "tmp"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        name = f"1700000000.P1Q{next(_unique)}.client"
        if flags:
            name += ":2," + "".join(sorted(FLAG_LETTERS[f] for f in flags))
        (folder / ("cur" if flags else "new") / name).write_bytes(data)

    def set_flags(self, path: Path, flags: set[str]) -> None:
        """Change a message's flags as a Maildir client does: rename it into cur/ with a new info part."""
        base = path.name.split(":2,", 1)[0]
        path.rename(path.parent.parent / "cur" / (base + ":2," + "".join(sorted(FLAG_LETTERS[f] for f in flags))))


def flags_of(path: Path) -> set[str]:
    # mbsync writes the info part on files in new/ too (an unseen, flagged message is new/...:2,F).
    if ":2," not in path.name:
        return set()
    return {LETTERS[letter] for letter in path.name.split(":2,", 1)[1] if letter in LETTERS}


def mbsyncrc(home: Path, node: MailNode, address: str, ssl_type: str, cert: Path | None) -> Path:
    port = node.port("imaps" if ssl_type == "IMAPS" else "imap")
    cert_line = f"CertificateFile {cert}\n" if cert else ""
    config = home / "mbsyncrc"
    config.write_text(f"""\
IMAPAccount polyport
Host 127.0.0.1
Port {port}
User {address}
Pass {PASSWORD}
SSLType {ssl_type}
{cert_line}
IMAPStore remote
Account polyport

MaildirStore local
Path {home}/mail/
Inbox {home}/mail/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Remove Both
Expunge Both
SyncState *
""")
    return config


def mbsync(config: Path) -> str:
    binary = need_binary("mbsync")
    # mbsync waits a second when a Maildir folder changed within the current second (it could miss a
    # message delivered in that second); the test's own changes are done, so date them back instead.
    past = time.time() - 5
    for folder in (config.parent / "mail").rglob("*"):
        if folder.is_dir() and folder.name in ("new", "cur"):
            os.utime(folder, (past, past))
    done = subprocess.run([binary, "-V", "-c", str(config), "sync"], capture_output=True, text=True, timeout=120,
                          check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, f"mbsync failed ({done.returncode}):\n{output}"
    complaints = [line for line in output.splitlines() if line.startswith(("Warning", "Error", "IMAP error"))]
    assert not complaints, output
    return output


def assert_converged(client: imaplib.IMAP4, maildir: Maildir, expected: State) -> None:
    assert server_mailboxes(client) == set(expected), "server mailboxes"
    assert maildir.mailboxes() == set(expected), "Maildir folders"
    for mailbox, messages in expected.items():
        on_server = server_state(client, mailbox)
        assert on_server.keys() == messages.keys(), f"server {mailbox}: Message-IDs differ"
        assert on_server == messages, f"server {mailbox}: flags differ"
        local = maildir.state(mailbox)
        assert local.keys() == messages.keys(), f"Maildir {mailbox}: Message-IDs differ"
        assert local == messages, f"Maildir {mailbox}: flags differ"


def store(client: imaplib.IMAP4, uid: str, change: str, flags: str) -> None:
    typ, data = client.uid("STORE", uid, change, f"({flags})")
    assert typ == "OK", data


def seeded_flags(n: int) -> frozenset[str]:
    flags = set()
    if n % 3 == 0:
        flags.add("\\Seen")
    if n % 7 == 0:
        flags.add("\\Flagged")
    if n % 11 == 1:
        flags |= {"\\Answered", "\\Seen"}
    return frozenset(flags)


@pytest.mark.parametrize("ssl_type", ["IMAPS", "STARTTLS"])
def test_two_way_sync(mail_node: MailNode, tmp_path: Path, ssl_type: str) -> None:
    need_binary("mbsync")
    address = mail_node.account()
    maildir = Maildir(tmp_path / "mail")
    defaults = {"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash"}
    expected: State = {name: {} for name in defaults}

    # Before the first sync: 240 messages on the server (some seen, flagged or answered), 60 in the Maildir,
    # and a folder on each side that the other lacks.
    by_flags: dict[frozenset[str], list[int]] = {}
    for n in range(240):
        by_flags.setdefault(seeded_flags(n), []).append(n)
    for flags, numbers in by_flags.items():
        mail_node.seed(address, "INBOX", [message(n, tag="server") for n in numbers], tuple(flags))
        expected["INBOX"].update({f"<server-{n}@interop.test>": set(flags) for n in numbers})
    mail_node.seed(address, "Archive", [message(n, tag="archived") for n in range(20)], ("\\Seen",))
    expected["Archive"] = {f"<archived-{n}@interop.test>": {"\\Seen"} for n in range(20)}
    mail_node.seed(address, "Reports/2025", [message(n, tag="report") for n in range(15)])
    expected["Reports"] = {}  # the server makes the parent too (RFC 3501 CREATE); mbsync mirrors it
    expected["Reports/2025"] = {f"<report-{n}@interop.test>": set() for n in range(15)}
    for n in range(60):
        maildir.add("INBOX", message(n, tag="local"), {"\\Seen"} if n % 2 else set())
        expected["INBOX"][f"<local-{n}@interop.test>"] = {"\\Seen"} if n % 2 else set()
    expected["Notes"] = {}
    for n in range(10):
        note_flags = {"\\Seen", "\\Flagged"} if n < 3 else {"\\Seen"}
        maildir.add("Notes", message(n, tag="note"), note_flags)
        expected["Notes"][f"<note-{n}@interop.test>"] = note_flags

    config = mbsyncrc(tmp_path, mail_node, address, ssl_type, mail_node.cert)
    mbsync(config)
    client = mail_node.imap(address)
    try:
        assert_converged(client, maildir, expected)
        assert len(expected["INBOX"]) == 300

        # Changes in the Maildir: read 20 unread server messages, unflag 5, answer 5, delete 15 (some of
        # each origin), 25 new messages, a new folder.
        local = maildir.files("INBOX")
        unread = sorted(i for i, flags in expected["INBOX"].items() if not flags)
        for ident in unread[:20]:
            maildir.set_flags(local[ident], {"\\Seen"})
            expected["INBOX"][ident] = {"\\Seen"}
        flagged_ids = sorted(i for i, flags in expected["INBOX"].items() if flags == {"\\Flagged"})
        for ident in flagged_ids[:5]:
            maildir.set_flags(local[ident], set())
            expected["INBOX"][ident] = set()
        seen_ids = sorted(i for i, flags in expected["INBOX"].items()
                          if flags == {"\\Seen"} and i not in unread[:20])
        for ident in seen_ids[:5]:
            maildir.set_flags(local[ident], {"\\Seen", "\\Answered"})
            expected["INBOX"][ident] = {"\\Seen", "\\Answered"}
        touched = set(unread[:20]) | set(flagged_ids[:5]) | set(seen_ids[:5])
        untouched = sorted(set(expected["INBOX"]) - touched)
        local = maildir.files("INBOX")
        deleted = [i for i in untouched if i.startswith("<server-")][:10] + \
            [i for i in untouched if i.startswith("<local-")][:5]
        for ident in deleted:
            local[ident].unlink()
            del expected["INBOX"][ident]
        for n in range(25):
            maildir.add("INBOX", message(n, tag="local-later"))
            expected["INBOX"][f"<local-later-{n}@interop.test>"] = set()
        for n in range(8):
            maildir.add("Travel", message(n, tag="travel"), {"\\Seen"})
        expected["Travel"] = {f"<travel-{n}@interop.test>": {"\\Seen"} for n in range(8)}

        # Changes on the server, on other messages: flag 10, mark 10 unread, delete 12, deliver 20 new,
        # a new folder with messages, and a message moved from INBOX to Archive. And on 3 of the messages
        # read in the Maildir, a flag set here too: mbsync merges the two changes.
        inbox = uids(client, "INBOX")
        for ident in unread[:3]:
            store(client, inbox[ident], "+FLAGS.SILENT", "\\Flagged")
            expected["INBOX"][ident] = {"\\Seen", "\\Flagged"}
        rest = sorted(set(expected["INBOX"]) - touched - {i for i in expected["INBOX"] if "later" in i})
        for ident in rest[:10]:
            store(client, inbox[ident], "+FLAGS.SILENT", "\\Flagged")
            expected["INBOX"][ident] = expected["INBOX"][ident] | {"\\Flagged"}
        now_seen = [i for i in rest[10:] if "\\Seen" in expected["INBOX"][i]][:10]
        for ident in now_seen:
            store(client, inbox[ident], "-FLAGS.SILENT", "\\Seen")
            expected["INBOX"][ident] = expected["INBOX"][ident] - {"\\Seen"}
        gone = [i for i in rest[10:] if i not in now_seen][:12]
        for ident in gone:
            store(client, inbox[ident], "+FLAGS.SILENT", "\\Deleted")
            del expected["INBOX"][ident]
        moved = next(i for i in rest[10:] if i not in now_seen and i not in gone)
        typ, data = client.uid("COPY", inbox[moved], "Archive")
        assert typ == "OK", data
        expected["Archive"][moved] = expected["INBOX"][moved]
        store(client, inbox[moved], "+FLAGS.SILENT", "\\Deleted")
        del expected["INBOX"][moved]
        typ, data = client.expunge()
        assert typ == "OK", data
        assert len(data) == 13 and data[0] is not None, data
        client.close()
        mail_node.seed(address, "INBOX", [message(n, tag="server-later") for n in range(20)])
        expected["INBOX"].update({f"<server-later-{n}@interop.test>": set() for n in range(20)})
        typ, data = client.create("Receipts")
        assert typ == "OK", data
        mail_node.seed(address, "Receipts", [message(n, tag="receipt") for n in range(6)], ("\\Seen",))
        expected["Receipts"] = {f"<receipt-{n}@interop.test>": {"\\Seen"} for n in range(6)}

        mbsync(config)
        assert_converged(client, maildir, expected)
        assert len(expected["INBOX"]) == 300 - 15 - 13 + 25 + 20

        # Nothing left to do: a third sync changes neither side.
        files_before = {p.name for p in maildir.root.rglob("*") if p.is_file() and ".mbsync" not in p.name}
        mbsync(config)
        assert_converged(client, maildir, expected)
        assert {p.name for p in maildir.root.rglob("*") if p.is_file() and ".mbsync" not in p.name} == files_before
    finally:
        client.logout()


def test_mbsync_refuses_an_untrusted_certificate(mail_node: MailNode, tmp_path: Path) -> None:
    """Without the node's certificate mbsync must refuse the self-signed one: the runs above really checked it."""
    binary = need_binary("mbsync")
    address = mail_node.account()
    (tmp_path / "mail").mkdir()
    config = mbsyncrc(tmp_path, mail_node, address, "IMAPS", None)
    done = subprocess.run([binary, "-c", str(config), "sync"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode != 0
    assert "certificate" in (done.stdout + done.stderr).lower(), done.stderr
