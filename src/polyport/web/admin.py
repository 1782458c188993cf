"""WebAdmin: the server's and domains' administration in a browser.

Every read and change goes through the administration API (polyport.admin) as the logged-in
administrator, so WebAdmin has exactly the rights checks of the CLI/API: a server administrator (Master)
sees everything, a domain administrator only its domain and what its rights allow. Refusals are answered
by the web's one error middleware (errors.py): a page about something the administrator may not see, or
that does not exist, is a 404; a refused change shows the page again with its form and the reason.
"""

from __future__ import annotations

import datetime
import time
import urllib.parse
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from polyport import admin
from polyport.admin import xmpp as xmpp_admin
from polyport.admin.rights import DOMAIN_ADMIN, MASTER, require_master
from polyport.auth.login import Identity
from polyport.cliapi import wire  # the settings forms edit values in the CLI/API's data syntax
from polyport.directory import settings as schema
from polyport.directory.records import ACCOUNT, ALIAS, FORWARDER
from polyport.net.resolver import Resolver
from polyport.web.app import (
    actor_of,
    form_with_csrf,
    log_in,
    log_out,
    page,
    runtime_of,
    safe_next,
    session_required,
)
from polyport.web.errors import FormError, redisplay

ACCESS_MODE = "PWD"  # CommuniGate's access mode for administration (the CLI/API's too)
PAGE = 50


def _administers(rights: Any) -> bool:
    return MASTER in rights or DOMAIN_ADMIN in rights


admin_required = session_required(ACCESS_MODE, may=lambda session: _administers(session.rights))


def _names(text: str) -> list[str]:
    """Names or addresses typed in one field, separated by spaces, commas or line breaks."""
    return text.replace(",", " ").split()


def _in_domain(name: str, domain: str) -> str:
    return name if "@" in name else f"{name}@{domain}"


def _when(seconds: object) -> datetime.datetime | None:
    return None if seconds is None else datetime.datetime.fromtimestamp(int(str(seconds)), datetime.UTC)


# -- login ---------------------------------------------------------------------------------------------

async def login_page(request: web.Request) -> web.StreamResponse:
    return page(request, "login.html", title="WebAdmin", error=None, name="", admin=True,
                next=safe_next(request.query.get("next"), "/"))


async def login_submit(request: web.Request) -> web.StreamResponse:
    def refuse(identity: Identity) -> str | None:
        # The password was right, but this is a plain user: the same answer tells nobody more.
        if _administers(identity.rights):
            return None
        return "This account does not administer anything; use the webmail."

    return await log_in(request, ACCESS_MODE, home="/", admin=True, refuse=refuse)


# -- server --------------------------------------------------------------------------------------------

@admin_required
async def dashboard(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)
    if not actor.is_master:
        raise web.HTTPSeeOther("/domain?" + urllib.parse.urlencode({"d": actor.domain}))

    async def show(error: str | None = None) -> web.StreamResponse:
        workers = await runtime.view.workers()
        connections = ({} if workers else await runtime.view.connections())
        for worker in workers:
            for service, count in worker.connections.items():
                connections[service] = connections.get(service, 0) + count
        services = [{"name": service.name, "title": service.spec.title, "ports": service.ports,
                     "tls": str(service.spec.tls), "trusted_only": service.trusted_only,
                     "listening": service.listening, "built": service.spec.built,
                     "open": connections.get(service.name, 0)} for service in runtime.config.resolved_services()]
        queue = await admin.queue_totals(runtime, actor)
        networks = await admin.trusted_networks(runtime, actor)
        sessions = await runtime.websessions.count()
        return page(request, "admin/dashboard.html", status=400 if error else 200, title="Server",
                    services=services, queue=queue, networks=[str(n) for n in networks], sessions=sessions,
                    workers=[{"index": w.index, "pid": w.pid, "open": sum(w.connections.values())}
                             for w in workers], error=error, master=True)

    if request.method == "POST":
        form = await form_with_csrf(request)
        redisplay(request, show)
        lines = [line.strip() for line in str(form.get("networks", "")).splitlines() if line.strip()]
        await admin.set_trusted_networks(runtime, actor, lines)
        raise web.HTTPSeeOther("/")
    return await show()


