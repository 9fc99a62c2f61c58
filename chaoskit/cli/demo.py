"""``chaoskit demo``: sandbox up, reference app deployed, example game day run, report path.

The README's first command. Each step prints what it is doing; the one-time
sandbox install (a few minutes) prints its progress.
"""

import dataclasses
import importlib.util
from pathlib import Path
from types import ModuleType

import click

from chaoskit.errors import BadInput
from chaoskit.gameday.history import History
from chaoskit.gameday.spec import load_gameday

__all__ = ["command"]


def _say(line: str) -> None:
    click.echo(f"  {line}", err=True)


def load_app_deploy(app: str | Path) -> ModuleType:
    """Load the reference app's own deploy script (``<app>/deploy.py``).

    The app and its deploy live beside the experiments, not in the library:
    the demo runs from a checkout (like its default game day path).

    Raises:
        BadInput: there is no ``deploy.py`` in ``app``.
    """
    script = Path(app) / "deploy.py"
    spec = importlib.util.spec_from_file_location("chaoskit_demo_app_deploy", script)
    if not script.is_file() or spec is None or spec.loader is None:
        raise BadInput(
            f"no app deploy script '{script}': run the demo from a chaoskit checkout "
            "or pass --app FOLDER (the reference app's folder, with deploy.py)"
        )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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
@click.option(
    "--app",
    type=click.Path(file_okay=False),
    default="experiments/app",
    show_default=True,
    help="The reference app's folder (its template and deploy.py).",
)
@click.option("--port", type=int, default=None, help="Sandbox port (default 4566).")
def command(gameday_file: str, output: str, app: str, port: int | None) -> None:
    """Bring the sandbox up, deploy the reference app, run the example game day."""
    from chaoskit.gameday.run import run_gameday
    from chaoskit.sandbox import FAST, SandboxOptions, ensure_up

    gameday = load_gameday(gameday_file)  # a bad file fails before the sandbox starts
    app_deploy = load_app_deploy(app)
    click.echo("1/3 starting the sandbox (first time: a one-to-three-minute install)", err=True)
    # The demo's game day waits for async retries: the sandbox's fast timings keep
    # it to minutes (CHAOSKIT_SANDBOX_* variables still win). A sandbox already
    # running keeps the timings it was started with, and says so.
    options = FAST.overridden(**SandboxOptions.from_env().as_dict())
    endpoint = ensure_up(port, progress=_say, options=options)
    click.echo("2/3 deploying the reference app", err=True)
    configuration = {"chaoskit_target": "sandbox", "chaoskit_endpoint_url": endpoint}
    deployed = app_deploy.deploy(configuration, progress=_say)
    click.echo(f"3/3 running the game day '{gameday.name}'", err=True)
    # The game day's own vars win over what the deployment supplies.
    variables = {**configuration, **app_deploy.experiment_vars(deployed), **gameday.vars}
    gameday = dataclasses.replace(gameday, vars=variables)
    result = run_gameday(gameday, output, history=History())
    click.echo(f"report: {result.report_path}")
    click.echo("stop the sandbox with: chaoskit sandbox down", err=True)
    raise click.exceptions.Exit(result.exit_code)
