"""The seven audit checks: deployed configuration that loses events under failure.

Each check reads what it needs from an :class:`Inventory` (fetched lazily,
once per audit) and returns findings ``{"resource", "check", "risk", "fix",
"severity"}``. Severities, lowest first: low, medium, high, critical.
"""

import json
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import aws_failure

__all__ = ["CHECKS", "SEVERITIES", "Inventory", "run_checks"]

SEVERITIES = ("low", "medium", "high", "critical")
#: Queue names that say "I hold failures", even when nothing points at them (yet).
_FAILURE_QUEUE_NAME = re.compile(r"(dlq|dead-?letter|failures?|fallback)(\.fifo)?$", re.IGNORECASE)
#: Principals whose invocations of a function are asynchronous.
_ASYNC_PRINCIPALS = ("sns.amazonaws.com", "events.amazonaws.com", "s3.amazonaws.com")


def _name_of(arn: str) -> str:
    """Return the resource name at the end of an ARN (``function:name:qualifier`` -> name)."""
    parts = arn.split(":")
    if len(parts) >= 7 and parts[2] == "lambda":
        return parts[6]
    return parts[-1].rsplit("/", 1)[-1]


class Inventory:
    """What the checks read from the target, each list fetched once."""

    def __init__(self, configuration: Mapping[str, Any] | None) -> None:
        self.configuration = configuration
        self._answers: dict[tuple[str, str, str], Any] = {}

    def _client(self, service: str) -> Any:
        return aws.client(service, self.configuration)

    def _pages(self, service: str, operation: str, key: str, **kwargs: Any) -> Iterator[Any]:
        client = self._client(service)
        try:
            for page in client.get_paginator(operation).paginate(**kwargs):
                yield from page.get(key, [])
        except ClientError as err:
            raise aws_failure(f"{service}:{operation}", kwargs.get("TopicArn", "*"), err) from err

    def _call(self, service: str, operation: str, resource: str, **kwargs: Any) -> Any:
        key = (service, operation, resource)
        if key in self._answers:
            return self._answers[key]
        try:
            answer = getattr(self._client(service), operation)(**kwargs)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code not in ("ResourceNotFoundException", "NotFound", "NotFoundException"):
                raise aws_failure(f"{service}:{operation}", resource, err) from err
            answer = None
        self._answers[key] = answer
        return answer

    @cached_property
    def functions(self) -> dict[str, dict[str, Any]]:
        return {f["FunctionName"]: f for f in self._pages("lambda", "list_functions", "Functions")}

    @cached_property
    def mappings(self) -> list[dict[str, Any]]:
        return list(self._pages("lambda", "list_event_source_mappings", "EventSourceMappings"))

    @cached_property
    def queues(self) -> dict[str, dict[str, str]]:
        out = {}
        for url in self._pages("sqs", "list_queues", "QueueUrls"):
            attrs = self._call(
                "sqs", "get_queue_attributes", url, QueueUrl=url, AttributeNames=["All"]
            )
            out[url] = dict((attrs or {}).get("Attributes", {}))
        return out

    @cached_property
    def subscriptions(self) -> list[dict[str, Any]]:
        subs = []
        for sub in self._pages("sns", "list_subscriptions", "Subscriptions"):
            arn = sub.get("SubscriptionArn", "")
            if not arn.startswith("arn:"):
                continue  # PendingConfirmation
            got = self._call("sns", "get_subscription_attributes", arn, SubscriptionArn=arn)
            subs.append({**sub, "Attributes": (got or {}).get("Attributes", {})})
        return subs

    @cached_property
    def rule_targets(self) -> list[dict[str, Any]]:
        targets: list[dict[str, Any]] = []
        for rule in self._pages("events", "list_rules", "Rules"):
            got = self._call("events", "list_targets_by_rule", rule["Name"], Rule=rule["Name"])
            targets.extend({**t, "Rule": rule["Name"]} for t in (got or {}).get("Targets", []))
        return targets

    def invoke_config(self, function: str) -> dict[str, Any] | None:
        got: dict[str, Any] | None = self._call(
            "lambda", "get_function_event_invoke_config", function, FunctionName=function
        )
        return got

    def policy_principals(self, function: str) -> set[str]:
        got = self._call("lambda", "get_policy", function, FunctionName=function)
        principals: set[str] = set()
        for statement in json.loads((got or {}).get("Policy") or "{}").get("Statement", []):
            principal = statement.get("Principal")
            if isinstance(principal, dict):
                principal = principal.get("Service")
            if isinstance(principal, str):
                principals.add(principal)
        return principals

    def reserved_concurrency(self, function: str) -> int | None:
        got = self._call("lambda", "get_function_concurrency", function, FunctionName=function)
        value = (got or {}).get("ReservedConcurrentExecutions")
        return None if value is None else int(value)

    @cached_property
    def state_machines(self) -> list[dict[str, Any]]:
        out = []
        for sm in self._pages("stepfunctions", "list_state_machines", "stateMachines"):
            arn = sm["stateMachineArn"]
            got = self._call("stepfunctions", "describe_state_machine", arn, stateMachineArn=arn)
            if got:
                out.append({"name": sm["name"], "definition": got.get("definition", "{}")})
        return out


