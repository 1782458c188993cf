"""The web's one error middleware (web/errors.py): every kind of refusal has its status, a refusal the
page does not handle becomes a plain answer, a page with a form shows itself again with the reason."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from polyport.admin import Forbidden, Hidden, InvalidRequest, NotFound
from polyport.directory import UnknownDomain
from polyport.errors import ErrorKind, ServiceError
from polyport.mailstore import MailboxExists, OverQuota
from polyport.web.errors import STATUS, FormError, message_of, redisplay, service_errors, settled, status_of
from tests.service_errors import examples


def test_every_kind_has_a_status() -> None:
    assert set(STATUS) == set(ErrorKind)


@pytest.mark.parametrize("error", examples(), ids=lambda e: type(e).__name__)
def test_every_service_error_has_a_status(error: ServiceError) -> None:
    assert 400 <= status_of(error) < 600


def test_statuses_and_messages() -> None:
    assert status_of(Forbidden()) == 403
    assert status_of(Hidden()) == 404  # a refusal that must not tell whether the thing exists
    assert status_of(UnknownDomain("unknown domain x.test")) == 404
    assert status_of(NotFound("no message X in the queue")) == 404
    assert status_of(MailboxExists("mailbox Work exists")) == 409
    assert status_of(InvalidRequest("bad")) == 400
    assert status_of(OverQuota("over quota")) == 507
    assert status_of(FormError("Give the name.")) == 400
    assert message_of(UnknownDomain("unknown domain x.test")) == "Unknown domain x.test"
    assert message_of(UnknownDomain("alice@x.test is\nunknown")) == "alice@x.test is unknown"


async def _client(app: web.Application) -> TestClient[web.Request, web.Application]:
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_the_middleware_answers_or_shows_the_form_again() -> None:
    async def plain(request: web.Request) -> web.StreamResponse:
        raise Hidden()

    async def form(request: web.Request) -> web.StreamResponse:
        async def show(error: str | None = None) -> web.StreamResponse:
            if request.query.get("broken"):
                raise UnknownDomain("unknown domain gone.test")
            return web.Response(status=400 if error else 200, text=f"form; error={error}")

        redisplay(request, show)
        raise Forbidden("Only server administrators may change MaxAccounts")

    async def done(request: web.Request) -> web.StreamResponse:
        async def never(error: str) -> web.StreamResponse:
            raise AssertionError("shown again after the change was made")

        redisplay(request, never)
        settled(request)
        raise OverQuota("over quota")

    app = web.Application(middlewares=[service_errors])
    app.router.add_get("/plain", plain)
    app.router.add_get("/form", form)
    app.router.add_get("/done", done)
    client = await _client(app)
    try:
        async with client.get("/plain") as response:
            assert response.status == 404 and await response.text() == "Not enough access rights\n"
        async with client.get("/form") as response:
            assert response.status == 400
            assert await response.text() == "form; error=Only server administrators may change MaxAccounts"
        async with client.get("/form?broken=1") as response:
            assert response.status == 404 and "gone.test" in await response.text()
        async with client.get("/done") as response:
            assert response.status == 507
    finally:
        await client.close()
