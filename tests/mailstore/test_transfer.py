"""Moving mail in and out (mailstore/transfer.py): mbox and Maildir++ round trips, tolerant reading of
other programs' files, and Python's `mailbox` module reading what Polyport writes."""

from __future__ import annotations

import mailbox as pymailbox
from pathlib import Path

import pytest

from polyport.bus import LocalBus
from polyport.directory import Directory
from polyport.mailstore import Mailstore
from polyport.mailstore import transfer as tr
from polyport.store import LocalBlobStore, RecordStore

JAN_2026 = 1767225600  # 2026-01-01 00:00:00 UTC


def message(subject: str, body: str = "Hi there.\r\n", extra: str = "") -> bytes:
    return (f"From: Alice Example <alice@example.com>\r\nTo: bob@example.com\r\nSubject: {subject}\r\n"
            f"Date: Mon, 2 Nov 2026 10:00:00 +0000\r\n{extra}\r\n{body}").encode()


TRICKY = [
    # (mailbox, bytes, flags, internal date)
    ("INBOX", message("plain"), ["\\Seen"], JAN_2026),
    ("INBOX", message("from lines", "From the start\r\n\r\nFrom here on\r\n>From quoted\r\n>>From twice\r\n"),
     ["\\Answered", "\\Flagged", "$Label1"], JAN_2026 + 60),
    ("INBOX", message("ends with an empty line", "Body\r\n\r\n"), [], JAN_2026 + 120),
    ("INBOX", message("all flags", "x\r\n"), ["\\Seen", "\\Answered", "\\Flagged", "\\Draft", "\\Deleted",
                                               "$Forwarded", "$Junk"], JAN_2026 + 180),
    ("Archive/2026", message("archived"), ["\\Seen"], JAN_2026 - 86400 * 365),
    ("Archive/2026", message("has status headers", extra="Status: RO\r\nX-Status: F\r\n"), [], JAN_2026),
    ("Ünïcødé.dot", message("unicode mailbox name"), [], JAN_2026),
    ("Sent", message("sent", "line one\r\nline two"), ["\\Seen"], JAN_2026 + 5),  # no line end at its end
]


async def new_account(directory: Directory, mailstore: Mailstore, name: str) -> int:
    account = (await directory.create_account(name, password="pw")).id
    await mailstore.ensure_defaults(account)
    return account


async def fill(mailstore: Mailstore, account: int, items: list[tuple[str, bytes, list[str], int]]) -> None:
    for name, data, flags, date in items:
        if name not in {m.name for m in await mailstore.mailboxes(account)}:
            await mailstore.create(account, name)
        await mailstore.append(account, name, data, flags, date)


async def contents(mailstore: Mailstore, account: int) -> dict[str, list[tuple[bytes, set[str], int]]]:
    """Every mailbox's messages in UID order: (bytes, flags, internal date)."""
    found: dict[str, list[tuple[bytes, set[str], int]]] = {}
    for box in await mailstore.mailboxes(account):
        rows = await mailstore.full(box.id, 1, box.uidnext)
        found[box.name] = [(await mailstore.read(r.blob), set(r.flag_names), r.internal_date) for r in rows]
    return found


Contents = dict[str, list[tuple[bytes, set[str], int]]]


