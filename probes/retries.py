"""Retries: attempts per event from the ledger, against the policy configured in AWS.

The policy is read from the target, never assumed: a function's event invoke
config (async ``MaximumRetryAttempts``, default 2), a queue's redrive
``maxReceiveCount``, a stream mapping's ``MaximumRetryAttempts`` (-1 or unset:
unbounded until the record expires), or a Step Functions task's ``Retry``
(``MaxAttempts``, default 3). Each policy is expressed as the most
*attempts* (first try + retries) one event may see.
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError
from chaoslib.types import Configuration, Secrets

from chaoskit import aws
from chaoskit.errors import BadInput, aws_failure
from chaoskit.ledger import store
from chaoskit.ledger.records import ATTEMPT, DEAD_LETTERED
from chaoskit.run_context import current_run_id
from probes._sqs import queue_attributes, queue_url

__all__ = [
    "get_attempts",
    "get_retry_policy",
    "get_retry_report",
    "is_retry_policy_honoured",
]

POLICY_KINDS = ("async", "sqs", "stream", "stepfunctions")
_DEFAULT_ASYNC_RETRIES = 2
_DEFAULT_SFN_MAX_ATTEMPTS = 3


def get_attempts(
    run_id: str | None = None,
    function_name: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, int]:
    """Return the attempts the ledger recorded per event: ``{event_id: n}``.

    Args:
        run_id: the run (default: the current run).
        function_name: count only attempts by this function (the layer records
            the function name with each attempt).
    """
    run = run_id or current_run_id(configuration)
    counts: dict[str, int] = {}
    for r in store.read_run(run, configuration):
        if r.kind != ATTEMPT:
            continue
        if function_name and (r.detail or {}).get("function") != function_name:
            continue
        counts[r.event_id] = counts.get(r.event_id, 0) + 1
    return dict(sorted(counts.items()))


def _async_policy(function: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    name, _, qualifier = function.partition(":")
    kwargs = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    try:
        got = aws.client("lambda", cfg).get_function_event_invoke_config(**kwargs)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise aws_failure("lambda:GetFunctionEventInvokeConfig", function, err) from err
        got = {}
    retries = int(got.get("MaximumRetryAttempts", _DEFAULT_ASYNC_RETRIES))
    return {
        "kind": "async",
        "resource": function,
        "setting": "MaximumRetryAttempts",
        "value": retries,
        "max_attempts": retries + 1,
        "maximum_event_age_seconds": got.get("MaximumEventAgeInSeconds"),
    }


def _sqs_policy(queue: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    attrs = queue_attributes(queue_url(queue, cfg), cfg)
    policy = json.loads(attrs.get("RedrivePolicy") or "{}")
    count = policy.get("maxReceiveCount")
    return {
        "kind": "sqs",
        "resource": queue,
        "setting": "maxReceiveCount",
        "value": None if count is None else int(count),
        "max_attempts": None if count is None else int(count),
    }


def _stream_policy(function: str, cfg: Mapping[str, Any]) -> dict[str, Any]:
    try:
        mappings = aws.client("lambda", cfg).list_event_source_mappings(FunctionName=function)
    except ClientError as err:
        raise aws_failure("lambda:ListEventSourceMappings", function, err) from err
    streams = [
        m
        for m in mappings.get("EventSourceMappings", [])
        if ":kinesis:" in m.get("EventSourceArn", "") or ":dynamodb:" in m.get("EventSourceArn", "")
    ]
    if not streams:
        raise BadInput(f"function '{function}' has no stream event source mapping")
    retries = streams[0].get("MaximumRetryAttempts")
    bounded = retries is not None and int(retries) >= 0
    return {
        "kind": "stream",
        "resource": function,
        "setting": "MaximumRetryAttempts",
        "value": retries,
        "max_attempts": int(retries) + 1 if bounded else None,
        "bisect": bool(streams[0].get("BisectBatchOnFunctionError")),
    }


def _states(states: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, state in states.items():
        yield name, state
        for branch in state.get("Branches") or []:
            yield from _states(branch.get("States") or {})
        inner = state.get("ItemProcessor") or state.get("Iterator") or {}
        yield from _states(inner.get("States") or {})


def _sfn_policy(
    machine: str, state: str | None, error: str | None, cfg: Mapping[str, Any]
) -> dict[str, Any]:
    sfn = aws.client("stepfunctions", cfg)
    arn = machine
    if not machine.startswith("arn:"):
        try:
            found = [
                m["stateMachineArn"]
                for page in sfn.get_paginator("list_state_machines").paginate()
                for m in page["stateMachines"]
                if m["name"] == machine
            ]
        except ClientError as err:
            raise aws_failure("states:ListStateMachines", machine, err) from err
        if not found:
            raise BadInput(f"no state machine named '{machine}'")
        arn = found[0]
    try:
        definition = json.loads(sfn.describe_state_machine(stateMachineArn=arn)["definition"])
    except ClientError as err:
        raise aws_failure("states:DescribeStateMachine", machine, err) from err
    tasks = {n: s for n, s in _states(definition.get("States") or {}) if s.get("Type") == "Task"}
    if state is None and len(tasks) == 1:
        state = next(iter(tasks))
    if state not in tasks:
        raise BadInput(
            f"no task state '{state}' in state machine '{machine}': expected one of "
            + ", ".join(sorted(tasks))
        )
    retriers = tasks[state].get("Retry") or []
    if error:
        # The first retrier whose ErrorEquals names the error (or States.ALL) applies.
        retriers = [
            next((r for r in retriers if {error, "States.ALL"} & set(r.get("ErrorEquals", []))), {})
        ]
    retries = max(
        (int(r.get("MaxAttempts", _DEFAULT_SFN_MAX_ATTEMPTS)) for r in retriers if r), default=0
    )
    return {
        "kind": "stepfunctions",
        "resource": f"{machine}/{state}",
        "setting": "Retry.MaxAttempts",
        "value": retries,
        "max_attempts": retries + 1,
    }


def get_retry_policy(
    kind: str,
    resource: str,
    state: str | None = None,
    error: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Read a retry policy from the target.

    Args:
        kind: ``async`` (function), ``sqs`` (queue), ``stream`` (function with a
            Kinesis/DynamoDB mapping) or ``stepfunctions`` (state machine).
        resource: function name (``name:qualifier`` allowed for async), queue
            name/URL/ARN, or state machine name/ARN.
        state: Step Functions task state (default: the only task).
        error: Step Functions error name whose retrier applies (default: the
            largest ``MaxAttempts`` of the state's retriers).

    Returns:
        ``{"kind", "resource", "setting", "value", "max_attempts"}``;
        ``max_attempts`` is null when the policy is unbounded.
    """
    cfg = configuration or {}
    if kind == "async":
        return _async_policy(resource, cfg)
    if kind == "sqs":
        return _sqs_policy(resource, cfg)
    if kind == "stream":
        return _stream_policy(resource, cfg)
    if kind == "stepfunctions":
        return _sfn_policy(resource, state, error, cfg)
    raise BadInput(f"unknown retry policy kind '{kind}': expected one of {', '.join(POLICY_KINDS)}")


