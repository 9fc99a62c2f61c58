"""Build a :class:`Topology` from CloudFormation resources (SAM already expanded)."""

from collections.abc import Callable, Mapping
from typing import Any

from chaoskit.topology.intrinsics import Resolver
from chaoskit.topology.model import (
    Alarm,
    Alias,
    ApiRoute,
    AsyncConfig,
    Element,
    EventSourceMapping,
    FailoverRecord,
    Function,
    HealthCheck,
    Location,
    Queue,
    Ref,
    Rule,
    RuleTarget,
    StateMachine,
    Subscription,
    Topic,
    Topology,
)
from chaoskit.topology.stepfunctions import definition_of, task_states

__all__ = ["build"]

_NAME_PROPS = (
    "QueueName",
    "FunctionName",
    "TopicName",
    "Name",
    "TableName",
    "StateMachineName",
    "AlarmName",
)
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
_KIND_BY_TYPE = {
    "AWS::SQS::Queue": "sqs",
    "AWS::Kinesis::Stream": "kinesis",
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::DynamoDB::GlobalTable": "dynamodb",
    "AWS::Lambda::Function": "lambda",
    "AWS::Lambda::Alias": "lambda",
    "AWS::SNS::Topic": "sns",
    "AWS::StepFunctions::StateMachine": "states",
    "AWS::Events::EventBus": "events",
    "AWS::Kinesis::StreamConsumer": "kinesis",
    "AWS::MSK::Cluster": "kafka",
    "AWS::AmazonMQ::Broker": "mq",
}


class _Builder:
    def __init__(
        self,
        resources: Mapping[str, Any],
        source_ids: set[str],
        file: str,
        lines: Mapping[str, tuple[int, dict[str, int]]],
        parameters: Mapping[str, Any],
    ) -> None:
        names: dict[str, str] = {}
        for lid, res in resources.items():
            props = (res or {}).get("Properties") or {}
            for key in _NAME_PROPS:
                if isinstance(props.get(key), str):
                    names.setdefault(props[key], lid)
        self.resources = resources
        self.r = Resolver(resources, parameters, names)
        self.source_ids = source_ids
        self.file = file
        self.lines = lines

    def source_of(self, lid: str) -> str:
        if lid in self.source_ids:
            return lid
        best = ""
        for sid in self.source_ids:
            if lid.startswith(sid) and len(sid) > len(best):
                best = sid
        return best or lid

    def common(self, lid: str, res: Mapping[str, Any]) -> dict[str, Any]:
        source = self.source_of(lid)
        line, props = self.lines.get(source, (0, {}))
        # an element SAM generated from an event (FunctionEvent) is written at the event
        line = props.get(f"Events/{lid[len(source) :]}", line) if lid != source else line
        return {
            "logical_id": lid,
            "type": str(res.get("Type", "")),
            "source_id": source,
            "location": Location(self.file, line) if self.file else None,
            "metadata": dict(res.get("Metadata") or {}),
            "properties": dict(res.get("Properties") or {}),
            "lines": dict(props),
        }

    def kind_of(self, ref: Ref | None) -> str:
        if ref is None:
            return "unknown"
        if ref.logical_id is not None:
            res = self.resources.get(ref.logical_id) or {}
            return _KIND_BY_TYPE.get(str(res.get("Type")), "unknown")
        symbol = ref.symbol or ""
        for kind in ("sqs", "kinesis", "dynamodb", "lambda", "sns", "states", "events", "kafka"):
            if f":{kind}:" in symbol:
                return kind
        return "unknown"


def _async_config(b: _Builder, props: Mapping[str, Any], lid: str) -> AsyncConfig:
    dest = props.get("DestinationConfig") or {}
    return AsyncConfig(
        maximum_retry_attempts=b.r.number(props.get("MaximumRetryAttempts")),
        maximum_event_age_seconds=b.r.number(props.get("MaximumEventAgeInSeconds")),
        on_failure=b.r.ref((dest.get("OnFailure") or {}).get("Destination")),
        on_success=b.r.ref((dest.get("OnSuccess") or {}).get("Destination")),
        qualifier=b.r.text(props.get("Qualifier")),
        logical_id=lid,
    )