def expected(items: list[tuple[str, bytes, list[str], int]], *, mbox: bool) -> Contents:
    found: Contents = {name: [] for name in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive")}
    for name, data, flags, date in items:
        if mbox:
            # mbox's bookkeeping headers stand for the flags: a message's own are not kept
            data = data.replace(b"Status: RO\r\nX-Status: F\r\n", b"")
            if not data.endswith(b"\n"):
                data += b"\r\n"  # mbox cannot keep a last line without a line end
        found.setdefault(name, []).append((data, set(flags), date))
    return found


@pytest.mark.parametrize("fmt", ["mbox", "maildir"])
async def test_export_then_import_gives_the_same_messages_flags_and_dates(
        fmt: str, mailstore: Mailstore, directory: Directory, tmp_path: Path) -> None:
    source = await new_account(directory, mailstore, "source")
    await fill(mailstore, source, TRICKY)
    await mailstore.create(source, "Empty/Inside")
    dest = tmp_path / "export"
    export = tr.export_mbox if fmt == "mbox" else tr.export_maildir
    counted: list[int] = []
    report = await export(mailstore, source, dest, progress=counted.append)
    assert report.messages == len(TRICKY) == sum(counted)

    target = await new_account(directory, mailstore, "target")
    load = tr.import_mbox if fmt == "mbox" else tr.import_maildir
    report = await load(mailstore, target, dest)
    assert report.messages == len(TRICKY) and report.skipped == []
    got = await contents(mailstore, target)
    want = expected(TRICKY, mbox=fmt == "mbox")
    assert {k: v for k, v in got.items() if k not in ("Empty", "Empty/Inside")} == want
    assert got["Empty"] == [] and got["Empty/Inside"] == []


async def test_lf_messages_are_stored_with_crlf_and_exported_with_lf(mailstore: Mailstore, directory: Directory,
                                                                     tmp_path: Path) -> None:
    lf_mbox = tmp_path / "lf.mbox"
    lf_mbox.write_bytes(b"From a@b.example Thu Jan  1 00:00:00 2026\nSubject: lf\n\nline\n\n"
                        b"From a@b.example Thu Jan  1 00:01:00 2026\r\nSubject: crlf\r\n\r\nline\r\n")
    account = await new_account(directory, mailstore, "lf")
    await tr.import_mbox(mailstore, account, lf_mbox)
    inbox = (await contents(mailstore, account))["INBOX"]
    assert [m[0] for m in inbox] == [b"Subject: lf\r\n\r\nline\r\n", b"Subject: crlf\r\n\r\nline\r\n"]
    assert [m[2] for m in inbox] == [JAN_2026, JAN_2026 + 60]
    await tr.export_mbox(mailstore, account, tmp_path / "out")
    written = (tmp_path / "out" / "INBOX.mbox").read_bytes()
    assert b"\r" not in written
    assert written == (b"From MAILER-DAEMON Thu Jan  1 00:00:00 2026\nSubject: lf\nStatus: O\n\nline\n\n"
                       b"From MAILER-DAEMON Thu Jan  1 00:01:00 2026\nSubject: crlf\nStatus: O\n\nline\n\n")


async def test_mbox_reading_is_tolerant(mailstore: Mailstore, directory: Directory, tmp_path: Path) -> None:
    text = (
        # Thunderbird's From line, and its X-Mozilla-Status (read | replied | flagged).
        b"From - Thu Jan 01 00:00:00 2026\nX-Mozilla-Status: 0007\nX-Mozilla-Status2: 00000000\nSubject: tb\n\nbody\n\n"
        # A numeric zone after the year, mboxo quoting, and a body line starting with From after an empty
        # line that is no From line (no date).
        b"From someone@example.com Thu Jan  1 02:00:00 2026 +0200\nSubject: zone\nStatus: R\n"
        b"X-Keywords: work, $Label2\n"
        b"\n>From quoted\n\nFrom here on it is body text\n\n"
        # A From line without a date is not a separator: it stays in the body above.
        b"From nobody\n\n"
        # mutt's headers; no empty line at the end of the file.
        b"From x@example.com Fri Jan  2 00:00:00 2026\nSubject: last\nStatus: O\nX-Status: DT\n\nend\n")
    (tmp_path / "in.mbox").write_bytes(text)
    account = await new_account(directory, mailstore, "tolerant")
    report = await tr.import_mbox(mailstore, account, tmp_path / "in.mbox")
    assert report.messages == 3
    inbox = (await contents(mailstore, account))["INBOX"]
    assert inbox[0] == (b"Subject: tb\r\n\r\nbody\r\n", {"\\Seen", "\\Answered", "\\Flagged"}, JAN_2026)
    assert inbox[1] == (b"Subject: zone\r\n\r\nFrom quoted\r\n\r\nFrom here on it is body text\r\n\r\nFrom nobody\r\n",
                        {"\\Seen", "work", "$Label2"}, JAN_2026)
    assert inbox[2] == (b"Subject: last\r\n\r\nend\r\n", {"\\Deleted", "\\Draft"}, JAN_2026 + 86400)


async def test_without_a_from_line_date_the_date_header_is_the_internal_date(
        mailstore: Mailstore, directory: Directory, tmp_path: Path) -> None:
    (tmp_path / "d.mbox").write_bytes(b"From nobody\nDate: Fri, 2 Jan 2026 01:00:00 +0100\nSubject: d\n\nx\n")
    account = await new_account(directory, mailstore, "dates")
    await tr.import_mbox(mailstore, account, tmp_path / "d.mbox")
    assert (await contents(mailstore, account))["INBOX"][0][2] == JAN_2026 + 86400


async def test_importing_into_a_named_mailbox(mailstore: Mailstore, directory: Directory, tmp_path: Path) -> None:
    source = await new_account(directory, mailstore, "from")
    await fill(mailstore, source, TRICKY[:1] + TRICKY[4:5])
    await tr.export_maildir(mailstore, source, tmp_path / "md")
    await tr.export_mbox(mailstore, source, tmp_path / "mb")
    target = await new_account(directory, mailstore, "into")
    await tr.import_maildir(mailstore, target, tmp_path / "md", into="Old")
    await tr.import_mbox(mailstore, target, tmp_path / "mb" / "INBOX.mbox", into="Single")
    got = await contents(mailstore, target)
    assert len(got["Old"]) == 1 and len(got["Old/Archive/2026"]) == 1 and got["Old/Sent"] == []
    assert len(got["Single"]) == 1 and got["INBOX"] == []


async def test_imports_run_in_batches_across_mailboxes(mailstore: Mailstore, directory: Directory, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr, "BATCH_MESSAGES", 3)
    folder = tmp_path / "tree"
    (folder / "A").mkdir(parents=True)
    (folder / "INBOX.mbox").write_bytes(b"".join(
        b"From a@b Thu Jan  1 00:00:%02d 2026\nSubject: %d\n\n%d\n\n" % (i, i, i) for i in range(7)))
    (folder / "A" / "B.mbox").write_bytes(b"From a@b Thu Jan  1 00:00:00 2026\nSubject: b\n\nb\n")
    (folder / "A.mbox").write_bytes(b"")  # an empty mailbox
    (folder / ".hidden").write_bytes(b"From a@b Thu Jan  1 00:00:00 2026\n\nx\n")
    (folder / "notes.txt").write_bytes(b"not mail")
    account = await new_account(directory, mailstore, "batches")
    seen: list[int] = []
    report = await tr.import_mbox(mailstore, account, folder, progress=seen.append)
    assert report.mailboxes == {"A/B": 1, "INBOX": 7, "A": 0}
    assert sum(seen) == sum(p.stat().st_size for p in (folder / "INBOX.mbox", folder / "A" / "B.mbox"))
    got = await contents(mailstore, account)
    assert [m[0] for m in got["INBOX"]] == [b"Subject: %d\r\n\r\n%d\r\n" % (i, i) for i in range(7)]
    assert [m[2] for m in got["INBOX"]] == [JAN_2026 + i for i in range(7)]
    assert got["A"] == [] and len(got["A/B"]) == 1


async def test_oversized_messages_are_skipped_and_reported(records: RecordStore, directory: Directory, bus: LocalBus,
                                                           tmp_path: Path) -> None:
    small = Mailstore(records, LocalBlobStore(tmp_path / "blobs"), directory, bus, max_message_size=200)
    (tmp_path / "big.mbox").write_bytes(
        b"From a@b Thu Jan  1 00:00:00 2026\nSubject: small\n\nx\n\n"
        b"From a@b Thu Jan  1 00:00:00 2026\nSubject: big\n\n" + b"y" * 70 + b"\n" * 5 + b"z\n" * 60 + b"\n"
        b"From a@b Thu Jan  1 00:00:00 2026\nSubject: after\n\nx\n")
    account = await new_account(directory, small, "small")
    report = await tr.import_mbox(small, account, tmp_path / "big.mbox")
    assert report.messages == 2 and len(report.skipped) == 1 and "200-byte limit" in report.skipped[0]
    subjects = [m[0].split(b"\r\n")[0] for m in (await contents(small, account))["INBOX"]]
    assert subjects == [b"Subject: small", b"Subject: after"]


async def test_an_import_over_quota_stops_and_says_how_far_it_got(mailstore: Mailstore, directory: Directory,
                                                                  tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tr, "BATCH_MESSAGES", 2)
    (tmp_path / "q.mbox").write_bytes(b"".join(b"From a@b Thu Jan  1 00:00:00 2026\nSubject: %d\n\nx\n\n" % i
                                               for i in range(5)))
    account = (await directory.create_account("quota", password="pw", settings={"MaxMessages": "3"})).id
    with pytest.raises(tr.TransferError, match=r"stopped after 2 messages, at INBOX: .*MaxMessages"):
        await tr.import_mbox(mailstore, account, tmp_path / "q.mbox")
    assert len((await contents(mailstore, account))["INBOX"]) == 2


async def test_bad_sources_and_destinations_are_refused(mailstore: Mailstore, directory: Directory,
                                                        tmp_path: Path) -> None:
    account = await new_account(directory, mailstore, "refused")
    (tmp_path / "not.mbox").write_bytes(b"Subject: no From line\n\nx\n")
    with pytest.raises(tr.TransferError, match="not an mbox file"):
        await tr.import_mbox(mailstore, account, tmp_path / "not.mbox")
    with pytest.raises(tr.TransferError, match="neither an mbox file nor a folder"):
        await tr.import_mbox(mailstore, account, tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(tr.TransferError, match="holds no Maildir"):
        await tr.import_maildir(mailstore, account, tmp_path / "empty")
    (tmp_path / "bad" / "a%b").mkdir(parents=True)
    (tmp_path / "bad" / "a%b" / "c.mbox").write_bytes(b"")
    with pytest.raises(tr.TransferError, match="cannot become a mailbox"):
        await tr.import_mbox(mailstore, account, tmp_path / "bad")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_bytes(b"")
    with pytest.raises(tr.TransferError, match="not an empty folder"):
        await tr.export_mbox(mailstore, account, tmp_path / "full")


async def test_mailbox_names_that_are_not_file_names(mailstore: Mailstore, directory: Directory,
                                                     tmp_path: Path) -> None:
    account = await new_account(directory, mailstore, "names")
    for name in ("..", ".hidden/..", "dot.ted"):
        await mailstore.create(account, name)
        await mailstore.append(account, name, message(name))
    await tr.export_mbox(mailstore, account, tmp_path / "mb")
    assert {p.relative_to(tmp_path / "mb").as_posix() for p in (tmp_path / "mb").rglob("*.mbox")} >= {
        "%2E..mbox", "%2Ehidden/%2E..mbox", "dot.ted.mbox"}
    await tr.export_maildir(mailstore, account, tmp_path / "md")
    assert (tmp_path / "md" / ".dot&AC4-ted" / "cur").is_dir()
    for fmt, load in (("mb", tr.import_mbox), ("md", tr.import_maildir)):
        target = await new_account(directory, mailstore, f"names-{fmt}")
        await load(mailstore, target, tmp_path / fmt)
        got = await contents(mailstore, target)
        assert all(len(got[name]) == 1 for name in ("..", ".hidden/..", "dot.ted"))


def test_modified_utf7_folder_names() -> None:
    assert tr.maildir_folder_name("INBOX") == ""
    assert tr.maildir_folder_name("Archive/2026") == ".Archive.2026"
    assert tr.maildir_folder_name("Entwürfe/a.b") == ".Entw&APw-rfe.a&AC4-b"
    assert tr.utf7_decode("Entw&APw-rfe") == "Entwürfe"
    assert tr.utf7_decode("Tom &- Jerry") == "Tom & Jerry"
    assert tr.utf7_decode("bad&@@-") == "bad&@@-"  # not decodable: kept as written
    for name in ("日本語", "a&b", "~x", "мама мыла раму"):
        assert tr.utf7_decode(tr.utf7_encode(name)) == name


# -- interop: Python's mailbox module -------------------------------------------------------------------------

async def test_python_reads_the_exported_mbox(mailstore: Mailstore, directory: Directory, tmp_path: Path) -> None:
    account = await new_account(directory, mailstore, "pyread")
    await fill(mailstore, account, TRICKY)
    await tr.export_mbox(mailstore, account, tmp_path / "out")
    box = pymailbox.mbox(tmp_path / "out" / "INBOX.mbox", create=False)
    messages = list(box)
    assert [m["Subject"] for m in messages] == ["plain", "from lines", "ends with an empty line", "all flags"]
    assert [set(m.get_flags()) for m in messages] == [{"R", "O"}, {"O", "A", "F"}, {"O"}, {"R", "O", "A", "F", "T",
                                                                                           "D"}]
    assert messages[0].get_from() == "alice@example.com Thu Jan  1 00:00:00 2026"
    # Python reads mbox as mboxo: our one extra ">" on From lines is what it shows.
    body = messages[1].get_payload()
    assert body == ">From the start\n\n>From here on\n>>From quoted\n>>>From twice\n"
    assert len(pymailbox.mbox(tmp_path / "out" / "Archive" / "2026.mbox", create=False)) == 2
    box.close()


async def test_python_reads_the_exported_maildir(mailstore: Mailstore, directory: Directory, tmp_path: Path) -> None:
    account = await new_account(directory, mailstore, "pymaildir")
    await fill(mailstore, account, TRICKY)
    await tr.export_maildir(mailstore, account, tmp_path / "md")
    root = pymailbox.Maildir(tmp_path / "md", create=False)
    assert sorted(root.list_folders()) == sorted(["Archive", "Archive.2026", "Drafts", "Junk", "Sent", "Trash",
                                                  "&ANw-n&AO8-c&APg-d&AOkALg-dot"])
    inbox = sorted(root, key=lambda m: m.get_date())
    assert [m["Subject"] for m in inbox] == ["plain", "from lines", "ends with an empty line", "all flags"]
    assert [m.get_flags() for m in inbox] == ["S", "FRa", "", "DFPRSTb"]
    assert [int(m.get_date()) for m in inbox] == [JAN_2026, JAN_2026 + 60, JAN_2026 + 120, JAN_2026 + 180]
    assert inbox[1].get_payload() == "From the start\n\nFrom here on\n>From quoted\n>>From twice\n"
    sent = root.get_folder("Sent")
    assert [m.get_payload() for m in sent] == ["line one\nline two"]
    keywords = (tmp_path / "md" / "dovecot-keywords").read_text()
    assert keywords == "0 $Label1\n1 $Junk\n"


async def test_what_python_writes_imports(mailstore: Mailstore, directory: Directory, tmp_path: Path) -> None:
    box = pymailbox.mbox(tmp_path / "py.mbox")
    first = pymailbox.mboxMessage(b"Subject: one\n\nFrom the body\nok\n")
    first.set_flags("RA")
    first.set_from("x@example.com", (2026, 1, 1, 0, 0, 0, 3, 1, 0))
    box.add(first)
    box.add(pymailbox.mboxMessage(b"Subject: two\n\nsecond\n"))
    box.close()
    folder = pymailbox.Maildir(tmp_path / "pymd")
    sub = folder.add_folder("Work.Projects")
    note = pymailbox.MaildirMessage(b"Subject: md\n\nhello\n")
    note.set_flags("FS")
    note.set_date(JAN_2026)
    sub.add(note)
    folder.add(pymailbox.MaildirMessage(b"Subject: root\n\nnew mail\n"))
    account = await new_account(directory, mailstore, "pywrite")
    await tr.import_mbox(mailstore, account, tmp_path / "py.mbox", into="FromPython")
    await tr.import_maildir(mailstore, account, tmp_path / "pymd")
    got = await contents(mailstore, account)
    assert got["FromPython"][0] == (b"Subject: one\r\n\r\nFrom the body\r\nok\r\n", {"\\Seen", "\\Answered"},
                                    JAN_2026)
    assert got["FromPython"][1][0] == b"Subject: two\r\n\r\nsecond\r\n"
    assert got["Work/Projects"] == [(b"Subject: md\r\n\r\nhello\r\n", {"\\Flagged", "\\Seen"}, JAN_2026)]
    assert got["INBOX"][0][0] == b"Subject: root\r\n\r\nnew mail\r\n" and got["INBOX"][0][1] == set()


def test_maildir_order_follows_dovecot_uidlist(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    for sub in ("cur", "new", "tmp"):
        (folder / sub).mkdir(parents=True)
    for name in ("100.a,S=1:2,S", "200.b", "300.c:2,"):
        target = folder / ("new" if ":" not in name else "cur") / name
        target.write_bytes(b"x")
    (folder / "dovecot-uidlist").write_text("3 V1 N9\n5 :300.c\n7 W2 :100.a,S=1\n")
    assert [p.name for p in tr.maildir_messages(folder)] == ["300.c:2,", "100.a,S=1:2,S", "200.b"]


def test_an_mbox_line_without_end_is_read_in_pieces_and_skipped() -> None:
    """A file holding megabytes without a line end is never read whole: the message is skipped as
    oversize, and the one after it still comes through."""
    import io

    class Counting(io.BytesIO):
        longest = 0

        def readline(self, size: int | None = -1) -> bytes:
            line = super().readline(size)
            Counting.longest = max(Counting.longest, len(line))
            return line

    mbox = (b"From a@example.com Mon Nov  2 10:00:00 2026\n" + message("huge").replace(b"\r\n", b"\n")
            + b"x" * 3_000_000 + b"\n\nFrom b@example.com Mon Nov  2 10:00:00 2026\n"
            + message("small").replace(b"\r\n", b"\n"))
    found = list(tr.read_mbox(Counting(mbox), "INBOX", 10_000))
    assert isinstance(found[0], tr.Skipped) and isinstance(found[1], tr.Incoming)
    assert b"Subject: small" in found[1].data
    assert Counting.longest <= 10_002
