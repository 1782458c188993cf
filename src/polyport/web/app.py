"""What every web page shares: templates, security headers, sessions, CSRF (refusals: errors.py).

Pages are rendered on the server (jinja2, autoescaped) and work without JavaScript; `static/app.js`
(keyboard shortcuts, new-mail events) only makes them quicker; htmx is not loaded (no page needs it,
and every hx-* attribute a bug let through would act with the session's rights). The Content-Security-Policy allows
scripts from our own origin only, never inline, so an injected `<script>` or `onerror=` does nothing even
if something slipped past the escaping.
"""

from __future__ import annotations

import asyncio
import functools
import re
import secrets
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from polyport import log
from polyport.admin import Actor
from polyport.auth.login import AuthFailure, Identity, LoginContext, Throttled
from polyport.auth.websessions import WebSession
from polyport.runtime import Runtime

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

PAGE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "frame-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'self'; "
            "base-uri 'none'; object-src 'none'")

RUNTIME = web.AppKey("runtime", Runtime)
SERVICE = web.AppKey("service", str)
KIND = web.AppKey("kind", str)  # the session kind this application's logins make: "user" or "admin"
COOKIE = web.AppKey("cookie", str)
STOPPING = web.AppKey("stopping", object)
SESSION = web.RequestKey("session", WebSession)
NEW_SESSION = web.RequestKey("new_session", WebSession)  # made during the request (after a password change)
REQUEST_ID = web.RequestKey("request_id", str)

_log = log.get(service="web")


@functools.cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
                             auto_reload=False)  # templates are package files: no stat() per page
    env.filters["size"] = human_size
    env.filters["when"] = short_time
    env.filters["urlencode"] = url_part  # jinja's own costs several times more per call
    return env


_URL_PLAIN = re.compile(r"[A-Za-z0-9_.~-]*")


def url_part(value: object) -> str:
    """A value for a URL's query or path, every reserved character quoted (names are mostly plain)."""
    text = str(value)
    return text if _URL_PLAIN.fullmatch(text) else urllib.parse.quote(text, safe="")


def human_size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" or size >= 10 else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return f"{size} B"


def short_time(seconds: int | None) -> str:
    """A list's date: the time for today, the day and month this year, else the full date."""
    if not seconds:
        return ""
    then = time.localtime(seconds)
    now = time.localtime()
    if then[:3] == now[:3]:
        return time.strftime("%H:%M", then)
    if then.tm_year == now.tm_year:
        return time.strftime("%d %b", then)
    return time.strftime("%Y-%m-%d", then)


