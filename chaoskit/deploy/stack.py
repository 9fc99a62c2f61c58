"""Create or update a CloudFormation stack through a change set, and read it back.

The flow of ``aws cloudformation deploy``: a change set (``CREATE`` for a new
stack, ``UPDATE`` otherwise) with every capability a SAM or CDK template may
need, executed only when it changes something, then a wait that reports each
new stack event. A change set without changes is success ("no changes"): AWS
fails such a change set with "didn't contain changes", emulators complete it
empty; both are deleted. A stack whose creation failed (``ROLLBACK_COMPLETE``)
cannot be updated: it is deleted and created again.
"""

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.deploy.exceptions import DeployFailed
from chaoskit.deploy.sandbox_updates import NOT_UPDATED
from chaoskit.errors import ChaosKitError, aws_failure

__all__ = ["CAPABILITIES", "apply_change_set", "read_stack", "stack_status"]

CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]
#: A stack in one of these states can only be deleted and created again.
_RECREATE = ("ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "CREATE_FAILED")
#: Seconds a stack that said DELETE_FAILED is looked at again before it is taken as final.
_DELETE_FAILED_RECHECKS = 5
_OK = ("CREATE_COMPLETE", "UPDATE_COMPLETE")
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
#: Physical id LocalStack gives resources of a type it does not emulate.
NOT_EMULATED = "unknown"

Config = Mapping[str, Any] | None
Say = Callable[[str], None]


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def stack_status(name: str, configuration: Config = None) -> dict[str, Any] | None:
    """Return the stack's description, or ``None`` if there is no such stack."""
    cfn = aws.client("cloudformation", configuration)
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        if _code(err) == "ValidationError" and "does not exist" in str(err):
            return None
        raise aws_failure("cloudformation:DescribeStacks", name, err) from err
    return dict(stacks[0]) if stacks else None


def read_stack(name: str, configuration: Config = None) -> dict[str, Any]:
    """Return a stack's status, outputs and resources, JSON-safe.

    Returns:
        ``{"stack_name", "stack_id", "status", "outputs": {key: value},
        "resources": {logical id: physical id}, "resource_types": {logical id: type},
        "not_emulated": [logical ids the target only pretended to create]}``.

    Raises:
        ChaosKitError: there is no such stack.
    """
    stack = stack_status(name, configuration)
    if stack is None:
        raise ChaosKitError(f"stack '{name}' does not exist on the target")
    cfn = aws.client("cloudformation", configuration)
    resources: dict[str, str] = {}
    types: dict[str, str] = {}
    try:
        for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name):
            for summary in page["StackResourceSummaries"]:
                logical = str(summary["LogicalResourceId"])
                resources[logical] = str(summary.get("PhysicalResourceId") or "")
                types[logical] = str(summary["ResourceType"])
    except ClientError as err:
        raise aws_failure("cloudformation:ListStackResources", name, err) from err
    return {
        "stack_name": name,
        "stack_id": str(stack["StackId"]),
        "status": str(stack["StackStatus"]),
        "outputs": {str(o["OutputKey"]): str(o["OutputValue"]) for o in stack.get("Outputs", [])},
        "resources": dict(sorted(resources.items())),
        "resource_types": dict(sorted(types.items())),
        "not_emulated": sorted(k for k, v in resources.items() if v == NOT_EMULATED),
    }


def _event_ids(cfn: Any, name: str) -> set[str]:
    try:
        return {str(e["EventId"]) for e in cfn.describe_stack_events(StackName=name)["StackEvents"]}
    except ClientError:
        return set()


def _new_events(cfn: Any, name: str, seen: set[str]) -> list[dict[str, Any]]:
    try:
        events = cfn.describe_stack_events(StackName=name)["StackEvents"]
    except ClientError as err:
        if "does not exist" in str(err):  # deleted: its status says so
            return []
        raise aws_failure("cloudformation:DescribeStackEvents", name, err) from err
    fresh = [e for e in events if str(e["EventId"]) not in seen]
    seen.update(str(e["EventId"]) for e in fresh)
    return list(reversed(fresh))  # oldest first


def _line(event: Mapping[str, Any]) -> str:
    stamp: Any = event.get("Timestamp")
    clock = stamp.strftime("%H:%M:%S") if hasattr(stamp, "strftime") else str(stamp or "")
    reason = event.get("ResourceStatusReason")
    text = f"{clock} {event['ResourceStatus']:<20} {event.get('ResourceType', '')} "
    text += str(event["LogicalResourceId"])
    return f"{text}: {reason}" if reason else text


