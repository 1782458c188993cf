"""WebAdmin: the server's and domains' administration in a browser.

Every change is a CLI/API command run as the logged-in administrator (cliapi/embedded.py), so WebAdmin
has exactly the rights checks of port 106: a server administrator (Master) sees everything, a domain
administrator only its domain and what its rights allow. Reads that only show go through the same
commands where one exists, for the same reason.
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from polyport import metrics
from polyport.auth.login import Identity
from polyport.cliapi import embedded, wire
from polyport.cliapi.codes import CliError
from polyport.directory import settings as schema
from polyport.net.resolver import Resolver
from polyport.web.app import (
    SESSION,
    form_with_csrf,
    identity_of,
    log_in,
    log_out,
    login_context,
    page,
    runtime_of,
    safe_next,
    session_required,
)

ACCESS_MODE = "PWD"  # CommuniGate's access mode for administration (the CLI/API's too)
MASTER = "Master"
DOMAIN_ADMIN = "Domain"
PAGE = 50


def _administers(rights: Any) -> bool:
    return MASTER in rights or DOMAIN_ADMIN in rights


admin_required = session_required(ACCESS_MODE, may=lambda session: _administers(session.rights))


async def run(request: web.Request, command: str) -> Any:
    """A CLI/API command line, run as the logged-in administrator."""
    return await embedded.execute(runtime_of(request), identity_of(request[SESSION]),
                                  login_context(request, ACCESS_MODE), command)


async def shown(request: web.Request, command: str) -> Any:
    """A command's data for a page about something that must exist: its refusal is that page's 404."""
    try:
        return await run(request, command)
    except CliError as failure:
        raise web.HTTPNotFound(text=failure.text) from None


def _is_master(request: web.Request) -> bool:
    return MASTER in request[SESSION].rights


def _names(text: str) -> list[str]:
    """Names or addresses typed in one field, separated by spaces, commas or line breaks."""
    return text.replace(",", " ").split()


def _in_domain(name: str, domain: str) -> str:
    return name if "@" in name else f"{name}@{domain}"


q = embedded.quote


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

def _open_connections(service: str) -> int:
    value = metrics.REGISTRY.get_sample_value("polyport_connections_open", {"service": service})
    return int(value or 0)


@admin_required
async def dashboard(request: web.Request) -> web.StreamResponse:
    runtime = runtime_of(request)
    if not _is_master(request):
        domain = request[SESSION].address.rpartition("@")[2]
        raise web.HTTPSeeOther("/domain?" + urllib.parse.urlencode({"d": domain}))
    error = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        lines = [line.strip() for line in str(form.get("networks", "")).splitlines() if line.strip()]
        try:
            await run(request, f"SETLANIPS ({','.join(q(line) for line in lines)})")
        except CliError as failure:
            error = failure.text
        if error is None:
            raise web.HTTPSeeOther("/")
    services = [{"name": service.name, "title": service.spec.title, "ports": service.ports,
                 "tls": str(service.spec.tls), "trusted_only": service.trusted_only,
                 "listening": service.listening, "built": service.spec.built,
                 "open": _open_connections(service.name)} for service in runtime.config.resolved_services()]
    queue = await run(request, "GETMESSAGEQUEUEINFO")
    networks = await run(request, "GETLANIPS")
    sessions = await runtime.websessions.count()
    return page(request, "admin/dashboard.html", status=400 if error else 200, title="Server", services=services,
                queue=queue, networks=str(networks).split("\r\n") if networks else [], sessions=sessions,
                error=error, master=True)


@admin_required
async def firewall(request: web.Request) -> web.StreamResponse:
    if not _is_master(request):
        raise web.HTTPForbidden(text="Server administrators only.")
    from polyport import firewall as fw

    runtime = runtime_of(request)
    fmt = request.query.get("format", "nftables")
    if fmt not in ("nftables", "iptables", "ufw", "firewalld"):
        fmt = "nftables"
    rules = fw.render(runtime.config, fmt, runtime.trusted.networks)  # type: ignore[arg-type]
    return page(request, "admin/firewall.html", title="Firewall", rules=rules, fmt=fmt, master=True)


@admin_required
async def queue(request: web.Request) -> web.StreamResponse:
    if not _is_master(request):
        raise web.HTTPForbidden(text="Server administrators only.")
    error = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        ident = str(form.get("id", ""))[:100]
        try:
            if form.get("do") == "retry":
                await run(request, "RELEASESMTPQUEUE")
            elif form.get("do") == "delete" and ident:
                await run(request, f"REJECTQUEUEMESSAGE {q(ident)}" + (" REPORT" if form.get("bounce") else ""))
        except CliError as failure:
            error = failure.text
        if error is None:
            raise web.HTTPSeeOther("/queue")
    messages = await run(request, "LISTQUEUEMESSAGES 500")
    return page(request, "admin/queue.html", status=400 if error else 200, title="Queue", messages=messages,
                error=error, master=True)


# -- domains -------------------------------------------------------------------------------------------

@admin_required
async def domains(request: web.Request) -> web.StreamResponse:
    error = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("name", "")).strip()[:255]
        try:
            if form.get("do") == "create" and name:
                await run(request, f"CREATEDOMAIN {q(name)}")
                raise web.HTTPSeeOther("/domain?" + urllib.parse.urlencode({"d": name.lower()}))
            error = "Give the domain's name."
        except CliError as failure:
            error = failure.text
    names = await run(request, "LISTDOMAINS") if _is_master(request) else [
        request[SESSION].address.rpartition("@")[2]]
    return page(request, "admin/domains.html", status=400 if error else 200, title="Domains",
                domains=sorted(names), error=error, master=_is_master(request))


async def _dns_records(request: web.Request, domain: str) -> list[dict[str, str]]:
    """What to publish for a domain: MX, SPF, DKIM, DMARC, MTA-STS and autoconfig (the check compares)."""
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
    for key in await runtime.directory.ensure_dkim_keys(domain):
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
    name = request.query.get("d", "")
    error = message = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        what = str(form.get("do", ""))
        try:
            message = await _change_domain(request, name, what, form)
        except CliError as failure:
            error = failure.text
        if what == "delete" and error is None:
            raise web.HTTPSeeOther("/domains")
        if what == "rename" and error is None:
            raise web.HTTPSeeOther("/domain?" + urllib.parse.urlencode({"d": str(form.get("to", "")).lower()}))
    settings = await shown(request, f"GETDOMAINSETTINGS {q(name)}")
    effective = await shown(request, f"GETDOMAINEFFECTIVESETTINGS {q(name)}")
    aliases = await shown(request, f"GETDOMAINALIASES {q(name)}")
    defaults = await shown(request, f"GETACCOUNTDEFAULTS {q(name)}")
    records = await _dns_records(request, name)
    checks = None
    if request.query.get("check") == "1":
        resolver = runtime_of(request).resolver
        checks = [await _check(resolver, r) for r in records]
    return page(request, "admin/domain.html", status=400 if error else 200, title=name, domain=name,
                settings=settings, effective=effective, aliases=aliases, defaults=defaults, records=records,
                checks=checks, error=error, message=message,
                domain_rows=setting_rows(DOMAIN_SPECS, settings, effective),
                default_rows=setting_rows(ACCOUNT_SPECS, defaults, defaults), master=_is_master(request))


def _specs(specs: Any) -> list[Any]:
    return list(specs.values()) if isinstance(specs, dict) else list(specs)


DOMAIN_SPECS = _specs(schema.DOMAIN_SETTINGS)
ACCOUNT_SPECS = [s for s in _specs(schema.ACCOUNT_SETTINGS) if s.name != "Password"]


def _shown(value: Any) -> str:
    """A setting as the form shows it: text as it is, anything else in the CLI/API's data syntax (so it can
    be edited and sent back as it is). Jinja escapes it for the attribute."""
    if value is None:
        return ""
    return value if isinstance(value, str) else embedded.serialize(value)


def setting_rows(specs: list[Any], own: Any, effective: Any) -> list[dict[str, Any]]:
    own = own if isinstance(own, dict) else {}
    effective = effective if isinstance(effective, dict) else {}
    rows = []
    for spec in specs:
        shown = _shown(own.get(spec.name))
        # A text input drops line breaks: a Sieve script (or any text on several lines) gets a text area.
        rows.append({"name": spec.name, "help": spec.doc, "own": shown,
                     "effective": _shown(effective.get(spec.name, spec.default)),
                     "multiline": spec.kind is schema.Kind.SIEVE or "\n" in shown})
    return rows


def _settings_text(form: MultiDictProxy[Any], specs: list[Any]) -> str:
    """The settings the form changed, as a CLI/API dictionary: only known names, only fields whose text
    differs from what the page showed (so a domain administrator's form does not send the server-only
    settings back), an emptied field meaning "back to the default". A value in data syntax ("(...)",
    "{...}") is parsed and written again; anything else is a quoted string."""
    parts = []
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
            parts.append(f"{spec.name}=default;")
            continue
        if text[0] in "({":
            try:
                parser = wire.Parser(text)
                value = parser.value()
                parser.end()
            except Exception:
                raise CliError(embedded.Code.GENERAL, f"{spec.name}: not a valid value") from None
            parts.append(f"{spec.name}={embedded.serialize(value)};")
        else:
            parts.append(f"{spec.name}={q(text)};")
    return "{" + "".join(parts) + "}"


async def _change_domain(request: web.Request, name: str, what: str, form: MultiDictProxy[Any]) -> str:
    if what == "settings":
        await run(request, f"UPDATEDOMAINSETTINGS {q(name)} {_settings_text(form, DOMAIN_SPECS)}")
    elif what == "defaults":
        await run(request, f"UPDATEACCOUNTDEFAULTS {q(name)} {_settings_text(form, ACCOUNT_SPECS)}")
    elif what == "aliases":
        aliases = ",".join(q(a) for a in _names(str(form.get("aliases", ""))))
        await run(request, f"SETDOMAINALIASES {q(name)} ({aliases})")
    elif what == "rename":
        await run(request, f"RENAMEDOMAIN {q(name)} into {q(str(form.get('to', '')).strip())}")
    elif what == "delete":
        await run(request, f"DELETEDOMAIN {q(name)}" + (" FORCE" if form.get("force") == "on" else ""))
    else:
        raise CliError(embedded.Code.GENERAL, "Unknown change")
    return "Saved."


# -- accounts ------------------------------------------------------------------------------------------

@admin_required
async def accounts(request: web.Request) -> web.StreamResponse:
    name = request.query.get("d", "")
    pattern = request.query.get("q", "").strip()[:100]
    cookie = request.query.get("after", "")[:400]
    error = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        address = str(form.get("name", "")).strip()[:320]
        password = str(form.get("password", ""))[:1024]
        try:
            if not address:
                raise CliError(embedded.Code.GENERAL, "Give the account's name.")
            full = _in_domain(address, name)
            settings = f"{{Password={q(password)};}}" if password else "{}"
            await run(request, f"CREATEACCOUNT {q(full)} {settings}")
            raise web.HTTPSeeOther("/account?" + urllib.parse.urlencode({"a": full.lower()}))
        except CliError as failure:
            error = failure.text
    filter_text = f" FILTER {q(pattern)}" if pattern else ""
    listed = await shown(request, f"LISTDOMAINOBJECTS {q(name)}{filter_text} {PAGE} ACCOUNTS ALIASES FORWARDERS "
                                    f"COOKIE {q(cookie)}")
    total, objects, _, _, next_cookie = listed
    rows = []
    for object_name, value in objects.items():
        kind = "account" if isinstance(value, str) else ("forwarder" if value and isinstance(value[0], list)
                                                         else "alias")
        target = "" if kind == "account" else (value[0][0] if kind == "forwarder" else value[0])
        rows.append({"name": object_name, "kind": kind, "target": target})
    return page(request, "admin/accounts.html", status=400 if error else 200, title=f"Accounts of {name}",
                domain=name, rows=rows, total=total, pattern=pattern, next_cookie=next_cookie if len(rows) >= PAGE
                else "", error=error, master=_is_master(request))


@admin_required
async def account(request: web.Request) -> web.StreamResponse:
    address = request.query.get("a", "")
    error = message = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        address = str(form.get("a", address))
        what = str(form.get("do", ""))
        try:
            if what == "settings":
                await run(request, f"UPDATEACCOUNTSETTINGS {q(address)} {_settings_text(form, ACCOUNT_SPECS)}")
            elif what == "password":
                await run(request, f"SETACCOUNTPASSWORD {q(address)} PASSWORD {q(str(form.get('password', '')))}")
            elif what == "aliases":
                aliases = ",".join(q(a) for a in _names(str(form.get("aliases", ""))))
                await run(request, f"SETACCOUNTALIASES {q(address)} ({aliases})")
            elif what == "rename":
                target = str(form.get("to", "")).strip()
                await run(request, f"RENAMEACCOUNT {q(address)} into {q(target)}")
                raise web.HTTPSeeOther("/account?" + urllib.parse.urlencode({"a": target.lower()}))
            elif what == "delete":
                domain_name = address.rpartition("@")[2]
                await run(request, f"DELETEACCOUNT {q(address)}")
                raise web.HTTPSeeOther("/accounts?" + urllib.parse.urlencode({"d": domain_name}))
            else:
                raise CliError(embedded.Code.GENERAL, "Unknown change")
            message = "Saved."
        except CliError as failure:
            error = failure.text
    settings = await shown(request, f"GETACCOUNTSETTINGS {q(address)}")
    effective = await shown(request, f"GETACCOUNTEFFECTIVESETTINGS {q(address)}")
    aliases = await shown(request, f"GETACCOUNTALIASES {q(address)}")
    info = await shown(request, f"GETACCOUNTINFO {q(address)}")
    usage = None
    with contextlib.suppress(Exception):
        runtime = runtime_of(request)
        record = await runtime.directory.account(address)
        usage = await runtime.mailstore.usage(record.id)
    return page(request, "admin/account.html", status=400 if error else 200, title=address, address=address,
                settings=settings, effective=effective, aliases=aliases, info=info, usage=usage, error=error,
                message=message, rows=setting_rows(ACCOUNT_SPECS, settings, effective),
                domain=address.rpartition("@")[2], master=_is_master(request))


@admin_required
async def recent_log(request: web.Request) -> web.StreamResponse:
    """The node's last log lines (this node's; secrets are never logged), newest last, filtered."""
    if not _is_master(request):
        raise web.HTTPForbidden(text="Server administrators only.")
    from polyport import log

    wanted = request.query.get("q", "")[:200]
    lines = [line for line in list(log.RECENT) if wanted.lower() in line.lower()] if wanted else list(log.RECENT)
    return page(request, "admin/log.html", title="Log", lines=lines[-500:], wanted=wanted, master=True)


@admin_required
async def template(request: web.Request) -> web.StreamResponse:
    """A domain's account template: the settings new accounts start with."""
    name = request.query.get("d", "")
    error = message = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        try:
            await run(request, f"UPDATEACCOUNTTEMPLATE {q(name)} {_settings_text(form, ACCOUNT_SPECS)}")
            message = "Saved."
        except CliError as failure:
            error = failure.text
    values = await shown(request, f"GETACCOUNTTEMPLATE {q(name)}")
    return page(request, "admin/template.html", status=400 if error else 200, title=f"Template of {name}",
                domain=name, rows=setting_rows(ACCOUNT_SPECS, values, values), error=error, message=message,
                master=_is_master(request))


