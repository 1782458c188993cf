"""NeoMutt, the terminal mail reader, driven through tmux against a Polyport account over IMAPS (and over
STARTTLS on the plain port): log in, list the INBOX, read a message, save (move) one to another mailbox,
delete one, sync, hear of a message delivered meanwhile, open the other mailbox, quit. Keystrokes go in with
`tmux send-keys`, the screen comes back with `tmux capture-pane`, and every step waits for the text it
expects (never a fixed sleep); the server's state is then checked through imaplib."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import PASSWORD, MailNode, message, need_binary, server_mailboxes, server_state, uids

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

WAIT = 20.0  # seconds a step may take before the test fails with the screen in its message


class Terminal:
    """One tmux server of our own running one program in a 120x40 window."""

    def __init__(self, env: dict[str, str]) -> None:
        self.tmux = need_binary("tmux")
        self.env = env
        # A short folder of its own: a socket's path must fit in 108 bytes, test folders can be longer.
        self.folder = Path(tempfile.mkdtemp(prefix="tmux-", dir="/tmp" if Path("/tmp").is_dir() else None))
        self.socket = self.folder / "socket"
        self.config = self.folder / "tmux.conf"
        # Keep the window after the program exits, so its last screen can still be read.
        self.config.write_text("set-option -g remain-on-exit on\n")

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.tmux, "-S", str(self.socket), "-f", str(self.config), *args],
                              capture_output=True, text=True, timeout=10, env=self.env, check=False)

    def start(self, argv: list[str]) -> None:
        done = self._run("new-session", "-d", "-s", "t", "-x", "120", "-y", "40", *argv)
        assert done.returncode == 0, done.stderr

    def screen(self) -> str:
        done = self._run("capture-pane", "-p", "-t", "t")
        return done.stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        done = self._run("send-keys", "-t", "t", *(["-l"] if literal else []), *keys)
        assert done.returncode == 0, done.stderr

    def type(self, text: str) -> None:
        self.keys(text, literal=True)

    def jump(self, number: int) -> None:
        """Move neomutt's index cursor to a message by its number (a digit opens the jump prompt)."""
        self.type(str(number))
        self.wait_for(r"^Jump to message")
        self.keys("Enter")

    def wait_for(self, pattern: str, timeout: float = WAIT) -> str:
        """The screen, once it matches the regular expression; fails with the last screen after timeout."""
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen()
            if re.search(pattern, screen, re.MULTILINE):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"no {pattern!r} on the screen after {timeout} s:\n{screen}")
            time.sleep(0.05)

    def exited(self, timeout: float = WAIT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done = self._run("display-message", "-p", "-t", "t", "#{pane_dead}")
            if done.stdout.strip() == "1":
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self._run("kill-server")

    def remove(self) -> None:
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Terminal]:
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "TERM": "xterm-256color", "LANG": "C.UTF-8", "PATH": os.environ.get("PATH", "")}
    term = Terminal(env)
    yield term
    term.remove()


def muttrc(home: Path, node: MailNode, address: str, starttls: bool, extra: str = "") -> Path:
    url = f"imap://127.0.0.1:{node.port('imap')}/" if starttls else f"imaps://127.0.0.1:{node.port('imaps')}/"
    config = home / "muttrc"
    config.write_text(f"""\
set imap_user = "{address}"
set imap_pass = "{PASSWORD}"
set folder = "{url}"
set spoolfile = "+INBOX"
# Trust the node's self-signed certificate (neomutt still checks the chain and dates against this file). It
# names example.com and neomutt connects to 127.0.0.1 with no way to name the expected host, hence no host check.
set certificate_file = "{node.cert}"
set ssl_verify_host = no
set ssl_force_tls = yes
set ssl_starttls = yes
# Nothing asks a question: no copy of sent mail, no mbox moves, expunge on sync, no confirmations.
set record = ""
set postponed = ""
set mbox = ""
set move = no
set delete = yes
set confirmappend = no
set confirmcreate = no
set quit = yes
set wait_key = no
set beep = no
set mark_old = no
set header_cache = ""
set message_cachedir = ""
# New mail: IDLE, and a look at least every second while waiting for keys.
set imap_idle = yes
set timeout = 1
set mail_check = 1
set imap_check_subscribed = no
set sort = date
set index_format = "%4C %Z %s"
set pager_index_lines = 0
{extra}""")
    return config


