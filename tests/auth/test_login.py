"""The Authenticator and SASL exchanges, against a real directory; SCRAM driven by the third-party
`scramp` client."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable

import pytest
import scramp

from polyport.auth.credcache import CredentialCache
from polyport.auth.login import (
    AccessDenied,
    Authenticator,
    BadCredentials,
    LoginContext,
    Malformed,
    PlaintextRefused,
    Throttled,
)
from polyport.auth.passwords import PasswordHasher
from polyport.auth.sasl import Challenge, Mechanism, Success, exchange
from polyport.auth.throttle import Throttle
from polyport.bus import LocalBus
from polyport.directory import Directory
from polyport.store import RecordStore, Statement, unit_of

TLS = LoginContext(service="imap", remote="203.0.113.5", secure=True, trusted=False, access_mode="IMAP")
CLEAR = LoginContext(service="imap", remote="203.0.113.6", secure=False, trusted=False, access_mode="IMAP")
XMPP = LoginContext(service="xmpp", remote="203.0.113.7", secure=True, trusted=False, access_mode="XMPP")
LAN = LoginContext(service="imap", remote="127.0.0.1", secure=False, trusted=True, access_mode="IMAP")


@pytest.fixture
async def auth(directory: Directory, hasher: PasswordHasher) -> Authenticator:
    await directory.create_account("alice", password="wonderland")
    await directory.create_alias("ally", "alice")
    await directory.create_account("bob", password="builder", settings={"AccessModes": "Mail, POP"})
    return Authenticator(directory, hasher, CredentialCache(600, 1000),
                         Throttle(window=60, max_per_address=5, max_per_account=8, lockout=60))


async def test_plain_login_over_tls_and_from_trusted_networks(auth: Authenticator) -> None:
    identity = await auth.login_plain(TLS, "alice", "wonderland")
    assert identity.address == "alice@example.com" and identity.login == "alice"
    assert (await auth.login_plain(LAN, "ALLY@example.com", "wonderland")).address == "alice@example.com"


async def test_plaintext_without_tls_is_refused_before_any_check(auth: Authenticator) -> None:
    with pytest.raises(PlaintextRefused, match="TLS"):
        await auth.login_plain(CLEAR, "alice", "wonderland")


async def test_wrong_password_and_unknown_user_fail_alike(auth: Authenticator) -> None:
    with pytest.raises(BadCredentials) as wrong:
        await auth.login_plain(TLS, "alice", "nope")
    with pytest.raises(BadCredentials) as unknown:
        await auth.login_plain(TLS, "nobody", "nope")
    assert str(wrong.value) == str(unknown.value)


async def test_access_modes_are_enforced(auth: Authenticator) -> None:
    with pytest.raises(AccessDenied, match="IMAP"):
        await auth.login_plain(TLS, "bob", "builder")
    pop = LoginContext(service="pop3", remote="203.0.113.5", secure=True, trusted=False, access_mode="POP")
    assert (await auth.login_plain(pop, "bob", "builder")).address == "bob@example.com"


async def test_repeated_failures_lock_the_address_out(auth: Authenticator) -> None:
    for _ in range(5):
        with pytest.raises(BadCredentials):
            await auth.login_plain(TLS, "alice", "guess")
    with pytest.raises(Throttled, match="try again"):
        await auth.login_plain(TLS, "alice", "wonderland")  # even the right password, unchecked


async def test_every_spelling_of_an_account_shares_its_failure_budget(auth: Authenticator) -> None:
    """Aliases, case and a trailing dot name the same account: they must not each get fresh tries."""
    spellings = ["alice", "ALICE@example.com", "ally", "alice@example.com.", "Ally@EXAMPLE.COM"]
    for i in range(8):
        ctx = LoginContext(service="imap", remote=f"198.51.100.{i}", secure=True, trusted=False)
        with pytest.raises(BadCredentials):
            await auth.login_plain(ctx, spellings[i % len(spellings)], "guess")
    other = LoginContext(service="imap", remote="198.51.100.200", secure=True, trusted=False)
    with pytest.raises(Throttled, match="account"):
        await auth.login_plain(other, "alice", "wonderland")


async def test_admin_password_checks_are_throttled_too(auth: Authenticator) -> None:
    for _ in range(5):
        assert not await auth.verify_password(TLS, "alice", "guess")
    with pytest.raises(Throttled):
        await auth.verify_password(TLS, "alice", "wonderland")


async def test_apop_digests_must_be_hex(auth: Authenticator) -> None:
    for digest in ("é", "", "z" * 32, "a" * 31):
        with pytest.raises(BadCredentials):
            await auth.login_apop(TLS, "alice", "<1@x>", digest)


async def test_the_cache_skips_argon2_for_a_repeated_login(auth: Authenticator, hasher: PasswordHasher,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    await auth.login_plain(TLS, "alice", "wonderland")
    calls: list[str] = []
    original = hasher.verify

    async def counting(password_hash: str, password: str) -> bool:
        calls.append(password)
        return await original(password_hash, password)

    monkeypatch.setattr(hasher, "verify", counting)
    await auth.login_plain(TLS, "alice", "wonderland")
    assert calls == []
    with pytest.raises(BadCredentials):
        await auth.login_plain(TLS, "alice", "wrong")
    assert calls == ["wrong"]


async def test_a_password_change_invalidates_the_cache(auth: Authenticator, directory: Directory) -> None:
    await auth.login_plain(TLS, "alice", "wonderland")
    await directory.set_password("alice", "looking glass")
    with pytest.raises(BadCredentials):
        await auth.login_plain(TLS, "alice", "wonderland")
    assert (await auth.login_plain(TLS, "alice", "looking glass")).address == "alice@example.com"


def test_mechanisms_offered_depend_on_the_connection(auth: Authenticator) -> None:
    assert auth.mechanisms(TLS) == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
    assert auth.mechanisms(CLEAR) == ["SCRAM-SHA-256"]
    assert auth.mechanisms(XMPP) == ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"]  # XMPP's mandatory one


async def run_exchange(mech: Mechanism, initial: bytes | None,
                       respond: Callable[[bytes], Awaitable[bytes]] | None = None) -> Success:
    step = await mech.start(initial)
    while isinstance(step, Challenge):
        assert respond is not None
        step = await mech.step(await respond(step.data))
    return step


async def test_sasl_plain_with_and_without_initial_response(auth: Authenticator) -> None:
    message = b"\0alice\0wonderland"
    assert (await run_exchange(await exchange("plain", auth, TLS), message)).identity.address == "alice@example.com"

    async def respond(_challenge: bytes) -> bytes:
        return message

    assert (await run_exchange(await exchange("PLAIN", auth, TLS), None, respond)).identity.login == "alice"


async def test_sasl_plain_authzid_must_be_the_same_account(auth: Authenticator) -> None:
    assert (await run_exchange(await exchange("PLAIN", auth, TLS), b"alice\0ally\0wonderland")).identity
    with pytest.raises(AccessDenied):
        await run_exchange(await exchange("PLAIN", auth, TLS), b"bob\0alice\0wonderland")


@pytest.mark.parametrize("message", [b"alice\0wonderland", b"\0\0pw", b"a\0b\0c\0d", b"\0\xffalice\0pw"])
async def test_sasl_plain_malformed(auth: Authenticator, message: bytes) -> None:
    with pytest.raises(Malformed):
        await run_exchange(await exchange("PLAIN", auth, TLS), message)


async def test_sasl_login(auth: Authenticator) -> None:
    answers = {b"Username:": b"alice", b"Password:": b"wonderland"}

    async def respond(challenge: bytes) -> bytes:
        return answers[challenge]

    assert (await run_exchange(await exchange("LOGIN", auth, TLS), None, respond)).identity.login == "alice"
    assert (await run_exchange(await exchange("LOGIN", auth, TLS), b"alice", respond)).identity.login == "alice"


async def test_plaintext_mechanisms_are_refused_without_tls(auth: Authenticator) -> None:
    for name in ("PLAIN", "LOGIN"):
        with pytest.raises(PlaintextRefused, match="SCRAM"):
            await exchange(name, auth, CLEAR)


async def test_refused_plaintext_mechanisms_count_as_failures(auth: Authenticator) -> None:
    for _ in range(5):
        with pytest.raises(PlaintextRefused):
            await exchange("PLAIN", auth, CLEAR)
    lockout = await auth.throttle.check(CLEAR.remote, None)
    assert lockout is not None and lockout.scope == "address"


async def test_an_unknown_mechanism_is_named(auth: Authenticator) -> None:
    with pytest.raises(Malformed, match="CRAM-MD5"):
        await exchange("CRAM-MD5", auth, TLS)


async def scram_login(auth: Authenticator, ctx: LoginContext, user: str, password: str,
                      mechanism: str = "SCRAM-SHA-256") -> Success:
    client = scramp.ScramClient([mechanism], user, password)
    mech = await exchange(mechanism, auth, ctx)
    step = await mech.start(client.get_client_first().encode())
    assert isinstance(step, Challenge)
    client.set_server_first(step.data.decode())
    final = await mech.step(client.get_client_final().encode())
    assert isinstance(final, Success) and final.data is not None
    client.set_server_final(final.data.decode())  # scramp checks our server signature
    return final


async def test_scram_with_a_third_party_client(auth: Authenticator) -> None:
    assert (await scram_login(auth, TLS, "alice", "wonderland")).identity.address == "alice@example.com"
    # SCRAM sends no password, so it is fine without TLS.
    assert (await scram_login(auth, CLEAR, "ally@example.com", "wonderland")).identity.login == "ally@example.com"


async def test_scram_sha1_and_its_keys_for_older_accounts(auth: Authenticator, records: RecordStore) -> None:
    """SCRAM-SHA-1 (XMPP's mandatory mechanism): keys made with the password; an account older than them
    gets them at its first login that shows the password."""
    assert (await scram_login(auth, XMPP, "alice", "wonderland", "SCRAM-SHA-1")).identity.address == \
        "alice@example.com"
    with pytest.raises(BadCredentials):
        await scram_login(auth, XMPP, "alice", "wrong", "SCRAM-SHA-1")
    with pytest.raises(Malformed):  # XMPP's only
        await exchange("SCRAM-SHA-1", auth, TLS)
    await records.write(unit_of(Statement("UPDATE accounts SET scram_sha1 = ''").run()))  # as migration 0021 left it
    with pytest.raises(BadCredentials):
        await scram_login(auth, XMPP, "alice", "wonderland", "SCRAM-SHA-1")
    await auth.login_plain(XMPP, "alice", "wonderland")
    for _ in range(100):
        record = await auth.directory.login_record("alice")
        if record is not None and record.scram_sha1:
            break
        await asyncio.sleep(0.02)
    assert (await scram_login(auth, XMPP, "alice", "wonderland", "SCRAM-SHA-1")).identity.address == \
        "alice@example.com"
    # An unknown name's salts differ by mechanism, as a real account's do.
    salts = set()
    for mechanism in ("SCRAM-SHA-256", "SCRAM-SHA-1"):
        mech = await exchange(mechanism, auth, XMPP)
        step = await mech.start(b"n,,n=nobody,r=abcdefgh")
        assert isinstance(step, Challenge)
        salts.add(dict(part.split("=", 1) for part in step.data.decode().split(","))["s"])
    assert len(salts) == 2


async def test_scram_wrong_password_and_unknown_user(auth: Authenticator) -> None:
    with pytest.raises(BadCredentials):
        await scram_login(auth, TLS, "alice", "wrong")
    with pytest.raises(BadCredentials):
        await scram_login(auth, TLS, "nobody", "wrong")


async def test_scram_unknown_user_gets_a_stable_plausible_salt(auth: Authenticator) -> None:
    async def server_first(user: str) -> str:
        mech = await exchange("SCRAM-SHA-256", auth, TLS)
        step = await mech.start(f"n,,n={user},r=abc".encode())
        assert isinstance(step, Challenge)
        return step.data.decode().split(",", 1)[1]

    first, second = await server_first("ghost"), await server_first("ghost")
    assert first == second and first.endswith(",i=4096")
    assert len(base64.b64decode(first.split(",")[0][2:])) == 16


@pytest.mark.parametrize("first", [
    b"x,,n=alice,r=abc", b"p=tls-unique,,n=alice,r=abc", b"n,,m=ext,n=alice,r=abc", b"n,,n=alice",
    b"n,,n=al=ZZice,r=abc", b"n,,r=abc,n=alice", b"n,,n=,r=abc", b"n", b"\xff\xfe", b"n,a,n=alice,r=x",
])
async def test_scram_malformed_client_first(auth: Authenticator, first: bytes) -> None:
    with pytest.raises(Malformed):
        await (await exchange("SCRAM-SHA-256", auth, TLS)).start(first)


async def test_scram_final_message_checks_nonce_and_binding(auth: Authenticator) -> None:
    for tamper in (lambda m: m.replace("c=biws", "c=eSws"), lambda m: m.replace(",r=", ",r=X", 1),
                   lambda m: m.split(",p=")[0], lambda m: m + "!"):
        client = scramp.ScramClient(["SCRAM-SHA-256"], "alice", "wonderland")
        mech = await exchange("SCRAM-SHA-256", auth, TLS)
        step = await mech.start(client.get_client_first().encode())
        assert isinstance(step, Challenge)
        client.set_server_first(step.data.decode())
        with pytest.raises((Malformed, BadCredentials)):
            await mech.step(tamper(client.get_client_final()).encode())


async def test_concurrent_logins_all_succeed(auth: Authenticator) -> None:
    results = await asyncio.gather(*(auth.login_plain(TLS, "alice", "wonderland") for _ in range(20)))
    assert {r.address for r in results} == {"alice@example.com"}


async def test_logins_are_recorded_at_most_once_a_minute_per_address(auth: Authenticator,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    recorded: list[tuple[int, str]] = []

    async def record(account_id: int, remote: str) -> None:
        recorded.append((account_id, remote))

    monkeypatch.setattr(auth.directory, "record_login", record)
    for _ in range(3):
        await auth.login_plain(TLS, "alice", "wonderland")
    await auth.login_plain(LAN, "alice", "wonderland")
    await asyncio.sleep(0)
    assert [remote for _, remote in recorded] == ["203.0.113.5", "127.0.0.1"]


async def test_scram_sha1_keys_come_at_once_from_a_recoverable_password(records: RecordStore, hasher: PasswordHasher,
                                                                        bus: LocalBus) -> None:
    """An account older than SCRAM-SHA-1's keys whose password is recoverable needs no PLAIN login first."""
    import secrets

    from polyport.auth.passwords import PasswordVault

    directory = Directory(records, hasher, bus, vault=PasswordVault(secrets.token_bytes(32)))
    await directory.initialize("example.com")
    await directory.create_account("carol", password="keys", settings={"RecoverablePassword": "YES"})
    await records.write(unit_of(Statement("UPDATE accounts SET scram_sha1 = ''").run()))  # as migration 0021 left it
    auth = Authenticator(directory, hasher, CredentialCache(600, 1000),
                         Throttle(window=60, max_per_address=5, max_per_account=8, lockout=60))
    assert (await scram_login(auth, XMPP, "carol", "keys", "SCRAM-SHA-1")).identity.address == "carol@example.com"
    for _ in range(100):  # and kept, in the background
        record = await directory.login_record("carol")
        if record is not None and record.scram_sha1:
            break
        await asyncio.sleep(0.02)
    assert record is not None and record.scram_sha1.startswith("SCRAM-SHA-1$")
