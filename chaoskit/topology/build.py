"""Build a :class:`Topology` from CloudFormation resources (SAM already expanded)."""

from collections.abc import Callable, Mapping
from typing import Any

from chaoskit.topology._builder import Builder
from chaoskit.topology.build_edge import (
    add_alarm,
    add_alias,
    add_api_method,
    add_health_check,
    add_records,
    add_sam_routes,
)
from chaoskit.topology.model import (
    AsyncConfig,
    Element,
    EventSourceMapping,
    Function,
    Queue,
    Ref,
    Rule,
    RuleTarget,
    StateMachine,
    Subscription,
    Topic,
    Topology,
)
from chaoskit.topology.stepfunctions import definition_of, substitutions_of, task_states

__all__ = ["build"]

_PRINCIPALS = {
    "s3.amazonaws.com": "s3",
    "sns.amazonaws.com": "sns",
    "events.amazonaws.com": "events",
    "scheduler.amazonaws.com": "scheduler",
    "iot.amazonaws.com": "iot",
    "logs.amazonaws.com": "logs",
    "ses.amazonaws.com": "ses",
    "cognito-idp.amazonaws.com": "cognito",
    "config.amazonaws.com": "config",
    "codecommit.amazonaws.com": "codecommit",
}


def _async_config(b: Builder, props: Mapping[str, Any], lid: str) -> AsyncConfig:
    dest = props.get("DestinationConfig") or {}
    return AsyncConfig(
        maximum_retry_attempts=b.r.number(props.get("MaximumRetryAttempts")),
        maximum_event_age_seconds=b.r.number(props.get("MaximumEventAgeInSeconds")),
        on_failure=b.r.ref((dest.get("OnFailure") or {}).get("Destination")),
        on_success=b.r.ref((dest.get("OnSuccess") or {}).get("Destination")),
        qualifier=b.r.text(props.get("Qualifier")),
        logical_id=lid,
    )