def _finding(resource: str, check: str, risk: str, fix: str, severity: str) -> dict[str, str]:
    return {"resource": resource, "check": check, "risk": risk, "fix": fix, "severity": severity}


def check_async_failure_destination(inv: Inventory) -> list[dict[str, str]]:
    """Async functions with neither an on-failure destination nor a DLQ."""
    async_functions = {
        _name_of(s["Endpoint"]) for s in inv.subscriptions if s.get("Protocol") == "lambda"
    }
    async_functions |= {
        _name_of(t["Arn"]) for t in inv.rule_targets if ":lambda:" in t.get("Arn", "")
    }
    findings = []
    for name, function in sorted(inv.functions.items()):
        config = inv.invoke_config(name)
        is_async = name in async_functions or config is not None
        if not is_async and not (inv.policy_principals(name) & set(_ASYNC_PRINCIPALS)):
            continue
        on_failure = ((config or {}).get("DestinationConfig") or {}).get("OnFailure") or {}
        if on_failure.get("Destination") or (function.get("DeadLetterConfig") or {}).get(
            "TargetArn"
        ):
            continue
        findings.append(
            _finding(
                f"lambda:{name}",
                "async-no-failure-destination",
                "events that fail every async retry (or wait out their maximum age) are dropped "
                "without trace",
                "add an on-failure destination (put-function-event-invoke-config "
                "DestinationConfig.OnFailure) or a dead-letter queue",
                "high",
            )
        )
    return findings


def check_visibility_timeout(inv: Inventory) -> list[dict[str, str]]:
    """SQS queues whose visibility timeout is under 6x their consumer's timeout."""
    by_arn = {attrs.get("QueueArn"): (url, attrs) for url, attrs in inv.queues.items()}
    findings = []
    for mapping in inv.mappings:
        source = mapping.get("EventSourceArn", "")
        if ":sqs:" not in source or source not in by_arn:
            continue
        function = inv.functions.get(_name_of(mapping.get("FunctionArn", "")))
        if not function:
            continue
        timeout = int(function.get("Timeout", 3))
        visibility = int(by_arn[source][1].get("VisibilityTimeout", 30))
        if visibility < 6 * timeout:
            findings.append(
                _finding(
                    f"sqs:{_name_of(source)}",
                    "sqs-visibility-timeout",
                    f"visibility timeout {visibility}s is under 6x the timeout of "
                    f"'{function['FunctionName']}' ({timeout}s): messages reappear while still "
                    "being processed, and are processed twice or dead-lettered early",
                    f"set VisibilityTimeout to at least {6 * timeout}s",
                    "medium",
                )
            )
    return findings


