"""Rules on routing: SNS, EventBridge/Scheduler, Step Functions, alarms, Route 53, aliases."""

from collections.abc import Iterator, Mapping
from typing import Any

from chaoskit.audit.findings import Finding, finding, rule
from chaoskit.topology.intrinsics import Resolver
from chaoskit.topology.model import Location, Rule, RuleTarget, Topology

__all__: list[str] = []

#: Lambda's transient errors as Step Functions names them.
LAMBDA_TRANSIENT = (
    "Lambda.ServiceException",
    "Lambda.TooManyRequestsException",
    "Lambda.SdkClientException",
)
_CATCH_ALL = {"States.ALL", "States.TaskFailed"}


@rule("sns-subscription-no-dlq", "SNS subscription without redrive policy", "medium")
def sns_no_dlq(topo: Topology) -> Iterator[Finding]:
    """An SNS subscription has no dead-letter queue."""
    for sub in topo.subscriptions.values():
        if sub.dead_letter is not None:
            continue
        inline = sub.type.endswith("#Subscription")
        yield finding(
            "sns-subscription-no-dlq",
            sub,
            {"Protocol": sub.protocol, "Endpoint": str(sub.endpoint), "RedrivePolicy": None},
            "a message SNS cannot deliver (endpoint deleted, access denied, KMS key, "
            "throttled HTTP endpoint past its retry policy) is discarded",
            (
                "  # an inline Topic Subscription cannot have a DLQ: declare it on its own\n"
                if inline
                else ""
            )
            + "  Subscription:\n    Type: AWS::SNS::Subscription\n    Properties:\n"
            "      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt SubscriptionDLQ.Arn",
        )


def _targets_without_dlq(r: Rule) -> list[RuleTarget]:
    return [t for t in r.targets if t.dead_letter is None]


@rule("events-target-no-dlq", "EventBridge/Scheduler target without DLQ", "medium")
def events_no_dlq(topo: Topology) -> Iterator[Finding]:
    """An EventBridge rule or Scheduler schedule has a target without a dead-letter queue."""
    for r in topo.rules.values():
        missing = _targets_without_dlq(r)
        if not missing or r.state.upper() == "DISABLED":
            continue
        yield finding(
            "events-target-no-dlq",
            r,
            {
                "kind": r.kind,
                "targets": [
                    {
                        "Id": t.id,
                        "Arn": str(t.target),
                        "RetryPolicy.MaximumRetryAttempts": t.maximum_retry_attempts,
                        "RetryPolicy.MaximumEventAgeInSeconds": t.maximum_event_age_seconds,
                    }
                    for t in missing
                ],
            },
            "an event the target does not accept (throttled, missing permission, target "
            "deleted) is retried until its retry policy runs out, then dropped",
            "  Targets:\n    - Id: ...\n      Arn: ...\n      RetryPolicy:\n"
            "        MaximumRetryAttempts: 185\n        MaximumEventAgeInSeconds: 86400\n"
            "      DeadLetterConfig:\n        Arn: !GetAtt RuleTargetDLQ.Arn",
        )


def _principals(statement: Mapping[str, Any]) -> set[str]:
    principal = statement.get("Principal")
    if principal == "*":
        return {"*"}
    if isinstance(principal, Mapping):
        out: set[str] = set()
        for value in principal.values():
            out |= {str(v) for v in (value if isinstance(value, list) else [value])}
        return out
    return set()


def _policy_allows(topo: Topology, policy_type: str, key: str, target_id: str) -> bool:
    for res in topo.resources.values():
        if res.type != policy_type:
            continue
        r = Resolver(topo.resources)
        names = {x.logical_id for x in (r.ref(v) for v in res.properties.get(key) or []) if x}
        if target_id not in names:
            continue
        statements = (res.properties.get("PolicyDocument") or {}).get("Statement") or []
        for st in statements if isinstance(statements, list) else [statements]:
            allowed = isinstance(st, Mapping) and st.get("Effect") == "Allow"
            if allowed and _principals(st) & {"*", "events.amazonaws.com"}:
                return True
    return False


#: Target kinds EventBridge reaches through the target's RoleArn only.
_ROLE_ONLY = {"kinesis", "states", "events"}


def _target_allows(topo: Topology, r: Rule, t: RuleTarget) -> bool | None:
    """Whether EventBridge may deliver to the target; ``None`` when it cannot be told."""
    lid = t.target.logical_id if t.target else None
    if lid is None:
        return None
    if t.kind in _ROLE_ONLY:
        return t.role is not None
    if t.kind in ("lambda", "sqs", "sns") and t.role is not None:
        return True  # an execution role on the target is an alternative to the resource policy
    if t.kind == "lambda":
        fn = topo.function_of(t.target)
        if fn is None:
            return None
        return any(
            p == "events.amazonaws.com" and (src is None or src.logical_id in (None, r.logical_id))
            for p, src in fn.permissions
        )
    if t.kind == "sqs":
        return _policy_allows(topo, "AWS::SQS::QueuePolicy", "Queues", lid)
    if t.kind == "sns":
        return _policy_allows(topo, "AWS::SNS::TopicPolicy", "Topics", lid)
    return None  # e.g. CloudWatch Logs (a logs resource policy), API destinations