def _function(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    code = p.get("Code") or {}
    topo.functions[lid] = Function(
        **b.common(lid, res),
        runtime=b.r.text(p.get("Runtime")),
        handler=b.r.text(p.get("Handler")),
        timeout=b.r.number(p.get("Timeout")) or 3,
        memory=b.r.number(p.get("MemorySize")),
        reserved_concurrency=b.r.number(p.get("ReservedConcurrentExecutions")),
        package_type=b.r.text(p.get("PackageType")) or "Zip",
        inline_code=code.get("ZipFile") if isinstance(code.get("ZipFile"), str) else None,
        layers=[r for r in (b.r.ref(x) for x in p.get("Layers") or []) if r is not None],
        dead_letter=b.r.ref((p.get("DeadLetterConfig") or {}).get("TargetArn")),
        environment=dict((p.get("Environment") or {}).get("Variables") or {}),
    )


def _mapping(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    source = b.r.ref(p.get("EventSourceArn"))
    kind = b.kind_of(source)
    if source is None and (p.get("SelfManagedEventSource") or p.get("Topics")):
        kind = "kafka"
    filters = ((p.get("FilterCriteria") or {}).get("Filters")) or []
    dest = ((p.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
    topo.mappings[lid] = EventSourceMapping(
        **b.common(lid, res),
        function=b.r.ref(p.get("FunctionName")),
        source=source,
        source_kind=kind,
        batch_size=b.r.number(p.get("BatchSize")),
        batching_window_seconds=b.r.number(p.get("MaximumBatchingWindowInSeconds")) or 0,
        bisect_on_error=b.r.flag(p.get("BisectBatchOnFunctionError")),
        maximum_retry_attempts=b.r.number(p.get("MaximumRetryAttempts")),
        maximum_record_age_seconds=b.r.number(p.get("MaximumRecordAgeInSeconds")),
        on_failure=b.r.ref(dest),
        function_response_types=[str(x) for x in p.get("FunctionResponseTypes") or []],
        filter_patterns=[b.r.json_or_object(f.get("Pattern")) for f in filters if f],
        maximum_concurrency=b.r.number((p.get("ScalingConfig") or {}).get("MaximumConcurrency")),
        enabled=b.r.flag(p.get("Enabled"), default=True),
        starting_position=b.r.text(p.get("StartingPosition")),
    )


def _queue(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    redrive = b.r.json_or_object(p.get("RedrivePolicy")) or {}
    if not isinstance(redrive, Mapping):
        redrive = {}
    topo.queues[lid] = Queue(
        **b.common(lid, res),
        fifo=b.r.flag(p.get("FifoQueue")),
        visibility_timeout=b.r.number(p.get("VisibilityTimeout")) or 30,
        retention_seconds=b.r.number(p.get("MessageRetentionPeriod")) or 345600,
        dead_letter=b.r.ref(redrive.get("deadLetterTargetArn")),
        max_receive_count=b.r.number(redrive.get("maxReceiveCount")),
    )


def _subscription(
    b: Builder, lid: str, props: Mapping[str, Any], topic: Ref | None, base: dict[str, Any]
) -> Subscription:
    redrive = b.r.json_or_object(props.get("RedrivePolicy")) or {}
    return Subscription(
        **base,
        topic=topic,
        protocol=str(b.r.text(props.get("Protocol")) or ""),
        endpoint=b.r.ref(props.get("Endpoint")),
        dead_letter=b.r.ref(redrive.get("deadLetterTargetArn"))
        if isinstance(redrive, Mapping)
        else None,
        filter_policy=b.r.json_or_object(props.get("FilterPolicy")),
        filter_policy_scope=b.r.text(props.get("FilterPolicyScope")),
        raw=b.r.flag(props.get("RawMessageDelivery")),
    )


def _topic(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    topo.topics[lid] = Topic(**b.common(lid, res), fifo=b.r.flag(p.get("FifoTopic")))
    for i, sub in enumerate(p.get("Subscription") or []):
        if isinstance(sub, Mapping):
            sid = f"{lid}.Subscription{i}"
            base = {**b.common(lid, res), "logical_id": sid, "type": "AWS::SNS::Topic#Subscription"}
            base["source_id"] = b.source_of(lid)
            topo.subscriptions[sid] = _subscription(b, sid, sub, Ref(logical_id=lid), base)


def _sns_subscription(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    base = b.common(lid, res)
    topo.subscriptions[lid] = _subscription(b, lid, p, b.r.ref(p.get("TopicArn")), base)


def _target(b: Builder, t: Mapping[str, Any], default_id: str) -> RuleTarget:
    retry = t.get("RetryPolicy") or {}
    target = b.r.ref(t.get("Arn"))
    return RuleTarget(
        id=str(b.r.text(t.get("Id")) or default_id),
        target=target,
        dead_letter=b.r.ref((t.get("DeadLetterConfig") or {}).get("Arn")),
        maximum_retry_attempts=b.r.number(retry.get("MaximumRetryAttempts")),
        maximum_event_age_seconds=b.r.number(retry.get("MaximumEventAgeInSeconds")),
        role=b.r.ref(t.get("RoleArn")),
        kind=b.kind_of(target),
        input={k: t[k] for k in ("Input", "InputPath", "InputTransformer") if k in t} or None,
    )


def _rule(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    topo.rules[lid] = Rule(
        **b.common(lid, res),
        kind="events",
        bus=b.r.ref(p.get("EventBusName")),
        pattern=p.get("EventPattern"),
        schedule=b.r.text(p.get("ScheduleExpression")),
        state=str(b.r.text(p.get("State")) or "ENABLED"),
        targets=[
            _target(b, t, f"Target{i}")
            for i, t in enumerate(p.get("Targets") or [])
            if isinstance(t, Mapping)
        ],
    )


def _schedule(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    target = p.get("Target") or {}
    topo.rules[lid] = Rule(
        **b.common(lid, res),
        kind="scheduler",
        schedule=b.r.text(p.get("ScheduleExpression")),
        state=str(b.r.text(p.get("State")) or "ENABLED"),
        targets=[_target(b, target, "Target")] if isinstance(target, Mapping) else [],
    )


def _state_machine(
    b: Builder,
    lid: str,
    res: Mapping[str, Any],
    topo: Topology,
    definitions: Mapping[str, tuple[dict[str, Any], str, Any]],
) -> None:
    p = res.get("Properties") or {}
    source = b.source_of(lid)
    file, nodes = "", None
    if source in definitions:
        definition, file, nodes = definitions[source]
    else:
        definition = definition_of(p, b.r)  # type: ignore[assignment]
    subs = substitutions_of(p)
    tasks = task_states(definition, subs, b.r, file, nodes) if definition else []
    topo.state_machines[lid] = StateMachine(
        **b.common(lid, res),
        definition=definition,
        definition_file=file or None,
        tasks=tasks,
        workflow_type=str(b.r.text(p.get("StateMachineType")) or "STANDARD"),
    )
    if file and file not in topo.files:
        topo.files.append(file)


def _permission(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    fn = b.r.ref(p.get("FunctionName"))
    function = topo.function_of(fn)
    principal = str(b.r.text(p.get("Principal")) or "")
    if function is None:
        return
    function.permissions.append((principal, b.r.ref(p.get("SourceArn"))))
    kind = _PRINCIPALS.get(principal)
    if kind:
        function.async_sources.add(kind)


def _event_invoke(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    function = topo.function_of(b.r.ref(p.get("FunctionName")))
    if function is not None:
        function.async_config = _async_config(b, p, lid)


_FIRST: dict[str, Callable[[Builder, str, Mapping[str, Any], Topology], None]] = {
    "AWS::Lambda::Function": _function,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::Lambda::Alias": add_alias,
}
_THEN: dict[str, Callable[[Builder, str, Mapping[str, Any], Topology], None]] = {
    "AWS::Lambda::EventSourceMapping": _mapping,
    "AWS::SNS::Subscription": _sns_subscription,
    "AWS::Events::Rule": _rule,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::Lambda::Permission": _permission,
    "AWS::Lambda::EventInvokeConfig": _event_invoke,
    "AWS::Route53::HealthCheck": add_health_check,
    "AWS::Route53::RecordSet": add_records,
    "AWS::Route53::RecordSetGroup": add_records,
    "AWS::CloudWatch::Alarm": add_alarm,
    "AWS::ApiGateway::Method": add_api_method,
    "AWS::ApiGatewayV2::Integration": add_api_method,
}


def _link(topo: Topology) -> None:
    for q in topo.queues.values():
        if q.dead_letter and q.dead_letter.logical_id in topo.queues:
            topo.queues[q.dead_letter.logical_id].dead_letter_for.append(f"queue:{q.logical_id}")
    for sink, sources in topo.dead_letter_targets().items():
        if sink in topo.queues:
            for s in sources:
                if s not in topo.queues[sink].dead_letter_for:
                    topo.queues[sink].dead_letter_for.append(s)
    for rule in topo.rules.values():
        for t in rule.targets:
            fn = topo.function_of(t.target)
            if fn is not None and rule.kind == "events":
                fn.async_sources.add("events")
            elif fn is not None:
                fn.async_sources.add("scheduler")
    for sub in topo.subscriptions.values():
        fn = topo.function_of(sub.endpoint)
        if fn is not None and sub.protocol == "lambda":
            fn.async_sources.add("sns")
    for source in list(topo.functions.values()):
        cfg = source.async_config
        if cfg is None:
            continue
        for dest in (cfg.on_success, cfg.on_failure):
            target = topo.function_of(dest)
            if target is not None and target is not source:
                target.async_sources.add("lambda-destination")


def build(
    template: Mapping[str, Any],
    source: Mapping[str, Any] | None = None,
    file: str = "",
    lines: Mapping[str, tuple[int, dict[str, int]]] | None = None,
    parameters: Mapping[str, Any] | None = None,
    code_dirs: Mapping[str, str] | None = None,
    definitions: Mapping[str, tuple[dict[str, Any], str, Any]] | None = None,
) -> Topology:
    """Build the topology of an expanded CloudFormation template.

    Args:
        template: the template after the SAM transform (plain CloudFormation).
        source: the template as written (its logical IDs name what SAM generated).
        file: the template's path, for locations.
        lines: per source logical ID, its line and each property's line.
        parameters: parameter values used to resolve ``!Ref``.
        code_dirs: per function logical ID, the local folder of its code.
        definitions: per source logical ID, a state machine definition read
            from a file (parsed, file path, line-marked document).
    """
    resources = template.get("Resources") or {}
    source_resources = (source or template).get("Resources") or {}
    b = Builder(resources, set(source_resources), file, lines or {}, parameters or {})
    topo = Topology(source=file or "template", files=[file] if file else [])
    topo.source_metadata = {
        str(lid): dict(res.get("Metadata") or {})
        for lid, res in source_resources.items()
        if isinstance(res, Mapping) and isinstance(res.get("Metadata"), Mapping)
    }
    for lid, res in resources.items():
        if not isinstance(res, Mapping):
            continue
        topo.resources[lid] = Element(**b.common(lid, res))
        handler = _FIRST.get(str(res.get("Type")))
        if handler:
            handler(b, lid, res, topo)
        if res.get("Type") in ("AWS::Kinesis::Stream", "AWS::DynamoDB::Table"):
            topo.streams[lid] = topo.resources[lid]
        if res.get("Type") == "AWS::DynamoDB::Table":
            spec = topo.resources[lid].properties.get("KinesisStreamSpecification")
            stream = b.r.ref(spec.get("StreamArn")) if isinstance(spec, Mapping) else None
            if stream is not None:
                topo.kinesis_destinations[lid] = stream
    for lid, res in resources.items():
        if not isinstance(res, Mapping):
            continue
        kind = str(res.get("Type"))
        if kind in _THEN:
            _THEN[kind](b, lid, res, topo)
        elif kind == "AWS::StepFunctions::StateMachine":
            _state_machine(b, lid, res, topo, definitions or {})
    for lid, fn in topo.functions.items():
        fn.code_dir = (code_dirs or {}).get(lid)
    add_sam_routes(b, source_resources, topo)
    _link(topo)
    return topo
