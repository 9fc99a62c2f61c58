"""The least-privilege IAM policy chaoskit needs, per activity, scoped to the allowlist.

:data:`NEEDS` maps each chaoskit action (and the undo machinery every
mutating action uses) to the IAM actions it calls and the kind of resource
each one acts on. :func:`policy` turns the activities of some experiments
into an IAM policy document whose resources are narrowed to the allowlist's
names where IAM can express it (Lambda functions, DynamoDB tables, Route 53
health checks, API stages); read-only lookups that IAM cannot scope (list
calls, ``sts:GetCallerIdentity``) get ``*``.

A test runs every action against moto with a hook that records each AWS
operation and fails if one is missing here: add a call, update this map.
"""

import fnmatch
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["NEEDS", "UNDO", "activities_of", "iam_action", "policy"]

#: boto3 service name -> IAM service prefix, where they differ.
_PREFIX = {"stepfunctions": "states"}
#: IAM action names that differ from the API operation's name.
_RENAMED = {("lambda", "Invoke"): "lambda:InvokeFunction"}

Need = tuple[str, str]  # (IAM action, resource kind)


def iam_action(service: str, operation: str, http_method: str = "") -> str:
    """Return the IAM action that authorises a boto3 ``service`` ``operation``.

    API Gateway's management API is authorised by HTTP method
    (``apigateway:GET``, ``apigateway:PATCH``...).
    """
    if service == "apigateway":
        return f"apigateway:{http_method.upper() or 'GET'}"
    return _RENAMED.get((service, operation), f"{_PREFIX.get(service, service)}:{operation}")


def _each(kind: str, *actions: str) -> list[Need]:
    return [(a, kind) for a in actions]


#: What every mutating action needs for the undo journal: the account id
#: (aws target), the lock and the optional journal mirror on the target.
UNDO: list[Need] = [
    ("sts:GetCallerIdentity", "*"),
    *_each("ssm_chaoskit", "ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"),
    ("ssm:GetParametersByPath", "ssm_chaoskit"),
]

_FUNCTION_READ = _each("function", "lambda:GetFunction", "lambda:GetFunctionConfiguration")
_SELECT_BY_TAGS = [("lambda:ListFunctions", "*"), ("lambda:ListTags", "function")]
_CONCURRENCY = _each(
    "function",
    "lambda:GetFunctionConcurrency",
    "lambda:PutFunctionConcurrency",
    "lambda:DeleteFunctionConcurrency",
)
_HEALTH = [
    *_each("healthcheck", "route53:GetHealthCheck", "route53:UpdateHealthCheck"),
    ("route53:ListHealthChecks", "*"),
    ("route53:ListTagsForResource", "healthcheck"),
    ("route53:ChangeTagsForResource", "healthcheck"),
]
_ALIAS = _each("function", "lambda:GetAlias", "lambda:UpdateAlias")
_STAGE = [
    *_each("stage", "apigateway:GET", "apigateway:PATCH"),
    *_each("stage_tags", "apigateway:GET", "apigateway:PUT", "apigateway:DELETE"),
]
_MAPPING = [
    *_each(
        "esm",
        "lambda:GetEventSourceMapping",
        "lambda:UpdateEventSourceMapping",
        "lambda:ListTags",
        "lambda:TagResource",
        "lambda:UntagResource",
    ),
    ("lambda:ListEventSourceMappings", "*"),
]
_TAGS = _each("function", "lambda:ListTags", "lambda:TagResource", "lambda:UntagResource")
_TABLE = _each(
    "table",
    "dynamodb:DescribeTable",
    "dynamodb:UpdateTable",
    "dynamodb:ListTagsOfResource",
    "dynamodb:TagResource",
    "dynamodb:UntagResource",
)
_LAYER = [
    *_FUNCTION_READ,
    *_TAGS,
    ("lambda:UpdateFunctionConfiguration", "function"),
    # an alias the function is invoked through: moved to a version with the layer, and back
    *_ALIAS,
    *_each(
        "function", "lambda:PublishVersion", "lambda:ListAliases", "lambda:ListVersionsByFunction"
    ),
    # only the versions it published: a qualified ARN, never the function itself
    ("lambda:DeleteFunction", "function_version"),
    *_each("layer", "lambda:ListLayerVersions", "lambda:PublishLayerVersion"),
    ("lambda:GetLayerVersion", "layer"),
    *_each(
        "ledger",
        "dynamodb:DescribeTable",
        "dynamodb:CreateTable",
        "dynamodb:UpdateTimeToLive",
        "dynamodb:DescribeTimeToLive",
    ),
]
_FAULT_CONFIG = [
    *_FUNCTION_READ,
    ("lambda:ListVersionsByFunction", "function"),
    *_TAGS,
    *_each("ssm_faults", "ssm:GetParameter", "ssm:PutParameter", "ssm:DeleteParameter"),
]
_LEDGER_WRITE = _each(
    "ledger",
    "dynamodb:DescribeTable",
    "dynamodb:CreateTable",
    "dynamodb:UpdateTimeToLive",
    "dynamodb:DescribeTimeToLive",
    "dynamodb:BatchWriteItem",
    "dynamodb:PutItem",
)
_LEDGER_READ = _each("ledger", "dynamodb:Query", "dynamodb:Scan", "dynamodb:DescribeTable")

