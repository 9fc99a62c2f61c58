"""Deploy the reference app (``experiments/app``) to a target: ``chaoskit deploy``.

:func:`deploy` creates, or brings up to date, every resource the experiments
attack (contract 7): the five functions, the queues and their DLQs, the orders
table, the stream, the workflow and its trigger, two regional APIs behind a
Route 53 failover record, the worker's ``live`` alias and its error alarm,
and the chaoskit ledger table. It is idempotent: a second call changes
nothing. ``variant="broken"`` deploys the same app with errors swallowed.

Configuration keys (besides the target keys of :mod:`chaoskit.aws`):

- ``orders_payments_url``: the payments API the worker calls; on local targets
  the default starts the stub from ``experiments/app/payments_stub.py``;
- ``orders_payments_port``: the stub's port (default 4590);
- ``orders_runtime``: the functions' runtime (default ``python3.12``);
- ``orders_app_dir``: where the app's sources are;
- ``orders_canary_layer``: publish the worker's candidate version with
  chaoskit's layer enabled (default true), for the canary experiment.
"""

import json
from collections.abc import Mapping
from typing import Any

from chaoskit import aws
from chaoskit.deploy import edge, package, resources, stub, wiring
from chaoskit.errors import BadInput
from chaoskit.ledger.store import ensure_table as ensure_ledger_table

__all__ = ["FUNCTIONS", "HANDLERS", "NAMES", "VARIANTS", "deploy", "experiment_vars"]

VARIANTS = ("good", "broken")

#: Resource names (contract 7).
NAMES: dict[str, str] = {
    "queue": "orders-queue",
    "dlq": "orders-dlq",
    "notifier_failures": "orders-notifier-failures",
    "stream_failures": "orders-stream-failures",
    "workflow_fallback": "orders-workflow-fallback",
    "table": "orders-table",
    "stream": "orders-stream",
    "state_machine": "orders-workflow",
    "rule": "orders-placed",
    "zone": "orders.example.test",
    "record": "api.orders.example.test",
    "alarm": "orders-worker-errors",
    "alias": "live",
    "role": "orders-app",
    "api_primary": "orders-primary",
    "api_secondary": "orders-secondary",
}

FUNCTIONS = ("orders-ingest", "orders-worker", "orders-notifier", "orders-stream", "orders-step")

#: function -> variant -> handler
HANDLERS: dict[str, dict[str, str]] = {
    "orders-ingest": {"good": "orders.ingest.handler"},
    "orders-worker": {"good": "orders.worker.handler", "broken": "orders.broken.worker_handler"},
    "orders-notifier": {"good": "orders.notifier.handler"},
    "orders-stream": {"good": "orders.stream.handler", "broken": "orders.broken.stream_handler"},
    "orders-step": {"good": "orders.step.handler", "broken": "orders.broken.step_handler"},
}

#: function -> timeout in seconds
TIMEOUTS = {
    "orders-ingest": 5,
    "orders-worker": 5,
    "orders-notifier": 3,
    "orders-stream": 5,
    "orders-step": 6,
}

#: The workflow's trigger: an EventBridge event with this source and detail type.
ORDER_PLACED = {"source": ["chaoskit.orders"], "detail-type": ["OrderPlaced"]}

_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Action": [
                "logs:CreateLogGroup",
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "sqs:*",
                "dynamodb:PutItem",
                "dynamodb:BatchWriteItem",
                "kinesis:Get*",
                "kinesis:List*",
                "kinesis:DescribeStream*",
                "lambda:InvokeFunction",
                "ssm:GetParameter",
                "states:StartExecution",
            ],
            "Resource": "*",
        }
    ],
}


