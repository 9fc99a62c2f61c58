"""Run a game day: its experiments in order, with live progress, into one folder.

Each run writes ``<output>/<game day>-<UTC time>/`` holding ``journals/``
(one Chaos Toolkit journal per experiment), ``report.html``, ``summary.md``
and ``junit.xml``, and appends the run to the history database. Every
experiment runs through :func:`chaoskit.runner.run_experiment_file`, so each
carries the chaoskit control and plays its rollbacks whatever happens.
"""

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaoslib.run import RunEventHandler
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from chaoskit.files import private_dir
from chaoskit.gameday.history import History
from chaoskit.gameday.spec import GameDay, GameDayExperiment
from chaoskit.interrupts import signalled
from chaoskit.report import render_junit, render_markdown, render_views
from chaoskit.report.markdown import escape_markdown
from chaoskit.runner import RunResult, run_experiment_file

__all__ = ["GameDayResult", "ProgressHandler", "run_gameday"]

Runner = Callable[..., RunResult]

_STYLE = {"passed": "green", "inconclusive": "yellow", "deviated": "red", "failed": "red",
          "interrupted": "yellow"}  # fmt: skip


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "experiment"


@dataclass
class GameDayResult:
    """What a game day run produced."""

    gameday: GameDay
    folder: Path
    started: float
    finished: float = 0.0
    results: list[RunResult] = field(default_factory=list)
    skipped: list[GameDayExperiment] = field(default_factory=list)
    #: Why the skipped experiments did not run.
    stopped: str = ""
    history_run: int | None = None

    @property
    def exit_code(self) -> int:
        """Return 0 if every experiment held, 3 if anything was left unrestored, 4 if the
        only shortfall is inconclusive experiments (a fault fired zero times), else 1."""
        codes = [r.exit_code for r in self.results]
        if 3 in codes:
            return 3
        if 4 in codes and not self.skipped and set(codes) <= {0, 4}:
            return 4
        return 1 if any(codes) or self.skipped else 0

    @property
    def report_path(self) -> Path:
        """Return the path of the HTML report."""
        return self.folder / "report.html"


class ProgressHandler(RunEventHandler):
    """Shows the phase and activity of the running experiment on a rich progress task."""

    def __init__(self, progress: Progress, task: TaskID, name: str) -> None:
        # Titles and names are the user's text, not rich markup ("[/bold]" would crash).
        self.progress, self.task, self.name = progress, task, escape(name)

    def _show(self, what: str) -> None:
        self.progress.update(self.task, description=f"{self.name} [dim]· {what}[/]")

    def start_hypothesis_before(self, experiment: Any) -> None:
        self._show("hypothesis before")

    def start_method(self, experiment: Any) -> None:
        self._show("method")

    def start_hypothesis_after(self, experiment: Any) -> None:
        self._show("hypothesis after")

    def start_rollbacks(self, experiment: Any) -> None:
        self._show("rollbacks")

    def start_activity(self, activity: Mapping[str, Any]) -> None:
        self._show(escape(f"{activity.get('type', 'activity')} {activity.get('name', '')}"))


class _LineHandler(logging.Handler):
    """Prints warnings and errors as whole lines (without a terminal)."""

    def __init__(self, console: Console) -> None:
        super().__init__(logging.WARNING)
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        _line(self.console, f"{record.levelname.lower()}: {record.getMessage()}")