_F = "chaoskit.faults."

#: ``module:function`` -> what it needs (undo needs are added for mutating actions).
NEEDS: dict[str, list[Need]] = {
    f"{_F}kill_switch:set_reserved_concurrency": [
        *_FUNCTION_READ,
        *_SELECT_BY_TAGS,
        *_CONCURRENCY,
        *_TAGS,
    ],
    f"{_F}kill_switch:restore_reserved_concurrency": [*_CONCURRENCY, *_TAGS],
    f"{_F}route53:fail_health_check": _HEALTH,
    f"{_F}route53:restore_health_check": _HEALTH,
    f"{_F}canary:shift_alias_traffic": [*_FUNCTION_READ, *_ALIAS, *_TAGS],
    f"{_F}canary:restore_alias_traffic": [*_ALIAS, *_TAGS],
    f"{_F}throttle:throttle_api_stage": _STAGE,
    f"{_F}throttle:restore_api_stage_throttling": _STAGE,
    f"{_F}throttle:limit_event_source_concurrency": [*_FUNCTION_READ, *_MAPPING, *_TAGS],
    f"{_F}throttle:disable_event_source_mapping": [*_FUNCTION_READ, *_MAPPING, *_TAGS],
    f"{_F}throttle:restore_event_source_mapping": [*_MAPPING, *_TAGS],
    f"{_F}throttle:cut_table_capacity": _TABLE,
    f"{_F}throttle:restore_table_capacity": _TABLE,
    f"{_F}layer:enable_chaoskit_layer": _LAYER,
    f"{_F}layer:disable_chaoskit_layer": _LAYER,
    f"{_F}layer:wait_for_fault_live": [
        *_LEDGER_READ,
        ("lambda:GetFunctionConfiguration", "function"),
        ("ssm:GetParameter", "ssm_faults"),
        ("lambda:InvokeFunction", "function"),
    ],
    **{
        f"{_F}inject:{name}": _FAULT_CONFIG
        for name in (
            "inject_latency",
            "inject_exception",
            "inject_status",
            "inject_timeout",
            "inject_sdk_throttle",
            "inject_http_fault",
            "clear_faults",
            "restore_fault_config",
        )
    },
    f"{_F}load:send_events": [
        *_LEDGER_WRITE,
        *_each(
            "queue",
            "sqs:GetQueueUrl",
            "sqs:SendMessageBatch",
            "sqs:SendMessage",
            "sqs:GetQueueAttributes",
        ),
        *_each("topic", "sns:PublishBatch", "sns:Publish"),
        ("sns:ListTopics", "*"),
        ("events:PutEvents", "bus"),
        # Whether the filter of a function reading a queue or stream passes the events
        # (chaoskit.faults._filters); without these the load sends unchecked.
        ("lambda:ListEventSourceMappings", "*"),
        ("events:TestEventPattern", "*"),
        *_each("stream", "kinesis:PutRecords", "kinesis:DescribeStreamSummary"),
        *_each(
            "table",
            "dynamodb:DescribeTable",
            "dynamodb:DescribeKinesisStreamingDestination",
            "dynamodb:BatchWriteItem",
        ),
        ("lambda:InvokeFunction", "function"),
        ("states:StartExecution", "state_machine"),
        ("states:ListStateMachines", "*"),
    ],
    # Not recorded by a test on moto (it has no message move tasks): read from the code.
    f"{_F}dlq:redrive_dlq_messages": _each(
        "queue",
        "sqs:GetQueueUrl",
        "sqs:GetQueueAttributes",
        "sqs:ListQueueTags",
        "sqs:ListDeadLetterSourceQueues",
        "sqs:ReceiveMessage",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
        "sqs:DeleteMessage",
        "sqs:ListMessageMoveTasks",
        "sqs:StartMessageMoveTask",
    ),
    # Restores need what the run's own actions needed (the same experiment's).
    "chaoskit.undo.actions:rollback_current_run": [],
    "chaoskit.undo.actions:list_pending_runs": [],
}

#: Actions that change AWS, so need the undo journal's calls too.
_MUTATING = {
    name
    for name in NEEDS
    if not name.endswith(
        ("wait_for_fault_live", "send_events", "rollback_current_run", "list_pending_runs")
    )
}

