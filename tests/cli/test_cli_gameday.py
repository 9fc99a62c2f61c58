"""``chaoskit gameday ...``, ``chaoskit report`` and ``chaoskit demo`` through the CLI."""

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from croniter import croniter

from chaoskit.cli.main import main

FIXTURES = Path(__file__).parents[1] / "gameday" / "fixtures"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHAOSKIT_RUN_ID", "unset")
    monkeypatch.delenv("CHAOSKIT_RUN_ID")
    monkeypatch.chdir(tmp_path)


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return int(code or 0), out, err


def _gameday(tmp_path: Path, extra: str = "") -> Path:
    path = tmp_path / "day.yaml"
    path.write_text(
        f"""name: cli day
vars: {{rollback_marker: {tmp_path / "rb"}, marker: {tmp_path / "absent"}}}
schedule: "0 9 * * 1"
{extra}
experiments:
  - {FIXTURES / "ok.yaml"}
  - {FIXTURES / "with-changes.yaml"}
""",
        encoding="utf-8",
    )
    return path


def test_gameday_run_twice_then_history_shows_two(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    day = _gameday(tmp_path)
    db = tmp_path / "h.sqlite"
    for _ in range(2):
        code, out, _ = run(
            ["gameday", "run", str(day), "--output", "runs", "--db", str(db)], capsys
        )
        assert code == 0
        assert "report: runs/cli-day-" in out
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 2
    for folder in folders:
        assert {p.name for p in folder.iterdir()} == {
            "journals",
            "report.html",
            "summary.md",
            "junit.xml",
        }
        suite = ET.parse(folder / "junit.xml").getroot().find("testsuite")
        assert suite is not None and len(suite.findall("testcase")) == 2
    code, out, _ = run(["gameday", "history", "--db", str(db), "--json"], capsys)
    trends = json.loads(out)
    assert code == 0 and sorted(trends) == ["folder exists", "records a change"]
    assert [len(v) for v in trends.values()] == [2, 2]
    code, out, _ = run(["gameday", "history", "--db", str(db)], capsys)
    assert "2 runs" in out and "passed → passed" in out


def test_gameday_history_empty(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(["gameday", "history", "--db", str(tmp_path / "none.sqlite")], capsys)
    assert code == 0 and "no game day runs recorded" in out


def test_bad_gameday_runs_nothing_and_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    day = _gameday(tmp_path, "on_deviation: maybe")
    code, _, err = run(["gameday", "run", str(day), "--output", "runs"], capsys)
    assert code == 2
    assert f"game day file '{day}': field 'on_deviation': got 'maybe'" in err
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "home").exists()  # no journal, no history


def test_gameday_validate(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(["gameday", "validate", str(_gameday(tmp_path))], capsys)
    assert code == 0 and "valid, 2 experiments" in out


def test_schedule_emitters(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    day = str(_gameday(tmp_path))
    code, out, _ = run(["gameday", "schedule", day, "--emit", "cron"], capsys)
    line = out.splitlines()[-1]
    assert code == 0 and croniter.is_valid(" ".join(line.split()[:5]))
    code, out, _ = run(["gameday", "schedule", day, "--emit", "github-actions"], capsys)
    assert code == 0 and yaml.safe_load(out)["on"]["schedule"] == [{"cron": "0 9 * * 1"}]
    code, out, _ = run(["gameday", "schedule", day, "--emit", "eventbridge"], capsys)
    assert code == 0 and json.loads(out)["ScheduleExpression"] == "cron(0 9 ? * MON *)"
    code, _, err = run(["gameday", "schedule", day, "--emit", "systemd"], capsys)
    assert code == 2 and "systemd" in err


def test_serve_refuses_a_gameday_without_schedule(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    day = tmp_path / "noschedule.yaml"
    day.write_text(f"experiments: [{FIXTURES / 'ok.yaml'}]\n")
    code, _, err = run(["gameday", "serve", str(day)], capsys)
    assert code == 2 and "has no 'schedule'" in err


def test_report_renders_journals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    journal = tmp_path / "j.json"
    run(["run", str(FIXTURES / "ok.yaml"), "--journal", str(journal)], capsys)
    code, out, _ = run(["report", str(journal), "-o", "out/r.html", "--title", "Mine"], capsys)
    assert code == 0 and out.strip() == "out/r.html"
    html = (tmp_path / "out" / "r.html").read_text()
    assert "<title>Mine</title>" in html and "folder exists" in html


def test_report_rejects_what_is_not_a_journal(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    other = tmp_path / "other.json"
    other.write_text('{"hello": 1}')
    code, _, err = run(["report", str(other)], capsys)
    assert code == 2 and "is not a Chaos Toolkit journal" in err
    code, _, err = run(["report", str(tmp_path / "absent.json")], capsys)
    assert code == 2 and "cannot read journal" in err


def test_demo_checks_the_gameday_before_starting_anything(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run(["demo", "--gameday", str(_gameday(tmp_path, "order: sideways"))], capsys)
    assert code == 2 and "field 'order'" in err and "starting the sandbox" not in err


def test_gameday_run_vars_reach_every_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import chaoskit.gameday.run as gameday_run

    seen: list[dict[str, Any]] = []

    def fake_run(gameday: Any, output: Any, **kwargs: Any) -> Any:
        seen.append(dict(gameday.vars))
        raise SystemExit(0)

    monkeypatch.setattr(gameday_run, "run_gameday", fake_run)
    file = _gameday(tmp_path, "")
    code, _, _ = run(["gameday", "run", str(file), "--var", "n=3", "--var", "who=me"], capsys)
    assert code == 0
    assert seen and seen[0]["n"] == 3 and seen[0]["who"] == "me"
