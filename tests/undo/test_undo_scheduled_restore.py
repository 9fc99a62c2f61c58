"""The kill switch's restore that the target runs by itself (EventBridge Scheduler).

With ``chaoskit_scheduled_restore_role`` set, the kill switch journals and
creates a one-time schedule at the change's deadline whose universal target
puts the reserved concurrency back; rollback deletes it. Against the moto
server, which stores schedules but never runs them: the test runs the
schedule's target call itself (the operation named by the target ARN, with
its ``Input`` as parameters, checked by botocore against Lambda's API model),
which is what Scheduler would do at the deadline.
"""

import io
import json
import math
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import BadInput
from chaoskit.faults import kill_switch
from chaoskit.undo import changes, rollback_run
from chaoskit.undo.registry import check_snapshot
from chaoskit.undo.store import journal_path

ROLE = "arn:aws:iam::123456789012:role/chaoskit-scheduler"


@pytest.fixture
def cfg(aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(e, c):\n    return e\n")
    role = aws.client("iam", aws_env).create_role(RoleName="x", AssumeRolePolicyDocument="{}")
    for name in ("orders-a", "orders-b"):
        aws.client("lambda", aws_env).create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role["Role"]["Arn"],
            Handler="app.handler",
            Code={"ZipFile": buf.getvalue()},
        )
    aws.client("lambda", aws_env).put_function_concurrency(
        FunctionName="orders-b", ReservedConcurrentExecutions=7
    )
    return {**aws_env, "chaoskit_run_id": "run-s", "chaoskit_scheduled_restore_role": ROLE}


def schedules(cfg: dict[str, Any]) -> list[dict[str, Any]]:
    sched = aws.client("scheduler", cfg)
    return [
        sched.get_schedule(Name=s["Name"], GroupName=s.get("GroupName", "default"))
        for s in sched.list_schedules()["Schedules"]
    ]


def reserved(cfg: dict[str, Any], name: str) -> int | None:
    got = aws.client("lambda", cfg).get_function_concurrency(FunctionName=name)
    return got.get("ReservedConcurrentExecutions")


def fire(cfg: dict[str, Any], schedule: dict[str, Any]) -> None:
    """Do what Scheduler does at the deadline: call the universal target's operation."""
    match = re.fullmatch(r"arn:aws:scheduler:::aws-sdk:lambda:(\w+)", schedule["Target"]["Arn"])
    assert match, schedule["Target"]["Arn"]
    lam = aws.client("lambda", cfg)
    op = lam.meta.service_model.operation_model(match.group(1)[0].upper() + match.group(1)[1:])
    method = re.sub(r"(?<!^)(?=[A-Z])", "_", op.name).lower()
    getattr(lam, method)(**json.loads(schedule["Target"]["Input"]))


def test_the_schedule_is_journaled_created_at_the_deadline_and_restores(cfg: dict) -> None:
    kill_switch.set_reserved_concurrency(["orders-a", "orders-b"], configuration=cfg)
    assert reserved(cfg, "orders-a") == 0 and reserved(cfg, "orders-b") == 0
    found = {json.loads(s["Target"]["Input"])["FunctionName"]: s for s in schedules(cfg)}
    assert sorted(found) == ["orders-a", "orders-b"]
    for change in changes("run-s"):
        schedule = found[change["snapshot"]["function_name"]]
        assert change["snapshot"]["schedule"]["name"] == schedule["Name"]
        when = datetime.fromtimestamp(math.ceil(change["expires_at"]), UTC)
        assert schedule["ScheduleExpression"] == f"at({when:%Y-%m-%dT%H:%M:%S})"
        assert schedule["ScheduleExpressionTimezone"] == "UTC"
        assert schedule["Target"]["RoleArn"] == ROLE
        assert schedule["ActionAfterCompletion"] == "DELETE"
    # journaled before it was created: the pending record names it
    pending = [
        json.loads(line)
        for line in journal_path("run-s").read_text().splitlines()
        if '"pending"' in line
    ]
    assert all(r["snapshot"]["schedule"]["name"].startswith("chaoskit-restore-") for r in pending)
    # what Scheduler runs at the deadline puts each function back exactly
    fire(cfg, found["orders-a"])
    fire(cfg, found["orders-b"])
    assert reserved(cfg, "orders-a") is None and reserved(cfg, "orders-b") == 7