def _failure(name: str, status: str, events: list[dict[str, Any]]) -> str:
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("FAILED")]
    resources = [e for e in failed if e.get("LogicalResourceId") != name] or failed
    if not resources:
        return f"stack '{name}' ended in {status}"
    first = resources[0]
    return (
        f"stack '{name}' ended in {status}: resource '{first['LogicalResourceId']}' "
        f"({first.get('ResourceType', '?')}) {first['ResourceStatus']}: "
        f"{first.get('ResourceStatusReason') or 'no reason given'}"
    )


@dataclass(frozen=True)
class _Waiting:
    timeout: float
    sleep: Callable[[float], None]
    clock: Callable[[], float]


def _wait(
    cfn: Any, name: str, seen: set[str], say: Say, waiting: _Waiting
) -> tuple[str, list[dict[str, Any]]]:
    """Wait until the stack settles, reporting each new event; return status and events."""
    timeout, sleep, clock = waiting.timeout, waiting.sleep, waiting.clock
    deadline = clock() + timeout
    events: list[dict[str, Any]] = []
    while True:
        events += _say_new_events(cfn, name, seen, say)
        status = _stack_status(cfn, name)
        if status is None:
            return "DELETE_COMPLETE", events
        if not status.endswith("_IN_PROGRESS"):
            return status, events + _say_new_events(cfn, name, seen, say)
        if clock() > deadline:
            raise DeployFailed(f"stack '{name}' still {status} after {timeout:.0f} s")
        sleep(1.0)


