"""URLAUTH in the mailstore (RFC 4467): access keys made on first use and reset, URLs signed and verified,
who may use them, expiry, sections, and keys going with their account and mailbox."""

from __future__ import annotations

from typing import Any

import pytest

from polyport.directory import Directory
from polyport.mailstore import Mailstore
from polyport.mailstore.imapurl import BadUrl
from polyport.mailstore.urlauth import GET_KEY, Requester
from polyport.store import RecordStore, Statement

MESSAGE = (b"From: bob@example.com\r\nSubject: draft\r\nMIME-Version: 1.0\r\n"
           b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
           b"--b\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
           b"--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n")
KEYS = Statement("SELECT count(*) FROM mailbox_access_keys")


class Clock:
    now = 1_899_900_000  # 2030-03-16

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def store(mailstore: Mailstore, clock: Clock) -> Mailstore:
    mailstore._clock = clock
    return mailstore


async def _draft(store: Mailstore, account: int, mailbox: str = "Drafts") -> int:
    return (await store.append(account, mailbox, MESSAGE, ["\\Draft"])).uid


async def test_generate_and_fetch(store: Mailstore, account: int, directory: Directory) -> None:
    uid = await _draft(store, account)
    url = await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid};URLAUTH=submit+bob")
    rump, mechanism, token = url.rsplit(":", 2)
    assert rump == f"imap://bob@example.com/Drafts/;UID={uid};URLAUTH=submit+bob"
    assert mechanism == "INTERNAL" and len(token) == 64
    # The same key signs the next URL: the same rump gives the same token.
    assert await store.generate_url(account, rump) == url
    assert await store.fetch_url(url, Requester(account, submit=True)) == MESSAGE
    # submit+bob is for the submission server acting for bob only: not bob's IMAP session, not alice.
    alice = (await directory.create_account("alice", password="pw")).id
    for requester in (Requester(account), Requester(alice, submit=True), Requester(None)):
        with pytest.raises(BadUrl, match="not for this user"):
            await store.fetch_url(url, requester)
    # A section and a partial range, cut as FETCH cuts them.
    part = await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid}/;SECTION=2/;PARTIAL=0.6"
                                             ";URLAUTH=user+bob")
    assert await store.fetch_url(part, Requester(account)) == b"second"
    with pytest.raises(BadUrl, match="not for this user"):
        await store.fetch_url(part, Requester(alice))


@pytest.mark.parametrize(("access", "who"), [("anonymous", (None, "bob", "alice")), ("authuser", ("bob", "alice")),
                                             ("user+alice", ("alice",)), ("user+alice@example.com", ("alice",))])
async def test_access_identifiers(store: Mailstore, account: int, directory: Directory, access: str,
                                  who: tuple[str | None, ...]) -> None:
    alice = (await directory.create_account("alice", password="pw")).id
    ids = {None: None, "bob": account, "alice": alice}
    uid = await _draft(store, account)
    url = await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid};URLAUTH={access}")
    for name, account_id in ids.items():
        if name in who:
            assert await store.fetch_url(url, Requester(account_id)) == MESSAGE
        else:
            with pytest.raises(BadUrl):
                await store.fetch_url(url, Requester(account_id))


async def test_what_generate_refuses(store: Mailstore, account: int, directory: Directory) -> None:
    await directory.create_account("alice", password="pw")
    uid = await _draft(store, account)
    for rump, why in [
        (f"imap://alice@example.com/Drafts/;UID={uid};URLAUTH=anonymous", "another user"),
        (f"imap://bob@example.com/Nowhere/;UID={uid};URLAUTH=anonymous", "no mailbox"),
        (f"imap://bob@example.com/Drafts;UIDVALIDITY=1/;UID={uid};URLAUTH=anonymous", "UIDVALIDITY"),
        (f"imap://bob@example.com/Drafts/;UID={uid}", "no token"),
        (f"imap://bob@example.com/Drafts/;UID={uid};URLAUTH=anonymous:INTERNAL:{'0' * 32}", "no token"),
    ]:
        with pytest.raises(BadUrl, match=why):
            await store.generate_url(account, rump)


