"""Build the topology of a deployed CloudFormation stack.

The stack's processed template (SAM already expanded by CloudFormation) gives
the shape; ``DescribeStackResources`` gives each element's physical ID; each
service's describe calls then overwrite the template's values with what is
deployed (timeouts, redrive policies, batch settings, async invoke config), so
drift made outside CloudFormation is audited too.
"""

import json
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import aws_failure
from chaoskit.topology.build import build
from chaoskit.topology.exceptions import TemplateError
from chaoskit.topology.intrinsics import Resolver, json_or_none
from chaoskit.topology.model import AsyncConfig, Ref, Topology
from chaoskit.topology.stepfunctions import task_states

__all__ = ["from_stack"]

_MISSING = (
    "ResourceNotFoundException",
    "NotFound",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
)


def _call(client: Any, operation: str, resource: str, **kwargs: Any) -> Any:
    try:
        return getattr(client, operation)(**kwargs)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in _MISSING:
            return None
        raise aws_failure(
            f"{client.meta.service_model.service_name}:{operation}", resource, err
        ) from err


def _template(cfn: Any, stack_name: str, stage: str = "Processed") -> dict[str, Any]:
    try:
        got = cfn.get_template(StackName=stack_name, TemplateStage=stage)
    except ClientError as err:
        message = str(err.response.get("Error", {}).get("Message", ""))
        if "does not exist" not in message:
            raise aws_failure("cloudformation:GetTemplate", stack_name, err) from err
        got = None
    if got is None:
        raise TemplateError(f"stack '{stack_name}' does not exist")
    body = got.get("TemplateBody")
    if isinstance(body, str):
        from cfnlint.decode import decode_str

        parsed, matches = decode_str(body)
        if matches or not isinstance(parsed, dict):
            raise TemplateError(f"could not read the template of stack '{stack_name}'")
        body = json.loads(json.dumps(parsed, default=str))
    if not isinstance(body, dict):
        raise TemplateError(f"could not read the template of stack '{stack_name}'")
    return body


def _by_arn(topo: Topology, arn: str | None) -> Ref | None:
    if not arn:
        return None
    for lid, el in topo.resources.items():
        if arn in (el.arn, el.physical_id):
            return Ref(logical_id=lid)
    parts = arn.split(":")
    if len(parts) >= 7 and parts[2] == "lambda":
        base = ":".join(parts[:7])
        for lid, el in topo.resources.items():
            if el.arn == base:
                return Ref(logical_id=lid)
    return Ref(symbol=arn)


def _overlay_functions(topo: Topology, configuration: Any) -> None:
    client = aws.client("lambda", configuration)
    for fn in topo.functions.values():
        if not fn.physical_id:
            continue
        got = _call(
            client, "get_function_configuration", fn.physical_id, FunctionName=fn.physical_id
        )
        if not got:
            continue
        fn.arn = got.get("FunctionArn")
        fn.timeout = int(got.get("Timeout") or fn.timeout)
        fn.runtime = got.get("Runtime", fn.runtime)
        fn.handler = got.get("Handler", fn.handler)
        topo.resources[fn.logical_id].arn = fn.arn
    for fn in topo.functions.values():
        if not fn.physical_id or not fn.arn:
            continue
        conc = _call(
            client, "get_function_concurrency", fn.physical_id, FunctionName=fn.physical_id
        )
        if conc is not None and conc.get("ReservedConcurrentExecutions") is not None:
            fn.reserved_concurrency = int(conc["ReservedConcurrentExecutions"])
        cfg = _call(
            client, "get_function_event_invoke_config", fn.physical_id, FunctionName=fn.physical_id
        )
        if cfg:
            dest = cfg.get("DestinationConfig") or {}
            fn.async_config = AsyncConfig(
                maximum_retry_attempts=cfg.get("MaximumRetryAttempts"),
                maximum_event_age_seconds=cfg.get("MaximumEventAgeInSeconds"),
                on_failure=_by_arn(topo, (dest.get("OnFailure") or {}).get("Destination")),
                on_success=_by_arn(topo, (dest.get("OnSuccess") or {}).get("Destination")),
                logical_id=fn.async_config.logical_id if fn.async_config else None,
            )