def _function(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
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


def _mapping(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
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


def _queue(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
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
    b: _Builder, lid: str, props: Mapping[str, Any], topic: Ref | None, base: dict[str, Any]
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
        filter_policy=props.get("FilterPolicy"),
    )


def _topic(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    topo.topics[lid] = Topic(**b.common(lid, res), fifo=b.r.flag(p.get("FifoTopic")))
    for i, sub in enumerate(p.get("Subscription") or []):
        if isinstance(sub, Mapping):
            sid = f"{lid}.Subscription{i}"
            base = {**b.common(lid, res), "logical_id": sid, "type": "AWS::SNS::Topic#Subscription"}
            base["source_id"] = b.source_of(lid)
            topo.subscriptions[sid] = _subscription(b, sid, sub, Ref(logical_id=lid), base)


def _sns_subscription(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    base = b.common(lid, res)
    topo.subscriptions[lid] = _subscription(b, lid, p, b.r.ref(p.get("TopicArn")), base)


def _target(b: _Builder, t: Mapping[str, Any], default_id: str) -> RuleTarget:
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
    )


def _rule(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
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


def _schedule(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
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
    b: _Builder,
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
    subs = p.get("DefinitionSubstitutions") or {}
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


def _alias(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    weights = {}
    for w in ((p.get("RoutingConfig") or {}).get("AdditionalVersionWeights")) or []:
        version = b.r.text(w.get("FunctionVersion")) or "?"
        weights[version] = float(b.r.text(w.get("FunctionWeight")) or 0)
    alias = Alias(
        **b.common(lid, res),
        function=b.r.ref(p.get("FunctionName")),
        alias_name=str(b.r.text(p.get("Name")) or ""),
        routing_weights=weights,
    )
    update = (res.get("UpdatePolicy") or {}).get("CodeDeployLambdaAliasUpdate") or {}
    group = b.r.ref(update.get("DeploymentGroupName"))
    if group is not None:
        dg = (b.resources.get(group.logical_id or "") or {}).get("Properties") or {}
        alias.deployment_type = str(b.r.text(dg.get("DeploymentConfigName")) or "CodeDeploy")
        alarms = ((dg.get("AlarmConfiguration") or {}).get("Alarms")) or []
        alias.rollback_alarms = [
            r for r in (b.r.ref(a.get("Name")) for a in alarms if isinstance(a, Mapping)) if r
        ]
    topo.aliases[lid] = alias


def _permission(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
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


def _event_invoke(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    function = topo.function_of(b.r.ref(p.get("FunctionName")))
    if function is not None:
        function.async_config = _async_config(b, p, lid)


def _health_check(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    cfg = (res.get("Properties") or {}).get("HealthCheckConfig") or {}
    topo.health_checks[lid] = HealthCheck(
        **b.common(lid, res),
        check_type=str(b.r.text(cfg.get("Type")) or ""),
        target=str(
            b.r.text(cfg.get("FullyQualifiedDomainName")) or b.r.text(cfg.get("IPAddress")) or ""
        ),
        inverted=b.r.flag(cfg.get("Inverted")),
        disabled=b.r.flag(cfg.get("Disabled")),
    )


def _records(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    sets = p.get("RecordSets") if res.get("Type") == "AWS::Route53::RecordSetGroup" else [p]
    for i, rs in enumerate(sets or []):
        if not isinstance(rs, Mapping) or not rs.get("Failover"):
            continue
        rid = lid if res.get("Type") == "AWS::Route53::RecordSet" else f"{lid}.RecordSets{i}"
        topo.failover_records[rid] = FailoverRecord(
            **{**b.common(lid, res), "logical_id": rid},
            record_name=str(b.r.text(rs.get("Name")) or ""),
            record_type=str(b.r.text(rs.get("Type")) or ""),
            failover=str(b.r.text(rs.get("Failover")) or ""),
            health_check=b.r.ref(rs.get("HealthCheckId")),
            alias_target=rs.get("AliasTarget"),
        )


def _alarm(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    dims = list(p.get("Dimensions") or [])
    namespace, metric = b.r.text(p.get("Namespace")), b.r.text(p.get("MetricName"))
    for m in p.get("Metrics") or []:
        stat = (m.get("MetricStat") or {}).get("Metric") or {}
        dims.extend(stat.get("Dimensions") or [])
        namespace = namespace or b.r.text(stat.get("Namespace"))
        metric = metric or b.r.text(stat.get("MetricName"))
    watches = [r for r in (b.r.ref(d.get("Value")) for d in dims if isinstance(d, Mapping)) if r]
    topo.alarms[lid] = Alarm(
        **b.common(lid, res),
        namespace=namespace,
        metric_name=metric,
        watches=watches,
        actions=[r for r in (b.r.ref(a) for a in p.get("AlarmActions") or []) if r],
    )


def _api_method(b: _Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    integration = p.get("Integration") or {}
    uri = integration.get("Uri") or p.get("IntegrationUri")
    ids = [i for i in b.r.referenced(uri) if i in topo.functions or i in topo.aliases]
    if ids:
        topo.routes[lid] = ApiRoute(
            **b.common(lid, res),
            function=Ref(logical_id=ids[0]),
            method=str(b.r.text(p.get("HttpMethod")) or "ANY"),
        )


_FIRST: dict[str, Callable[[_Builder, str, Mapping[str, Any], Topology], None]] = {
    "AWS::Lambda::Function": _function,
    "AWS::SQS::Queue": _queue,
    "AWS::SNS::Topic": _topic,
    "AWS::Lambda::Alias": _alias,
}
_THEN: dict[str, Callable[[_Builder, str, Mapping[str, Any], Topology], None]] = {
    "AWS::Lambda::EventSourceMapping": _mapping,
    "AWS::SNS::Subscription": _sns_subscription,
    "AWS::Events::Rule": _rule,
    "AWS::Scheduler::Schedule": _schedule,
    "AWS::Lambda::Permission": _permission,
    "AWS::Lambda::EventInvokeConfig": _event_invoke,
    "AWS::Route53::HealthCheck": _health_check,
    "AWS::Route53::RecordSet": _records,
    "AWS::Route53::RecordSetGroup": _records,
    "AWS::CloudWatch::Alarm": _alarm,
    "AWS::ApiGateway::Method": _api_method,
    "AWS::ApiGatewayV2::Integration": _api_method,
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
    b = _Builder(resources, set(source_resources), file, lines or {}, parameters or {})
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
    _sam_routes(b, source_resources, topo)
    _link(topo)
    return topo


def _sam_routes(b: _Builder, source: Mapping[str, Any], topo: Topology) -> None:
    for lid, res in source.items():
        if not isinstance(res, Mapping) or res.get("Type") != "AWS::Serverless::Function":
            continue
        for name, event in ((res.get("Properties") or {}).get("Events") or {}).items():
            if not isinstance(event, Mapping) or event.get("Type") not in ("Api", "HttpApi"):
                continue
            props = event.get("Properties") or {}
            rid = f"{lid}.{name}"
            topo.routes[rid] = ApiRoute(
                **{**b.common(lid, {"Type": "AWS::Serverless::Function"}), "logical_id": rid},
                function=Ref(logical_id=lid),
                method=str(props.get("Method") or "ANY").upper(),
                path=str(props.get("Path") or "/"),
            )
