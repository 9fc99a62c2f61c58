"""A restore the target runs by itself: an EventBridge Scheduler one-time schedule.

Opt-in with ``chaoskit_scheduled_restore_role`` (configuration or settings
file): the ARN of an IAM role EventBridge Scheduler assumes, allowed
``lambda:PutFunctionConcurrency`` and ``lambda:DeleteFunctionConcurrency`` on
the functions. The kill switch (``set_reserved_concurrency``) then also
creates, for the run's first change on each function, a one-time schedule
``at(<deadline>)`` (UTC) with a universal target
(``arn:aws:scheduler:::aws-sdk:lambda:deleteFunctionConcurrency``, or
``putFunctionConcurrency`` with the saved value) that puts the function's
reserved concurrency back even if no chaoskit process is alive then. The
schedule's name is in the change's snapshot, journaled before the schedule is
created; the restore deletes it (it deletes itself after it runs:
``ActionAfterCompletion: DELETE``).
"""

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import AWSActionFailed, BadInput, aws_failure, expect_state
from chaoskit.undo import store
from chaoskit.undo.settings import setting

__all__ = ["PREFIX", "ROLE_KEY", "create", "delete", "plan", "target_of"]

ROLE_KEY = "chaoskit_scheduled_restore_role"
PREFIX = "chaoskit-restore-"
_GROUP = "default"


def plan(
    action: str, function_name: str, run_id: str, configuration: Mapping[str, Any] | None
) -> dict[str, str] | None:
    """Return the schedule a kill switch change on ``function_name`` should create, or ``None``.

    ``None`` when the option is off, or when a live change of this run on the
    function already owns a schedule (it restores the value from before the run).

    Raises:
        BadInput: the role is not an IAM role ARN.
    """
    role = setting(configuration, ROLE_KEY)
    if not role:
        return None
    if not (isinstance(role, str) and role.startswith("arn:") and ":role/" in role):
        raise BadInput(f"{ROLE_KEY} must be an IAM role ARN, got {role!r}")
    for change in store.unrestored(run_id):
        snap = change.get("snapshot") or {}
        mine = change.get("action") == action and snap.get("function_name") == function_name
        if mine and snap.get("schedule"):
            return None
    digest = hashlib.sha256(f"{run_id}/{function_name}".encode()).hexdigest()[:24]
    return {"name": PREFIX + digest, "group": _GROUP, "role": role}


def target_of(function_name: str, previous: int | None) -> dict[str, str]:
    """Return the universal target that puts ``previous`` back (``None`` = unreserved)."""
    payload: dict[str, Any]
    if previous is None:
        operation, payload = "deleteFunctionConcurrency", {"FunctionName": function_name}
    else:
        operation = "putFunctionConcurrency"
        payload = {"FunctionName": function_name, "ReservedConcurrentExecutions": int(previous)}
    return {"Arn": f"arn:aws:scheduler:::aws-sdk:lambda:{operation}", "Input": json.dumps(payload)}


def _at(expires_at: float) -> str:
    when = datetime.fromtimestamp(math.ceil(expires_at), UTC)
    return f"at({when.strftime('%Y-%m-%dT%H:%M:%S')})"


def create(
    schedule: Mapping[str, str],
    function_name: str,
    previous: int | None,
    expires_at: float,
    configuration: Mapping[str, Any] | None,
) -> None:
    """Create the one-time schedule, then read it back.

    Raises:
        AWSActionFailed: Scheduler refused it (the change is then undone).
        FaultNotApplied: the schedule does not read back as written.
    """
    target = {**target_of(function_name, previous), "RoleArn": schedule["role"]}
    expression = _at(expires_at)
    sched = client("scheduler", configuration)
    try:
        sched.create_schedule(
            Name=schedule["name"],
            GroupName=schedule["group"],
            ScheduleExpression=expression,
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            Description=f"chaoskit: restore the reserved concurrency of {function_name}",
            Target=target,
        )
        got = sched.get_schedule(Name=schedule["name"], GroupName=schedule["group"])
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("scheduler:CreateSchedule", schedule["name"], err) from err
    found = {
        "expression": got.get("ScheduleExpression"),
        "arn": (got.get("Target") or {}).get("Arn"),
        "input": (got.get("Target") or {}).get("Input"),
    }
    wanted = {"expression": expression, "arn": target["Arn"], "input": target["Input"]}
    expect_state("scheduler:CreateSchedule", schedule["name"], wanted, found)


def delete(schedule: Mapping[str, Any], configuration: Mapping[str, Any] | None) -> None:
    """Delete the schedule (gone already is fine: it deletes itself once it ran).

    Raises:
        BadInput: the name is not one chaoskit gives (a tampered snapshot).
        AWSActionFailed: Scheduler refused, or the schedule is still there afterwards.
    """
    name, group = str(schedule.get("name")), str(schedule.get("group") or _GROUP)
    if not name.startswith(PREFIX):
        raise BadInput(f"schedule '{name}' is not one chaoskit creates")
    sched = client("scheduler", configuration)
    try:
        sched.delete_schedule(Name=name, GroupName=group)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise aws_failure("scheduler:DeleteSchedule", name, err) from err
    except BotoCoreError as err:
        raise aws_failure("scheduler:DeleteSchedule", name, err) from err
    try:
        sched.get_schedule(Name=name, GroupName=group)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return
        raise aws_failure("scheduler:GetSchedule", name, err) from err
    raise AWSActionFailed("scheduler:DeleteSchedule", name, "StillThere", "read back after delete")
