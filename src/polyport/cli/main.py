"""The `polyport` command: run a node, inspect it, and administer a data folder.

Admin commands (domain, account, alias, forwarder, group) open the data folder's store directly; SQLite
in WAL mode with a busy timeout lets them run beside a live node without corrupting it. Every known
failure prints one line, `error: <cause and fix>`, and exits 1; no tracebacks.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from polyport import __version__
from polyport import config as config_module
from polyport.cli import admin_commands, check_command, mailbox_commands, queue_commands, xmpp_commands
from polyport.cli.common import config_options, guarded, load_config, run_async, with_directory


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="polyport")
def cli() -> None:
    """Polyport: mail, calendars, messaging, VoIP and directory in one server."""


# -- serve, init -------------------------------------------------------------------------------------------

@cli.command()
@config_options
@click.option("--domain", help="Main domain of a new data folder (default: the host's name).")
@click.option("--bind", help="Address every listener binds to (default: all).")
@click.option("--port-offset", type=int, help="Add N to every port below 1024 (run without root).")
@guarded
def serve(config_file: Path | None, data_dir: Path | None, domain: str | None, bind: str | None,
          port_offset: int | None) -> None:
    """Run a node in the foreground until SIGTERM or SIGINT."""
    from polyport import log
    from polyport.node import Node

    config = config_module.with_overrides(load_config(config_file, data_dir), domain=domain, bind=bind,
                                          port_offset=port_offset)
    log.setup(config.log.level, config.log.format)
    workers = config.node.worker_count()
    if workers > 1:
        from polyport.workers.supervisor import Supervisor
        from polyport.workers.worker import fork_workers

        # Forked now, before the event loop and its threads: each starts with the modules imported here.
        forked = fork_workers(list(range(workers)))
        run_async(Supervisor(config, workers, out=sys.stdout, forked=forked).serve())
        return
    node = Node(config, out=sys.stdout)
    run_async(node.serve())


@cli.command()
@config_options
@click.option("--domain", help="Main domain (default: the host's name).")
@guarded
def init(config_file: Path | None, data_dir: Path | None, domain: str | None) -> None:
    """Create a data folder (main domain, postmaster) without starting a node."""
    from polyport.node import initialize

    config = config_module.with_overrides(load_config(config_file, data_dir), domain=domain)

    async def work(directory: Any) -> None:
        result = await initialize(directory, config.main_domain)
        if result.postmaster_password is not None:
            click.echo(f"Created postmaster@{result.main_domain} with password: "
                       f"{result.postmaster_password}\n(shown once)")
        else:
            click.echo(f"{config.data_dir}: main domain {result.main_domain}")

    run_async(with_directory(config, work, need_initialized=False))


# -- services, firewall, config ---------------------------------------------------------------------------

@cli.command()
@config_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.option("--markdown", is_flag=True, help="Print the service table itself as Markdown (for docs).")
@guarded
def services(config_file: Path | None, data_dir: Path | None, as_json: bool, markdown: bool) -> None:
    """Every service of the service table, and what this node does with it."""
    from polyport.cli.tables import markdown_table, services_table

    if markdown:
        click.echo(markdown_table(), nl=False)
        return
    config = load_config(config_file, data_dir)
    click.echo(services_table(config, as_json=as_json), nl=not as_json)


@cli.command()
@config_options
@click.option("--format", "fmt", type=click.Choice(["nftables", "iptables", "ufw", "firewalld"]),
              default="nftables", show_default=True)
@guarded
def firewall(config_file: Path | None, data_dir: Path | None, fmt: str) -> None:
    """Print firewall rules for this node's enabled listeners."""
    from polyport.firewall import render
    from polyport.net.trusted import TrustedNetworks

    config = load_config(config_file, data_dir)
    trusted = TrustedNetworks.from_config(config.network.trusted).networks
    click.echo(render(config, fmt, trusted), nl=False)  # type: ignore[arg-type]


@cli.group("config")
def config_group() -> None:
    """Print an example config, or check one."""


@config_group.command("example")
def config_example() -> None:
    """Print a commented config with every setting at its default."""
    click.echo(config_module.example(), nl=False)


@config_group.command("check")
@click.argument("file", type=click.Path(path_type=Path))
@guarded
def config_check(file: Path) -> None:
    """Validate a config file."""
    config_module.load(file)
    click.echo(f"{file}: OK")


admin_commands.register(cli)
mailbox_commands.register(cli)
queue_commands.register(cli)
xmpp_commands.register(cli)
check_command.register(cli)


def main() -> None:
    cli(prog_name="polyport")
