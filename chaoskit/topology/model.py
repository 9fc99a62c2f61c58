"""The topology of a serverless application: typed elements and their links.

Every element keeps its ``logical_id`` (the CloudFormation logical ID; for
resources SAM generates, the generated ID, with ``source_id`` naming the
resource written in the template) and, when read from a deployed stack, its
``physical_id`` and ``arn``. Links between elements are logical IDs when the
target is in the same template, or a :class:`Ref` left symbolic when it is not
(an ``!ImportValue``, a parameter, an ARN string).
"""

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Alarm",
    "Alias",
    "ApiRoute",
    "AsyncConfig",
    "Element",
    "EventSourceMapping",
    "FailoverRecord",
    "Function",
    "HealthCheck",
    "Location",
    "Queue",
    "Ref",
    "Rule",
    "RuleTarget",
    "StateMachine",
    "Subscription",
    "TaskState",
    "Topic",
    "Topology",
]


@dataclass(frozen=True)
class Location:
    """Where an element is written: file and 1-based line (0 when unknown)."""

    file: str
    line: int = 0


@dataclass(frozen=True)
class Ref:
    """A reference to another element.

    ``logical_id`` is set when the target is a resource of the same template;
    otherwise ``symbol`` keeps what could not be resolved, e.g.
    ``ImportValue:shared-dlq-arn``, ``Parameter:QueueArn`` or a literal ARN.
    """

    logical_id: str | None = None
    symbol: str | None = None

    def __str__(self) -> str:
        return self.logical_id or self.symbol or "?"


@dataclass
class Element:
    """What every element has: IDs, where it is written, its raw properties."""

    logical_id: str
    type: str = ""
    source_id: str = ""
    physical_id: str | None = None
    arn: str | None = None
    location: Location | None = None
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    properties: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Line of each top-level property in the source file (for SARIF).
    lines: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.source_id:
            self.source_id = self.logical_id

    @property
    def name(self) -> str:
        """The ARN when deployed, else the logical ID: how findings name it."""
        return self.arn or self.physical_id or self.logical_id


@dataclass
class AsyncConfig:
    """A function's asynchronous invocation settings.

    ``None`` means not set (AWS defaults: 2 retries, 6 hours).
    """

    maximum_retry_attempts: int | None = None
    maximum_event_age_seconds: int | None = None
    on_failure: Ref | None = None
    on_success: Ref | None = None
    qualifier: str | None = None
    logical_id: str | None = None


@dataclass
class Function(Element):
    """A Lambda function."""

    runtime: str | None = None
    handler: str | None = None
    timeout: int = 3
    memory: int | None = None
    reserved_concurrency: int | None = None
    package_type: str = "Zip"
    code_dir: str | None = None
    inline_code: str | None = None
    layers: list[Ref] = field(default_factory=list)
    dead_letter: Ref | None = None
    async_config: AsyncConfig | None = None
    environment: dict[str, Any] = field(default_factory=dict, repr=False)
    #: Invoked asynchronously by: ``s3``, ``sns``, ``events``, ``scheduler``,
    #: ``iot``, ``logs``, ``lambda-destination`` (another function's destination)...
    #: (from SAM events, permissions, rules, subscriptions and destinations).
    async_sources: set[str] = field(default_factory=set)
    #: Resource-policy grants: (service principal, source the grant names).
    permissions: list[tuple[str, Ref | None]] = field(default_factory=list)


@dataclass
class EventSourceMapping(Element):
    """A poller that reads SQS, Kinesis or a DynamoDB stream into a function."""

    function: Ref | None = None
    source: Ref | None = None
    #: ``sqs``, ``kinesis``, ``dynamodb``, ``kafka``, ``mq`` or ``unknown``.
    source_kind: str = "unknown"
    batch_size: int | None = None
    batching_window_seconds: int = 0
    bisect_on_error: bool = False
    maximum_retry_attempts: int | None = None
    maximum_record_age_seconds: int | None = None
    on_failure: Ref | None = None
    function_response_types: list[str] = field(default_factory=list)
    filter_patterns: list[Any] = field(default_factory=list)
    maximum_concurrency: int | None = None
    enabled: bool = True
    starting_position: str | None = None

    @property
    def reports_batch_item_failures(self) -> bool:
        """Whether the function may fail single records of a batch."""
        return "ReportBatchItemFailures" in self.function_response_types

    @property
    def effective_batch_size(self) -> int:
        """The batch size, or the AWS default for the source kind."""
        if self.batch_size is not None:
            return self.batch_size
        return 10 if self.source_kind == "sqs" else 100