@admin_required
async def firewall(request: web.Request) -> web.StreamResponse:
    require_master(actor_of(request))
    from polyport import firewall as fw

    runtime = runtime_of(request)
    fmt = request.query.get("format", "nftables")
    if fmt not in ("nftables", "iptables", "ufw", "firewalld"):
        fmt = "nftables"
    rules = fw.render(runtime.config, fmt, runtime.trusted.networks)  # type: ignore[arg-type]
    return page(request, "admin/firewall.html", title="Firewall", rules=rules, fmt=fmt, master=True)


@admin_required
async def queue(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)

    async def show(error: str | None = None) -> web.StreamResponse:
        messages = [{"ID": str(row["ident"]), "From": str(row["sender"]), "Size": str(row["size"]),
                     "Created": _when(row["created"]), "Recipients": str(row["recipients"]),
                     "NextAttempt": _when(row["next_attempt"]), "Attempts": str(row["attempts"]),
                     "LastError": "" if row["last_error"] is None else str(row["last_error"])}
                    for row in await admin.queued_messages(runtime, actor, 500)]
        return page(request, "admin/queue.html", status=400 if error else 200, title="Queue", messages=messages,
                    error=error, master=True)

    if request.method == "POST":
        form = await form_with_csrf(request)
        redisplay(request, show)
        ident = str(form.get("id", ""))[:100]
        if form.get("do") == "retry":
            await admin.release_queue(runtime, actor)
        elif form.get("do") == "delete" and ident:
            await admin.delete_queued_message(runtime, actor, ident, notify=bool(form.get("bounce")))
        raise web.HTTPSeeOther("/queue")
    return await show()


# -- instant messaging ---------------------------------------------------------------------------------

