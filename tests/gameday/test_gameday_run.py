"""Running a game day: order, stop/continue, the run folder, rollbacks, history."""

import io
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from chaoskit.gameday.history import History
from chaoskit.gameday.run import run_gameday
from chaoskit.gameday.spec import load_gameday
from chaoskit.runner import run_experiment_file


def _gameday(tmp_path: Path, fixtures: Path, on_deviation: str) -> Path:
    path = tmp_path / "gd.yaml"
    path.write_text(
        f"""
name: test day
vars: {{rollback_marker: {tmp_path / "rolled-back"}, marker: {tmp_path / "absent"}}}
on_deviation: {on_deviation}
experiments:
  - {fixtures / "ok.yaml"}
  - path: {fixtures / "deviates.yaml"}
    vars: {{marker: {tmp_path / "seven"}}}
  - {fixtures / "with-changes.yaml"}
""",
        encoding="utf-8",
    )
    (tmp_path / "seven").write_text("7")
    return path


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=100)


def test_continue_runs_everything_and_writes_the_folder(fixtures: Path, tmp_path: Path) -> None:
    gameday = load_gameday(_gameday(tmp_path, fixtures, "continue"))
    history = History(tmp_path / "h.sqlite")
    console = _quiet()
    result = run_gameday(gameday, tmp_path / "runs", history=history, console=console)
    assert [r.view.outcome for r in result.results] == ["passed", "failed", "passed"]
    assert result.skipped == [] and result.exit_code == 1
    folder = result.folder
    assert folder.parent == tmp_path / "runs"
    journals = sorted(p.name for p in (folder / "journals").iterdir())
    assert journals == [
        "01-folder-exists.json",
        "02-marker-stays-below-two.json",
        "03-records-a-change.json",
    ]
    assert json.loads((folder / "journals" / journals[2]).read_text())["chaoskit"]["changes"]
    html = (folder / "report.html").read_text()
    assert html.count('class="card experiment"') == 3
    assert "2 of 3" in (folder / "summary.md").read_text()
    suite = ET.parse(folder / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    assert len(suite.findall("testcase")) == 3
    assert suite.get("errors") == "1" and suite.get("failures") == "0"
    assert (tmp_path / "rolled-back").read_text() == "ran"  # rollbacks not skipped
    assert "test day" in console.file.getvalue()  # type: ignore[attr-defined]
    assert history.run_count() == 1


def test_without_a_terminal_each_experiment_is_a_whole_line_as_it_starts_and_ends(
    fixtures: Path, tmp_path: Path
) -> None:
    gameday = load_gameday(_gameday(tmp_path, fixtures, "continue"))
    console = Console(file=io.StringIO(), width=30)  # a CI log: no terminal, narrow
    run_gameday(gameday, tmp_path / "runs", history=History(tmp_path / "h.sqlite"), console=console)
    names = [item.name for item in gameday.ordered()]
    lines = console.file.getvalue().splitlines()  # type: ignore[attr-defined]
    progress = [line for line in lines if line.startswith("[")]
    expected = []
    for index, (name, outcome) in enumerate(
        zip(names, ["passed", "failed", "passed"], strict=True), start=1
    ):
        expected += [rf"\[{index}/3\] {re.escape(name)}: running"]
        expected += [rf"\[{index}/3\] {re.escape(name)}: {outcome} \(\d+ s\)"]
    assert len(progress) == len(expected), lines
    for line, pattern in zip(progress, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_stop_skips_the_rest_and_junit_lists_them(fixtures: Path, tmp_path: Path) -> None:
    gameday = load_gameday(_gameday(tmp_path, fixtures, "stop"))
    result = run_gameday(
        gameday, tmp_path / "runs", history=History(tmp_path / "h.sqlite"), console=_quiet()
    )
    assert [r.view.title for r in result.results] == ["folder exists", "marker stays below two"]
    assert [s.name for s in result.skipped] == ["records a change"]
    assert result.exit_code == 1
    suite = ET.parse(result.folder / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("tests") == "3" and suite.get("skipped") == "1"
    skipped = [c.get("name") for c in suite.findall("testcase") if c.find("skipped") is not None]
    assert skipped == ["records a change"]
    assert (
        "Not run (game day stopped on a deviation): records a change"
        in (result.folder / "summary.md").read_text()
    )


def test_every_experiment_goes_through_the_runner_with_merged_vars(
    fixtures: Path, tmp_path: Path
) -> None:
    calls: list[dict[str, object]] = []

    def spy(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
        calls.append({"path": path, **kwargs})
        return run_experiment_file(path, **kwargs)  # type: ignore[arg-type]

    gameday = load_gameday(_gameday(tmp_path, fixtures, "continue"))
    run_gameday(
        gameday,
        tmp_path / "runs",
        history=History(tmp_path / "h.sqlite"),
        console=_quiet(),
        runner=spy,
    )
    assert [Path(str(c["path"])).name for c in calls] == [
        "ok.yaml",
        "deviates.yaml",
        "with-changes.yaml",
    ]
    variables = calls[1]["variables"]
    assert isinstance(variables, dict)
    assert variables["marker"] == str(tmp_path / "seven")  # per-experiment beats game day vars
    assert variables["rollback_marker"] == str(tmp_path / "rolled-back")


def test_two_runs_get_two_folders_and_two_history_rows(fixtures: Path, tmp_path: Path) -> None:
    gameday = load_gameday(_gameday(tmp_path, fixtures, "continue"))
    history = History(tmp_path / "h.sqlite")
    first = run_gameday(
        gameday, tmp_path / "runs", history=history, console=_quiet(), clock=lambda: 1_700_000_000
    )
    second = run_gameday(
        gameday, tmp_path / "runs", history=history, console=_quiet(), clock=lambda: 1_700_000_000
    )
    assert first.folder != second.folder
    assert history.run_count() == 2
    trends = history.trends()
    assert sorted(trends) == ["folder exists", "marker stays below two", "records a change"]
    assert all(len(items) == 2 for items in trends.values())


def test_ctrl_c_stops_the_whole_game_day_after_the_experiments_rollbacks(
    fixtures: Path, tmp_path: Path
) -> None:
    # Ctrl-C used to interrupt one experiment, and the game day went on to the next one:
    # harm the operator had just asked to stop.
    path = tmp_path / "gd.yaml"
    path.write_text(
        f"""
name: stopped day
vars: {{rollback_marker: {tmp_path / "rolled-back"}}}
on_deviation: continue
experiments:
  - {fixtures / "ok.yaml"}
  - {fixtures / "ctrl-c.yaml"}
  - {fixtures / "with-changes.yaml"}
""",
        encoding="utf-8",
    )
    console = Console(file=io.StringIO(), width=100)
    history = History(tmp_path / "h.sqlite")
    result = run_gameday(load_gameday(path), tmp_path / "runs", history=history, console=console)
    assert [r.view.outcome for r in result.results] == ["passed", "interrupted"]
    assert [item.name for item in result.skipped] == ["records a change"]
    assert result.exit_code == 3
    assert (tmp_path / "rolled-back").read_text() == "ran"  # its rollbacks still ran
    assert "game day interrupted" in console.file.getvalue()  # type: ignore[attr-defined]
    suite = ET.parse(result.folder / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("skipped") == "1", ET.tostring(suite)
    assert 'message="not run: the game day was interrupted"' in ET.tostring(suite, "unicode")
    summary = (result.folder / "summary.md").read_text()
    assert "Not run (game day was interrupted): records a change" in summary
    # The next game day starts afresh: an earlier Ctrl-C does not stop it.
    rerun = tmp_path / "again.yaml"
    rerun.write_text(f"name: again\nexperiments:\n  - {fixtures / 'ok.yaml'}\n", encoding="utf-8")
    again = run_gameday(load_gameday(rerun), tmp_path / "runs", history=history, console=console)
    assert [r.view.outcome for r in again.results] == ["passed"] and not again.skipped
