"""Plan a suite of experiments from a topology: one per meaningful failure.

- a kill switch for each queue- or stream-fed function;
- injected errors on each function reachable by traced events, with the retry
  path that should absorb them;
- SDK throttling on each AWS service a function's code creates a client for;
- a poison pill for each stream consumer;
- a canary for each alias that routes a weight to a second version;
- failover for each Route 53 failover pair.

Every experiment has the ledger hypothesis (none lost, none in flight), names
resources by logical ID (``stack:LogicalId``) and ends with the rollback.
"""

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from chaoskit.audit.rules_queues import MIN_RECEIVE_COUNT
from chaoskit.layer import runtimes
from chaoskit.suite import activities as act
from chaoskit.suite.calls import services_for_runtime
from chaoskit.suite.entries import (
    Entry,
    behind_filters,
    dead_letter_readers,
    entries_of,
    named_table_keys,
    parked_queues,
    pipeline,
    ref,
)
from chaoskit.suite.patterns import record_example
from chaoskit.suite.samples import fresh_fields, sample_payloads
from chaoskit.topology import Function, Topology

__all__ = ["Planned", "Suite", "plan_suite"]

FAULT_DURATION = 300
ERROR_RATE = 0.5
#: Events per second under a rate fault: spread over several invocations (a batch rolls
#: once), so a fault at rate 0.5 is unlikely to miss them all; a run where it did anyway
#: is reported inconclusive, not passed.
SPREAD = 4
#: Events an errors experiment sends: at SPREAD per second, about ten invocations or more
#: even where a batch takes four events, so that a fault at rate 0.5 misses them all in
#: about one run in a thousand (with 10 events, a Kinesis app's run was inconclusive
#: about one time in four).
ROLLED_EVENTS = 40
THROTTLE_RATE = 0.5


@dataclass
class Planned:
    """One generated experiment."""

    slug: str
    kind: str
    experiment: dict[str, Any]
    proves: str


@dataclass
class Tracing:
    """The functions an experiment traces and where its events end (terminal stages)."""

    functions: list[str]
    terminal: list[str]
    #: Queues the traced functions send to that nothing in the stack consumes.
    parked: list[str] = field(default_factory=list)
    #: The aliases each traced function is invoked through (the layer must reach them).
    aliases: dict[str, list[str]] = field(default_factory=dict)

    def settle(self, entry: Entry) -> dict[str, Any]:
        """Return the wait_until_settled arguments: the entry's, reading parked queues too."""
        args = entry.settle()
        args["dlqs"] = [*args["dlqs"], *(q for q in self.parked if q not in args["dlqs"])]
        return args

    def reading(self, topo: Topology, readers: list[Function]) -> "Tracing":
        """Return this tracing with ``readers`` traced too (never terminal)."""
        extra = [ref(g.logical_id) for g in readers if ref(g.logical_id) not in self.functions]
        if not extra:
            return self
        aliases = dict(self.aliases)
        for g in readers:
            if names := topo.aliases_invoked(g.logical_id):
                aliases[ref(g.logical_id)] = names
        return replace(self, functions=[*self.functions, *extra], aliases=aliases)

    def enable(self) -> list[dict[str, Any]]:
        """Return the actions enabling the layer on every traced function."""
        return [
            act.enable_layer(
                f,
                "enable-chaoskit-layer" if i == 0 else f"trace-{f[6:].lower()}",
                self.aliases.get(f),
            )
            for i, f in enumerate(self.functions)
        ]


@dataclass
class Suite:
    """What ``chaoskit init`` writes and prints."""

    stack: str
    source: str
    experiments: list[Planned] = field(default_factory=list)
    found: list[str] = field(default_factory=list)
    uncovered: list[str] = field(default_factory=list)
    #: Sample payloads of the app's own, per event source kind: (payload, file).
    samples: dict[str, tuple[dict[str, Any], str]] = field(default_factory=dict)