def _failure_sinks(inv: Inventory) -> set[str]:
    """ARNs of queues that receive failures: a redrive needs no redrive of its own."""
    sinks = set()
    for attrs in inv.queues.values():
        policy = json.loads(attrs.get("RedrivePolicy") or "{}")
        sinks.add(policy.get("deadLetterTargetArn"))
    for function in inv.functions.values():
        sinks.add((function.get("DeadLetterConfig") or {}).get("TargetArn"))
        config = inv.invoke_config(function["FunctionName"]) or {}
        sinks.add((config.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination"))
    for mapping in inv.mappings:
        sinks.add((mapping.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination"))
    for sub in inv.subscriptions:
        policy = json.loads(sub["Attributes"].get("RedrivePolicy") or "{}")
        sinks.add(policy.get("deadLetterTargetArn"))
    for target in inv.rule_targets:
        sinks.add((target.get("DeadLetterConfig") or {}).get("Arn"))
    sinks.discard(None)
    return {s for s in sinks if s}


def check_queue_redrive(inv: Inventory) -> list[dict[str, str]]:
    """Queues with no redrive policy (dead-letter and failure queues excepted)."""
    sinks = _failure_sinks(inv)
    findings = []
    for url, attrs in sorted(inv.queues.items()):
        if attrs.get("RedrivePolicy") or attrs.get("QueueArn") in sinks:
            continue
        if _FAILURE_QUEUE_NAME.search(url.rsplit("/", 1)[-1]):
            continue
        findings.append(
            _finding(
                f"sqs:{_name_of(attrs.get('QueueArn', url))}",
                "sqs-no-redrive-policy",
                "a message that always fails is retried until the retention period ends, "
                "then deleted: a poison message is lost and blocks capacity meanwhile",
                "add a RedrivePolicy with a dead-letter queue and a maxReceiveCount",
                "medium",
            )
        )
    return findings


def check_stream_mappings(inv: Inventory) -> list[dict[str, str]]:
    """Stream mappings without bisect, a retry limit or an on-failure destination."""
    findings = []
    for mapping in inv.mappings:
        source = mapping.get("EventSourceArn", "")
        if ":kinesis:" not in source and ":dynamodb:" not in source:
            continue
        missing = []
        if not mapping.get("BisectBatchOnFunctionError"):
            missing.append("BisectBatchOnFunctionError")
        if mapping.get("MaximumRetryAttempts") in (None, -1):
            missing.append("MaximumRetryAttempts")
        if not (mapping.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination"):
            missing.append("DestinationConfig.OnFailure")
        if missing:
            findings.append(
                _finding(
                    f"lambda-esm:{mapping.get('UUID')} ({_name_of(source)} -> "
                    f"{_name_of(mapping.get('FunctionArn', ''))})",
                    "stream-mapping-unsafe",
                    "a failing record blocks its shard until it expires, then is skipped "
                    "without trace (missing: " + ", ".join(missing) + ")",
                    "set " + ", ".join(missing) + " on the event source mapping",
                    "high",
                )
            )
    return findings


def check_sns_subscription_dlq(inv: Inventory) -> list[dict[str, str]]:
    """SNS subscriptions without a dead-letter queue."""
    findings = []
    for sub in inv.subscriptions:
        if sub["Attributes"].get("RedrivePolicy"):
            continue
        findings.append(
            _finding(
                f"sns-subscription:{sub['SubscriptionArn']}",
                "sns-subscription-no-dlq",
                f"messages that cannot be delivered to {sub.get('Protocol')} endpoint "
                f"'{sub.get('Endpoint')}' (client errors, exhausted retries) are discarded",
                "set a RedrivePolicy with an SQS dead-letter queue on the subscription",
                "medium",
            )
        )
    return findings


def check_reserved_concurrency(inv: Inventory) -> list[dict[str, str]]:
    """Functions whose reserved concurrency is 0 (a kill switch left on)."""
    findings = []
    for name in sorted(inv.functions):
        if inv.reserved_concurrency(name) == 0:
            findings.append(
                _finding(
                    f"lambda:{name}",
                    "reserved-concurrency-zero",
                    "the function cannot run: sync callers get 429, async events age out, "
                    "queues back up until messages expire",
                    "delete the function concurrency (or set the intended limit); run "
                    "'chaoskit rollback' if a chaos run left it",
                    "critical",
                )
            )
    return findings


def _task_states(states: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, state in states.items():
        path = f"{prefix}{name}"
        if state.get("Type") == "Task":
            yield path, state
        for branch in state.get("Branches") or []:
            yield from _task_states(branch.get("States") or {}, f"{path}/")
        inner = state.get("ItemProcessor") or state.get("Iterator") or {}
        yield from _task_states(inner.get("States") or {}, f"{path}/")


def check_state_machine_tasks(inv: Inventory) -> list[dict[str, str]]:
    """Step Functions Task states with neither Retry nor Catch."""
    findings = []
    for machine in inv.state_machines:
        try:
            definition = json.loads(machine["definition"])
        except ValueError:
            continue
        for path, state in _task_states(definition.get("States") or {}):
            if state.get("Retry") or state.get("Catch"):
                continue
            findings.append(
                _finding(
                    f"states:{machine['name']}/{path}",
                    "sfn-task-no-retry",
                    "a transient error in this task (throttling, a timeout) fails the whole "
                    "execution and its input is not handled anywhere",
                    "add a Retry for transient errors (Lambda.TooManyRequestsException, "
                    "States.Timeout) and a Catch to a failure path",
                    "medium",
                )
            )
    return findings


CHECKS: dict[str, Callable[[Inventory], list[dict[str, str]]]] = {
    "async-no-failure-destination": check_async_failure_destination,
    "sqs-visibility-timeout": check_visibility_timeout,
    "sqs-no-redrive-policy": check_queue_redrive,
    "stream-mapping-unsafe": check_stream_mappings,
    "sns-subscription-no-dlq": check_sns_subscription_dlq,
    "reserved-concurrency-zero": check_reserved_concurrency,
    "sfn-task-no-retry": check_state_machine_tasks,
}


def run_checks(
    configuration: Mapping[str, Any] | None, checks: list[str] | None = None
) -> list[dict[str, str]]:
    """Run the named checks (default: all) and return their findings, worst first."""
    inventory = Inventory(configuration)
    findings: list[dict[str, str]] = []
    for check in checks or list(CHECKS):
        findings.extend(CHECKS[check](inventory))
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: (-rank[f["severity"]], f["check"], f["resource"]))