def test_rollback_deletes_the_schedule(cfg: dict[str, Any]) -> None:
    kill_switch.set_reserved_concurrency(["orders-a"], configuration=cfg)
    assert len(schedules(cfg)) == 1
    rollback_run("run-s")
    assert schedules(cfg) == []
    assert reserved(cfg, "orders-a") is None
    rollback_run("run-s")  # nothing left: idempotent


def test_a_second_change_in_the_run_keeps_the_first_schedule(cfg: dict[str, Any]) -> None:
    kill_switch.set_reserved_concurrency(["orders-b"], configuration=cfg)
    kill_switch.set_reserved_concurrency(["orders-b"], concurrency=2, configuration=cfg)
    [only] = schedules(cfg)
    assert json.loads(only["Target"]["Input"])["ReservedConcurrentExecutions"] == 7
    rollback_run("run-s")
    assert schedules(cfg) == [] and reserved(cfg, "orders-b") == 7


def test_without_the_role_no_schedule_and_a_bad_role_is_refused(cfg: dict[str, Any]) -> None:
    plain = {k: v for k, v in cfg.items() if k != "chaoskit_scheduled_restore_role"}
    kill_switch.set_reserved_concurrency(["orders-a"], configuration=plain)
    assert schedules(cfg) == []
    assert "schedule" not in changes("run-s")[0]["snapshot"]
    with pytest.raises(BadInput, match="chaoskit_scheduled_restore_role"):
        kill_switch.set_reserved_concurrency(
            ["orders-b"], configuration={**cfg, "chaoskit_scheduled_restore_role": "admin"}
        )
    assert reserved(cfg, "orders-b") == 7


def test_a_failed_schedule_stops_the_change(cfg: dict[str, Any]) -> None:
    aws.client("scheduler", cfg).meta.events.register_first(
        "before-call.scheduler.CreateSchedule", _refuse
    )
    with pytest.raises(Exception, match="scheduler:CreateSchedule"):
        kill_switch.set_reserved_concurrency(["orders-b"], configuration=cfg)
    assert reserved(cfg, "orders-b") == 7
    assert [c["status"] for c in changes("run-s")] == ["not-applied"]


def _refuse(**kwargs: Any) -> None:
    raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "CreateSchedule")


def test_a_mirrored_snapshot_may_only_name_chaoskit_schedules() -> None:
    spec = "chaoskit.faults.kill_switch:restore_reserved_concurrency_snapshot"
    good = {"function_name": "f", "previous": None}
    check_snapshot(spec, good)
    check_snapshot(spec, {**good, "schedule": {"name": "chaoskit-restore-ab", "group": "default"}})
    with pytest.raises(BadInput, match="schedule"):
        check_snapshot(spec, {**good, "schedule": {"name": "payroll-run", "group": "default"}})


def test_the_iam_policy_adds_the_schedule_calls_only_when_the_option_is_on() -> None:
    from chaoskit.iam import covers, policy

    kill = ["chaoskit.faults.kill_switch:set_reserved_concurrency"]
    assert not covers(policy(kill), "scheduler:CreateSchedule")
    on = policy(kill, scheduler_role=ROLE)
    for action in ("scheduler:CreateSchedule", "scheduler:DeleteSchedule", "iam:PassRole"):
        assert covers(on, action)
    [passing] = [s for s in on["Statement"] if s["Action"] == ["iam:PassRole"]]
    assert passing["Resource"] == [ROLE]
    route53 = ["chaoskit.faults.route53:fail_health_check"]
    assert not covers(policy(route53, scheduler_role=ROLE), "scheduler:CreateSchedule")
