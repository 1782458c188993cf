"""The one place where refusals become HTTP answers: the services' typed errors and the administration
API's (by their kind, polyport/errors.py), and a page's own refusals of a form (`FormError`).

`service_errors` is the applications' middleware. A refusal the page did not handle becomes a plain-text
answer with the kind's status and the error's message. A page that shows refusals beside its form
registers how to show itself again (`redisplay`) before it acts: the middleware calls that instead, with
the message, and the page answers 400 with its form and the error in it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from polyport.admin import Hidden
from polyport.errors import ErrorKind, ServiceError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Redisplay = Callable[[str], Awaitable[web.StreamResponse]]

# The HTTP status for each kind of refusal.
STATUS: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.EXISTS: 409,
    ErrorKind.INVALID: 400,
    ErrorKind.MALFORMED: 400,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.PROTECTED: 409,
    ErrorKind.NOT_EMPTY: 409,
    ErrorKind.DISABLED: 409,
    ErrorKind.OVER_QUOTA: 507,  # Insufficient Storage, as WebDAV answers a quota (RFC 4331)
    ErrorKind.TOO_LARGE: 413,
    ErrorKind.THROTTLED: 429,
    ErrorKind.AUTH_FAILED: 403,
    ErrorKind.NEEDS_TLS: 403,
    ErrorKind.LOGIN_DENIED: 403,
    ErrorKind.REFUSED: 400,
}

REDISPLAY = web.RequestKey[Redisplay]("redisplay")


class FormError(Exception):
    """A page's own refusal of what its form sent (a field missing, not an address...): answered like a
    service's refusal of invalid input."""


def status_of(err: ServiceError | FormError) -> int:
    if isinstance(err, FormError):
        return 400
    if isinstance(err, Hidden):
        return 404  # as if it did not exist: a domain administrator must not learn what is elsewhere
    return STATUS[err.kind]


def message_of(err: Exception) -> str:
    """The error's message as a page shows it: one line, its first letter up unless it starts with a name
    (alice@..., example.com)."""
    text = " ".join(str(err).split())
    first = text.split(" ", 1)[0]
    return text[:1].upper() + text[1:] if first.isalpha() and first.islower() else text


def redisplay(request: web.Request, show: Redisplay) -> None:
    """From here on, a refusal shows the page again through `show(message)` (400, the form and the error)."""
    request[REDISPLAY] = show


def settled(request: web.Request) -> None:
    """The change was made: a refusal from here on is not shown as if it had not been."""
    request.pop(REDISPLAY, None)


def _answer(err: ServiceError | FormError) -> web.Response:
    return web.Response(status=status_of(err), text=message_of(err) + "\n")


@web.middleware
async def service_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ServiceError, FormError) as err:
        show: Redisplay | None = request.get(REDISPLAY)
        if show is None:
            return _answer(err)
        del request[REDISPLAY]
        try:
            return await show(message_of(err))
        except (ServiceError, FormError) as again:  # the page itself cannot be shown (it is about nothing)
            return _answer(again)