def get_retry_report(
    kind: str,
    resource: str,
    function_name: str | None = None,
    run_id: str | None = None,
    state: str | None = None,
    error: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Compare attempts per event in the ledger with the configured retry policy.

    Args:
        kind: ``async``, ``sqs``, ``stream`` or ``stepfunctions`` (see ``get_retry_policy``).
        resource: the function, queue or state machine holding the policy.
        function_name: count only this function's attempts (default: the
            resource for ``async``/``stream``, every function otherwise).
        run_id: the run (default: the current run).
        state: Step Functions task state.
        error: Step Functions error name.

    Returns:
        ``policy``, ``observed_max``, ``over_limit`` (events attempted more
        often than the policy allows), ``dead_lettered_early`` (dead-lettered
        events with fewer attempts than allowed: retries that never ran) and
        ``honoured`` (true when both lists are empty).
    """
    policy = get_retry_policy(kind, resource, state, error, configuration)
    if function_name is None and kind in ("async", "stream"):
        function_name = resource.partition(":")[0]
    run = run_id or current_run_id(configuration)
    attempts = get_attempts(run, function_name, configuration)
    dead = {r.event_id for r in store.read_run(run, configuration) if r.kind == DEAD_LETTERED}
    limit = policy["max_attempts"]
    over = sorted(e for e, n in attempts.items() if limit is not None and n > limit)
    early = sorted(e for e in dead if limit is not None and 0 < attempts.get(e, 0) < limit)
    return {
        "policy": policy,
        "observed_max": max(attempts.values(), default=0),
        "events": len(attempts),
        "over_limit": over,
        "dead_lettered_early": early,
        "honoured": not over and not early,
    }


def is_retry_policy_honoured(
    kind: str,
    resource: str,
    function_name: str | None = None,
    run_id: str | None = None,
    state: str | None = None,
    error: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """Tell whether every event's attempts stayed within, and used up, the retry policy.

    Args:
        kind: ``async``, ``sqs``, ``stream`` or ``stepfunctions``.
        resource: the function, queue or state machine holding the policy.
        function_name: count only this function's attempts.
        run_id: the run (default: the current run).
        state: Step Functions task state.
        error: Step Functions error name.
    """
    report = get_retry_report(
        kind, resource, function_name, run_id, state, error, configuration=configuration
    )
    return bool(report["honoured"])