async def test_bad_tokens_expiry_and_missing_messages(store: Mailstore, account: int, clock: Clock) -> None:
    uid = await _draft(store, account)
    url = await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid};URLAUTH=anonymous")
    wrong = url[:-1] + ("0" if url[-1] != "0" else "1")
    for bad, why in [(wrong, "does not verify"), (url.replace("Drafts", "INBOX"), "does not verify"),
                     (url.rsplit(":", 2)[0], "no URLAUTH authorization"),
                     (url.replace("bob@", "nobody@"), "does not verify"),
                     (url.replace("Drafts", "Nowhere"), "does not verify")]:
        with pytest.raises(BadUrl, match=why):
            await store.fetch_url(bad, Requester(None))
    expiring = await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid}"
                                                 ";EXPIRE=2030-03-17T12:00:00Z;URLAUTH=anonymous")
    clock.now = 1_899_979_199  # 2030-03-17T11:59:59Z
    assert await store.fetch_url(expiring, Requester(None)) == MESSAGE
    clock.now += 1
    with pytest.raises(BadUrl, match="expired"):
        await store.fetch_url(expiring, Requester(None))
    gone = await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid + 1};URLAUTH=anonymous")
    with pytest.raises(BadUrl, match=f"no message with UID {uid + 1}"):
        await store.fetch_url(gone, Requester(None))


async def test_reset_keys(store: Mailstore, account: int, records: RecordStore) -> None:
    draft = await _draft(store, account)
    kept = await _draft(store, account, "INBOX")
    in_drafts = await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={draft};URLAUTH=anonymous")
    in_inbox = await store.generate_url(account, f"imap://bob@example.com/INBOX/;UID={kept};URLAUTH=anonymous")
    await store.reset_access_keys(account, "Drafts")
    with pytest.raises(BadUrl, match="does not verify"):
        await store.fetch_url(in_drafts, Requester(None))
    assert await store.fetch_url(in_inbox, Requester(None)) == MESSAGE
    # A new key for Drafts signs differently: the old URL stays dead.
    renewed = await store.generate_url(account, in_drafts.rsplit(":", 2)[0])
    assert renewed != in_drafts
    assert await store.fetch_url(renewed, Requester(None)) == MESSAGE
    await store.reset_access_keys(account)
    for url in (renewed, in_inbox):
        with pytest.raises(BadUrl, match="does not verify"):
            await store.fetch_url(url, Requester(None))
    assert await records.fetch(KEYS.value()) == 0


async def test_keys_go_with_their_mailbox_and_account(store: Mailstore, account: int, directory: Directory,
                                                      records: RecordStore) -> None:
    uid = await _draft(store, account)
    await store.create(account, "Box")
    await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid};URLAUTH=anonymous")
    await store.generate_url(account, "imap://bob@example.com/Box/;UID=1;URLAUTH=anonymous")
    box = await store.mailbox(account, "Box")
    assert await records.fetch(GET_KEY.value(mailbox_id=box.id, account_id=account)) is not None
    await store.delete(account, "Box")
    assert await records.fetch(KEYS.value()) == 1
    await directory.delete_account("bob")
    assert await records.fetch(KEYS.value()) == 0


async def test_a_mailboxs_key_is_written_once(store: Mailstore, account: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """GENURLAUTH reads the key it has; only the first URL for a mailbox writes (and fsyncs) one."""
    uid = await _draft(store, account)
    real = store.store.write
    writes: list[object] = []

    async def counted(unit: Any, *, durable: bool = True) -> Any:
        writes.append(unit)
        return await real(unit, durable=durable)

    monkeypatch.setattr(store.store, "write", counted)
    urls = [await store.generate_url(account, f"imap://bob@example.com/Drafts/;UID={uid};URLAUTH=anonymous")
            for _ in range(3)]
    assert len(writes) == 1 and len(set(urls)) == 1
