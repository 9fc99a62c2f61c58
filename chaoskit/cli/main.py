"""Entry point of the ``chaoskit`` command.

Each command lives in its own module, ``chaoskit.cli.<name>``, exporting a
click command (or group) named ``command``. Modules are imported only when
their command runs, so ``chaoskit --help`` stays fast. Errors derived from
:class:`chaoskit.errors.ChaosKitError` print one line to stderr and exit with
the code the exception carries.
"""

import importlib
import importlib.util
import sys
from typing import Any

import click

from chaoskit import __version__
from chaoskit.errors import BadInput, ChaosKitError
from chaoskit.inputs import one_line

__all__ = ["cli", "main"]

#: command name -> (module, one-line help). Commands whose module is absent are hidden.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("chaoskit.cli.demo", "Run the demo game day against the sandbox."),
    "layer": ("chaoskit.cli.layer", "Build the Lambda layer or vendor it into a function."),
    "sandbox": ("chaoskit.cli.sandbox", "Start, stop and inspect the local AWS sandbox."),
    "deploy": ("chaoskit.cli.deploy", "Package and deploy a CloudFormation/SAM template."),
    "run": ("chaoskit.cli.run", "Run one experiment with chaoskit's controls."),
    "init": ("chaoskit.cli.init", "Write an experiment suite for an app's template or stack."),
    "rollback": ("chaoskit.cli.rollback", "Restore what an interrupted run left behind."),
    "audit": ("chaoskit.cli.audit", "Audit deployed configuration for ways to lose events."),
    "gameday": ("chaoskit.cli.gameday", "Run, schedule and review game days."),
    "report": ("chaoskit.cli.report", "Render Chaos Toolkit journals to an HTML report."),
    "iam-policy": (
        "chaoskit.cli.iam_policy",
        "Print the least-privilege IAM policy chaoskit needs.",
    ),
}


class LazyGroup(click.Group):
    """A group that imports a command's module only when it is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _) in COMMANDS.items() if importlib.util.find_spec(mod)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or importlib.util.find_spec(entry[0]) is None:
            return None
        command: click.Command = importlib.import_module(entry[0]).command
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][1]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(__version__, prog_name="chaoskit")
def cli() -> None:
    """Chaos engineering for AWS serverless apps: break it, then prove no event was lost."""


def main(argv: list[str] | None = None) -> Any:
    """Run the CLI; map chaoskit errors to one stderr line and their exit code."""
    try:
        return cli.main(args=argv, prog_name="chaoskit", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        # One line instead of click's usage block: what is wrong, and where help is.
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        click.echo(f"chaoskit: error: {one_line(exc.format_message())}{hint}", err=True)
        sys.exit(2)
    except click.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except ChaosKitError as exc:
        # Bad input is one line a person can act on, whatever the message carried.
        message = one_line(exc, limit=1000) if isinstance(exc, BadInput) else str(exc)
        click.echo(f"chaoskit: error: {message}", err=True)
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    sys.exit(main())
