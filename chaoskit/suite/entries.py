"""How traced events reach each function of a topology, and what absorbs their failures.

An :class:`Entry` is one way ``send_events`` can put traced events in front of
a function (its queue, stream, table with a stream, topic, rule, a direct
asynchronous invoke, or the start of a state machine that runs it as a task), with
the queues to drain, the failure sinks chaoskit can read (SQS), and the retry path
in words, for the experiment's description and the README.
References are ``stack:LogicalId``, resolved at run time.
"""

import json
from dataclasses import dataclass, field
from typing import Any

from chaoskit.ledger.trace import NEW_IMAGE_VIEWS
from chaoskit.suite import workflows
from chaoskit.suite.patterns import Fields, Path, example, policy_example, record_example
from chaoskit.topology import (
    EventSourceMapping,
    Function,
    Ref,
    Rule,
    RuleTarget,
    StateMachine,
    TaskState,
    Topology,
)

__all__ = [
    "Entry",
    "behind_filters",
    "dead_letter_readers",
    "entries_of",
    "parked_queues",
    "pipeline",
    "ref",
]


def ref(logical_id: str) -> str:
    """Return the reference an experiment uses for a resource of the stack."""
    return f"stack:{logical_id}"


@dataclass
class Entry:
    """One way traced events reach a function."""

    kind: str  # sqs | kinesis | dynamodb | sns | eventbridge | lambda | stepfunctions
    label: str  # "queue ProcessingQueue"
    send: dict[str, Any]  # send_events arguments besides count
    queues: list[str] = field(default_factory=list)
    sinks: list[str] = field(default_factory=list)
    retry_path: str = ""
    #: Failures end somewhere chaoskit cannot read, or nowhere: losses are expected.
    loses: str | None = None
    #: Why a record that fails every time is lost, where only such a record is.
    poison_loses: str | None = None
    stream: bool = False
    mapping: EventSourceMapping | None = None
    #: Asynchronous retries come minutes apart on AWS: the settle wait must allow for them.
    asynchronous: bool = False
    #: Seconds before each retry of a failed event (a state machine task's Retry): the
    #: settle wait must allow for them too.
    retry_waits: tuple[float, ...] = ()
    #: A table's key attributes: ``send_events`` fills them from each event's id, so a
    #: sample payload must not pin them (every event would rewrite one item).
    item_keys: list[str] = field(default_factory=list)
    #: Payload fields a filter on the way wants missing: a sample must not fill them.
    absent: tuple[Path, ...] = ()
    #: What the filter on the way (FilterCriteria, a filter policy) lets through.
    filtered: str | None = None
    #: Whether the load must carry something for that filter (else it passes as sent).
    filter_needs: bool = False
    #: The payload fields the filters on the way need (a sample merged under them).
    required: dict[str, Any] = field(default_factory=dict)
    #: Who reads the dead-lettered events through a filter, and what the load carries
    #: for it (for the description), or why no load can get through it.
    dlq_reader: str | None = None
    #: An SQS source's maxReceiveCount, when it has a redrive policy.
    max_receives: int | None = None
    #: What the load carries for a table the function writes to (for the description).
    carries: str | None = None
    #: Seconds a failed or throttled SQS message stays hidden before its next receive
    #: (its queue's visibility timeout): the settle wait must outlast at least one.
    redelivery_s: float = 0.0

    def through(self, fields: Fields, what: str) -> None:
        """Make every event carry what a filter on the way lets through."""
        if fields.payload:
            self.send["payload"] = fields.payload
            self.required = dict(fields.payload)
        self.send.update(fields.send)
        self.absent = fields.absent
        shown = [f"payload {json.dumps(fields.payload, sort_keys=True)}"] if fields.payload else []
        shown += [f"{k} {json.dumps(v, sort_keys=True)}" for k, v in sorted(fields.send.items())]
        through = f"events with {' and '.join(shown)}" if shown else "the events as sent"
        self.filtered = f"{what} lets through {through}"
        self.filter_needs = bool(shown)

    def also_through(self, fields: Fields) -> bool:
        """Make every event carry what a second filter lets through, if it can also pass
        the first; ``False`` (and nothing changed) when the two want different values."""
        joined = _joined(self.required, fields.payload)
        if joined is None or fields.send:
            return False
        if any(_holds(fields.payload, p) for p in self.absent) or any(
            _holds(self.required, p) for p in fields.absent
        ):
            return False
        self.required = joined
        self.absent = (*self.absent, *(p for p in fields.absent if p not in self.absent))
        if joined:
            self.send["payload"] = dict(joined)
        return True

    def settle(self) -> dict[str, Any]:
        """Return the wait_until_settled arguments this entry needs."""
        extra: dict[str, Any] = {}
        if self.asynchronous or self.retry_waits:
            extra["retry_grace"] = "${retry_grace}"
        if self.stream:
            # Records behind a failing batch get no attempt until it is retried or skipped.
            extra["quiet_seconds"] = 30
        return {"queues": list(self.queues), "dlqs": list(self.sinks), **extra}