def _stack_status(cfn: Any, name: str) -> str | None:
    """Return the stack's status; ``None`` once it no longer exists."""
    try:
        return str(cfn.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"])
    except ClientError as err:
        if "does not exist" in str(err):
            return None
        raise aws_failure("cloudformation:DescribeStacks", name, err) from err


def _say_new_events(cfn: Any, name: str, seen: set[str], say: Say) -> list[dict[str, Any]]:
    fresh = _new_events(cfn, name, seen)
    for event in fresh:
        say(_line(event))
    return fresh


def _start_and_wait(
    cfn: Any,
    name: str,
    operation: str,
    start: Callable[[], Any],
    say: Say,
    waiting: _Waiting,
    seen: set[str] | None = None,
) -> tuple[str, list[dict[str, Any]]]:
    """Start a stack operation with ``start()``, then wait until the stack settles."""
    seen = _event_ids(cfn, name) if seen is None else seen
    try:
        start()
    except ClientError as err:
        raise aws_failure(operation, name, err) from err
    return _wait(cfn, name, seen, say, waiting)


def _delete_failed(cfn: Any, name: str, status: str, say: Say, waiting: _Waiting) -> None:
    say(f"stack '{name}' is {status} (its creation failed): deleting it to create it again")
    seen = _event_ids(cfn, name)
    delete = "cloudformation:DeleteStack"
    final, events = _start_and_wait(
        cfn, name, delete, lambda: cfn.delete_stack(StackName=name), say, waiting, seen
    )
    if final == "DELETE_FAILED":
        final, events = _recheck(cfn, name, seen, say, waiting, final, events)
    if final == "DELETE_FAILED":
        # A resource whose creation failed may not delete either: keep it out, as the
        # console's "retain" does, and delete the rest.
        stuck = sorted(
            {
                str(e["LogicalResourceId"])
                for e in events
                if e.get("ResourceStatus") == "DELETE_FAILED" and e["LogicalResourceId"] != name
            }
        )
        say(f"deleting stack '{name}' again, retaining {', '.join(stuck) or 'nothing'}")
        final, events = _start_and_wait(
            cfn,
            name,
            delete,
            lambda: cfn.delete_stack(StackName=name, RetainResources=stuck),
            say,
            waiting,
            seen,
        )
        if final == "DELETE_FAILED":
            final, events = _recheck(cfn, name, seen, say, waiting, final, events)
    if final != "DELETE_COMPLETE":
        raise DeployFailed(_failure(name, final, events))


def _recheck(
    cfn: Any, name: str, seen: set[str], say: Say, waiting: _Waiting, final: str,
    events: list[dict[str, Any]],
) -> tuple[str, list[dict[str, Any]]]:  # fmt: skip
    """Look again at a stack that said DELETE_FAILED: final on AWS, while the sandbox's
    CloudFormation says it of a resource it could not resolve and goes on deleting."""
    for _ in range(_DELETE_FAILED_RECHECKS):
        waiting.sleep(1.0)
        status = _stack_status(cfn, name)
        if status is None:
            return "DELETE_COMPLETE", events
        if status != "DELETE_FAILED":
            return _wait(cfn, name, seen, say, waiting)
    return final, events


def _changes(cfn: Any, change_set_id: str) -> dict[str, Any]:
    described: dict[str, Any] = dict(cfn.describe_change_set(ChangeSetName=change_set_id))
    changes = list(described.get("Changes", []))
    token = described.get("NextToken")
    while token:
        page = cfn.describe_change_set(ChangeSetName=change_set_id, NextToken=token)
        changes += page.get("Changes", [])
        token = page.get("NextToken")
    described["Changes"] = changes
    return described


def _create_change_set(
    cfn: Any,
    name: str,
    change_type: str,
    template: Mapping[str, str],
    parameters: list[dict[str, Any]],
    sleep: Callable[[float], None],
) -> tuple[str, dict[str, Any]]:
    try:
        created = cfn.create_change_set(
            StackName=name,
            ChangeSetName=f"chaoskit-{time.strftime('%Y%m%d%H%M%S')}",
            ChangeSetType=change_type,
            Parameters=parameters,
            Capabilities=CAPABILITIES,
            **template,
        )
    except ClientError as err:
        raise DeployFailed(f"the change set for stack '{name}' was refused: {err}") from err
    change_set_id = str(created["Id"])
    for _ in range(600):
        described = _changes(cfn, change_set_id)
        if described["Status"] in ("CREATE_COMPLETE", "FAILED"):
            return change_set_id, described
        sleep(1.0)
    raise DeployFailed(f"the change set for stack '{name}' was not ready after 600 s")


def apply_change_set(
    name: str,
    template: Mapping[str, str],
    parameters: Mapping[str, str | None],
    configuration: Config = None,
    progress: Say | None = None,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> bool:
    """Create or update stack ``name``; return whether anything changed.

    Args:
        name: the stack.
        template: ``{"TemplateBody": ...}`` or ``{"TemplateURL": ...}``.
        parameters: parameter values; a parameter of the existing stack that is
            not given and has no default in the template keeps its value
            (pass those names with the value ``None``).
        configuration: the target.
        progress: called with each line of progress (events, the change set).
        timeout: how long to wait for the stack, in seconds.

    Raises:
        DeployFailed: the change set or the stack failed; the message names the
            first failed resource and its reason.
    """
    say = progress or (lambda _line: None)
    cfn = aws.client("cloudformation", configuration)
    waiting = _Waiting(timeout, sleep, clock)
    stack = stack_status(name, configuration)
    status = str(stack["StackStatus"]) if stack else None
    if status and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployFailed(f"stack '{name}' is busy ({status}): wait until it settles, then retry")
    if status in _RECREATE:
        _delete_failed(cfn, name, str(status), say, waiting)
        status = None
    change_type = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    params = [
        {"ParameterKey": k, "UsePreviousValue": True}
        if v is None
        else {"ParameterKey": k, "ParameterValue": v}
        for k, v in parameters.items()
    ]
    change_set_id, described = _create_change_set(cfn, name, change_type, template, params, sleep)
    reason = str(described.get("StatusReason") or "")
    if described["Status"] == "FAILED" and not any(text in reason for text in _NO_CHANGES):
        raise DeployFailed(f"the change set for stack '{name}' failed: {reason}")
    if described["Status"] == "FAILED" or (change_type == "UPDATE" and not described["Changes"]):
        say(f"stack '{name}': no changes")
        try:
            cfn.delete_change_set(ChangeSetName=change_set_id)
        except ClientError as err:  # a leftover change set harms nothing
            say(f"could not delete the empty change set: {err}")
        return False
    for change in described["Changes"]:
        rc = change.get("ResourceChange") or {}
        replace = " (replacement)" if rc.get("Replacement") == "True" else ""
        say(f"{rc.get('Action')} {rc.get('LogicalResourceId')} ({rc.get('ResourceType')}){replace}")
    final, events = _start_and_wait(
        cfn,
        name,
        "cloudformation:ExecuteChangeSet",
        lambda: cfn.execute_change_set(ChangeSetName=change_set_id),
        say,
        waiting,
    )
    if final not in _OK:
        raise DeployFailed(_failure(name, final, events))
    if aws.resolve_target(configuration).name == "sandbox":
        _warn_not_updated(described["Changes"], say)
    return True


def _warn_not_updated(changes: list[dict[str, Any]], say: Say) -> None:
    for change in changes:
        rc = change.get("ResourceChange") or {}
        if (
            rc.get("Action") == "Modify"
            and rc.get("Replacement") != "True"
            and rc.get("ResourceType") in NOT_UPDATED
        ):
            say(
                f"warning: the sandbox cannot update {rc.get('ResourceType')} "
                f"'{rc.get('LogicalResourceId')}' in place: it is as it was before this "
                "deploy, whatever the stack's status says: delete the stack and deploy again "
                "to apply the change"
            )
