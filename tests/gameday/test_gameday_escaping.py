"""User text in generated files and displays stays text: schedules, summary.md, progress."""

import dataclasses
import io
import json
import re
from pathlib import Path

import pytest
import yaml
from rich.console import Console

from chaoskit.errors import BadInput
from chaoskit.gameday.history import History
from chaoskit.gameday.run import run_gameday
from chaoskit.gameday.schedule import emit, emit_cron
from chaoskit.gameday.spec import load_gameday
from chaoskit.report import render_markdown, view_journal


def _gameday_file(tmp_path: Path, title: str = "plain", name: str = "day") -> Path:
    (tmp_path / "exp.yaml").write_text(
        yaml.safe_dump(
            {
                "title": title,
                "description": "d",
                "method": [
                    {
                        "type": "probe",
                        "name": "cwd",
                        "provider": {"type": "python", "module": "os", "func": "getcwd"},
                    }
                ],
            }
        ),
        encoding="utf-8",
    )
    path = tmp_path / "gd.yaml"
    path.write_text(
        yaml.safe_dump({"name": name, "schedule": "0 9 * * 1", "experiments": ["exp.yaml"]}),
        encoding="utf-8",
    )
    return path


def test_cron_line_changes_to_an_absolute_folder(tmp_path, monkeypatch):
    gameday = load_gameday(_gameday_file(tmp_path, name="it's; rm -rf ~"))
    monkeypatch.chdir(tmp_path)
    out = emit_cron(gameday)
    lines = out.splitlines()
    assert len(lines) == 2 and lines[0].startswith("# ")
    assert f"cd {tmp_path} && chaoskit gameday run" in lines[1]
    assert emit_cron(gameday, workdir="rel").count(f"cd {tmp_path / 'rel'} ") == 1


@pytest.mark.parametrize("kind", ["cron", "github-actions", "eventbridge"])
@pytest.mark.parametrize("field", ["name", "source"])
def test_every_emitter_refuses_a_value_with_a_newline(tmp_path, kind, field):
    gameday = load_gameday(_gameday_file(tmp_path))
    bad = "x\n* * * * * touch /tmp/owned"
    changed = dataclasses.replace(gameday, **{field: bad if field == "name" else Path(bad)})
    with pytest.raises(BadInput, match="control character"):
        emit(changed, kind)


def test_eventbridge_name_keeps_to_the_allowed_characters(tmp_path):
    gameday = load_gameday(_gameday_file(tmp_path, name="orders day (prod) ü"))
    schedule = json.loads(emit(gameday, "eventbridge"))
    assert re.fullmatch(r"[0-9A-Za-z_.-]{1,64}", schedule["Name"]), schedule["Name"]


def test_summary_markdown_escapes_titles():
    title = "<script>alert(1)</script> [click](javascript:alert(1)) *bold* | pipe"
    view = view_journal({"status": "completed", "experiment": {"title": title}, "run": []})
    md = render_markdown([view], title)
    assert "<script>" not in md
    assert "&lt;script&gt;" in md
    assert "](javascript:" not in md
    assert "\\*bold\\*" in md and "\\| pipe" in md


def test_rich_markup_in_a_title_is_shown_as_written(tmp_path, monkeypatch):
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    title = "[/bold] closes nothing [red]"
    gameday = load_gameday(_gameday_file(tmp_path, title=title, name="[/] day"))
    console = Console(file=io.StringIO(), width=200)
    result = run_gameday(
        gameday, tmp_path / "runs", history=History(tmp_path / "h.sqlite"), console=console
    )
    assert [r.view.outcome for r in result.results] == ["passed"]
    assert title in console.file.getvalue()  # type: ignore[attr-defined]
    assert "\\[/bold\\] closes nothing" in (result.folder / "summary.md").read_text()