@pytest.mark.parametrize("starttls", [False, True], ids=["imaps", "starttls"])
def test_read_move_delete_and_new_mail(mail_node: MailNode, terminal: Terminal, tmp_path: Path,
                                       starttls: bool) -> None:
    neomutt = need_binary("neomutt")
    address = mail_node.account()
    subjects = [f"Neomutt subject number {n}" for n in range(5)]
    mail_node.seed(address, "INBOX", [message(n, subjects[n], tag="mutt") for n in range(5)])
    config = muttrc(Path(terminal.env["HOME"]), mail_node, address, starttls)

    terminal.start([neomutt, "-n", "-F", str(config)])
    screen = terminal.wait_for(r"Msgs:5 New:5")
    for subject in subjects:
        assert subject in screen, screen

    # Read the first message: the pager shows its body.
    terminal.keys("Enter")
    terminal.wait_for(r"Line 2 of mutt message 0, with some text")
    terminal.keys("q")
    terminal.wait_for(r"Msgs:5 New:4")

    # Save the second one to Archive (neomutt's save moves: copy, then mark deleted).
    terminal.jump(2)
    terminal.keys("s")
    terminal.wait_for(r"^Save to mailbox")
    terminal.keys("C-u")
    terminal.type("=Archive")
    terminal.keys("Enter")
    terminal.wait_for(r"Msgs:5 New:4 Del:1 ")

    # Delete the third one, then sync: both go.
    terminal.jump(3)
    terminal.keys("d")
    terminal.wait_for(r"Msgs:5 New:4 Del:2 ")
    terminal.keys("$")
    screen = terminal.wait_for(r"Msgs:3 ")
    assert subjects[1] not in screen and subjects[2] not in screen, screen

    client = mail_node.imap(address)
    try:
        assert server_state(client, "INBOX") == {"<mutt-0@interop.test>": {"\\Seen"},
                                                 "<mutt-3@interop.test>": set(),
                                                 "<mutt-4@interop.test>": set()}
        assert server_state(client, "Archive") == {"<mutt-1@interop.test>": set()}

        # Mail arriving while neomutt waits shows up in the index by itself.
        typ, data = client.append("INBOX", None, None, message(5, "Arrived while reading", tag="mutt"))
        assert typ == "OK", data
        terminal.wait_for(r"Arrived while reading")
        terminal.wait_for(r"Msgs:4 New:3")

        # Another mailbox: the moved message is there.
        terminal.keys("c")
        terminal.wait_for(r"^Open mailbox")
        terminal.keys("C-u")
        terminal.type("=Archive")
        terminal.keys("Enter")
        screen = terminal.wait_for(r"\+Archive.*Msgs:1")
        assert subjects[1] in screen, screen

        terminal.keys("q")
        assert terminal.exited(), terminal.screen()
        assert server_state(client, "INBOX") == {"<mutt-0@interop.test>": {"\\Seen"},
                                                 "<mutt-3@interop.test>": set(),
                                                 "<mutt-4@interop.test>": set(),
                                                 "<mutt-5@interop.test>": set()}
        assert server_state(client, "Archive") == {"<mutt-1@interop.test>": set()}
    finally:
        client.logout()