@dataclass
class Queue(Element):
    """An SQS queue."""

    fifo: bool = False
    visibility_timeout: int = 30
    retention_seconds: int = 345600
    dead_letter: Ref | None = None
    max_receive_count: int | None = None
    #: Logical IDs (or names) of queues whose redrive policy points here.
    dead_letter_for: list[str] = field(default_factory=list)

    @property
    def is_dead_letter_queue(self) -> bool:
        """Whether another queue's redrive policy, or a failure route, ends here."""
        return bool(self.dead_letter_for)


@dataclass
class Topic(Element):
    """An SNS topic."""

    fifo: bool = False


@dataclass
class Subscription(Element):
    """An SNS subscription."""

    topic: Ref | None = None
    protocol: str = ""
    endpoint: Ref | None = None
    dead_letter: Ref | None = None
    filter_policy: Any = None
    #: ``MessageAttributes`` (AWS's default when unset) or ``MessageBody``.
    filter_policy_scope: str | None = None
    #: ``RawMessageDelivery``: an SQS or HTTP endpoint gets the message itself, not SNS's
    #: envelope around it.
    raw: bool = False


@dataclass
class RuleTarget:
    """One target of an EventBridge rule or a Scheduler schedule."""

    id: str
    target: Ref | None
    dead_letter: Ref | None = None
    maximum_retry_attempts: int | None = None
    maximum_event_age_seconds: int | None = None
    role: Ref | None = None
    #: Kind of target resource: ``lambda``, ``sqs``, ``sns``, ``states``...
    kind: str = "unknown"
    #: What the target receives instead of the whole event: ``Input`` (constant JSON),
    #: ``InputPath`` or ``InputTransformer``, as set on the target; ``None``: the event.
    input: dict[str, Any] | None = None


@dataclass
class Rule(Element):
    """An EventBridge rule, or an EventBridge Scheduler schedule (``scheduler``)."""

    kind: str = "events"
    bus: Ref | None = None
    pattern: Any = None
    schedule: str | None = None
    state: str = "ENABLED"
    targets: list[RuleTarget] = field(default_factory=list)


@dataclass
class TaskState:
    """A Task state of a state machine (nested states use ``Parent/State`` paths)."""

    path: str
    resource: str
    function: Ref | None = None
    retry: list[dict[str, Any]] = field(default_factory=list)
    catch: list[dict[str, Any]] = field(default_factory=list)
    location: Location | None = None
    #: Whether an enclosing Parallel or Map state has a Catch (it catches this task's failure).
    enclosing_catch: bool = False
    #: The queue or topic an ``sqs:sendMessage`` or ``sns:publish`` task sends to.
    sends_to: Ref | None = None

    @property
    def retried_errors(self) -> set[str]:
        """Every error name some Retry rule matches."""
        return {e for r in self.retry for e in (r.get("ErrorEquals") or []) if isinstance(e, str)}

    @property
    def caught_errors(self) -> set[str]:
        """Every error name some Catch rule matches."""
        return {e for c in self.catch for e in (c.get("ErrorEquals") or []) if isinstance(e, str)}


@dataclass
class StateMachine(Element):
    """A Step Functions state machine."""

    definition: dict[str, Any] | None = None
    definition_file: str | None = None
    tasks: list[TaskState] = field(default_factory=list)
    workflow_type: str = "STANDARD"


@dataclass
class ApiRoute(Element):
    """An API Gateway / function URL route that calls a function synchronously."""

    function: Ref | None = None
    method: str = "ANY"
    path: str = "/"


@dataclass
class Alias(Element):
    """A Lambda alias."""

    function: Ref | None = None
    alias_name: str = ""
    routing_weights: dict[str, float] = field(default_factory=dict)
    #: SAM ``DeploymentPreference`` / CodeDeploy deployment group, if any.
    deployment_type: str | None = None
    rollback_alarms: list[Ref] = field(default_factory=list)


@dataclass
class HealthCheck(Element):
    """A Route 53 health check."""

    check_type: str = ""
    target: str = ""
    inverted: bool = False
    disabled: bool = False


@dataclass
class FailoverRecord(Element):
    """A Route 53 record set with a failover routing policy."""

    record_name: str = ""
    record_type: str = ""
    failover: str = ""
    health_check: Ref | None = None
    alias_target: Any = None


@dataclass
class Alarm(Element):
    """A CloudWatch alarm, and the resources its metric dimensions name."""

    namespace: str | None = None
    metric_name: str | None = None
    watches: list[Ref] = field(default_factory=list)
    actions: list[Ref] = field(default_factory=list)