def _line(console: Console, text: str) -> None:
    """Print ``text`` as it is: no markup, no highlighting, never cut to the width."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _why(run: RunResult) -> list[str]:
    """Say in a line or two why an experiment did not pass, for the operator watching."""
    view = run.view
    if view.outcome == "inconclusive":
        return [f"inconclusive: {reason}" for reason in view.inconclusive]
    if view.outcome == "deviated" and view.counts is not None:
        return [f"events: {view.counts.line()}"]
    return []


def _write_reports(result: GameDayResult) -> None:
    views = [r.view for r in result.results]
    title = f"Game day: {result.gameday.name}"
    skipped = [e.name for e in result.skipped]
    result.folder.mkdir(parents=True, exist_ok=True)
    (result.folder / "report.html").write_text(render_views(views, title), encoding="utf-8")
    summary = render_markdown(views, title)
    if skipped:
        names = ", ".join(escape_markdown(name) for name in skipped)
        summary += f"\nNot run ({result.stopped}): {names}.\n"
    (result.folder / "summary.md").write_text(summary, encoding="utf-8")
    junit = render_junit(views, result.gameday.name, skipped, f"the {result.stopped}")
    (result.folder / "junit.xml").write_text(junit, encoding="utf-8")


def run_gameday(
    gameday: GameDay,
    output_dir: str | Path = "gameday-runs",
    history: History | None = None,
    console: Console | None = None,
    runner: Runner = run_experiment_file,
    clock: Callable[[], float] = time.time,
) -> GameDayResult:
    """Run every experiment of ``gameday`` and write the run's folder.

    Args:
        gameday: a validated game day (see :func:`chaoskit.gameday.spec.load_gameday`).
        output_dir: the folder under which the run's folder is created.
        history: where to append the run; ``None`` uses the default database.
        console: where progress is shown; default the terminal.
        runner: runs one experiment (the default is chaoskit's runner).
        clock: returns epoch seconds (injected by tests).
    """
    started = clock()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(started))
    folder = Path(output_dir) / f"{_slug(gameday.name)}-{stamp}"
    suffix = 1
    while folder.exists():
        suffix += 1
        folder = Path(output_dir) / f"{_slug(gameday.name)}-{stamp}-{suffix}"
    private_dir(folder / "journals")
    result = GameDayResult(gameday=gameday, folder=folder, started=started)
    console = console or Console(stderr=True)
    ordered = gameday.ordered()
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    # Without a terminal (a CI log, a scheduled run's file) a live display shows nothing
    # until the end, then cuts each line to the console's width: print whole lines instead.
    live = console.is_terminal
    # Log lines of chaoslib and chaoskit print above the live display instead of through it.
    handler: logging.Handler = (
        RichHandler(console=console, show_path=False, level=logging.WARNING)
        if live
        else _LineHandler(console)
    )
    # chaoslib warns on every run that rollbacks were requested: chaoskit always requests them.
    handler.addFilter(lambda record: not record.getMessage().startswith("Rollbacks were"))
    # chaoskit logs under chaostoolkit.chaoskit: one handler on chaostoolkit sees both.
    loggers = [logging.getLogger("chaostoolkit")]
    for logger in loggers:
        logger.addHandler(handler)
    if not live:
        _line(console, f"game day {gameday.name}: {len(ordered)} experiment(s)")
    try:
        with Progress(*columns, console=console, transient=False, disable=not live) as progress:
            overall = progress.add_task(escape(f"game day {gameday.name}"), total=len(ordered))
            for index, item in enumerate(ordered, start=1):
                task = progress.add_task(escape(item.name), total=1)
                step = f"[{index}/{len(ordered)}] {item.name}"
                if not live:
                    _line(console, f"{step}: running")
                begun = time.monotonic()
                journal = folder / "journals" / f"{index:02d}-{_slug(item.name)}.json"
                run = runner(
                    item.path,
                    target=gameday.target,
                    endpoint_url=gameday.endpoint_url,
                    variables={**gameday.vars, **item.vars},
                    journal_path=journal,
                    event_handlers=[ProgressHandler(progress, task, item.name)],
                )
                result.results.append(run)
                outcome = run.view.outcome
                if not live:
                    _line(console, f"{step}: {outcome} ({time.monotonic() - begun:.0f} s)")
                for why in _why(run):
                    # Above a live display the experiment's own line is not there: name it.
                    _line(console, f"{item.name}: {why}" if live else f"  {why}")
                progress.update(
                    task,
                    completed=1,
                    description=f"{escape(item.name)} [{_STYLE[outcome]}]{outcome}[/]",
                )
                progress.advance(overall)
                # Ctrl-C or a SIGTERM stopped this experiment: the operator (or the
                # scheduler) means the whole game day, not the next experiment's turn.
                stopped = signalled()
                if stopped:
                    _line(console, "game day interrupted: the remaining experiments do not run")
                if stopped or (not run.view.ok and gameday.on_deviation == "stop"):
                    result.stopped = (
                        "game day was interrupted" if stopped else "game day stopped on a deviation"
                    )
                    result.skipped = ordered[index:]
                    for rest in result.skipped:
                        progress.add_task(f"{escape(rest.name)} [dim]skipped[/]", total=1)
                    break
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
        result.finished = clock()
        _write_reports(result)
        store = history if history is not None else History()
        result.history_run = store.record(
            gameday.name,
            result.started,
            result.finished,
            [r.view for r in result.results],
            target=gameday.target or "",
            folder=str(folder),
        )
    return result