def _joined(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any] | None:
    """Return ``a`` and ``b`` merged object by object; ``None`` where they set one field
    to different values."""
    out = dict(a)
    for key, value in b.items():
        mine = out.get(key, _UNSET)
        if isinstance(mine, dict) and isinstance(value, dict):
            value = _joined(mine, value)
            if value is None:
                return None
        elif mine is not _UNSET and mine != value:
            return None
        out[key] = value
    return out


_UNSET = object()


def _holds(payload: Any, path: Path) -> bool:
    """Whether ``payload`` has a field at ``path``."""
    for name in path:
        if not isinstance(payload, dict) or name not in payload:
            return False
        payload = payload[name]
    return True


def dead_letter_readers(topo: Topology, entry: Entry) -> list[tuple[Function, EventSourceMapping]]:
    """Return the functions that read the entry queue's dead-letter queue through a filter.

    A message SQS moves to its dead-letter queue keeps its body, so a load that passes
    such a reader's ``FilterCriteria`` reaches it there, and the reader's traces show
    the dead-lettering (chaoskit never reads a queue that has a consumer). A reader with
    no filter is on the way already (:func:`pipeline`).
    """
    if entry.kind != "sqs" or entry.mapping is None or entry.mapping.source is None:
        return []
    queue = topo.queues.get(entry.mapping.source.logical_id or "")
    dlq = queue.dead_letter.logical_id if queue and queue.dead_letter else None
    if not dlq:
        return []
    out: list[tuple[Function, EventSourceMapping]] = []
    for m in topo.mappings.values():
        reader = topo.function_of(m.function)
        if m.source and m.source.logical_id == dlq and m.filter_patterns and reader:
            out.append((reader, m))
    return out


def _queue_sink(topo: Topology, sink: Ref | None) -> tuple[list[str], str | None]:
    """Return ([readable sink reference], why it is not readable)."""
    if sink is None:
        return [], None
    if sink.logical_id and sink.logical_id in topo.queues:
        return [ref(sink.logical_id)], None
    what = sink.logical_id or sink.symbol or "?"
    return [], f"it goes to {what}, which is not an SQS queue of this stack chaoskit can read"


def _sqs_entry(topo: Topology, m: EventSourceMapping) -> Entry | None:
    qid = m.source.logical_id if m.source else None
    queue = topo.queues.get(qid or "")
    if queue is None or qid is None:
        return None
    sinks, unreadable = _queue_sink(topo, queue.dead_letter)
    batch = (
        "only the failed records of a batch come back (ReportBatchItemFailures)"
        if m.reports_batch_item_failures
        else f"a failure returns the whole batch of up to {m.effective_batch_size}"
    )
    path = (
        "SQS redelivers a failed message after the visibility timeout "
        f"({queue.visibility_timeout} s); {batch}"
    )
    loses = None
    if queue.dead_letter is not None:
        dlq = queue.dead_letter.logical_id or queue.dead_letter.symbol
        path += f"; after {queue.max_receive_count} receives it moves to {dlq}"
        loses = unreadable
    else:
        path += (
            "; the queue has no redrive policy, so a message that keeps failing is "
            "retried until its retention ends"
        )
    entry = Entry(
        "sqs",
        f"queue {qid}",
        {"target_type": "sqs", "target": ref(qid)},
        queues=[ref(qid)],
        sinks=sinks,
        retry_path=path,
        loses=loses,
        mapping=m,
        max_receives=queue.max_receive_count if queue.dead_letter is not None else None,
        redelivery_s=float(queue.visibility_timeout),
    )
    _through_topic(topo, qid, entry)
    return entry