def _dlq_allowed(topo: Topology, queue_id: str, principal: str) -> bool:
    for res in topo.resources.values():
        if res.type != "AWS::SQS::QueuePolicy":
            continue
        r = Resolver(topo.resources)
        names = {x.logical_id for x in (r.ref(v) for v in res.properties.get("Queues") or []) if x}
        if queue_id not in names:
            continue
        statements = (res.properties.get("PolicyDocument") or {}).get("Statement") or []
        for st in statements if isinstance(statements, list) else [statements]:
            allowed = isinstance(st, Mapping) and st.get("Effect") == "Allow"
            if allowed and _principals(st) & {"*", principal}:
                return True
    return False


@rule("dlq-not-allowed", "DLQ whose queue policy does not let the sender in", "high")
def dlq_not_allowed(topo: Topology) -> Iterator[Finding]:
    """An EventBridge target or SNS subscription DLQ lacks a queue policy for the service."""
    for r in topo.rules.values():
        if r.kind != "events":
            continue
        for t in r.targets:
            dlq = t.dead_letter.logical_id if t.dead_letter else None
            if dlq in topo.queues and not _dlq_allowed(topo, dlq, "events.amazonaws.com"):
                yield _dlq_finding(r, dlq, "events.amazonaws.com")
    for sub in topo.subscriptions.values():
        dlq = sub.dead_letter.logical_id if sub.dead_letter else None
        if dlq in topo.queues and not _dlq_allowed(topo, dlq, "sns.amazonaws.com"):
            yield _dlq_finding(sub, dlq, "sns.amazonaws.com")


def _dlq_finding(el: Any, dlq: str, principal: str) -> Finding:
    return finding(
        "dlq-not-allowed",
        el,
        {"DeadLetterConfig": dlq, "QueuePolicy allowing": None, "principal": principal},
        "the service sends dead letters with its own identity, which the queue does not "
        "allow: the event that could not be delivered cannot be dead-lettered either",
        f"  {dlq}Policy:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n"
        f"      Queues: [!Ref {dlq}]\n      PolicyDocument:\n        Statement:\n"
        f"          - Effect: Allow\n            Principal: {{Service: {principal}}}\n"
        f"            Action: sqs:SendMessage\n            Resource: !GetAtt {dlq}.Arn",
    )


@rule("events-target-not-allowed", "Rule target whose policy does not allow the rule", "high")
def events_target_not_allowed(topo: Topology) -> Iterator[Finding]:
    """An EventBridge rule sends to a target whose resource policy (or role) does not let it."""
    for r in topo.rules.values():
        if r.kind != "events" or r.state.upper() == "DISABLED":
            continue
        for t in r.targets:
            if _target_allows(topo, r, t) is not False:
                continue
            yield finding(
                "events-target-not-allowed",
                r,
                {
                    "target": str(t.target),
                    "kind": t.kind,
                    "RoleArn": str(t.role) if t.role else None,
                },
                "EventBridge cannot deliver to this target: every matched event fails, and "
                "without a DLQ it is dropped after the retries",
                {
                    "lambda": "  Permission:\n    Type: AWS::Lambda::Permission\n    Properties:\n"
                    f"      FunctionName: !Ref {t.target}\n      Action: lambda:InvokeFunction\n"
                    "      Principal: events.amazonaws.com\n"
                    f"      SourceArn: !GetAtt {r.logical_id}.Arn",
                    "sqs": "  QueuePolicy:\n    Type: AWS::SQS::QueuePolicy\n    Properties:\n"
                    f"      Queues: [!Ref {t.target}]\n      PolicyDocument:\n        Statement:\n"
                    "          - Effect: Allow\n"
                    "            Principal: {Service: events.amazonaws.com}\n"
                    "            Action: sqs:SendMessage\n"
                    f"            Resource: !GetAtt {t.target}.Arn\n"
                    "            Condition:\n              ArnEquals:\n"
                    f"                aws:SourceArn: !GetAtt {r.logical_id}.Arn",
                    "sns": "  TopicPolicy:\n    Type: AWS::SNS::TopicPolicy\n    Properties:\n"
                    f"      Topics: [!Ref {t.target}]\n      PolicyDocument: ... "
                    "(Allow events.amazonaws.com sns:Publish)",
                }.get(
                    t.kind, "  RoleArn: !GetAtt RuleTargetRole.Arn   # a role EventBridge assumes"
                ),
            )


def _transient_missing(retried: set[str]) -> list[str]:
    if retried & _CATCH_ALL:
        return []
    # Step Functions matches error names exactly: Lambda.AWSLambdaException
    # does not match Lambda.TooManyRequestsException
    return [e for e in LAMBDA_TRANSIENT if e not in retried]