def _slug(*parts: str) -> str:
    text = "-".join(p for p in parts if p)
    out = "".join(c.lower() if c.isalnum() else "-" for c in text)
    return "-".join(p for p in out.split("-") if p)


def _fed_by(entry: Entry, several: bool) -> str:
    """`` (fed by queue Orders)`` for a function with more than one entry, else nothing."""
    return f" (fed by {entry.label})" if several else ""


def _source(entry: Entry, several: bool) -> str:
    """The entry's label for a file name, for a function with more than one entry."""
    return entry.label if several else ""


def _experiment(
    title: str,
    description: str,
    tags: list[str],
    method: list[dict[str, Any]],
    stack: str,
    tracing: Tracing | None = None,
    entry: Entry | None = None,
    events: int = 10,
) -> dict[str, Any]:
    config: dict[str, Any] = {"chaoskit_stack": stack}
    if tracing is not None:
        config["chaoskit_terminal_stages"] = list(tracing.terminal)
    config.update({"events": events, "settle_timeout": 300})
    if entry is not None and entry.asynchronous:
        # AWS retries an asynchronous event about 1 and 2 minutes after a failure.
        config["retry_grace"] = 200
    elif entry is not None and entry.retry_waits:
        # A failed event waits this long for its next attempt: not lost meanwhile.
        config["retry_grace"] = math.ceil(max(entry.retry_waits)) + 10
        config["settle_timeout"] = max(300, math.ceil(sum(entry.retry_waits)) + 120)
    elif entry is not None and entry.redelivery_s:
        # A message that failed, or was throttled, during the fault is back only after the
        # queue's visibility timeout: the wait outlasts one, after the load and the fault.
        config["settle_timeout"] = max(300, math.ceil(entry.redelivery_s) + 180)
    if entry is not None and entry.filtered and entry.filter_needs:
        description += (
            f" On the way, {entry.filtered}: the load carries that, and an edited payload "
            "must keep it, or the filter drops the events and they count lost."
        )
    if entry is not None and entry.carries:
        description += f" {entry.carries}."
    if entry is not None and entry.dlq_reader:
        description += f" {entry.dlq_reader[0].upper()}{entry.dlq_reader[1:]}."
    return {
        "version": "1.0.0",
        "title": title,
        "description": description,
        "tags": tags,
        "configuration": config,
        "steady-state-hypothesis": act.HYPOTHESIS,
        "method": method,
        "rollbacks": act.ROLLBACKS,
    }


def _expect(entry: Entry, poison: bool = False) -> str:
    why = entry.poison_loses if poison else entry.loses
    if why and entry.asynchronous and not poison:
        # Lambda retries about 1 and 2 minutes after a failure: after the fault's burst.
        return (
            " Lambda's retries come about 1 and 2 minutes after a failure, once the fault "
            f"has ended: each failed event is expected to be processed then. Not shown "
            f"here: {why}."
        )
    if why:
        return f" Expect a deviation: {why}."
    return ""


def _expects_losses(entry: Entry) -> bool:
    """Whether the burst of a layer fault is expected to lose events (see :func:`_expect`)."""
    return bool(entry.loses) and not entry.asynchronous


def _under_fault(
    f: str, entry: Entry, tracing: Tracing, inject: dict[str, Any], send_name: str
) -> list[dict[str, Any]]:
    """Return a method that sends events while the layer fault ``inject`` is live."""
    return [
        *tracing.enable(),
        inject,
        act.wait_live(f),
        {**act.send(send_name, entry.send, rate_per_second=SPREAD), "pauses": {"after": 10}},
        act.clear_faults(f),
        act.wait_settled(**tracing.settle(entry)),
    ]