@admin_required
async def forwarders(request: web.Request) -> web.StreamResponse:
    name = request.query.get("d", "")
    error = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        full = _in_domain(str(form.get("name", "")).strip()[:320], name)
        try:
            if form.get("do") == "create":
                await run(request, f"CREATEFORWARDER {q(full)} TO {q(str(form.get('to', '')).strip()[:1000])}")
            elif form.get("do") == "delete":
                await run(request, f"DELETEFORWARDER {q(full)}")
            else:
                raise CliError(embedded.Code.GENERAL, "Unknown change")
        except CliError as failure:
            error = failure.text
        if error is None:
            raise web.HTTPSeeOther("/forwarders?" + urllib.parse.urlencode({"d": name}))
    names = await shown(request, f"LISTFORWARDERS {q(name)}")
    rows = [{"name": n, "target": await run(request, f"GETFORWARDER {q(n + '@' + name)}")} for n in sorted(names)]
    return page(request, "admin/forwarders.html", status=400 if error else 200, title=f"Forwarders of {name}",
                domain=name, rows=rows, error=error, master=_is_master(request))


@admin_required
async def groups(request: web.Request) -> web.StreamResponse:
    name = request.query.get("d", "")
    error = None
    if request.method == "POST":
        form = await form_with_csrf(request)
        name = str(form.get("d", name))
        full = _in_domain(str(form.get("name", "")).strip()[:320], name)
        listed = ",".join(q(m) for m in _names(str(form.get("members", ""))))
        real_name = str(form.get("real_name", "")).strip()[:200]
        try:
            if form.get("do") == "create":
                await run(request, f"CREATEGROUP {q(full)} {{RealName={q(real_name)};Members=({listed});}}")
            elif form.get("do") == "update":
                await run(request, f"SETGROUP {q(full)} {{RealName={q(real_name)};Members=({listed});}}")
            elif form.get("do") == "delete":
                await run(request, f"DELETEGROUP {q(full)}")
            else:
                raise CliError(embedded.Code.GENERAL, "Unknown change")
        except CliError as failure:
            error = failure.text
        if error is None:
            raise web.HTTPSeeOther("/groups?" + urllib.parse.urlencode({"d": name}))
    names = await shown(request, f"LISTGROUPS {q(name)}")
    rows = []
    for group in sorted(names):
        values = await run(request, f"GETGROUP {q(group + '@' + name)}")
        rows.append({"name": group, "real_name": values.get("RealName", ""), "members": values.get("Members", [])})
    return page(request, "admin/groups.html", status=400 if error else 200, title=f"Groups of {name}",
                domain=name, rows=rows, error=error, master=_is_master(request))


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
