"""``chaoskit sandbox``: start, stop and inspect the local AWS sandbox."""

import json
import time
from collections import deque

import click

from chaoskit import sandbox
from chaoskit.sandbox.options import SandboxOptions

__all__ = ["command"]

_port_option = click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Gateway port on 127.0.0.1 (default: CHAOSKIT_SANDBOX_PORT or 4566).",
)


def _progress(line: str) -> None:
    click.echo(f"sandbox: {line}", err=True)


@click.group("sandbox")
def command() -> None:
    """Start, stop and inspect the local AWS sandbox (LocalStack core, no Docker)."""


@command.command("up")
@_port_option
@click.option(
    "--retry-base-delay",
    type=click.IntRange(min=1),
    help="Seconds before the first async Lambda retry (AWS: about 60).",
)
@click.option(
    "--health-interval",
    type=click.FloatRange(min=0.1),
    help="Seconds between Route 53 health check probes (default: each check's own).",
)
@click.option(
    "--poll-backoff",
    type=click.FloatRange(min=0.1),
    help="Longest pause of an idle or failing event source poller, in seconds.",
)
@click.option(
    "--function-nice",
    type=click.IntRange(min=0, max=19),
    help="Niceness of the functions' processes: 0 (none) to 19 (lowest priority; default 10).",
)
@click.option("--timeout", default=120.0, show_default=True, help="Seconds to wait for ready.")
def up(
    port: int | None,
    retry_base_delay: int | None,
    health_interval: float | None,
    poll_backoff: float | None,
    function_nice: int | None,
    timeout: float,
) -> None:
    """Install (once) and start the sandbox; print its endpoint URL."""
    options = SandboxOptions.from_env().overridden(
        retry_base_delay=retry_base_delay,
        health_interval=health_interval,
        poll_backoff=poll_backoff,
        function_nice=function_nice,
    )
    endpoint = sandbox.ensure_up(port, progress=_progress, options=options, timeout=timeout)
    click.echo(endpoint)


@command.command("down")
@_port_option
@click.option("--purge", is_flag=True, help="Also delete its state: log, functions' code, data.")
def down(port: int | None, purge: bool) -> None:
    """Stop the sandbox."""
    if sandbox.down(port, purge=purge):
        click.echo(f"sandbox on port {sandbox.resolve_port(port)} stopped")
    else:
        click.echo(f"sandbox on port {sandbox.resolve_port(port)} was not running")


@command.command("status")
@_port_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status(port: int | None, as_json: bool) -> None:
    """Tell whether the sandbox runs, with its PID, memory and services. Exit 1 if it does not."""
    doc = sandbox.status(port)
    if as_json:
        click.echo(json.dumps(doc, indent=2, sort_keys=True))
    elif doc["running"]:
        up_services = sorted(n for n, s in doc["services"].items() if s in ("running", "available"))
        click.echo(
            f"running at {doc['endpoint']} (pid {doc['pid']}, up {doc['uptime_s']:.0f} s, "
            f"{doc['rss_mb']} MB)\nservices: {', '.join(up_services) or '-'}\nlog: {doc['log']}"
        )
    else:
        installed = "installed" if doc["installed"] else "not installed yet"
        click.echo(f"not running on port {doc['port']} ({installed}: {doc['venv']})")
    if not doc["running"]:
        raise click.exceptions.Exit(1)


@command.command("logs")
@_port_option
@click.option("-n", "--lines", default=50, show_default=True, help="How many lines to show.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(port: int | None, lines: int, follow: bool) -> None:
    """Print the sandbox's log (LocalStack and the Lambda functions it runs)."""
    path = sandbox.log_file(port)
    if not path.exists():
        raise click.ClickException(f"no sandbox log at {path}: start it with 'chaoskit sandbox up'")
    with path.open(errors="replace") as handle:
        for line in deque(handle, maxlen=lines):
            click.echo(line, nl=False)
        while follow:
            line = handle.readline()
            if line:
                click.echo(line, nl=False)
            else:
                time.sleep(0.3)