def _kill_switch(
    fn: Function, entry: Entry, stack: str, tracing: Tracing, several: bool = False
) -> Planned:
    f = ref(fn.logical_id)
    method = [
        *tracing.enable(),
        act.action(
            "stop-the-function",
            "chaoskit.faults.kill_switch",
            "set_reserved_concurrency",
            function_names=[f],
            concurrency=0,
        ),
        {**act.send(f"send-to-the-{entry.kind}-while-stopped", entry.send), "pauses": {"after": 5}},
        act.action(
            "restart-the-function",
            "chaoskit.faults.kill_switch",
            "restore_reserved_concurrency",
            function_names=[f],
        ),
        act.wait_settled(**tracing.settle(entry)),
    ]
    description = (
        f"Reserved concurrency 0 stops {fn.logical_id} while events arrive on its "
        f"{entry.label}. They wait there; once the concurrency is restored every one is "
        f"processed or dead-lettered, none lost. Retry path: {entry.retry_path}."
    )
    if entry.max_receives is not None and entry.max_receives < MIN_RECEIVE_COUNT:
        # An event source mapping does not account for reserved concurrency: it keeps
        # receiving, and each throttled receive counts (docs/sandbox.md).
        description += (
            f" The mapping keeps receiving while the function is stopped, and each receive "
            f"counts toward maxReceiveCount ({entry.max_receives}): expect events "
            f"dead-lettered without being processed (AWS advises at least {MIN_RECEIVE_COUNT})."
        )
    return Planned(
        _slug("kill-switch", fn.logical_id, _source(entry, several)),
        "kill switch",
        _experiment(
            f"Kill switch on {fn.logical_id}{_fed_by(entry, several)} loses no event",
            description,
            ["kill-switch", entry.kind],
            method,
            stack,
            tracing,
            entry,
        ),
        f"events queued on {entry.label} survive {fn.logical_id} being stopped",
    )


def _errors(
    fn: Function, entry: Entry, stack: str, tracing: Tracing, several: bool = False
) -> Planned:
    f = ref(fn.logical_id)
    inject = act.action(
        "inject-exceptions",
        "chaoskit.faults.inject",
        "inject_exception",
        function_name=f,
        rate=ERROR_RATE,
        duration=FAULT_DURATION,
    )
    method = _under_fault(f, entry, tracing, inject, "send-events-under-errors")
    description = (
        f"{int(ERROR_RATE * 100)}% of {fn.logical_id}'s invocations raise while events arrive "
        f"on its {entry.label}. Retry path that should absorb them: {entry.retry_path}."
        + _expect(entry)
    )
    return Planned(
        _slug("errors", fn.logical_id, _source(entry, several) or entry.kind),
        "errors",
        _experiment(
            f"Errors in {fn.logical_id}{_fed_by(entry, several)} are retried or "
            "dead-lettered, none lost",
            description,
            ["errors", entry.kind],
            method,
            stack,
            tracing,
            entry,
            events=ROLLED_EVENTS,
        ),
        (
            f"whether failures of {fn.logical_id} fed by {entry.label} are lost "
            f"(expected: {entry.loses})"
            if _expects_losses(entry)
            else f"failures of {fn.logical_id} on {entry.label} are absorbed: {entry.retry_path}"
        ),
    )


def _throttle(fn: Function, entry: Entry, service: str, stack: str, tracing: Tracing) -> Planned:
    f = ref(fn.logical_id)
    inject = act.action(
        f"throttle-{service}",
        "chaoskit.faults.inject",
        "inject_sdk_throttle",
        function_name=f,
        service=service,
        rate=THROTTLE_RATE,
        duration=FAULT_DURATION,
    )
    method = _under_fault(f, entry, tracing, inject, f"send-events-under-{service}-throttling")
    description = (
        f"{int(THROTTLE_RATE * 100)}% of {fn.logical_id}'s {service} calls answer with the "
        f"throttling error {service} really returns, so the SDK's own retries engage. What "
        f"they do not absorb fails the invocation: {entry.retry_path}. If the function "
        "catches a call's final error and returns success, the run is inconclusive, naming "
        "the calls it swallowed." + _expect(entry)
    )
    return Planned(
        _slug("sdk-throttling", fn.logical_id, service),
        "SDK throttling",
        _experiment(
            f"{service} throttling inside {fn.logical_id} loses no event",
            description,
            ["throttling", "sdk", service],
            method,
            stack,
            tracing,
            entry,
        ),
        f"{fn.logical_id}'s code survives {service} throttling "
        f"(SDK retries, then {entry.kind} retries)",
    )