def _overlay_state_machines(topo: Topology, configuration: Any) -> None:
    """Read each state machine's live definition: the one that runs, substitutions applied.

    A packaged template names its definition by S3 location, which the stack's template
    does not carry; the live definition names functions and queues by ARN or URL, which
    the stack's physical IDs map back to logical IDs.
    """
    machines = [sm for sm in topo.state_machines.values() if sm.arn]
    if not machines:
        return
    client = aws.client("stepfunctions", configuration)
    # Physical IDs: function names (which a function ARN's name part resolves to), queue
    # URLs, topic and state machine ARNs; and the ARNs read from the live resources.
    names = {v: lid for lid, el in topo.resources.items() for v in (el.physical_id, el.arn) if v}
    resolver = Resolver(topo.resources, names=names)
    for sm in machines:
        got = _call(client, "describe_state_machine", str(sm.arn), stateMachineArn=sm.arn)
        parsed = json_or_none((got or {}).get("definition"))
        if not isinstance(parsed, dict):
            continue
        sm.definition = parsed
        sm.definition_file = None
        sm.tasks = task_states(parsed, None, resolver)


def _overlay_queues(topo: Topology, configuration: Any) -> None:
    client = aws.client("sqs", configuration)
    for q in topo.queues.values():
        if not q.physical_id:
            continue
        got = _call(
            client,
            "get_queue_attributes",
            q.physical_id,
            QueueUrl=q.physical_id,
            AttributeNames=["All"],
        )
        attrs = (got or {}).get("Attributes") or {}
        q.arn = attrs.get("QueueArn", q.arn)
        topo.resources[q.logical_id].arn = q.arn
        q.visibility_timeout = int(attrs.get("VisibilityTimeout", q.visibility_timeout))
        q.retention_seconds = int(attrs.get("MessageRetentionPeriod", q.retention_seconds))
        q._live_redrive = attrs.get("RedrivePolicy")  # type: ignore[attr-defined]
    for q in topo.queues.values():
        raw = getattr(q, "_live_redrive", None)
        if raw is None:
            continue
        policy = json.loads(raw) if raw else {}
        q.dead_letter = _by_arn(topo, policy.get("deadLetterTargetArn"))
        q.max_receive_count = (
            int(policy["maxReceiveCount"]) if "maxReceiveCount" in policy else None
        )


