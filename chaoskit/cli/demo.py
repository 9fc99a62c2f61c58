"""``chaoskit demo``: sandbox up, reference app deployed, example game day run, report path.

Each step uses another part of chaoskit (the sandbox, the app deployment);
if a part is not installed the command stops and names it, rather than
pretending the demo ran.
"""

import importlib
from collections.abc import Callable
from typing import Any

import click

from chaoskit.errors import ChaosKitError
from chaoskit.gameday.history import History
from chaoskit.gameday.spec import load_gameday

__all__ = ["command", "find_step"]

#: (what, module, candidate function names)
SANDBOX_UP = ("the sandbox", "chaoskit.sandbox", ("ensure_up", "up", "start"))
DEPLOY_APP = ("the reference app deployment", "chaoskit.deploy", ("deploy",))


def find_step(what: str, module: str, names: tuple[str, ...]) -> Callable[..., Any]:
    """Return the first function of ``names`` found in ``module``.

    Raises:
        ChaosKitError: the module or every function is missing; the message names them.
    """
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise ChaosKitError(
            f"chaoskit demo needs {what}: module '{module}' cannot be imported ({err})"
        ) from err
    for name in names:
        func = getattr(mod, name, None)
        if callable(func):
            return func
    raise ChaosKitError(
        f"chaoskit demo needs {what}: module '{module}' has none of {', '.join(names)}"
    )


@click.command("demo")
@click.option(
    "--gameday",
    "gameday_file",
    type=click.Path(dir_okay=False),
    default="experiments/gameday.yaml",
    show_default=True,
    help="The game day to run.",
)
@click.option("--output", type=click.Path(file_okay=False), default="gameday-runs")
def command(gameday_file: str, output: str) -> None:
    """Bring the sandbox up, deploy the reference app, run the example game day."""
    from chaoskit.gameday.run import run_gameday

    gameday = load_gameday(gameday_file)  # a bad file fails before the sandbox starts
    sandbox_up = find_step(*SANDBOX_UP)
    deploy = find_step(*DEPLOY_APP)
    click.echo("starting the sandbox...", err=True)
    sandbox_up()
    click.echo("deploying the reference app...", err=True)
    deploy(configuration={"chaoskit_target": "sandbox"})
    result = run_gameday(gameday, output, history=History())
    click.echo(f"report: {result.report_path}")
    raise click.exceptions.Exit(result.exit_code)
