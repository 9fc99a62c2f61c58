"""Schedule emitters: valid crontab, workflow YAML and EventBridge Scheduler JSON."""

import json
from pathlib import Path

import pytest
import yaml
from croniter import croniter

from chaoskit.errors import BadInput
from chaoskit.gameday.schedule import emit, to_aws_cron
from chaoskit.gameday.spec import load_gameday


def test_cron_line_parses(fixtures: Path) -> None:
    out = emit(load_gameday(fixtures / "gameday.yaml"), "cron")
    line = next(x for x in out.splitlines() if x and not x.startswith("#"))
    expression = " ".join(line.split()[:5])
    assert expression == "30 6 * * 1-5"
    assert croniter.is_valid(expression)
    assert "chaoskit gameday run" in line and str(fixtures / "gameday.yaml") in line


def test_github_workflow_loads_and_runs_the_gameday(fixtures: Path) -> None:
    workflow = yaml.safe_load(emit(load_gameday(fixtures / "gameday.yaml"), "github-actions"))
    assert workflow["on"]["schedule"] == [{"cron": "30 6 * * 1-5"}]
    assert "workflow_dispatch" in workflow["on"]
    runs = [s.get("run", "") for s in workflow["jobs"]["gameday"]["steps"]]
    assert "chaoskit sandbox up" in runs  # default target is the sandbox
    assert any(r.startswith("chaoskit gameday run ") for r in runs)
    assert any(
        s.get("uses", "").startswith("actions/upload-artifact")
        for s in workflow["jobs"]["gameday"]["steps"]
    )


def test_eventbridge_schedule_uses_aws_six_field_cron(fixtures: Path) -> None:
    schedule = json.loads(emit(load_gameday(fixtures / "gameday.yaml"), "eventbridge"))
    assert schedule["ScheduleExpression"] == "cron(30 6 ? * MON,TUE,WED,THU,FRI *)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert {"Arn", "RoleArn", "Input"} <= set(schedule["Target"])
    assert json.loads(schedule["Target"]["Input"])["gameday"].endswith("gameday.yaml")


@pytest.mark.parametrize(
    ("cron", "aws"),
    [
        ("0 9 * * *", "cron(0 9 * * ? *)"),
        ("*/15 * 1 * *", "cron(*/15 * 1 * ? *)"),
        ("0 9 * jan 0", "cron(0 9 ? JAN SUN *)"),
        ("0 9 * * 7", "cron(0 9 ? * SUN *)"),
        ("0 9 * * 5-7", "cron(0 9 ? * SUN,FRI,SAT *)"),
        ("0 22 * * */2", "cron(0 22 ? * SUN,TUE,THU,SAT *)"),
    ],
)
def test_to_aws_cron(cron: str, aws: str) -> None:
    assert to_aws_cron(cron) == aws
    fields = aws[len("cron(") : -1].split()
    assert len(fields) == 6 and "?" in (fields[2], fields[4])


def test_to_aws_cron_refuses_what_aws_cannot_express() -> None:
    with pytest.raises(BadInput, match="both day-of-month and day-of-week"):
        to_aws_cron("0 9 1 * 1")
    with pytest.raises(BadInput, match="modifiers"):
        to_aws_cron("0 9 * * 5#3")


def test_emit_needs_a_schedule_and_a_known_format(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "gd.yaml"
    path.write_text(f"experiments: [{fixtures / 'ok.yaml'}]\n")
    with pytest.raises(BadInput, match="has no 'schedule'"):
        emit(load_gameday(path), "cron")
    with pytest.raises(BadInput, match="unknown schedule format 'systemd'"):
        emit(load_gameday(fixtures / "gameday.yaml"), "systemd")