def _overlay_mappings(topo: Topology, configuration: Any) -> None:
    client = aws.client("lambda", configuration)
    for m in topo.mappings.values():
        if not m.physical_id:
            continue
        got = _call(client, "get_event_source_mapping", m.physical_id, UUID=m.physical_id)
        if not got:
            continue
        m.arn = got.get("EventSourceMappingArn") or m.arn
        m.batch_size = got.get("BatchSize", m.batch_size)
        m.batching_window_seconds = int(got.get("MaximumBatchingWindowInSeconds") or 0)
        m.function_response_types = list(got.get("FunctionResponseTypes") or [])
        m.bisect_on_error = bool(got.get("BisectBatchOnFunctionError", m.bisect_on_error))
        if "MaximumRetryAttempts" in got:
            m.maximum_retry_attempts = got["MaximumRetryAttempts"]
        if "MaximumRecordAgeInSeconds" in got:
            m.maximum_record_age_seconds = got["MaximumRecordAgeInSeconds"]
        dest = ((got.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        if dest:
            m.on_failure = _by_arn(topo, dest)
        conc = (got.get("ScalingConfig") or {}).get("MaximumConcurrency")
        if conc is not None:
            m.maximum_concurrency = int(conc)
        filters = (got.get("FilterCriteria") or {}).get("Filters")
        if filters is not None:  # the live filters decide what reaches the function
            m.filter_patterns = [
                json_or_none(f.get("Pattern")) for f in filters if f.get("Pattern")
            ]


def _overlay_subscriptions(topo: Topology, configuration: Any) -> None:
    client = aws.client("sns", configuration)
    for s in topo.subscriptions.values():
        if not (s.physical_id or "").startswith("arn:"):
            continue
        got = _call(
            client, "get_subscription_attributes", str(s.physical_id), SubscriptionArn=s.physical_id
        )
        attrs = (got or {}).get("Attributes") or {}
        s.arn = s.physical_id
        if attrs.get("FilterPolicy"):
            s.filter_policy = json_or_none(attrs["FilterPolicy"])
            s.filter_policy_scope = attrs.get("FilterPolicyScope") or s.filter_policy_scope
        redrive = attrs.get("RedrivePolicy")
        s.dead_letter = (
            _by_arn(topo, json.loads(redrive).get("deadLetterTargetArn")) if redrive else None
        )


def _tag_address(topo: Topology, el: Any, configuration: Any) -> tuple[str, str] | None:
    """Return how chaoskit's deadline tags of a deployed resource are read, if it has them."""
    from chaoskit.undo.expiry import health_check_arn

    kind = el.type
    if kind == "AWS::Lambda::Function" and el.arn:
        return "lambda", str(el.arn)
    if kind == "AWS::Lambda::EventSourceMapping" and (el.arn or "").startswith("arn:"):
        return "lambda", str(el.arn)
    if kind == "AWS::Route53::HealthCheck" and el.physical_id:
        return "route53", health_check_arn(str(el.physical_id))
    if kind == "AWS::DynamoDB::Table" and el.physical_id:
        client = aws.client("dynamodb", configuration)
        got = _call(client, "describe_table", str(el.physical_id), TableName=el.physical_id)
        return ("dynamodb", str(got["Table"]["TableArn"])) if got else None
    if kind == "AWS::ApiGateway::Stage" and el.physical_id:
        api = el.properties.get("RestApiId")
        if isinstance(api, dict) and isinstance(api.get("Ref"), str):
            target = topo.resources.get(api["Ref"])
            api = target.physical_id if target is not None else None
        if not isinstance(api, str) or not api:
            return None
        region = aws.client("apigateway", configuration).meta.region_name
        return "apigateway", f"arn:aws:apigateway:{region}::/restapis/{api}/stages/{el.physical_id}"
    return None


def _overlay_expiry_tags(topo: Topology, configuration: Any) -> None:
    """Read chaoskit's deadline tags of every resource that can carry them."""
    from chaoskit.errors import AWSActionFailed
    from chaoskit.undo.expiry import EXPIRES_TAG, RUN_TAG, read_all

    for lid, el in topo.resources.items():
        address = _tag_address(topo, el, configuration)
        if address is None:
            continue
        try:
            tags = read_all(*address, configuration)
        except AWSActionFailed as err:
            if err.code in (*_MISSING, "NoSuchHealthCheck"):
                continue
            raise
        if EXPIRES_TAG in tags:
            topo.chaoskit_tags[lid] = {
                "kind": address[0],
                "arn": address[1],
                EXPIRES_TAG: tags[EXPIRES_TAG],
                RUN_TAG: tags.get(RUN_TAG),
            }


def from_stack(stack_name: str, configuration: Mapping[str, Any] | None = None) -> Topology:
    """Return the topology of a deployed stack, with physical IDs, ARNs and live settings.

    Args:
        stack_name: the CloudFormation stack name or ID.
        configuration: chaoskit configuration (target, region, profile...).

    Raises:
        TemplateError: the stack does not exist or its template cannot be read.
        AWSActionFailed: a describe call failed (access denied, throttled...).
    """
    cfn = aws.client("cloudformation", configuration)
    template = _template(cfn, stack_name)
    # the template as written names what SAM generated (its logical IDs, Metadata)
    original = _template(cfn, stack_name, "Original")
    topo = build(template, source=original)
    topo.source = f"stack:{stack_name}"
    topo.stack_name = stack_name
    topo.files = []
    pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack_name)
    try:
        summaries = [s for page in pages for s in page.get("StackResourceSummaries", [])]
    except ClientError as err:
        raise aws_failure("cloudformation:ListStackResources", stack_name, err) from err
    for s in summaries:
        el = topo.resources.get(s["LogicalResourceId"])
        if el is None:
            continue
        el.physical_id = s.get("PhysicalResourceId")
        if (el.physical_id or "").startswith("arn:"):
            el.arn = el.physical_id
    for kind in (
        topo.functions,
        topo.mappings,
        topo.queues,
        topo.topics,
        topo.subscriptions,
        topo.rules,
        topo.state_machines,
        topo.aliases,
        topo.health_checks,
        topo.alarms,
    ):
        for lid, el in kind.items():
            base = topo.resources.get(lid)
            if base is not None:
                el.physical_id, el.arn = base.physical_id, base.arn
    # Queues first: functions' destinations and DLQs name them by ARN.
    _overlay_queues(topo, configuration)
    _overlay_functions(topo, configuration)
    _overlay_state_machines(topo, configuration)
    _overlay_mappings(topo, configuration)
    _overlay_subscriptions(topo, configuration)
    _overlay_expiry_tags(topo, configuration)
    return topo