def test_header_cache_catches_up_with_qresync(mail_node: MailNode, terminal: Terminal, tmp_path: Path) -> None:
    """With a header cache neomutt reopens a mailbox with CONDSTORE/QRESYNC (RFC 7162): it asks only for what
    changed since its last visit (UID FETCH ... CHANGEDSINCE ... VANISHED) and must show the flags changed and
    the messages added meanwhile without a full download, and then a message expunged meanwhile."""
    neomutt = need_binary("neomutt")
    address = mail_node.account()
    mail_node.seed(address, "INBOX", [message(n, f"Cached subject {n}", tag="cached") for n in range(6)])
    home = Path(terminal.env["HOME"])
    config = muttrc(home, mail_node, address, False, f"""\
set header_cache = "{home}/hcache"
set imap_condstore = yes
set imap_qresync = yes
""")

    def visit(expect: str) -> tuple[str, str]:
        """Open the INBOX in a new neomutt, wait for the status line, quit; the screen and neomutt's IMAP log."""
        log = home / "neomutt.log"
        terminal.start([neomutt, "-d", "2", "-l", str(log), "-n", "-F", str(config)])
        screen = terminal.wait_for(expect)
        terminal.keys("q")
        assert terminal.exited(), terminal.screen()
        terminal.close()
        text = (home / "neomutt.log0").read_text(errors="replace")
        for old in home.glob("neomutt.log*"):
            old.unlink()
        return screen, text

    visit(r"Msgs:6 New:6 ")

    client = mail_node.imap(address)
    try:
        inbox = uids(client, "INBOX")
        for ident, flag in (("<cached-1@interop.test>", "(\\Flagged)"), ("<cached-2@interop.test>", "(\\Seen)")):
            typ, data = client.uid("STORE", inbox[ident], "+FLAGS.SILENT", flag)
            assert typ == "OK", data
        client.close()
        typ, data = client.append("INBOX", None, None, message(6, "Arrived while away", tag="cached"))
        assert typ == "OK", data

        screen, log = visit(r"Msgs:7 New:6 Flag:1 ")
        assert "Arrived while away" in screen, screen
        assert re.search(r"^ +2 N +! +Cached subject 1$", screen, re.MULTILINE), screen
        assert re.search(r"^ +3 +Cached subject 2$", screen, re.MULTILINE), screen
        assert "(CHANGEDSINCE " in log and "QRESYNC failed" not in log, log

        inbox = uids(client, "INBOX")
        typ, data = client.uid("STORE", inbox["<cached-6@interop.test>"], "+FLAGS.SILENT", "(\\Deleted)")
        assert typ == "OK", data
        typ, data = client.expunge()
        assert typ == "OK", data
        client.close()

        # The server reports the expunge as VANISHED (EARLIER) 7. NeoMutt 20220429 then always starts over
        # ("QRESYNC failed. Reopening mailbox."): its own check walks the expunged message, whose IMAP data
        # imap_expunge_mailbox() has just freed. So only the outcome is checked here.
        screen, log = visit(r"Msgs:6 New:5 Flag:1 ")
        assert "Arrived while away" not in screen, screen
        assert "Handling VANISHED" in log and "Expunging message UID 7" in log, log
    finally:
        client.logout()