@dataclass
class Topology:
    """Everything the audit, ``chaoskit init`` and the ledger know about an app.

    Each mapping is keyed by logical ID. ``source`` is the template path or
    ``stack:<name>``; ``files`` lists every file read (template, definitions).
    """

    source: str
    functions: dict[str, Function] = field(default_factory=dict)
    mappings: dict[str, EventSourceMapping] = field(default_factory=dict)
    queues: dict[str, Queue] = field(default_factory=dict)
    topics: dict[str, Topic] = field(default_factory=dict)
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    rules: dict[str, Rule] = field(default_factory=dict)
    state_machines: dict[str, StateMachine] = field(default_factory=dict)
    routes: dict[str, ApiRoute] = field(default_factory=dict)
    aliases: dict[str, Alias] = field(default_factory=dict)
    health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    failover_records: dict[str, FailoverRecord] = field(default_factory=dict)
    alarms: dict[str, Alarm] = field(default_factory=dict)
    streams: dict[str, Element] = field(default_factory=dict)
    #: Kinesis Data Streams for DynamoDB: a table's ``KinesisStreamSpecification``, by the
    #: table's logical ID: the stream each change of its items is put on.
    kinesis_destinations: dict[str, Ref] = field(default_factory=dict)
    #: Every resource, including types the model does not describe.
    resources: dict[str, Element] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    stack_name: str | None = None
    #: Metadata of each resource as written (SAM resources before expansion).
    source_metadata: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    #: Deployed stacks only: chaoskit's deadline tags on each resource that has them,
    #: by logical ID: ``{"kind", "arn", "chaoskit:expires-at", "chaoskit:run-id"}``.
    chaoskit_tags: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def element(self, logical_id: str | None) -> Element | None:
        """Return the resource with this logical ID, whatever its kind."""
        if logical_id is None:
            return None
        return self.resources.get(logical_id)

    def function_of(self, ref: Ref | None) -> Function | None:
        """Return the function a reference names (through an alias too)."""
        if ref is None or ref.logical_id is None:
            return None
        if ref.logical_id in self.functions:
            return self.functions[ref.logical_id]
        alias = self.aliases.get(ref.logical_id)
        if alias is not None:
            return self.function_of(alias.function)
        return None

    def aliases_invoked(self, function_id: str) -> list[str]:
        """Return the names of the function's aliases that something in the stack invokes.

        An event source mapping, subscription, rule or destination naming an
        alias (not the function) runs the alias's published version.
        """
        mine = {
            lid: a.alias_name
            for lid, a in self.aliases.items()
            if a.alias_name and self.function_of(a.function) is self.functions.get(function_id)
        }
        if not mine:
            return []
        found: list[str] = []

        def visit(value: Any) -> None:
            if isinstance(value, Ref):
                name = mine.get(value.logical_id or "")
                if name and name not in found:
                    found.append(name)
            elif isinstance(value, (list, tuple, set)):
                for item in value:
                    visit(item)
            elif isinstance(value, dict):
                for item in value.values():
                    visit(item)
            elif dataclasses.is_dataclass(value) and not isinstance(value, (type, Alias)):
                for f in dataclasses.fields(value):
                    visit(getattr(value, f.name))

        groups = (self.mappings, self.subscriptions, self.rules, self.functions)
        for group in (*groups, self.state_machines, self.routes):
            visit(group)
        return found

    def consumers_of(self, queue_id: str) -> list[EventSourceMapping]:
        """Return the event source mappings that read a queue or stream."""
        return [m for m in self.mappings.values() if m.source and m.source.logical_id == queue_id]

    def dead_letter_targets(self) -> dict[str, list[str]]:
        """Map each failure sink (DLQ, on-failure destination) to what feeds it.

        Keys are logical IDs (or symbols, for sinks outside the template);
        values describe the sources, e.g. ``queue:Orders`` or ``function:F``.
        """
        out: dict[str, list[str]] = {}

        def add(ref: Ref | None, what: str) -> None:
            if ref is not None:
                out.setdefault(str(ref), []).append(what)

        for q in self.queues.values():
            add(q.dead_letter, f"queue:{q.logical_id}")
        for f in self.functions.values():
            add(f.dead_letter, f"function:{f.logical_id}")
            if f.async_config:
                add(f.async_config.on_failure, f"function:{f.logical_id}")
        for m in self.mappings.values():
            add(m.on_failure, f"mapping:{m.logical_id}")
        for s in self.subscriptions.values():
            add(s.dead_letter, f"subscription:{s.logical_id}")
        for r in self.rules.values():
            for t in r.targets:
                add(t.dead_letter, f"rule:{r.logical_id}/{t.id}")
        return out
