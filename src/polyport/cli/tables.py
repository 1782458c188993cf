"""`polyport services`: the service table with this node's settings and its listeners' state."""

from __future__ import annotations

import json
from dataclasses import asdict

from polyport import datadir
from polyport.config import Config


def services_table(config: Config, *, as_json: bool = False) -> str:
    status = datadir.read_status(config.data_dir)
    listening: dict[str, list[str]] = {}
    if status is not None:
        for bound in status.listeners:
            where = bound.host if bound.transport == "unix" else f"{bound.host}:{bound.port}"
            listening.setdefault(bound.service, []).append(f"{where}/{bound.transport}")
    rows = []
    for service in config.resolved_services():
        spec = service.spec
        ports = ", ".join(str(p) for p in service.ports) or "-"
        if spec.data_ports is not None:
            ports += f" (+{spec.data_ports.first}-{spec.data_ports.last})"
        if not spec.built:
            state = "not available yet"
        elif not service.enabled:
            state = "disabled"
        elif status is None:
            state = "node not running"
        else:
            state = ", ".join(listening.get(service.name, [])) or "not listening"
        rows.append({
            "service": service.name, "title": spec.title, "ports": ports,
            "transport": "+".join(t.value for t in spec.transports), "tls": spec.tls.value,
            "trusted_only": service.trusted_only, "built": spec.built, "enabled": service.enabled,
            "listening": listening.get(service.name, []), "state": state,
        })
    if as_json:
        workers = [asdict(w) for w in status.workers] if status else []
        return json.dumps({"node_pid": status.pid if status else None, "services": rows, "workers": workers},
                          indent=2) + "\n"
    header = ("SERVICE", "PORTS", "TRANSPORT", "TLS", "TRUSTED-ONLY", "BUILT", "ENABLED", "LISTENING")
    table = [header] + [
        (r["service"], r["ports"], r["transport"], r["tls"], "yes" if r["trusted_only"] else "no",
         "yes" if r["built"] else "no", "yes" if r["enabled"] else "no", r["state"])
        for r in rows
    ]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = ["  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
             for row in table]
    node = f"node pid {status.pid} on {config.data_dir}" if status else f"no node running on {config.data_dir}"
    for worker in status.workers if status else ():
        open_now = sum(worker.connections.values())
        detail = ", ".join(f"{service} {n}" for service, n in sorted(worker.connections.items()) if n)
        node += (f"\n  worker {worker.index}: pid {worker.pid}, {open_now} connection(s)"
                 + (f" ({detail})" if detail else "") + (f", restarted {worker.restarts} time(s)"
                                                         if worker.restarts else ""))
    return "\n".join(lines) + f"\n\n{node}\n"


def markdown_table() -> str:
    """The service table as Markdown, for README.md (tests/test_readme.py keeps the two equal)."""
    from polyport.service_table import SERVICES

    lines = ["| service | ports | transport | TLS | trusted networks only | available | notes |",
             "|---|---|---|---|---|---|---|"]
    for spec in SERVICES:
        ports = ", ".join(str(p) for p in spec.ports)
        if spec.data_ports is not None:
            data = f"{spec.data_ports.first}-{spec.data_ports.last}"
            ports = f"{ports} (data {data})" if ports else data
        lines.append(
            f"| {spec.name} ({spec.title}) | {ports} | {'+'.join(t.value for t in spec.transports)} | "
            f"{spec.tls.value} | {'yes' if spec.trusted_only else 'no'} | {'yes' if spec.built else 'not yet'} | "
            f"{spec.notes}{'' if spec.enabled_by_default else ' (off by default)'} |")
    return "\n".join(lines) + "\n"