def _poison_pill(
    fn: Function, entry: Entry, stack: str, tracing: Tracing, several: bool = False
) -> Planned:
    f = ref(fn.logical_id)
    method = [
        *tracing.enable(),
        act.action(
            "fail-on-the-poison-pill",
            "chaoskit.faults.inject",
            "inject_exception",
            function_name=f,
            exception_type="PoisonPill",
            message="a record the consumer cannot process",
            rate=1.0,
            match={"fields": {"chaoskit_poison_pill": True}},
            duration=FAULT_DURATION,
        ),
        act.wait_live(f),
        act.send("send-good-records", entry.send),
        act.send(
            "send-a-poison-pill",
            entry.send,
            count=1,
            payload={**entry.send.get("payload", {}), "chaoskit_poison_pill": True},
        ),
        # The fault stays until the rollback: the verdict is read while the poison pill
        # still fails, so records a batch holds behind it are counted where they stand.
        act.wait_settled(**tracing.settle(entry)),
    ]
    outcome = (
        "Only the poison pill should end in the failure destination; every other record is "
        "processed."
        if entry.sinks
        else "Every other record should be processed."
    )
    description = (
        f"One record among good ones on {entry.label} fails {fn.logical_id} every time it is "
        f"in a batch. Retry path: {entry.retry_path}. {outcome}" + _expect(entry, poison=True)
    )
    return Planned(
        _slug("poison-pill", fn.logical_id, _source(entry, several)),
        "poison pill",
        _experiment(
            f"A poison pill on {entry.label} is set aside alone, none lost",
            description,
            ["poison-pill", entry.kind],
            method,
            stack,
            tracing,
            entry,
        ),
        (
            f"whether a poison pill on {entry.label} blocks or loses the records around it "
            f"(expected: {entry.poison_loses})"
            if entry.poison_loses
            else f"a poison pill on {entry.label} does not block or lose the records around it"
        ),
    )


