"""The server's own settings, the queue, routes and the log: server administrators only (routes: a domain
administrator inside its domain)."""

from __future__ import annotations

import ipaddress

import pytest

from polyport import admin
from polyport.admin import SERVER, Forbidden, Hidden, InvalidRequest, NotFound
from polyport.directory.records import SERVER_NETWORK, SERVER_SERVICES
from tests.admin.conftest import Cast, Services


async def test_only_server_administrators_touch_the_queue(services: Services, cast: Cast) -> None:
    calls = (lambda a: admin.queue_totals(services, a), lambda a: admin.release_queue(services, a),
             lambda a: admin.queued_messages(services, a), lambda a: admin.queued_message(services, a, "X1"),
             lambda a: admin.delete_queued_message(services, a, "X1", notify=False))
    for call in calls:
        for actor in (cast.boss, cast.user):
            with pytest.raises(Forbidden):
                await call(actor)
    assert await admin.queued_messages(services, cast.master) == []
    assert await admin.release_queue(services, SERVER, "example.org") == 0
    assert isinstance(await admin.queue_totals(services, cast.root), dict)
    with pytest.raises(NotFound, match="no message X1"):
        await admin.queued_message(services, cast.master, "X1")
    with pytest.raises(NotFound):
        await admin.delete_queued_message(services, cast.master, "X1")


async def test_modules(services: Services, cast: Cast) -> None:
    with pytest.raises(Forbidden):
        await admin.list_modules(services, cast.boss)
    with pytest.raises(Forbidden):
        await admin.update_module(services, cast.boss, "IMAP", {"imap": {"MaxConnections": "5"}})
    assert "PWD" in await admin.list_modules(services, cast.master)
    assert set(await admin.module(services, cast.master, "POP")) == {"pop3", "pop3s"}
    await admin.update_module(services, cast.master, "PWD", {"cliapi": {"MaxPerAddress": "7"}})
    assert (await admin.module(services, cast.master, "cliapi"))["cliapi"]["MaxPerAddress"] == "7"
    assert (await services.directory.server_dict(SERVER_SERVICES))["cliapi"]
    with pytest.raises(InvalidRequest, match="Unknown module"):
        await admin.module(services, cast.master, "NOPE")
    with pytest.raises(InvalidRequest, match="several listeners"):
        await admin.update_module(services, cast.master, "POP", {"MaxConnections": "5"})
    with pytest.raises(InvalidRequest, match="not a listener"):
        await admin.update_module(services, cast.master, "POP", {"imap": {"MaxConnections": "5"}})


async def test_trusted_networks(services: Services, cast: Cast) -> None:
    with pytest.raises(Forbidden):
        await admin.set_trusted_networks(services, cast.boss, ["10.0.0.0/8"])
    with pytest.raises(Forbidden):
        await admin.trusted_networks(services, cast.user)
    await admin.set_trusted_networks(services, cast.master, ["10.0.0.0/8", "192.0.2.1"])
    assert services.trusted.networks[0] == ipaddress.ip_network("10.0.0.0/8")
    assert "192.0.2.1/32" in [str(n) for n in await admin.trusted_networks(services, cast.master)]
    assert (await services.directory.server_dict(SERVER_NETWORK))["trusted"][0] == "10.0.0.0/8"
    with pytest.raises(InvalidRequest, match="nonsense"):
        await admin.set_trusted_networks(services, cast.master, ["nonsense"])
    assert len(services.trusted.networks) == 2  # unchanged


async def test_routes(services: Services, cast: Cast) -> None:
    directory = services.directory
    await directory.create_forwarder("probe@tenant.test", "victim@other.test")
    await directory.create_group("team@tenant.test", members=["user@tenant.test"])
    assert await admin.route(services, cast.reader, "user@tenant.test") == ("LOCAL", "user@tenant.test", "user")
    assert await admin.route(services, cast.reader, "team@tenant.test") == ("GROUP", "team@tenant.test", "team")
    assert await admin.route(services, cast.master, "probe@tenant.test") == ("LOCAL", "victim@other.test", "victim")
    assert await admin.route(services, cast.master, "x@example.org") == ("SMTP", "example.org", "x@example.org")
    with pytest.raises(Hidden, match="another domain"):
        await admin.route(services, cast.reader, "probe@tenant.test")
    with pytest.raises(Hidden):
        await admin.route(services, cast.reader, "victim@other.test")
    with pytest.raises(Forbidden):
        await admin.route(services, cast.user, "user@tenant.test")


async def test_the_log_and_server_defaults(services: Services, cast: Cast) -> None:
    with pytest.raises(Forbidden):
        await admin.write_log(services, cast.boss, "info", "hello")
    await admin.write_log(services, cast.master, "warning", "hello")
    for read, change in ((admin.server_account_defaults, admin.update_server_account_defaults),
                         (admin.server_domain_defaults, admin.update_server_domain_defaults),
                         (admin.server_account_prefs, admin.update_server_account_prefs)):
        values = {"Theme": "dark"} if read is admin.server_account_prefs else {}
        await read(services, cast.user)  # anyone may read the server's defaults, as CommuniGate allows
        with pytest.raises(Forbidden):
            await change(services, cast.boss, values)
        await change(services, cast.master, values)
    await admin.update_server_account_defaults(services, cast.master, {"MaxMailboxes": "10"})
    assert (await admin.server_account_defaults(services, cast.user))["MaxMailboxes"] == "10"