def test_server_search_send_and_postpone(mail_node: MailNode, terminal: Terminal, tmp_path: Path) -> None:
    """A limit by server-side body search (=b, UID SEARCH BODY), a message sent with its copy appended to Sent,
    and one postponed to Drafts (APPEND with \\Draft)."""
    neomutt = need_binary("neomutt")
    address = mail_node.account()
    mail_node.seed(address, "INBOX", [message(n, f"Searched subject {n}", tag="search")
                                      + (b"A needle in this body\r\n" if n % 2 else b"") for n in range(6)])
    home = Path(terminal.env["HOME"])
    outbox = home / "outbox"
    sendmail = home / "sendmail"
    sendmail.write_text(f"#!/bin/sh\ncat > {outbox}\n")
    sendmail.chmod(0o755)
    config = muttrc(home, mail_node, address, False, f"""\
set record = "+Sent"
set postponed = "+Drafts"
set sendmail = "{sendmail}"
set from = "{address}"
set use_from = yes
set editor = "/bin/true"
set abort_unmodified = no
set askcc = no
""")
    terminal.start([neomutt, "-n", "-F", str(config)])
    terminal.wait_for(r"Msgs:6 New:6 ")

    terminal.keys("l")
    terminal.wait_for(r"^Limit to messages matching")
    terminal.type("=b needle")
    terminal.keys("Enter")
    screen = terminal.wait_for(r"Msgs:3/6 ")
    assert {n for n in range(6) if f"Searched subject {n}" in screen} == {1, 3, 5}, screen

    def compose(to: str, subject: str) -> None:
        terminal.keys("m")
        terminal.wait_for(r"^To:")
        terminal.type(to)
        terminal.keys("Enter")
        terminal.wait_for(r"^Subject:")
        terminal.type(subject)
        terminal.keys("Enter")
        terminal.wait_for(r"y:Send")

    compose("carol@example.net", "Sent from neomutt")
    terminal.keys("y")
    terminal.wait_for(r"^Mail sent")
    compose("dave@example.net", "Postponed in neomutt")
    terminal.keys("P")
    terminal.wait_for(r"^Message postponed")
    terminal.keys("q")
    assert terminal.exited(), terminal.screen()

    assert "Subject: Sent from neomutt" in outbox.read_text()
    client = mail_node.imap(address)
    try:
        for mailbox, subject, flags in (("Sent", "Sent from neomutt", "\\Seen"),
                                        ("Drafts", "Postponed in neomutt", "\\Draft")):
            typ, count = client.select(mailbox, readonly=True)
            assert typ == "OK" and count == [b"1"], (mailbox, count)
            typ, data = client.fetch("1", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            assert typ == "OK" and isinstance(data[0], tuple), data
            # The first session to see an appended message also sees \Recent (RFC 3501 2.3.2).
            listed = re.search(rb"FLAGS \(([^)]*)\)", data[0][0])
            assert listed and set(listed.group(1).split()) - {b"\\Recent"} == {flags.encode()}, data
            assert data[0][1].strip() == f"Subject: {subject}".encode(), data
            client.close()
    finally:
        client.logout()


def test_mailbox_browser_creates_renames_subscribes_deletes(mail_node: MailNode, terminal: Terminal,
                                                          tmp_path: Path) -> None:
    """NeoMutt's mailbox browser over IMAP: LIST, CREATE, RENAME, SUBSCRIBE and DELETE."""
    neomutt = need_binary("neomutt")
    address = mail_node.account()
    mail_node.seed(address, "INBOX", [message(0, tag="browse")])
    mail_node.seed(address, "Projects/Alpha", [message(1, tag="browse")])
    config = muttrc(Path(terminal.env["HOME"]), mail_node, address, False, 'set folder_format = "%2C %f"\n')
    terminal.start([neomutt, "-n", "-F", str(config)])
    terminal.wait_for(r"Msgs:1 New:1 ")

    # The folder browser, listing the server's mailboxes rather than the (empty) `mailboxes` list.
    terminal.keys("c")
    terminal.wait_for(r"^Open mailbox")
    terminal.keys("?")
    terminal.wait_for(r"^Mailboxes \[0\]")
    terminal.keys("Tab")
    screen = terminal.wait_for(r"^Directory \[imaps://")
    for name in ("INBOX", "Archive", "Drafts", "Junk", "Projects", "Sent", "Trash"):
        assert re.search(rf"/{name}$", screen, re.MULTILINE), screen

    def select(name: str) -> None:
        terminal.keys("/")
        terminal.wait_for(r"^Search for")
        terminal.keys("C-u")
        terminal.type(name)
        terminal.keys("Enter")

    terminal.keys("C")
    terminal.wait_for(r"^Create mailbox")
    terminal.type("Travel")
    terminal.keys("Enter")
    terminal.wait_for(r"^Mailbox created")
    terminal.wait_for(r"/Travel$")

    select("Travel")
    terminal.keys("r")
    terminal.wait_for(r"^Rename mailbox Travel to")
    terminal.keys("C-u")
    terminal.type("Trips")
    terminal.keys("Enter")
    screen = terminal.wait_for(r"/Trips$")
    assert "/Travel" not in screen, screen

    select("Trips")
    terminal.keys("s")
    terminal.wait_for(r"^Subscribed to .*Trips")
    client = mail_node.imap(address)
    try:
        assert "Trips" in server_mailboxes(client, "LSUB")
        assert server_mailboxes(client) == {"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash", "Projects",
                                            "Projects/Alpha", "Trips"}

        select("Trips")
        terminal.keys("d")
        terminal.wait_for(r'^Really delete mailbox ".*/Trips"\?')
        terminal.keys("y")
        terminal.wait_for(r"^Mailbox deleted")
        terminal.keys("q")
        terminal.wait_for(r"Msgs:1 ")
        terminal.keys("q")
        assert terminal.exited(), terminal.screen()
        assert server_mailboxes(client) == {"INBOX", "Archive", "Drafts", "Junk", "Sent", "Trash", "Projects",
                                            "Projects/Alpha"}
    finally:
        client.logout()