@rule("sfn-lambda-task-no-retry", "Lambda task without Retry on transient errors", "medium")
def sfn_no_retry(topo: Topology) -> Iterator[Finding]:
    """A state machine's Lambda tasks do not retry Lambda's transient errors."""
    for sm in topo.state_machines.values():
        bad = {}
        first: Location | None = None
        for task in sm.tasks:
            if task.function is None and ":lambda:" not in task.resource:
                continue
            missing = _transient_missing(task.retried_errors)
            if missing:
                bad[task.path] = missing
                first = first or task.location
        if bad:
            yield finding(
                "sfn-lambda-task-no-retry",
                sm,
                {"tasks": bad},
                "Lambda throttles and service errors fail the task at once: the execution "
                "fails (or takes its Catch) for an error a retry would have absorbed",
                "  Retry:\n    - ErrorEquals:\n        - Lambda.ServiceException\n"
                "        - Lambda.AWSLambdaException\n        - Lambda.SdkClientException\n"
                "        - Lambda.TooManyRequestsException\n      IntervalSeconds: 2\n"
                "      MaxAttempts: 6\n      BackoffRate: 2",
                location=first,
            )


@rule("sfn-task-no-catch", "Task state without Catch", "medium")
def sfn_no_catch(topo: Topology) -> Iterator[Finding]:
    """A state machine has Task states that no Catch (own or enclosing) handles."""
    for sm in topo.state_machines.values():
        bad = [t for t in sm.tasks if not t.catch and not t.enclosing_catch]
        if not bad:
            continue
        yield finding(
            "sfn-task-no-catch",
            sm,
            {"tasks": [t.path for t in bad]},
            "when the task fails for good the execution fails and its input is only in the "
            "execution history: nothing records it for a retry or a compensation",
            "  Catch:\n    - ErrorEquals: [States.ALL]\n      ResultPath: $.error\n"
            "      Next: RecordFailure   # e.g. an SQS SendMessage task to a failures queue",
            location=next((t.location for t in bad if t.location), None),
        )


@rule("dlq-no-alarm", "DLQ or failure destination without an alarm", "medium")
def dlq_no_alarm(topo: Topology) -> Iterator[Finding]:
    """A dead-letter queue or failure destination queue has no CloudWatch alarm watching it."""
    watched = {w.logical_id for a in topo.alarms.values() for w in a.watches if w.logical_id}
    for sink, feeders in topo.dead_letter_targets().items():
        q = topo.queues.get(sink)
        if q is None or sink in watched:
            continue
        yield finding(
            "dlq-no-alarm",
            q,
            {"feeds": feeders, "alarms watching it": []},
            "failed events pile up here unseen until the retention period deletes them",
            f"  {q.source_id}Alarm:\n    Type: AWS::CloudWatch::Alarm\n    Properties:\n"
            "      Namespace: AWS/SQS\n      MetricName: ApproximateNumberOfMessagesVisible\n"
            "      Dimensions:\n        - Name: QueueName\n"
            f"          Value: !GetAtt {q.source_id}.QueueName\n"
            "      Statistic: Maximum\n      Period: 60\n      EvaluationPeriods: 1\n"
            "      Threshold: 0\n      ComparisonOperator: GreaterThanThreshold",
        )


@rule("route53-failover-no-health-check", "Primary failover record without health check", "high")
def failover_no_health(topo: Topology) -> Iterator[Finding]:
    """A PRIMARY failover record has no health check (nor evaluated alias target health)."""
    for rec in topo.failover_records.values():
        if rec.failover.upper() != "PRIMARY" or rec.health_check is not None:
            continue
        alias = rec.alias_target if isinstance(rec.alias_target, Mapping) else {}
        if str(alias.get("EvaluateTargetHealth")).lower() == "true":
            continue
        yield finding(
            "route53-failover-no-health-check",
            rec,
            {"Failover": rec.failover, "HealthCheckId": None, "Name": rec.record_name},
            "Route 53 keeps answering with the primary while it is down: requests (and their "
            "events) go to a dead region and the secondary never takes over",
            "  HealthCheckId: !Ref PrimaryHealthCheck\n"
            "  # or, for an alias record: AliasTarget.EvaluateTargetHealth: true",
        )


@rule("alias-deployment-no-alarms", "Gradual deployment without rollback alarms", "medium")
def alias_no_alarms(topo: Topology) -> Iterator[Finding]:
    """An alias shifts traffic gradually but no alarm can roll the deployment back."""
    for alias in topo.aliases.values():
        kind = alias.deployment_type
        if not kind or "AllAtOnce" in kind or alias.rollback_alarms:
            continue
        yield finding(
            "alias-deployment-no-alarms",
            alias,
            {"DeploymentPreference.Type": kind, "Alarms": []},
            "the canary shifts all traffic on schedule even while the new version fails "
            "every event: nothing tells CodeDeploy to roll back",
            "  DeploymentPreference:\n    Type: Canary10Percent5Minutes\n    Alarms:\n"
            "      - !Ref NewVersionErrorsAlarm",
        )