def _through_topic(topo: Topology, qid: str, entry: Entry) -> None:
    """Send through the topic whose subscription feeds queue ``qid``, where one does.

    Without raw delivery SNS wraps each message in its envelope (``Type``, ``TopicArn``,
    ``Message``...), and a function fed that way reads the message from it: events sent to
    the queue itself would miss what it reads. One topic of the stack, whose filter policy
    (if any) a generated event is sure to pass, is sent through; else the queue is.
    """
    feeding = [
        sub for sub in topo.subscriptions.values()
        if sub.protocol == "sqs" and sub.endpoint is not None and sub.endpoint.logical_id == qid
        and not sub.raw
    ]  # fmt: skip
    if len(feeding) != 1:
        return
    (sub,) = feeding
    topic = sub.topic.logical_id if sub.topic else None
    if not topic or topic not in topo.topics:
        return
    fields = None
    if sub.filter_policy is not None:
        fields = policy_example(sub.filter_policy, sub.filter_policy_scope)
        if fields is None:
            return
    entry.send = {"target_type": "sns", "target": ref(topic)}
    entry.retry_path = (
        f"each event is published to topic {topic}, whose subscription delivers it to the "
        f"queue in SNS's envelope, as the app's messages arrive; {entry.retry_path}"
    )
    if fields is not None:
        entry.through(fields, "the subscription's filter policy")


def _unsendable(topo: Topology, m: EventSourceMapping) -> str | None:
    """Return why traced events cannot reach a mapping's source, ``None`` when they can."""
    sid = m.source.logical_id if m.source else None
    if m.source_kind not in ("sqs", "kinesis", "dynamodb"):
        return "send_events writes to SQS, Kinesis and DynamoDB tables, not to this source"
    if sid is None:
        return "it is not a resource of this stack, so it cannot be named for send_events"
    if m.source_kind != "dynamodb":
        return None
    table = topo.element(sid)
    spec = (table.properties.get("StreamSpecification") if table else None) or {}
    view = spec.get("StreamViewType") if isinstance(spec, dict) else None
    if isinstance(view, str) and view not in NEW_IMAGE_VIEWS:
        return (
            f"its stream view type is {view}: the records carry no new item, so the trace "
            f"mark written with it is not seen (needs {' or '.join(NEW_IMAGE_VIEWS)})"
        )
    return None


def _stream_entry(topo: Topology, m: EventSourceMapping) -> Entry | None:
    sid = m.source.logical_id if m.source else None
    if sid is None or m.source_kind not in ("kinesis", "dynamodb"):
        return None
    sinks, unreadable = _queue_sink(topo, m.on_failure)
    retries = (
        f"{m.maximum_retry_attempts} times"
        if m.maximum_retry_attempts not in (None, -1)
        else "until the records expire"
    )
    bisect = "splitting it in two on each error" if m.bisect_on_error else "whole (no bisection)"
    path = f"the mapping retries a failed batch {retries}, {bisect}"
    loses = poison_loses = unreadable
    if m.on_failure is not None:
        path += f", then sends it to {m.on_failure}"
    elif m.maximum_retry_attempts in (None, -1) and m.maximum_record_age_seconds in (None, -1):
        # Retried until the records leave the stream: a failure that passes is absorbed;
        # one that never does holds its shard, then is skipped.
        path += ", then skips it: with no on-failure destination those records are lost"
        poison_loses = (
            "a record that fails every time holds its batch (and the shard behind it) "
            "until the records expire, then is skipped with no on-failure destination"
        )
    else:
        path += ", then skips it: with no on-failure destination those records are lost"
        loses = poison_loses = (
            "a batch that keeps failing is skipped with no on-failure destination"
        )
    fn = topo.function_of(m.function)
    if m.on_failure is None and fn is not None and fn.dead_letter is not None:
        path += (
            f" (the function's dead-letter queue, {fn.dead_letter}, gets only asynchronous "
            "invocations' events, never these records)"
        )
    kind = m.source_kind
    table = topo.element(sid) if kind == "dynamodb" else None
    entry = Entry(
        kind,
        f"stream {sid}" if kind == "kinesis" else f"table {sid}'s stream",
        {"target_type": kind, "target": ref(sid)},
        sinks=sinks,
        retry_path=path,
        loses=loses,
        poison_loses=poison_loses,
        stream=True,
        mapping=m,
        item_keys=_key_names(table),
    )
    if kind == "kinesis":
        _through_table(topo, sid, entry)
    return entry


