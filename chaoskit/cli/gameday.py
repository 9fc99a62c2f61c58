"""``chaoskit gameday``: run, validate, review, schedule and serve game days."""

import dataclasses
import json
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from chaoskit.gameday.history import ExperimentTrend, History
from chaoskit.gameday.spec import GameDay, load_gameday
from chaoskit.runner import parse_vars

__all__ = ["command"]


@click.group("gameday")
def command() -> None:
    """Run, schedule and review game days."""


@command.command("validate")
@click.argument("file", type=click.Path(dir_okay=False))
def validate(file: str) -> None:
    """Check a game day FILE and every experiment it lists, without running anything."""
    gameday = load_gameday(file)
    click.echo(f"{gameday.source}: valid, {len(gameday.experiments)} experiments")


@command.command("run")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--output",
    type=click.Path(file_okay=False),
    default="gameday-runs",
    show_default=True,
    help="Folder under which each run gets its own folder.",
)
@click.option("--db", type=click.Path(dir_okay=False), help="History database.")
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    help="Configuration for every experiment; beats the game day's vars.",
)
def run(file: str, output: str, db: str | None, variables: tuple[str, ...]) -> None:
    """Run the game day in FILE; write journals, report.html, summary.md and junit.xml."""
    from chaoskit.gameday.run import run_gameday

    gameday = load_gameday(file)  # validates everything before anything runs
    if variables:
        gameday = dataclasses.replace(gameday, vars={**gameday.vars, **parse_vars(variables)})
    result = run_gameday(gameday, output, history=History(db))
    for skipped in result.skipped:
        click.echo(f"skipped: {skipped.name} ({result.stopped})")
    click.echo(f"report: {result.report_path}")
    raise click.exceptions.Exit(result.exit_code)


def _series(values: list[float | int | None], fmt: str) -> str:
    return " → ".join("-" if v is None else format(v, fmt) for v in values)


def _trend_json(trends: dict[str, list[ExperimentTrend]]) -> str:
    return json.dumps(
        {name: [t.__dict__ for t in items] for name, items in trends.items()}, indent=2
    )


@command.command("history")
@click.option("--db", type=click.Path(dir_okay=False), help="History database.")
@click.option("--gameday", "name", help="Only this game day (by name).")
@click.option("--limit", default=10, show_default=True, help="How many recent runs.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def history(db: str | None, name: str | None, limit: int, as_json: bool) -> None:
    """Show trends per experiment across game day runs: lost events, time to recover."""
    store = History(db)
    trends = store.trends(name, limit)
    if as_json:
        click.echo(_trend_json(trends))
        return
    if not trends:
        click.echo(f"no game day runs recorded in {store.path}")
        return
    table = Table(title=f"game day history ({store.run_count(name)} runs in {store.path})")
    for column in ("experiment", "runs", "outcomes", "lost events", "time to recover (s)"):
        table.add_column(column)
    for experiment, items in sorted(trends.items()):
        table.add_row(
            escape(experiment),
            str(len(items)),
            " → ".join(t.outcome for t in items),
            _series([t.lost for t in items], "d"),
            _series([t.time_to_recover for t in items], ".1f"),
        )
    Console(width=140).print(table)


@command.command("schedule")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--emit",
    "kind",
    type=click.Choice(["cron", "github-actions", "eventbridge"]),
    required=True,
    help="What to print.",
)
def schedule(file: str, kind: str) -> None:
    """Print what runs the game day in FILE on its cron."""
    from chaoskit.gameday.schedule import emit

    click.echo(emit(load_gameday(file), kind), nl=False)


@command.command("serve")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--output", type=click.Path(file_okay=False), default="gameday-runs")
@click.option("--db", type=click.Path(dir_okay=False), help="History database.")
def serve(files: tuple[str, ...], output: str, db: str | None) -> None:
    """Run each game day in FILES whenever its schedule fires (UTC), until stopped."""
    from chaoskit.gameday.run import run_gameday
    from chaoskit.gameday.serve import serve as serve_forever
    from chaoskit.gameday.serve import trigger_for

    gamedays = [load_gameday(f) for f in files]
    for gameday in gamedays:
        trigger_for(gameday)  # every file must have a schedule before anything runs

    def run_one(gameday: GameDay) -> None:
        fresh = load_gameday(gameday.source)  # pick up edits made while serving
        result = run_gameday(fresh, Path(output), history=History(db))
        click.echo(f"{fresh.name}: exit {result.exit_code}, report {result.report_path}")

    serve_forever(gamedays, run_one, announce=lambda line: click.echo(line, file=sys.stderr))