#: Resource ARN patterns per kind; ``{name}`` is an allowlist pattern.
_ARNS: dict[str, tuple[str, ...]] = {
    "function": ("arn:aws:lambda:*:*:function:{name}", "arn:aws:lambda:*:*:function:{name}:*"),
    "function_version": ("arn:aws:lambda:*:*:function:{name}:*",),
    "esm": ("arn:aws:lambda:*:*:event-source-mapping:*",),
    "layer": ("arn:aws:lambda:*:*:layer:chaoskit", "arn:aws:lambda:*:*:layer:chaoskit:*"),
    "healthcheck": ("arn:aws:route53:::healthcheck/{name}",),
    "stage": ("arn:aws:apigateway:*::/restapis/{api}/stages/{stage}",),
    "stage_tags": ("arn:aws:apigateway:*::/tags/*",),
    "table": ("arn:aws:dynamodb:*:*:table/{name}", "arn:aws:dynamodb:*:*:table/{name}/index/*"),
    "ledger": ("arn:aws:dynamodb:*:*:table/chaoskit-ledger*",),
    "ssm_chaoskit": (
        "arn:aws:ssm:*:*:parameter/chaoskit/locks/*",
        "arn:aws:ssm:*:*:parameter/chaoskit/journal/*",
        "arn:aws:ssm:*:*:parameter/chaoskit/journal",
    ),
    "ssm_faults": ("arn:aws:ssm:*:*:parameter/chaoskit/faults/*",),
    "queue": ("arn:aws:sqs:*:*:*",),
    "topic": ("arn:aws:sns:*:*:*",),
    "bus": ("arn:aws:events:*:*:event-bus/*",),
    "stream": ("arn:aws:kinesis:*:*:stream/*",),
    "state_machine": ("arn:aws:states:*:*:stateMachine:*",),
    "*": ("*",),
}

#: Kinds whose resource names the allowlist's name patterns scope.
_SCOPED = {"function", "function_version", "healthcheck", "stage", "table"}


def _iam_pattern(pattern: str) -> str | None:
    # IAM understands * and ?; a shell class like [a-z] cannot be expressed: widen to *.
    return None if any(c in pattern for c in "[]") else pattern


def _resources(kind: str, names: Sequence[str] | None) -> list[str]:
    templates = _ARNS[kind]
    if kind not in _SCOPED or not names:
        pats = ["*"]
    else:
        pats = [p if (p := _iam_pattern(n)) is not None else "*" for n in names]
    out: list[str] = []
    for template in templates:
        for pat in pats:
            if kind == "stage":
                api, _, stage = pat.partition("/")
                arn = template.format(api=api or "*", stage=stage or "*")
            else:
                arn = template.format(name=pat)
            if arn not in out:
                out.append(arn)
    return out


def activities_of(experiment: Mapping[str, Any]) -> list[str]:
    """Return ``module:func`` of every Python activity of an experiment (method and rollbacks)."""
    found = []
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    groups = [hypothesis.get("probes") or [], experiment.get("method"), experiment.get("rollbacks")]
    for group in groups:
        for activity in group or []:
            provider = activity.get("provider") if isinstance(activity, Mapping) else None
            if isinstance(provider, Mapping) and provider.get("type") == "python":
                found.append(f"{provider.get('module')}:{provider.get('func')}")
    return found


def policy(
    activities: Iterable[str] | None = None,
    names: Sequence[str] | None = None,
    scheduler_role: str | None = None,
) -> dict[str, Any]:
    """Return an IAM policy document for ``activities`` (default: every chaoskit action).

    Args:
        activities: ``module:func`` names; unknown ones (probes, your own) add nothing.
        names: the allowlist's name patterns, to scope functions, tables,
            health checks and stages; ``None`` or empty leaves them at ``*``.
        scheduler_role: ``chaoskit_scheduled_restore_role``, when set: the kill
            switch also creates and deletes its restore schedules and passes the role.
    """
    wanted = list(NEEDS) if activities is None else [a for a in activities if a in NEEDS]
    needs: list[Need] = []
    for activity in wanted:
        needs.extend(NEEDS[activity])
        if activity in _MUTATING:
            needs.extend(UNDO)
    by_kind: dict[str, set[str]] = {}
    for action, kind in needs:
        by_kind.setdefault(kind, set()).add(action)
    statements = []
    for kind in sorted(by_kind):
        statements.append(
            {
                "Sid": "Chaoskit"
                + "".join(p.capitalize() for p in kind.replace("*", "any").split("_")),
                "Effect": "Allow",
                "Action": sorted(by_kind[kind]),
                "Resource": _resources(kind, names),
            }
        )
    if scheduler_role and any(a.startswith(f"{_F}kill_switch:") for a in wanted):
        statements.append(
            {
                "Sid": "ChaoskitScheduledRestore",
                "Effect": "Allow",
                "Action": [
                    "scheduler:CreateSchedule",
                    "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule",
                ],
                "Resource": ["arn:aws:scheduler:*:*:schedule/default/chaoskit-restore-*"],
            }
        )
        statements.append(
            {
                "Sid": "ChaoskitPassSchedulerRole",
                "Effect": "Allow",
                "Action": ["iam:PassRole"],
                "Resource": [scheduler_role],
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def covers(document: Mapping[str, Any], action: str) -> bool:
    """Tell whether a policy document allows ``action`` on some resource."""
    return any(
        fnmatch.fnmatchcase(action, allowed)
        for st in document.get("Statement", [])
        for allowed in st.get("Action", [])
    )