def _key_names(table: Any) -> list[str]:
    schema = (table.properties.get("KeySchema") if table else None) or []
    return [
        str(k["AttributeName"])
        for k in schema
        if isinstance(k, dict) and isinstance(k.get("AttributeName"), str)
    ]


def _through_table(topo: Topology, sid: str, entry: Entry) -> None:
    """Write to the table whose Kinesis streaming destination is stream ``sid``, where one is.

    Such a stream's records are the table's change records (``eventName``, ``dynamodb``
    with ``Keys`` and ``NewImage``...), and a function fed that way reads the item from
    them: events put on the stream itself would miss what it reads. One table of the stack
    is written to; else the stream is.
    """
    tables = [t for t, stream in topo.kinesis_destinations.items() if stream.logical_id == sid]
    if len(tables) != 1 or topo.element(tables[0]) is None:
        return
    (table,) = tables
    entry.send = {"target_type": "dynamodb", "target": ref(table)}
    entry.item_keys = _key_names(topo.element(table))
    entry.retry_path = (
        f"each event is written to table {table} as an item, whose change the table's "
        f"Kinesis streaming destination puts on the stream, as the app's records arrive; "
        f"{entry.retry_path}"
    )


def _async_path(topo: Topology, fn: Function) -> tuple[list[str], str, str | None]:
    cfg = fn.async_config
    retries = cfg.maximum_retry_attempts if cfg and cfg.maximum_retry_attempts is not None else 2
    path = f"Lambda retries the asynchronous event {retries} time(s)"
    target = (cfg.on_failure if cfg else None) or fn.dead_letter
    if target is None:
        return (
            [],
            path + ", then drops it: no on-failure destination or DLQ",
            (
                "an event failing every attempt is dropped: the function has no "
                "on-failure destination or DLQ"
            ),
        )
    sinks, unreadable = _queue_sink(topo, target)
    kind = "on-failure destination" if cfg and cfg.on_failure else "DLQ"
    return sinks, f"{path}, then sends it to its {kind} {target}", unreadable


def _rule_send(rule: Rule) -> tuple[dict[str, Any], tuple[Path, ...]] | None:
    built = example(rule.pattern)
    if built is None:
        return None
    send: dict[str, Any] = {"target_type": "eventbridge"}
    for key, arg in (("source", "source"), ("detail-type", "detail_type")):
        if key in built:
            send[arg] = built[key]
    if built["detail"]:
        send["payload"] = built["detail"]
    bus = rule.bus
    send["target"] = ref(bus.logical_id) if bus and bus.logical_id else str(bus or "default")
    return send, built.absent