def candidate_layer(
    function: str, ledger_table: str, configuration: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Return chaoskit's layer and env for a canary version of ``function`` (``None`` if off).

    The candidate version is published with the layer enabled, so a canary
    experiment can inject faults into the new version only. Configuration
    ``orders_canary_layer: false`` turns this off.
    """
    if str(configuration.get("orders_canary_layer", True)).lower() in ("false", "0", "no"):
        return None
    from chaoskit.functions import config, layer_env

    arn = layer_env.publish_layer(configuration)
    current = config.get_configuration(function, configuration)
    plan = layer_env.plan_enable(
        function, current, arn, {**configuration, "chaoskit_ledger_table": ledger_table}
    )
    return {"layer": arn, "env": plan.layer_variables}


def _handler(function: str, variant: str) -> str:
    handlers = HANDLERS[function]
    return handlers.get(variant, handlers["good"])


def deploy(configuration: Mapping[str, Any] | None = None, variant: str = "good") -> dict[str, Any]:
    """Deploy (or update) the reference app on the configured target.

    Args:
        configuration: Chaos Toolkit configuration: the target keys, plus the
            ``orders_*`` keys described in the module docstring.
        variant: ``good``, or ``broken`` for the variant that swallows errors.

    Returns:
        What was deployed: names, ARNs and URLs, JSON-safe.

    Raises:
        BadInput: unknown variant, or the app's sources cannot be found.
        AWSActionFailed: an AWS call failed; the message names it.
    """
    if variant not in VARIANTS:
        raise BadInput(f"unknown variant '{variant}': expected one of {', '.join(VARIANTS)}")
    cfg = dict(configuration or {})
    target = aws.resolve_target(cfg)
    app = package.app_dir(cfg)
    code = package.build_code_zip(app)
    sha = package.code_sha256(code)
    account = resources.account_id(cfg)
    runtime = str(cfg.get("orders_runtime") or "python3.12")

    payments_url = cfg.get("orders_payments_url")
    if not payments_url and target.is_local:
        payments_url = stub.ensure_payments_stub(
            app, int(cfg.get("orders_payments_port") or stub.DEFAULT_PORT)
        )

    ledger = ensure_ledger_table(cfg)
    role = resources.ensure_role(
        NAMES["role"],
        ["lambda.amazonaws.com", "states.amazonaws.com", "events.amazonaws.com"],
        _POLICY,
        cfg,
    )

    queues: dict[str, str] = {}
    for key in ("dlq", "notifier_failures", "stream_failures", "workflow_fallback"):
        queues[NAMES[key]] = resources.ensure_queue(NAMES[key], {}, cfg)
    dlq_arn = resources.queue_arn(queues[NAMES["dlq"]], cfg)
    # Visibility >= 6x the worker's timeout, so a slow batch is not delivered twice at once.
    queues[NAMES["queue"]] = resources.ensure_queue(
        NAMES["queue"],
        {
            "VisibilityTimeout": str(6 * TIMEOUTS["orders-worker"]),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 3}),
        },
        cfg,
    )
    table = resources.ensure_table(
        NAMES["table"], "order_id", {"by-run": ("run_id", "event_id")}, cfg
    )
    stream_arn = resources.ensure_stream(NAMES["stream"], 1, cfg)

    env: dict[str, dict[str, str]] = {
        "orders-ingest": {"ORDERS_QUEUE_URL": queues[NAMES["queue"]]},
        "orders-worker": {
            "ORDERS_TABLE": table,
            "ORDERS_NOTIFIER_FUNCTION": "orders-notifier",
            "PAYMENTS_URL": str(payments_url or ""),
            "PAYMENTS_BREAKER_FAIL_MAX": "3",
            "PAYMENTS_BREAKER_RESET_SECONDS": "3",
        },
        "orders-notifier": {},
        "orders-stream": {"ORDERS_TABLE": table},
        "orders-step": {"ORDERS_TABLE": table},
    }
    functions: dict[str, str] = {}
    for name in FUNCTIONS:
        described = resources.ensure_function(
            name,
            _handler(name, variant),
            code,
            sha,
            role,
            {"ORDERS_VARIANT": variant, **env[name]},
            TIMEOUTS[name],
            runtime=runtime,
            configuration=cfg,
        )
        functions[name] = str(described["FunctionArn"])

    alias = wiring.ensure_alias(
        "orders-worker", NAMES["alias"], cfg, candidate_layer("orders-worker", ledger, cfg)
    )
    queue_arn = resources.queue_arn(queues[NAMES["queue"]], cfg)
    resources.ensure_event_source(
        "orders-worker",
        queue_arn,
        {
            "BatchSize": 5,
            "MaximumBatchingWindowInSeconds": 0,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
        },
        cfg,
    )
    resources.ensure_event_invoke_config(
        "orders-worker", dlq_arn, max_retries=1, qualifier=NAMES["alias"], configuration=cfg
    )
    resources.ensure_event_invoke_config(
        "orders-notifier",
        resources.queue_arn(queues[NAMES["notifier_failures"]], cfg),
        max_retries=1,
        configuration=cfg,
    )
    resources.ensure_event_source(
        "orders-stream",
        stream_arn,
        {
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": 10,
            "MaximumBatchingWindowInSeconds": 0,
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": 2,
            "MaximumRecordAgeInSeconds": 3600,
            "DestinationConfig": {
                "OnFailure": {
                    "Destination": resources.queue_arn(queues[NAMES["stream_failures"]], cfg)
                }
            },
        },
        cfg,
    )

    definition = (app / "workflow.asl.json").read_text(encoding="utf-8")
    definition = definition.replace("${StepFunctionArn}", functions["orders-step"]).replace(
        "${FallbackQueueUrl}", queues[NAMES["workflow_fallback"]]
    )
    machine = wiring.ensure_state_machine(NAMES["state_machine"], definition, role, cfg)
    rule = wiring.ensure_rule(NAMES["rule"], ORDER_PLACED, machine, role, cfg)

    apis = {}
    checks = {}
    for region, key in (("primary", "api_primary"), ("secondary", "api_secondary")):
        api = edge.ensure_rest_api(NAMES[key], functions["orders-ingest"], account, cfg)
        resources.ensure_permission(
            "orders-ingest", f"apigateway-{region}", "apigateway.amazonaws.com", api["arn"], cfg
        )
        apis[region] = api
        checks[region] = edge.ensure_health_check(f"orders-{region}-health", api["url"], cfg)
    zone_id = edge.ensure_failover_record(
        NAMES["zone"],
        NAMES["record"],
        (apis["primary"]["host"], checks["primary"]),
        (apis["secondary"]["host"], checks["secondary"]),
        cfg,
    )
    alarm = wiring.ensure_alarm(
        NAMES["alarm"], "orders-worker", period=10 if target.is_local else 60, configuration=cfg
    )
    return {
        "target": target.name,
        "variant": variant,
        "functions": functions,
        "worker_alias": alias,
        "queues": queues,
        "table": table,
        "ledger_table": ledger,
        "stream": stream_arn,
        "state_machine": machine,
        "rule": rule,
        "apis": {region: {"id": a["id"], "url": a["url"]} for region, a in apis.items()},
        "health_checks": checks,
        "hosted_zone_id": zone_id,
        "record": NAMES["record"],
        "alarm": alarm,
        "payments_url": payments_url,
    }


def experiment_vars(deployed: Mapping[str, Any]) -> dict[str, Any]:
    """Return the experiment variables only a deployment knows, from :func:`deploy`'s result.

    The failover experiment needs the primary health check's id and the
    secondary API's URL; the canary experiment needs the candidate version.
    """
    return {
        "primary_health_check": deployed["health_checks"]["primary"],
        "secondary_url": deployed["apis"]["secondary"]["url"],
        "canary_version": deployed["worker_alias"]["candidate"],
    }
