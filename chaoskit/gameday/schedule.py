"""Emit what runs a game day on its cron: a crontab line, a GitHub Actions
workflow, or an EventBridge Scheduler schedule.

Game day crons are five-field expressions in UTC. EventBridge Scheduler wants
AWS's six-field form, ``cron(minutes hours day-of-month month day-of-week year)``,
where one of the two day fields must be ``?`` and days of the week run
``SUN``..``SAT``: :func:`to_aws_cron` converts.
"""

import json
import os
import re
import shlex
from collections.abc import Callable
from typing import Any

import yaml
from croniter import croniter

from chaoskit.errors import BadInput
from chaoskit.gameday.spec import GameDay
from chaoskit.inputs import check_text_value

__all__ = [
    "EMITTERS",
    "emit",
    "emit_cron",
    "emit_eventbridge",
    "emit_github_actions",
    "to_aws_cron",
]

_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def _require_schedule(gameday: GameDay) -> str:
    if not gameday.schedule:
        raise BadInput(
            f"game day file '{gameday.source}' has no 'schedule': add a five-field cron, "
            'e.g. schedule: "0 9 * * 1"'
        )
    return gameday.schedule


def to_aws_cron(expression: str) -> str:
    """Return the AWS ``cron(...)`` form of a five-field cron expression.

    Raises:
        BadInput: the expression restricts both day-of-month and day-of-week
            (cron ORs them; AWS cannot), or uses a modifier AWS cannot express.
    """
    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        raise BadInput(f"invalid cron expression '{expression}': expected five fields")
    minute, hour, dom, month, dow = fields
    expanded, special = croniter.expand(expression)
    if special or "#" in dow or "L" in dow.upper():
        raise BadInput(
            f"cron expression '{expression}': day-of-week modifiers (# and L) are not converted; "
            "expected plain days of the week"
        )
    if dow == "*":
        aws_dom, aws_dow = dom, "?"
    elif dom == "*":
        days = sorted({int(d) % 7 for d in expanded[4]})
        aws_dom, aws_dow = "?", ",".join(_DAYS[d] for d in days)
    else:
        raise BadInput(
            f"cron expression '{expression}' restricts both day-of-month and day-of-week, "
            "which AWS cron cannot express: expected '*' in one of them"
        )
    return f"cron({minute} {hour} {aws_dom} {month.upper()} {aws_dow} *)"


def _one_line(value: str, what: str) -> str:
    # A newline in any value copied into a schedule would start a line of its own
    # (another crontab entry, another YAML key): refuse instead of emitting it.
    return check_text_value(value, f"game day schedule: {what}")


def _command(gameday: GameDay, output: str) -> str:
    source = _one_line(str(gameday.source), "game day path")
    return (
        f"chaoskit gameday run {shlex.quote(source)} "
        f"--output {shlex.quote(_one_line(output, 'output folder'))}"
    )


def emit_cron(gameday: GameDay, workdir: str | None = None, output: str = "gameday-runs") -> str:
    """Return a crontab entry (the machine's cron must run in UTC).

    cron starts commands in the user's home folder: the entry changes to
    ``workdir`` (default the current folder), always as an absolute path.
    """
    cron = _require_schedule(gameday)
    folder = os.path.abspath(workdir or os.getcwd())
    name = _one_line(gameday.name, "game day name")
    return (
        f"# chaoskit game day {shlex.quote(name)} (schedule in UTC)\n"
        f"{_one_line(cron, 'schedule')} cd {shlex.quote(_one_line(folder, 'working folder'))} "
        f"&& {_command(gameday, output)}\n"
    )


def emit_github_actions(gameday: GameDay, output: str = "gameday-runs") -> str:
    """Return a GitHub Actions workflow that runs the game day on its cron."""
    cron = _require_schedule(gameday)
    target = gameday.target or "sandbox"
    steps: list[dict[str, Any]] = [
        {"uses": "actions/checkout@v4"},
        {"uses": "actions/setup-python@v5", "with": {"python-version": "3.11"}},
        {"name": "Install chaoskit", "run": 'pip install "chaoskit[sandbox]"'},
    ]
    if target == "sandbox":
        steps.append({"name": "Start the sandbox", "run": "chaoskit sandbox up"})
    steps += [
        {"name": "Run the game day", "run": _command(gameday, output)},
        {
            "name": "Publish the summary",
            "if": "always()",
            "run": f'cat {output}/*/summary.md >> "$GITHUB_STEP_SUMMARY"',
        },
        {
            "name": "Keep the report",
            "if": "always()",
            "uses": "actions/upload-artifact@v4",
            "with": {"name": "gameday-report", "path": output},
        },
    ]
    workflow = {
        "name": f"chaoskit game day: {_one_line(gameday.name, 'game day name')}",
        "on": {"schedule": [{"cron": cron}], "workflow_dispatch": {}},
        "permissions": {"contents": "read"},
        "jobs": {
            "gameday": {
                "runs-on": "ubuntu-latest",
                "timeout-minutes": 60,
                "steps": steps,
            }
        },
    }
    return yaml.safe_dump(workflow, sort_keys=False, width=120)


def emit_eventbridge(
    gameday: GameDay,
    target_arn: str = "arn:aws:codebuild:REGION:ACCOUNT:project/chaoskit-gameday",
    role_arn: str = "arn:aws:iam::ACCOUNT:role/chaoskit-gameday-scheduler",
) -> str:
    """Return an EventBridge Scheduler ``CreateSchedule`` input as JSON.

    The target is whatever runs ``chaoskit gameday run`` in your account
    (a CodeBuild project by default); replace the placeholder ARNs.
    """
    cron = _require_schedule(gameday)
    schedule = {
        # Schedule names allow letters, digits, '-', '_' and '.' only.
        "Name": re.sub(r"[^0-9A-Za-z_.-]", "-", f"chaoskit-gameday-{gameday.name}")[:64],
        "Description": (
            f"chaoskit game day '{_one_line(gameday.name, 'game day name')}' ({cron} UTC)"
        )[:512],
        "ScheduleExpression": to_aws_cron(cron),
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "State": "ENABLED",
        "Target": {
            "Arn": target_arn,
            "RoleArn": role_arn,
            "Input": json.dumps(
                {"gameday": str(gameday.source), "command": _command(gameday, "gameday-runs")}
            ),
            "RetryPolicy": {"MaximumRetryAttempts": 0},
        },
    }
    return json.dumps(schedule, indent=2) + "\n"


EMITTERS: dict[str, Callable[[GameDay], str]] = {
    "cron": emit_cron,
    "github-actions": emit_github_actions,
    "eventbridge": emit_eventbridge,
}


def emit(gameday: GameDay, kind: str) -> str:
    """Return the schedule of ``gameday`` in the form ``kind`` names.

    Raises:
        BadInput: ``kind`` is unknown or the game day has no schedule.
    """
    emitter = EMITTERS.get(kind)
    if emitter is None:
        raise BadInput(f"unknown schedule format '{kind}': expected one of {', '.join(EMITTERS)}")
    return emitter(gameday)