def entries_of(topo: Topology, fn: Function) -> tuple[list[Entry], list[str]]:
    """Return the entries that reach ``fn`` and why others could not be used."""
    out: list[Entry] = []
    notes: list[str] = []
    lid = fn.logical_id
    for m in topo.mappings.values():
        if topo.function_of(m.function) is not fn:
            continue
        why = _unsendable(topo, m)
        entry = None
        if why is None:
            entry = _sqs_entry(topo, m) if m.source_kind == "sqs" else _stream_entry(topo, m)
        if entry is None:
            notes.append(
                f"{lid}: its {m.source_kind} event source {m.source} cannot be sent to: "
                + (why or "not found in the stack")
            )
            continue
        if m.filter_patterns:
            fields = record_example(m.source_kind, m.filter_patterns, entry.item_keys)
            if fields is None:
                drops = "deletes" if m.source_kind == "sqs" else "skips"
                notes.append(
                    f"{lid}: the FilterCriteria of its {m.source_kind} event source "
                    f"{m.source} lets through no event chaoskit is sure to generate (it "
                    "filters on what send_events does not set, or with a filter chaoskit "
                    f"cannot satisfy), and Lambda {drops} what a filter drops"
                )
                continue
            entry.through(fields, "its FilterCriteria")
        out.append(entry)
    sinks, path, loses = _async_path(topo, fn)
    for sub in topo.subscriptions.values():
        if sub.protocol != "lambda" or topo.function_of(sub.endpoint) is not fn:
            continue
        if sub.topic is None or not sub.topic.logical_id:
            notes.append(f"{lid}: subscribed to a topic outside the stack ({sub.topic})")
            continue
        entry = Entry(
            "sns",
            f"topic {sub.topic.logical_id}",
            {"target_type": "sns", "target": ref(sub.topic.logical_id)},
            sinks=sinks,
            retry_path=f"SNS delivers asynchronously; {path}",
            loses=loses,
            asynchronous=True,
        )
        if sub.filter_policy is not None:
            fields = policy_example(sub.filter_policy, sub.filter_policy_scope)
            if fields is None:
                notes.append(
                    f"{lid}: the filter policy of its subscription to topic "
                    f"{sub.topic.logical_id} accepts no message chaoskit is sure to generate"
                )
                continue
            entry.through(fields, "the subscription's filter policy")
        out.append(entry)
    for rule in topo.rules.values():
        for target in rule.targets:
            if rule.kind != "events" or topo.function_of(target.target) is not fn:
                continue
            routed = _rule_send(rule)
            if routed is None:
                notes.append(
                    f"{lid}: rule {rule.logical_id} runs on a schedule, or its pattern uses a "
                    "field or filter no generated event is sure to match (an aws. source, "
                    "a field besides source, detail-type and detail)"
                )
                continue
            if not _target_keeps_mark(target):
                given = next(iter(target.input or {}))
                notes.append(
                    f"{lid}: rule {rule.logical_id} hands it what its target's {given} builds, "
                    "not the event's detail, so the events' trace mark never reaches it"
                )
                continue
            out.append(
                Entry(
                    "eventbridge",
                    f"rule {rule.logical_id}",
                    routed[0],
                    sinks=sinks,
                    retry_path=f"EventBridge invokes asynchronously; {path}",
                    loses=loses,
                    asynchronous=True,
                    absent=routed[1],
                )
            )
    flows, flow_notes = _workflow_entries(topo, fn)
    out.extend(flows)
    notes.extend(flow_notes)
    if not out and (fn.async_sources or fn.async_config or fn.dead_letter):
        # No source in the stack, but retries and destinations (or a DLQ) set for
        # asynchronous invokes: it is invoked asynchronously from outside the stack.
        if fn.async_sources:
            how = f"as {', '.join(sorted(fn.async_sources))} does"
        else:
            expects = "EventInvokeConfig" if fn.async_config else "DLQ"
            how = f"from outside the stack, as its {expects} expects"
        out.append(
            Entry(
                "lambda",
                f"asynchronous invoke ({how})",
                {"target_type": "lambda", "target": ref(lid), "invocation_type": "Event"},
                sinks=sinks,
                retry_path=path,
                loses=loses,
                asynchronous=True,
            )
        )
    if not out:
        callers = [r.logical_id for r in topo.routes.values() if topo.function_of(r.function) is fn]
        if callers:
            notes.append(
                f"{lid}: called synchronously by API route(s) {', '.join(callers)}: errors return "
                "to the caller, no retry path of the app absorbs them"
            )
        elif not notes:  # each source it has was said above to be unusable, and why
            notes.append(f"{lid}: no event source in the stack that chaoskit can send through")
    return out, notes