def page(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    session: WebSession | None = request.get(SESSION)
    body = templates().get_template(template).render(
        session=session, csrf=session.csrf if session else "", path=request.path, **context)
    return web.Response(text=body, status=status, content_type="text/html", charset="utf-8")


def runtime_of(request: web.Request) -> Runtime:
    return request.app[RUNTIME]


def client_ip(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    return str(peer[0]) if peer else ""


def login_context(request: web.Request, access_mode: str) -> LoginContext:
    runtime = runtime_of(request)
    remote = client_ip(request)
    return LoginContext(request.app[SERVICE], remote, request.secure, remote in runtime.trusted, access_mode,
                        conn=request.get(REQUEST_ID, ""))


def cookie_name(request: web.Request) -> str:
    # The __Host- prefix (TLS only) pins the cookie to this host and path "/", so no sibling subdomain can
    # plant one; plain HTTP cannot use the prefix.
    base = request.app[COOKIE]
    return f"__Host-{base}" if request.secure else base


def set_session_cookie(request: web.Request, response: web.StreamResponse, session: WebSession,
                       remember: bool) -> None:
    response.set_cookie(cookie_name(request), session.token, path="/", httponly=True, samesite="Lax",
                        secure=request.secure, max_age=(session.expires - int(time.time())) if remember else None)


def clear_session_cookie(request: web.Request, response: web.StreamResponse) -> None:
    response.del_cookie(cookie_name(request), path="/", secure=request.secure, httponly=True, samesite="Lax")


async def current_session(request: web.Request, access_mode: str | None) -> WebSession | None:
    token = request.cookies.get(cookie_name(request))
    if not token:
        return None
    return await runtime_of(request).websessions.find(token, request.app[KIND], access_mode=access_mode)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Request bodies: small forms by default (the application's limit); /mail/send asks for more, after login.
FORM_LIMIT = 256 * 1024
# A body must arrive within this: a client trickling one byte at a time must not hold its slot forever.
BODY_SECONDS = 60.0


async def read_form(request: web.Request, limit: int | None = None) -> MultiDictProxy[Any]:
    """The request's form (urlencoded or multipart), read within BODY_SECONDS and `limit` bytes."""
    reader = request.clone(client_max_size=limit) if limit is not None else request
    allowed = limit if limit is not None else FORM_LIMIT
    if request.content_length is not None and request.content_length > allowed:
        raise web.HTTPRequestEntityTooLarge(max_size=allowed, actual_size=request.content_length)
    try:
        async with asyncio.timeout(BODY_SECONDS):
            return await reader.post()
    except TimeoutError:
        raise web.HTTPRequestTimeout(text="The request body came too slowly.") from None
    # aiohttp's form reader: no boundary, broken part headers (ValueError, HttpProcessingError); a charset
    # Python does not know, in the Content-Type or a part's (LookupError, found by fuzzing: was a 500).
    except (ValueError, LookupError, HttpProcessingError):
        raise web.HTTPBadRequest(text="The form is malformed.") from None
    except RuntimeError as err:
        # aiohttp's words for a part's Content-Transfer-Encoding or Content-Encoding it does not know
        # (found by fuzzing: was a 500); any other RuntimeError is a bug, and goes on up.
        if not str(err).startswith("unknown content"):
            raise
        raise web.HTTPBadRequest(text="The form is malformed.") from None


async def form_with_csrf(request: web.Request, limit: int | None = None) -> MultiDictProxy[Any]:
    """A state-changing form of a logged-in page: read (read_form), then its CSRF token checked."""
    form = await read_form(request, limit)
    check_csrf(request, form)
    return form


def identity_of(session: WebSession) -> Identity:
    """The session's account as the services know a caller."""
    return Identity(session.account_id, session.address, session.address, list(session.rights))


def actor_of(request: web.Request) -> Actor:
    """The logged-in account, as the administration API knows who acts."""
    return Actor.of(identity_of(request[SESSION]))


def session_required(access_mode: str, *, may: Callable[[WebSession], bool] | None = None,
                     no_redirect: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Pages for a logged-in account of this application's kind: without a session a page (GET) sends the
    browser to the login form, anything else (and the `no_redirect` paths: frames, downloads, event
    streams) gets 401; `may` refuses sessions whose account lacks what the pages need (403)."""
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: web.Request) -> web.StreamResponse:
            session = await current_session(request, access_mode)
            if session is None:
                if request.method == "GET" and not request.path.startswith(no_redirect):
                    raise web.HTTPSeeOther("/login?next=" + urllib.parse.quote(request.path_qs, safe=""))
                raise web.HTTPUnauthorized(text="Your session has ended; log in again.")
            if may is not None and not may(session):
                raise web.HTTPForbidden(text="This account may not use these pages.")
            request[SESSION] = session
            return await handler(request)

        return wrapped

    return decorate


async def log_in(request: web.Request, access_mode: str, *, home: str, admin: bool,
                 refuse: Callable[[Identity], str | None] | None = None,
                 prepare: Callable[[Identity], Awaitable[None]] | None = None) -> web.StreamResponse:
    """The login form's POST, for the webmail and WebAdmin alike: the shared Authenticator (throttled,
    plaintext only over TLS or from trusted networks), one answer for an unknown name and a wrong password,
    `refuse` for an account with the right password that may not use these pages, then a new session."""
    form = await read_form(request)
    name = str(form.get("name", "")).strip()[:320]
    password = str(form.get("password", ""))[:1024]
    remember = not admin and form.get("remember") == "on"
    target = safe_next(str(form.get("next", "")), home)
    title = "WebAdmin" if admin else "Log in"
    runtime = runtime_of(request)

    def again(status: int, error: str) -> web.StreamResponse:
        return page(request, "login.html", status=status, title=title, name=name, next=target, admin=admin,
                    error=error)

    try:
        identity = await runtime.auth.login_plain(login_context(request, access_mode), name, password,
                                                  mechanism="WEB")
    except Throttled:
        return again(429, "Too many failed logins; wait a few minutes and try again.")
    except AuthFailure as failure:
        # One message for an unknown name and a wrong password: no account enumeration.
        return again(401, str(failure) if failure.reason == "plaintext-refused" else "Wrong name or password.")
    refused = refuse(identity) if refuse is not None else None
    if refused is not None:
        return again(403, refused)
    if prepare is not None:
        await prepare(identity)
    session = await runtime.websessions.create(identity.account_id, request.app[KIND], client_ip(request),
                                               remember=remember)
    response = web.HTTPSeeOther(target)
    set_session_cookie(request, response, session, remember)
    raise response


async def log_out(request: web.Request) -> web.StreamResponse:
    session = await current_session(request, None)
    if session is not None:
        request[SESSION] = session
        await form_with_csrf(request)
        await runtime_of(request).websessions.end(session.token)
    response = web.HTTPSeeOther("/login")
    clear_session_cookie(request, response)
    raise response


SAFE_PATH = re.compile(r"/[A-Za-z0-9/._~!$&'()*+,;=:@%?-]*")


def safe_next(target: str | None, default: str) -> str:
    """Where to go after a login or an action: only a path on this site (no scheme, no //host, no
    backslash, no space or control character: browsers drop tabs and newlines, so "/\t/evil" would
    become "//evil")."""
    return target if target and SAFE_PATH.fullmatch(target) and not target.startswith("//") else default


def check_csrf(request: web.Request, form: Any) -> None:
    """Every state-changing request carries the session's token (a form field, or a header for scripts);
    SameSite=Lax alone does not cover same-site sibling hosts."""
    session: WebSession = request[SESSION]
    given = request.headers.get("X-CSRF-Token") or (form.get("csrf") if form is not None else None)
    if not session.csrf_ok(given if isinstance(given, str) else None):
        raise web.HTTPForbidden(text="The form has expired or did not come from this site; reload the page "
                                     "and try again.")


def _cross_site(request: web.Request) -> bool:
    """A state-changing request another site's page made: Sec-Fetch-Site says so (every current browser
    sends it), or the Origin names another host. Covers the login form, which has no session token yet."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return False
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if origin is None or origin == "null":
        return origin == "null"
    return urllib.parse.urlsplit(origin).netloc.lower() != (request.host or "").lower()


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    request[REQUEST_ID] = secrets.token_hex(4)
    started = time.perf_counter()
    # Exempt: Outlook's autodiscovery, and XMPP uploads (a secret URL, no cookie: browser chat clients of
    # other sites PUT files there).
    if _cross_site(request) and not request.path.startswith(("/autodiscover/", "/Autodiscover/", "/upload/")):
        refused = web.Response(status=403, text="Requests from other sites are refused.\n")
        _secure(request, refused)
        return refused
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _secure(request, exc)
        raise
    except ConnectionError:  # the client went away (mid-upload, say): nobody to answer, nothing to log
        raise
    except Exception:
        _log.exception("web.request_failed", request=request[REQUEST_ID], path=request.path)
        response = web.Response(status=500, text="Something went wrong on the server; it has been logged.\n")
    _secure(request, response)
    elapsed = time.perf_counter() - started
    if elapsed > 1.0:
        _log.info("web.slow_request", request=request[REQUEST_ID], path=request.path, ms=round(elapsed * 1000))
    return response


def _secure(request: web.Request, response: web.StreamResponse) -> None:
    headers = response.headers
    headers.setdefault("Content-Security-Policy", PAGE_CSP)
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on our own form posts,
    # which the cross-site check must refuse; other sites still get no Referer.
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if "Cache-Control" not in headers and not request.path.startswith("/static/"):
        headers["Cache-Control"] = "no-store"
    if request.secure and request.app[RUNTIME].config.tls.cert_file:
        # Only with a certificate the admin installed: HSTS with the self-signed one would lock browsers out.
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def static_routes(app: web.Application) -> None:
    app.router.add_static("/static/", STATIC, append_version=False, follow_symlinks=False)