@admin_required
async def im_sessions(request: web.Request) -> web.StreamResponse:
    """The node's XMPP sessions (a domain administrator's: its domain's), each with its presence, and
    ending one."""
    runtime, actor = runtime_of(request), actor_of(request)
    domain = None if actor.is_master else actor.domain

    async def show(error: str | None = None) -> web.StreamResponse:
        sessions = await xmpp_admin.xmpp_sessions(runtime, actor, domain)
        rooms = await xmpp_admin.xmpp_rooms(runtime, actor, domain)
        links = await xmpp_admin.xmpp_links(runtime, actor) if actor.is_master else []
        return page(request, "admin/im.html", status=400 if error else 200, title="IM sessions",
                    sessions=sessions, rooms=rooms, links=links, error=error, master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        redisplay(request, show)
        jid = str(form.get("jid", "")).strip()[:3071]
        if form.get("do") == "destroy" and jid:
            await xmpp_admin.destroy_xmpp_room(runtime, actor, jid, "Destroyed by an administrator.")
            raise web.HTTPSeeOther("/im")
        if form.get("do") != "kick" or not jid:
            raise FormError("Name the session to end.")
        await xmpp_admin.kick_xmpp_session(runtime, actor, jid)
        raise web.HTTPSeeOther("/im")
    return await show()


# -- domains -------------------------------------------------------------------------------------------

@admin_required
async def domains(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)

    async def show(error: str | None = None) -> web.StreamResponse:
        names = await admin.list_domains(runtime, actor)
        return page(request, "admin/domains.html", status=400 if error else 200, title="Domains",
                    domains=sorted(names), error=error, master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        redisplay(request, show)
        name = str(form.get("name", "")).strip()[:255]
        if form.get("do") != "create" or not name:
            raise FormError("Give the domain's name.")
        await admin.create_domain(runtime, actor, name)
        raise web.HTTPSeeOther("/domain?" + urllib.parse.urlencode({"d": name.lower()}))
    return await show()


async def _dns_records(request: web.Request, domain: str) -> list[dict[str, str]]:
    """What to publish for a domain: MX, SPF, DKIM, DMARC, MTA-STS, autoconfig and XMPP's SRV records (the
    check compares)."""
    from polyport.web.wellknown import public_hostname

    runtime = runtime_of(request)
    host = public_hostname(runtime.config)
    records = [
        {"name": domain, "type": "MX", "value": f"10 {host}."},
        {"name": domain, "type": "TXT", "value": "v=spf1 mx -all"},
        {"name": f"_dmarc.{domain}", "type": "TXT", "value": f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"},
        {"name": f"_mta-sts.{domain}", "type": "TXT", "value": f"v=STSv1; id={time.strftime('%Y%m%d')}01"},
        {"name": f"mta-sts.{domain}", "type": "CNAME", "value": f"{host}."},
        {"name": f"autoconfig.{domain}", "type": "CNAME", "value": f"{host}."},
        {"name": f"_imaps._tcp.{domain}", "type": "SRV", "value": f"0 1 993 {host}."},
        {"name": f"_submissions._tcp.{domain}", "type": "SRV", "value": f"0 1 465 {host}."},
    ]
    # XMPP's (RFC 6120 3.2, XEP-0368): clients find the server, and other servers too where federation is on.
    for service, label in (("xmpp", "_xmpp-client"), ("xmpps", "_xmpps-client"), ("xmpp-s2s", "_xmpp-server")):
        resolved = runtime.config.service(service)
        if resolved.enabled and resolved.ports and resolved.ports[0]:
            records.append({"name": f"{label}._tcp.{domain}", "type": "SRV",
                            "value": f"0 5 {resolved.ports[0]} {host}."})
            if service == "xmpp-s2s" and runtime.config.xmpp.rooms:  # other servers' users in our rooms
                records.append({"name": f"{label}._tcp.{runtime.config.xmpp.rooms}.{domain}", "type": "SRV",
                                "value": f"0 5 {resolved.ports[0]} {host}."})
    for key in await admin.dkim_keys(runtime, actor_of(request), domain):
        records.insert(2, {"name": f"{key.selector}._domainkey.{domain}", "type": "TXT", "value": key.txt_record()})
    return records


async def _check(resolver: Resolver, record: dict[str, str]) -> str:
    """ "ok", "missing" or "different: what DNS says" for one record."""
    try:
        answer = await resolver.query(record["name"], record["type"])
    except Exception as error:  # DNS failures of any kind are what the check reports
        return f"missing ({type(error).__name__})"
    texts = [r.to_text() for r in answer.records]
    wanted = record["value"]
    if record["type"] == "TXT":
        joined = ["".join(t.split('"')[1::2]) if '"' in t else t for t in texts]
        prefix = wanted.split(";", 1)[0].split(" ", 1)[0]
        same = [t for t in joined if t.startswith(prefix)]
        if any(t.replace(" ", "") == wanted.replace(" ", "") for t in same):
            return "ok"
        return f"different: {same[0]}" if same else "missing"
    if any(t.rstrip(".").lower() == wanted.rstrip(".").lower() or t.lower().endswith(wanted.split()[-1].lower())
           for t in texts):
        return "ok"
    return f"different: {', '.join(texts)}" if texts else "missing"


@admin_required
async def domain(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)
    name = request.query.get("d", "")

    async def show(error: str | None = None, message: str | None = None) -> web.StreamResponse:
        settings = await admin.domain_settings(runtime, actor, name)
        effective = await admin.effective_domain_settings(runtime, actor, name)
        aliases = await admin.domain_aliases(runtime, actor, name)
        defaults = await admin.account_defaults(runtime, actor, name)
        records = await _dns_records(request, name)
        checks = None
        if request.query.get("check") == "1":
            checks = [await _check(runtime.resolver, r) for r in records]
        return page(request, "admin/domain.html", status=400 if error else 200, title=name, domain=name,
                    settings=settings, effective=effective, aliases=aliases, defaults=defaults, records=records,
                    checks=checks, error=error, message=message,
                    domain_rows=setting_rows(DOMAIN_SPECS, settings, effective),
                    default_rows=setting_rows(ACCOUNT_SPECS, defaults, defaults), master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        redisplay(request, show)
        what = str(form.get("do", ""))
        if what == "settings":
            await admin.update_domain_settings(runtime, actor, name, _settings_changes(form, DOMAIN_SPECS))
        elif what == "defaults":
            await admin.update_account_defaults(runtime, actor, name, _settings_changes(form, ACCOUNT_SPECS))
        elif what == "aliases":
            await admin.set_domain_aliases(runtime, actor, name, _names(str(form.get("aliases", ""))))
        elif what == "rename":
            target = str(form.get("to", "")).strip()
            await admin.rename_domain(runtime, actor, name, target)
            raise web.HTTPSeeOther("/domain?" + urllib.parse.urlencode({"d": target.lower()}))
        elif what == "delete":
            await admin.delete_domain(runtime, actor, name, force=form.get("force") == "on")
            raise web.HTTPSeeOther("/domains")
        else:
            raise FormError("Unknown change")
        return await show(message="Saved.")
    return await show()


def _specs(specs: Any) -> list[Any]:
    return list(specs.values()) if isinstance(specs, dict) else list(specs)


DOMAIN_SPECS = _specs(schema.DOMAIN_SETTINGS)
ACCOUNT_SPECS = [s for s in _specs(schema.ACCOUNT_SETTINGS) if s.name != "Password"]


def _shown(value: Any) -> str:
    """A setting as the form shows it: text as it is, anything else in the CLI/API's data syntax (so it can
    be edited and sent back as it is). Jinja escapes it for the attribute."""
    if value is None:
        return ""
    return value if isinstance(value, str) else wire.serialize(value)


def setting_rows(specs: list[Any], own: Any, effective: Any) -> list[dict[str, Any]]:
    own = own if isinstance(own, dict) else {}
    effective = effective if isinstance(effective, dict) else {}
    rows = []
    for spec in specs:
        shown = _shown(own.get(spec.name))
        # A text input drops line breaks: a Sieve script (or any text on several lines) gets a text area.
        rows.append({"name": spec.name, "help": spec.doc, "own": shown,
                     "effective": _shown(effective.get(spec.name, spec.default)),
                     "multiline": spec.kind is schema.Kind.SIEVE or "\n" in shown, "unused": False})
    # Settings Polyport does not use (kept for CommuniGate's integrations): shown, changed through the CLI/API.
    known = {spec.name for spec in specs}
    rows.extend({"name": name, "help": "Not used by Polyport: kept for CommuniGate's integrations (change it "
                 "through the CLI/API).", "own": _shown(own[name]), "effective": _shown(effective.get(name)),
                 "multiline": False, "unused": True}
                for name in sorted(set(own) - known) if name.lower() not in schema.RESERVED)
    return rows


def _settings_changes(form: MultiDictProxy[Any], specs: list[Any]) -> dict[str, Any]:
    """The settings the form changed: only known names, only fields whose text differs from what the page
    showed (so a domain administrator's form does not send the server-only settings back), an emptied
    field meaning "back to the default". A value in data syntax ("(...)", "{...}") is parsed; anything
    else is text."""
    changes: dict[str, Any] = {}
    for spec in specs:
        new, old = form.get(f"set.{spec.name}"), form.get(f"orig.{spec.name}")
        if new is None:
            continue
        # Browsers send a text area's line breaks as CRLF, a hidden field's as they were.
        new_text, old_text = str(new).replace("\r\n", "\n"), str(old or "").replace("\r\n", "\n")
        if new_text == old_text:
            continue
        text = new_text if spec.kind is schema.Kind.SIEVE else new_text.strip()
        if not text:
            changes[spec.name] = "default"
        elif text[0] in "({":
            try:
                parser = wire.Parser(text)
                changes[spec.name] = parser.value()
                parser.end()
            except wire.DataError:
                raise FormError(f"{spec.name}: not a valid value") from None
        else:
            changes[spec.name] = text
    return changes


# -- accounts ------------------------------------------------------------------------------------------

@admin_required
async def accounts(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)
    name = request.query.get("d", "")
    pattern = request.query.get("q", "").strip()[:100]
    cookie = request.query.get("after", "")[:400]

    async def show(error: str | None = None) -> web.StreamResponse:
        listed = await admin.list_domain_objects(runtime, actor, name, filter=pattern, limit=PAGE,
                                                 kinds=(ACCOUNT, ALIAS, FORWARDER), cookie=cookie)
        rows = [{"name": entry.name, "kind": entry.kind, "target": "" if entry.kind == ACCOUNT else entry.target or ""}
                for entry in listed.objects]
        return page(request, "admin/accounts.html", status=400 if error else 200, title=f"Accounts of {name}",
                    domain=name, rows=rows, total=str(listed.counts[ACCOUNT]), pattern=pattern,
                    next_cookie=listed.cookie if len(rows) >= PAGE else "", error=error, master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        redisplay(request, show)
        address = str(form.get("name", "")).strip()[:320]
        password = str(form.get("password", ""))[:1024]
        if not address:
            raise FormError("Give the account's name.")
        full = _in_domain(address, name)
        await admin.create_account(runtime, actor, full, {}, password or None)
        raise web.HTTPSeeOther("/account?" + urllib.parse.urlencode({"a": full.lower()}))
    return await show()


@admin_required
async def account(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)
    address = request.query.get("a", "")

    async def show(error: str | None = None, message: str | None = None) -> web.StreamResponse:
        settings = await admin.account_settings(runtime, actor, address)
        effective = await admin.effective_account_settings(runtime, actor, address)
        aliases = await admin.account_aliases(runtime, actor, address)
        usage = await admin.account_usage(runtime, actor, address)
        return page(request, "admin/account.html", status=400 if error else 200, title=address, address=address,
                    settings=settings, effective=effective, aliases=aliases, usage=usage, error=error,
                    message=message, rows=setting_rows(ACCOUNT_SPECS, settings, effective),
                    domain=address.rpartition("@")[2], master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        address = str(form.get("a", address))
        redisplay(request, show)
        what = str(form.get("do", ""))
        if what == "settings":
            await admin.update_account_settings(runtime, actor, address, _settings_changes(form, ACCOUNT_SPECS))
        elif what == "password":
            await admin.set_account_password(runtime, actor, address, str(form.get("password", "")))
        elif what == "aliases":
            await admin.set_account_aliases(runtime, actor, address, _names(str(form.get("aliases", ""))))
        elif what == "rename":
            target = str(form.get("to", "")).strip()
            await admin.rename_account(runtime, actor, address, target)
            raise web.HTTPSeeOther("/account?" + urllib.parse.urlencode({"a": target.lower()}))
        elif what == "delete":
            await admin.delete_account(runtime, actor, address)
            raise web.HTTPSeeOther("/accounts?" + urllib.parse.urlencode({"d": address.rpartition("@")[2]}))
        else:
            raise FormError("Unknown change")
        return await show(message="Saved.")
    return await show()


@admin_required
async def recent_log(request: web.Request) -> web.StreamResponse:
    """The node's last log lines (every worker's; secrets are never logged), newest last, filtered."""
    require_master(actor_of(request))
    wanted = request.query.get("q", "")[:200]
    recent = await runtime_of(request).view.recent_log()
    lines = [line for line in recent if wanted.lower() in line.lower()] if wanted else recent
    return page(request, "admin/log.html", title="Log", lines=lines[-500:], wanted=wanted, master=True)


@admin_required
async def template(request: web.Request) -> web.StreamResponse:
    """A domain's account template: the settings new accounts start with."""
    runtime, actor = runtime_of(request), actor_of(request)
    name = request.query.get("d", "")

    async def show(error: str | None = None, message: str | None = None) -> web.StreamResponse:
        values = await admin.account_template(runtime, actor, name)
        return page(request, "admin/template.html", status=400 if error else 200, title=f"Template of {name}",
                    domain=name, rows=setting_rows(ACCOUNT_SPECS, values, values), error=error, message=message,
                    master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        redisplay(request, show)
        await admin.update_account_template(runtime, actor, name, _settings_changes(form, ACCOUNT_SPECS))
        return await show(message="Saved.")
    return await show()


@admin_required
async def forwarders(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)
    name = request.query.get("d", "")

    async def show(error: str | None = None) -> web.StreamResponse:
        targets = await admin.list_forwarders(runtime, actor, name)
        rows = [{"name": n, "target": targets[n]} for n in sorted(targets)]
        return page(request, "admin/forwarders.html", status=400 if error else 200, title=f"Forwarders of {name}",
                    domain=name, rows=rows, error=error, master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        redisplay(request, show)
        full = _in_domain(str(form.get("name", "")).strip()[:320], name)
        if form.get("do") == "create":
            await admin.create_forwarder(runtime, actor, full, str(form.get("to", "")).strip()[:1000])
        elif form.get("do") == "delete":
            await admin.delete_forwarder(runtime, actor, full)
        else:
            raise FormError("Unknown change")
        raise web.HTTPSeeOther("/forwarders?" + urllib.parse.urlencode({"d": name}))
    return await show()


@admin_required
async def groups(request: web.Request) -> web.StreamResponse:
    runtime, actor = runtime_of(request), actor_of(request)
    name = request.query.get("d", "")

    async def show(error: str | None = None) -> web.StreamResponse:
        rows = []
        for group_name in sorted(await admin.list_groups(runtime, actor, name)):
            group = await admin.group(runtime, actor, f"{group_name}@{name}")
            rows.append({"name": group_name, "real_name": group.settings.get("RealName", ""),
                         "members": group.members})
        return page(request, "admin/groups.html", status=400 if error else 200, title=f"Groups of {name}",
                    domain=name, rows=rows, error=error, master=actor.is_master)

    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        redisplay(request, show)
        full = _in_domain(str(form.get("name", "")).strip()[:320], name)
        members = _names(str(form.get("members", "")))
        settings = {"RealName": str(form.get("real_name", "")).strip()[:200]}
        if form.get("do") == "create":
            await admin.create_group(runtime, actor, full, settings, members)
        elif form.get("do") == "update":
            await admin.set_group(runtime, actor, full, settings, members)
        elif form.get("do") == "delete":
            await admin.delete_group(runtime, actor, full)
        else:
            raise FormError("Unknown change")
        raise web.HTTPSeeOther("/groups?" + urllib.parse.urlencode({"d": name}))
    return await show()


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login_page)
    r.add_post("/login", login_submit)
    r.add_post("/logout", log_out)
    r.add_route("*", "/", dashboard)
    r.add_route("*", "/queue", queue)
    r.add_get("/firewall", firewall)
    r.add_route("*", "/domains", domains)
    r.add_route("*", "/domain", domain)
    r.add_route("*", "/accounts", accounts)
    r.add_route("*", "/account", account)
    r.add_route("*", "/template", template)
    r.add_route("*", "/forwarders", forwarders)
    r.add_route("*", "/groups", groups)
    r.add_get("/log", recent_log)
    r.add_route("*", "/im", im_sessions)