def _target_keeps_mark(target: RuleTarget) -> bool:
    """Tell whether what a rule target receives holds the mark (somewhere: the layer walks it)."""
    if _target_mark(target) is not None:
        return True
    transformer = (target.input or {}).get("InputTransformer")
    if not isinstance(transformer, dict):
        return False
    template = transformer.get("InputTemplate")
    paths = transformer.get("InputPathsMap") or {}
    if not isinstance(template, str) or not isinstance(paths, dict):
        return False
    if "<aws.events.event>" in template or "<aws.events.event.json>" in template:
        return True
    mark = workflows.mark_at_start(via_rule=True)
    return any(
        f"<{name}>" in template and workflows.select(mark, path) is not None
        for name, path in paths.items()
    )


def _target_mark(target: RuleTarget) -> tuple[str, ...] | None:
    """Return where the mark is in what a rule target receives, ``None`` if it is left out."""
    given = target.input or {}
    if not given:
        return workflows.mark_at_start(via_rule=True)
    if "InputPath" in given:
        return workflows.select(workflows.mark_at_start(via_rule=True), given["InputPath"])
    return None  # Input is a constant; an InputTransformer builds its own text


#: How events start a state machine: label prefix, send_events arguments, where the mark
#: is in the execution's input, and payload fields the rule's pattern wants missing.
_Start = tuple[str, dict[str, Any], tuple[str, ...], tuple[Path, ...]]


def _starts(topo: Topology, sm: StateMachine) -> list[_Start]:
    """Return the ways traced events can start ``sm``: its rules, else a direct start."""
    out: list[_Start] = []
    for rule in topo.rules.values():
        for target in rule.targets:
            if rule.kind != "events" or target.target is None:
                continue
            if target.target.logical_id != sm.logical_id:
                continue
            routed = _rule_send(rule)
            mark = _target_mark(target)
            if routed is not None and mark is not None:
                out.append((f"rule {rule.logical_id} -> ", routed[0], mark, routed[1]))
    if not out:  # started outside the stack (an API, a pipe, another app): start it directly
        direct = {"target_type": "stepfunctions", "target": ref(sm.logical_id)}
        out.append(("", direct, workflows.mark_at_start(via_rule=False), ()))
    return out


def _task_entry(
    sm: StateMachine, task: TaskState, starts: list[_Start]
) -> tuple[Entry | None, str]:
    """Return the entry through the first start whose mark reaches ``task``, or why none does."""
    why = ""
    for how, send, mark, absent in starts:
        reached = workflows.reach(sm, task, mark)
        if reached.payload is None or reached.state_input is None:
            why = why or reached.why
            continue
        failure = workflows.failure_path(sm, task, reached.state_input, mark)
        then = (
            f"then its Catch sends the event to queue {failure.sink}"
            if failure.sink
            else "then the event is lost to the app"
        )
        entry = Entry(
            "stepfunctions",
            f"{how}state machine {sm.logical_id} (task {task.path})",
            dict(send),
            sinks=[ref(failure.sink)] if failure.sink else [],
            retry_path=f"{failure.retries}; {then}",
            loses=failure.loses,
            absent=absent,
            retry_waits=failure.waits,
        )
        return entry, ""
    return None, why


def _workflow_entries(topo: Topology, fn: Function) -> tuple[list[Entry], list[str]]:
    """Return the entries through the state machines that run ``fn`` as a task."""
    out: list[Entry] = []
    notes: list[str] = []
    for sm in topo.state_machines.values():
        tasks = [t for t in sm.tasks if topo.function_of(t.function) is fn]
        if not tasks:
            continue
        starts = _starts(topo, sm)
        why = ""
        for task in tasks:  # the first task of fn that the mark reaches
            entry, not_reached = _task_entry(sm, task, starts)
            if entry is not None:
                out.append(entry)
                break
            why = why or not_reached
        else:
            notes.append(
                f"{fn.logical_id}: a task of state machine {sm.logical_id} that traced events "
                f"do not reach: {why}"
            )
    return out, notes


