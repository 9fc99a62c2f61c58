"""``chaoskit demo``: sandbox up, reference app deployed, example game day run, report path.

The README's first command. Each step prints what it is doing; the one-time
sandbox install (a few minutes) prints its progress.
"""

import dataclasses

import click

from chaoskit.gameday.history import History
from chaoskit.gameday.spec import load_gameday

__all__ = ["command"]


def _say(line: str) -> None:
    click.echo(f"  {line}", err=True)


@click.command("demo")
@click.option(
    "--gameday",
    "gameday_file",
    type=click.Path(dir_okay=False),
    default="experiments/gameday.yaml",
    show_default=True,
    help="The game day to run.",
)
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default="gameday-runs",
    show_default=True,
    help="Folder under which the run's folder (report, summary, JUnit, journals) is written.",
)
@click.option("--port", type=int, default=None, help="Sandbox port (default 4566).")
def command(gameday_file: str, output: str, port: int | None) -> None:
    """Bring the sandbox up, deploy the reference app, run the example game day."""
    from chaoskit.deploy import deploy, experiment_vars
    from chaoskit.gameday.run import run_gameday
    from chaoskit.sandbox import FAST, SandboxOptions, ensure_up

    gameday = load_gameday(gameday_file)  # a bad file fails before the sandbox starts
    click.echo("1/3 starting the sandbox (first time: a one-to-three-minute install)", err=True)
    # The demo's game day waits for async retries: the sandbox's fast timings keep
    # it to minutes (CHAOSKIT_SANDBOX_* variables still win). A sandbox already
    # running keeps the timings it was started with, and says so.
    options = FAST.overridden(**SandboxOptions.from_env().as_dict())
    endpoint = ensure_up(port, progress=_say, options=options)
    click.echo("2/3 deploying the reference app", err=True)
    configuration = {"chaoskit_target": "sandbox", "chaoskit_endpoint_url": endpoint}
    deployed = deploy(configuration)
    click.echo(f"3/3 running the game day '{gameday.name}'", err=True)
    # The game day's own vars win over what the deployment supplies.
    variables = {**configuration, **experiment_vars(deployed), **gameday.vars}
    gameday = dataclasses.replace(gameday, vars=variables)
    result = run_gameday(gameday, output, history=History())
    click.echo(f"report: {result.report_path}")
    click.echo("stop the sandbox with: chaoskit sandbox down", err=True)
    raise click.exceptions.Exit(result.exit_code)