def _merged(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return ``base`` with ``over`` merged in, object by object, ``over`` winning."""
    out = dict(base)
    for key, value in over.items():
        mine = out.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            value = _merged(mine, value)
        out[key] = value
    return out


def _without(payload: dict[str, Any], paths: tuple[tuple[str, ...], ...]) -> dict[str, Any]:
    """Return ``payload`` without the fields at ``paths`` (a filter wants them missing)."""
    out = dict(payload)
    for path in paths:
        if len(path) == 1:
            out.pop(path[0], None)
        elif isinstance(out.get(path[0]), dict):
            out[path[0]] = _without(out[path[0]], (path[1:],))
    return out


def _carry_table_keys(entry: Entry, tables: dict[str, list[str]]) -> None:
    """Make the load carry the keys of the tables the function writes to, each event its
    own value, where nothing else sets them: a function that stores each message as an item
    rejects every event without its table's key (two public apps did)."""
    payload = dict(entry.send.get("payload") or {})
    added: dict[str, list[str]] = {}
    for table, keys in tables.items():
        for key in keys:
            if key not in payload and key not in entry.item_keys and key != "chaoskit":
                payload[key] = "{{event_id}}"
                added.setdefault(table, []).append(key)
    if not added:
        return
    entry.send["payload"] = payload
    named = "; ".join(f"{', '.join(keys)} (table {t}'s key)" for t, keys in added.items())
    entry.carries = (
        f"Each event carries {named}, set to its event id: the function writes items to "
        "that table, and one that stores each message as an item needs its key in it (edit "
        "`payload:` where the app's messages look otherwise)"
    )


def _refusal(fn: Function) -> str | None:
    return runtimes.refusal(fn.logical_id, {"Runtime": fn.runtime, "PackageType": fn.package_type})


def _dead_letter_readers(topo: Topology, entry: Entry, suite: Suite) -> list[Function]:
    """Let the load through the filters of whoever reads the entry's DLQ; return them.

    Lambda deletes what such a reader's ``FilterCriteria`` drops, unseen, and chaoskit
    never reads a queue that has a consumer: an event dead-lettered there that the filter
    drops is lost. A load the filter lets through reaches the reader, whose traces show
    the dead-lettering.
    """
    readers: list[Function] = []
    for reader, mapping in dead_letter_readers(topo, entry):
        dlq = mapping.source.logical_id if mapping.source else "?"
        who = f"{dlq} is read by {reader.logical_id} through a FilterCriteria"
        if _refusal(reader):
            entry.loses = entry.loses or (
                f"{who}, and that function cannot carry the layer, so what it reads there "
                "is not seen: an event dead-lettered there counts lost"
            )
            continue
        fields = record_example("sqs", mapping.filter_patterns)
        if fields is None or not entry.also_through(fields):
            why = (
                "that lets through no event chaoskit is sure to generate"
                if fields is None
                else f"that wants what the filter on {entry.label} does not let through"
            )
            entry.loses = entry.loses or (
                f"{who} {why}, and Lambda deletes what it drops, unseen: an event "
                "dead-lettered there counts lost"
            )
            suite.uncovered.append(f"{reader.logical_id}: as reader of {dlq}: {who} {why}")
            continue
        readers.append(reader)
        shown = f"payload {json.dumps(fields.payload, sort_keys=True)}" if fields.payload else ""
        said = f"{entry.dlq_reader}; " if entry.dlq_reader else ""
        entry.dlq_reader = said + (
            f"what is dead-lettered to {dlq} is read there by {reader.logical_id} through its "
            f"FilterCriteria, which lets through "
            + (f"events with {shown}: the load carries that" if shown else "the events as sent")
            + ", so the run counts them dead-lettered (Lambda deletes what that filter drops, "
            "unseen, and an edited payload must keep it)"
        )
    return readers


def _tracing(topo: Topology, fn: Function, suite: Suite) -> Tracing:
    on_the_way, last = pipeline(topo, fn)
    traced = [g for g in on_the_way if g is fn or _refusal(g) is None]
    for g in on_the_way:
        if g is not fn and _refusal(g) is not None:
            suite.uncovered.append(
                f"{g.logical_id}: downstream of {fn.logical_id} but cannot carry the layer, "
                "so events are not traced there"
            )
    for note in behind_filters(topo, on_the_way):
        if note not in suite.uncovered:
            suite.uncovered.append(note)
    terminal = [g for g in last if g in traced] or [traced[-1]]
    return Tracing(
        [ref(g.logical_id) for g in traced],
        [ref(g.logical_id) for g in terminal],
        parked_queues(topo, traced),
        {ref(g.logical_id): names for g in traced if (names := topo.aliases_invoked(g.logical_id))},
    )


def _function_plans(topo: Topology, fn: Function, suite: Suite, code: bool) -> None:
    entries, notes = entries_of(topo, fn)
    suite.uncovered.extend(notes)
    readers = {
        id(entry): _dead_letter_readers(topo, entry, suite) if _refusal(fn) is None else []
        for entry in entries
    }
    tables = named_table_keys(topo, fn)
    for entry in entries:
        sample = suite.samples.get(entry.kind)
        if sample is not None:
            own = _without(
                {k: v for k, v in sample[0].items() if k not in entry.item_keys}, entry.absent
            )
            # What the entry needs (a rule's pattern, a filter) wins over the app's sample.
            entry.send["payload"] = _merged(own, entry.send.get("payload") or {})
        else:
            _carry_table_keys(entry, tables)
    suite.found.append(
        f"function {fn.logical_id} ({fn.runtime or fn.package_type}): "
        + (", ".join(e.label for e in entries) or "no event source chaoskit can send through")
    )
    suite.found.extend(f"  {e.label}: {e.filtered}" for e in entries if e.filtered)
    suite.found.extend(f"  {e.label}: {e.dlq_reader}" for e in entries if e.dlq_reader)
    refused = _refusal(fn)
    if refused:
        if entries:
            suite.uncovered.append(
                f"{fn.logical_id}: no experiment, since events cannot be traced through it: "
                + refused
            )
        return
    tracing = _tracing(topo, fn, suite)
    traced = {id(e): tracing.reading(topo, readers[id(e)]) for e in entries}
    several = len(entries) > 1  # each title and file then names the entry it sends to
    for entry in entries:
        if entry.mapping is not None:  # a queue or stream holds events while it is stopped
            suite.experiments.append(
                _kill_switch(fn, entry, suite.stack, traced[id(entry)], several)
            )
    for entry in entries:
        suite.experiments.append(_errors(fn, entry, suite.stack, traced[id(entry)], several))
    read = services_for_runtime(fn.runtime, fn.code_dir, fn.inline_code, fn.handler)
    services = read or []
    if entries and read is None:
        suite.uncovered.append(
            f"{fn.logical_id}: SDK throttling: the code is read for AWS clients in Python and "
            f"Node.js only (it runs on {fn.runtime}); add inject_sdk_throttle by hand"
        )
    elif entries and services:
        suite.found.append(f"  its code calls: {', '.join(services)}")
        for service in services:
            suite.experiments.append(
                _throttle(fn, entries[0], service, suite.stack, traced[id(entries[0])])
            )
    elif entries and fn.code_dir:
        suite.found.append("  its code uses no AWS SDK client: no SDK throttling experiment")
    elif entries and not code:
        suite.uncovered.append(
            f"{fn.logical_id}: SDK throttling: its code is not at hand (give --template too)"
        )
    for entry in entries:
        if entry.stream:
            suite.experiments.append(
                _poison_pill(fn, entry, suite.stack, traced[id(entry)], several)
            )


def plan_suite(topo: Topology, stack: str, samples: str | Path | None = None) -> Suite:
    """Return the experiments for a topology, what was found, and what was not covered.

    Args:
        topo: the app's topology.
        stack: the stack name the experiments aim at.
        samples: a folder whose sample events give the load its payloads
            (see :mod:`chaoskit.suite.samples`).
    """
    from chaoskit.suite.routing import plan_canaries, plan_failovers

    suite = Suite(stack=stack, source=topo.source)
    suite.samples = sample_payloads(samples) if samples else {}
    for kind, (payload, file) in sorted(suite.samples.items()):
        fresh = fresh_fields(payload)
        drawn = f" (each event draws its own {', '.join(fresh)}: UUIDs in the sample)"
        suite.found.append(f"sample {kind} payload: {file}" + (drawn if fresh else ""))
    code = any(fn.code_dir or fn.inline_code for fn in topo.functions.values())
    for fn in topo.functions.values():
        _function_plans(topo, fn, suite, code)
    plan_canaries(topo, suite)
    plan_failovers(topo, suite)
    for sm in topo.state_machines.values():
        suite.found.append(f"state machine {sm.logical_id}: {len(sm.tasks)} task state(s)")
    seen: dict[str, int] = {}
    for planned in suite.experiments:  # unique file names
        n = seen.get(planned.slug, 0)
        seen[planned.slug] = n + 1
        if n:
            planned.slug = f"{planned.slug}-{n + 1}"
    return suite