def _logical_ids(node: Any) -> set[str]:
    """Return the logical IDs a raw template value references (Ref, GetAtt, Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) and value else value
                if isinstance(target, str):
                    found.add(target.split(".", 1)[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) and value else value
                if isinstance(text, str):
                    found.update(p.split("}", 1)[0].split(".", 1)[0] for p in text.split("${")[1:])
                found |= _logical_ids(value)
            else:
                found |= _logical_ids(value)
    elif isinstance(node, list):
        for item in node:
            found |= _logical_ids(item)
    return found


def _sources_of(topo: Topology, fn: Function, filtered: bool = False) -> set[str]:
    """Return the logical IDs of the queues, streams, topics and buses that feed ``fn``.

    With ``filtered``, only those that feed it through a filter that decides by the
    event's content (an event source mapping's FilterCriteria, a subscription's filter
    policy, a rule's pattern on ``detail``); without, only the others.
    """
    out: set[str] = set()
    for m in topo.mappings.values():
        source = m.source.logical_id if m.source else None
        if topo.function_of(m.function) is fn and source and bool(m.filter_patterns) == filtered:
            out.add(source)
    for sub in topo.subscriptions.values():
        topic = sub.topic.logical_id if sub.topic else None
        on_content = sub.filter_policy is not None
        if topo.function_of(sub.endpoint) is fn and topic and on_content == filtered:
            out.add(topic)
    for rule in topo.rules.values():
        feeds_fn = any(topo.function_of(t.target) is fn for t in rule.targets)
        on_detail = isinstance(rule.pattern, dict) and "detail" in rule.pattern
        if feeds_fn and rule.bus and rule.bus.logical_id and on_detail == filtered:
            out.add(rule.bus.logical_id)
    return out


def _failure_sinks(topo: Topology, fn: Function) -> set[str]:
    """Return the logical IDs of where ``fn``'s failed events go (DLQs, destinations)."""
    out: set[str] = set()
    for m in topo.mappings.values():
        if topo.function_of(m.function) is not fn:
            continue
        queue = topo.queues.get(m.source.logical_id or "") if m.source else None
        for sink in (queue.dead_letter if queue else None, m.on_failure):
            if sink is not None and sink.logical_id:
                out.add(sink.logical_id)
    cfg = fn.async_config
    for sink in ((cfg.on_failure if cfg else None), fn.dead_letter):
        if sink is not None and sink.logical_id:
            out.add(sink.logical_id)
    return out


def _leads_to(current: Function, g: Function, named: set[str], feeds: set[str]) -> bool:
    """Whether events ``current`` processed go on to ``g``."""
    if named & feeds:
        return True
    success = current.async_config.on_success if current.async_config else None
    target = success.logical_id if success else None
    return target is not None and (target == g.logical_id or target in feeds)


def pipeline(topo: Topology, fn: Function) -> tuple[list[Function], list[Function]]:
    """Return the functions events entering ``fn`` go through, and the last ones.

    A function leads to another when its environment names a queue, stream,
    topic or bus of the stack that feeds the other (how apps pass those names),
    or when its on-success destination is the other or feeds it.
    A function consuming the DLQ or failure destination of one on the way is
    on the way too, but never terminal: what reaches it was dead-lettered, and
    its traces are how chaoskit learns that without racing it for the DLQ.
    Returns ``(every function on the way, fn first; the terminal ones)``.
    """
    feeds = {id(g): _sources_of(topo, g) for g in topo.functions.values()}
    seen: list[Function] = []
    terminal: list[Function] = []
    todo = [fn]
    while todo:
        current = todo.pop(0)
        if any(current is s for s in seen):
            continue
        seen.append(current)
        named = _logical_ids(current.environment)
        nxt = [
            g
            for g in topo.functions.values()
            if g is not current
            and _leads_to(current, g, named, feeds[id(g)])
            and not any(g is s for s in seen)
        ]
        if not nxt:
            terminal.append(current)
        todo.extend(nxt)
    for current in list(seen):
        sinks = _failure_sinks(topo, current)
        seen.extend(
            g
            for g in topo.functions.values()
            if sinks & feeds[id(g)] and not any(g is s for s in seen)
        )
    return seen, terminal


def behind_filters(topo: Topology, functions: list[Function]) -> list[str]:
    """Say which functions events of ``functions`` reach only through a content filter.

    Which of the app's own events pass such a filter is the app's business, so
    :func:`pipeline` does not follow events through it: the stage before it is terminal.
    """
    notes: list[str] = []
    behind = {id(g): _sources_of(topo, g, filtered=True) for g in topo.functions.values()}
    for current in functions:
        named = _logical_ids(current.environment)
        for g in topo.functions.values():
            through = named & behind[id(g)]
            if g is current or not through or any(g is f for f in functions):
                continue
            notes.append(
                f"{g.logical_id}: fed by {current.logical_id} through a filter on "
                f"{', '.join(sorted(through))}: which of its events pass is the app's "
                f"data, so {current.logical_id}'s experiments follow events no further"
            )
    return notes


_ITEM_WRITES = ("dynamodb:putitem", "dynamodb:batchwriteitem", "dynamodb:*", "*")


def _written_by_role(topo: Topology, fn: Function) -> set[str]:
    """Return the logical IDs that ``fn``'s role lets it put items into: statements of
    its inline policies, and of the stack's ``AWS::IAM::Policy`` resources attached to
    it (as CDK writes them), allowing ``dynamodb:PutItem`` or ``BatchWriteItem``."""
    role = _logical_ids(fn.properties.get("Role"))
    documents = []
    for lid in role:
        element = topo.element(lid)
        for policy in (element.properties.get("Policies") if element else None) or []:
            if isinstance(policy, dict):
                documents.append(policy.get("PolicyDocument"))
    for element in topo.resources.values():
        if element.type == "AWS::IAM::Policy" and role & _logical_ids(
            element.properties.get("Roles")
        ):
            documents.append(element.properties.get("PolicyDocument"))
    found: set[str] = set()
    for document in documents:
        statements = document.get("Statement") if isinstance(document, dict) else None
        for statement in statements if isinstance(statements, list) else [statements]:
            if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
                continue
            actions = statement.get("Action")
            actions = actions if isinstance(actions, list) else [actions]
            if any(str(a).lower() in _ITEM_WRITES for a in actions):
                found |= _logical_ids(statement.get("Resource"))
    return found


def named_table_keys(topo: Topology, fn: Function) -> dict[str, list[str]]:
    """Return the key attributes of the stack's DynamoDB tables ``fn`` writes items to
    (its environment names them, or its role lets it put items there), by table: only
    tables whose keys are all strings (an event's id fills them).

    A function that stores each message as an item needs the table's key in it; where
    the app has no sample event, the load carries that key, one value per event.
    """
    out: dict[str, list[str]] = {}
    for lid in sorted(_logical_ids(fn.environment) | _written_by_role(topo, fn)):
        table = topo.element(lid)
        if table is None or table.type != "AWS::DynamoDB::Table":
            continue
        types = {
            d.get("AttributeName"): d.get("AttributeType")
            for d in table.properties.get("AttributeDefinitions") or []
            if isinstance(d, dict)
        }
        keys = [
            k.get("AttributeName")
            for k in table.properties.get("KeySchema") or []
            if isinstance(k, dict)
        ]
        if keys and all(isinstance(k, str) and types.get(k) == "S" for k in keys):
            out[lid] = [str(k) for k in keys]
    return out


def parked_queues(topo: Topology, functions: list[Function]) -> list[str]:
    """Return the queues ``functions`` send to (their environment names them) that nothing
    in the stack consumes: where an app parks what it gives up on (a "fatal" queue).

    An event found there was not processed, but it is not lost either: it sits where
    the operator can see it, so the run reads those queues as it reads DLQs.
    """
    consumed = {
        m.source.logical_id for m in topo.mappings.values() if m.source and m.source.logical_id
    }
    named: set[str] = set()
    for fn in functions:
        named |= _logical_ids(fn.environment)
    return [ref(q) for q in sorted(named & set(topo.queues) - consumed)]
