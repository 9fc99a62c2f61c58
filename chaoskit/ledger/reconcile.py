"""Reconcile one run's ledger: where every sent event ended up.

Pure computation over :class:`~chaoskit.ledger.records.Record` values, standard
library only: one sequential pass over records grouped by event id. The
rules, per event id (every count is of *unique* event ids, so a dead-letter
queue read twice, or a record written twice, never counts twice):

- ``sent``: ids with a ``sent`` record.
- ``processed``: ids with a ``processed`` record at a *terminal stage* (see
  :mod:`chaoskit.ledger.stages`), delivered by a queue that is not a dead-letter
  queue (``processed_from="sink"``: only records whose source is ``sink`` or
  ``sink:<table>``, i.e. confirmed by the application's own sink). Processed at
  an intermediate function only is not processed: such an event is lost
  (reason ``stopped after <stage>``) unless it is still in flight.
- ``dead_lettered``: ids with a ``dead_lettered`` record, or seen at a stage
  through a dead-letter queue (the DLQ's own consumer is traced: its
  deliveries prove the dead-lettering without chaoskit reading that queue),
  and *not* processed.
  An event both processed and dead-lettered (the handler's side effect
  happened, then a later delivery failed) counts as processed; such ids are
  listed under ``processed_and_dead_lettered_ids``.
- ``in_flight``: sent ids, neither processed nor dead-lettered, whose latest
  ``attempt`` has no ``failed``/``processed`` record after it: an invocation
  is running right now. Unless that attempt's ``deadline`` (when Lambda ends
  the invocation at the latest, written by the layer) passed more than
  :data:`DEADLINE_SLACK` seconds before ``now``: then the invocation ended
  with no outcome on record (killed at its timeout, out of memory, a crashed
  runtime, an outcome write that never happened), which counts as a failure
  at that stage (lost reason ``no outcome at <stage> by its deadline``).
- ``lost``: sent ids that are none of the above, each with a reason
  (``never delivered``, ``failed at <stage>``, ``stopped after <stage>``).
  Final only once the run has settled (see ``probes.ledger.wait_until_settled``);
  before that, an event still waiting in a queue or between async retries
  shows as lost. An event dead-lettered and then discarded by the DLQ's
  consumer (a filter, a handler that drops it) is lost.
- ``duplicates``: ids processed more than once at one terminal stage. Records
  that carry the same ``request_id`` in their detail are one invocation,
  counted once; a layer record and a sink record of the same event are not a
  duplicate of each other.
- ``stages`` and ``queues``: per function and per delivering queue, the
  attempts (records), and the events processed, failed, duplicated and
  dead-lettered there (dead-lettered: after failing at that stage; for a
  queue: landed in it as a dead-letter queue).
- ``faults``: per fault of the config (position and kind), how many times it
  fired, on how many events, in which functions (``fault`` records: a firing's
  records share an id, and its later record, with what followed, counts). A firing
  whose events all belong to another run (a stream retrying an earlier run's
  blocked records) is left out: it shows nothing about this run's events.
  Where calls ended on the fault's error (the SDK retried no more), also how
  many (``gave_up``), how many of those the function answered with success
  (``swallowed``) and the events of the invocations that did (``swallowed_ids``).

Identity: ``sent + unsent = processed + dead_lettered + in_flight + lost``,
where ``unsent`` counts processed or dead-lettered ids never recorded as sent
(a foreign writer, or a sent record that was never written).
"""

import gc
import math
import time
from collections.abc import Iterable, Mapping
from itertools import groupby
from operator import attrgetter
from typing import Any

from chaoskit.ledger.records import (
    ATTEMPT,
    DEAD_LETTERED,
    FAILED,
    FAULT,
    PROCESSED,
    SENT,
    Record,
)
from chaoskit.ledger.stages import StageStats, as_json, infer_terminal, merge_counts, queue_name
from chaoskit.shapes import FaultFired, Reconciliation

__all__ = ["DEADLINE_SLACK", "PROCESSED_FROM", "percentile", "reconcile", "unsettled"]

PROCESSED_FROM = ("layer", "sink")
#: Seconds past an attempt's deadline before its missing outcome means the invocation ended:
#: the clocks of Lambda and of the reader may differ, and outcome writes take a moment.
DEADLINE_SLACK = 10.0

_event_id = attrgetter("event_id")
#: Per delivering queue, what an event's records there were: bit 1 processed, bit 2 failed.
_FLAG = {PROCESSED: 1, FAILED: 2}


def unsettled(waited: float, held: Mapping[str, int], in_flight: int) -> str:
    """Say why a settle wait ended unsettled: where events counted lost may still be.

    ``held``: queue name -> messages, for the queues waited on that were not empty.
    """
    why = [f"queue {q} still holds {n} message(s)" for q, n in sorted(held.items())]
    if in_flight:
        why.append(f"{in_flight} event(s) in flight")
    if not why:
        why.append("the counts were still changing")
    return (
        f"the run did not settle in {waited:.0f} s: {'; '.join(why)}; events counted lost "
        "may still be processed or dead-lettered later (a longer settle timeout tells)"
    )


def percentile(sorted_values: list[float], fraction: float) -> float | None:
    """Return the nearest-rank percentile of ascending ``sorted_values`` (``None`` if empty).

    Args:
        sorted_values: values in ascending order.
        fraction: the percentile as a fraction, e.g. ``0.99``.
    """
    n = len(sorted_values)
    if not n:
        return None
    # Nearest rank: the smallest value with at least `fraction` of the values at or below it.
    rank = math.ceil(fraction * n)
    return sorted_values[min(n, max(1, rank)) - 1]


def _is_sink(source: str) -> bool:
    return source == "sink" or source.startswith("sink:")


def _invocations(records: list[Record]) -> int:
    keys: set[Any] = set()
    for index, record in enumerate(records):
        detail = record.detail
        request_id = detail.get("request_id") if detail else None
        keys.add(request_id or index)
    return len(keys)


def _stage(record: Record) -> str:
    detail = record.detail
    function = detail.get("function") if detail else None
    return str(function) if function else (record.source or "unknown")


def _queue(record: Record) -> str | None:
    detail = record.detail
    queue = detail.get("queue") if detail else None
    return queue_name(str(queue)) if queue else None


class _Event:
    """What phase one learnt about one event, for phase two to decide."""

    __slots__ = ("dead", "dlq", "e", "ended", "failed_at", "in_flight", "processed", "sent_at")

    def __init__(self, e: str) -> None:
        self.e = e
        self.sent_at: float | None = None
        self.processed: list[tuple[str, float]] | None = None  # (stage, first time), non-DLQ
        self.dead: Record | None = None
        self.dlq: str | None = None  # the DLQ it was delivered from, if any
        self.failed_at: str | None = None  # stage of the latest failure
        self.in_flight = False
        self.ended = False  # the latest failure: an attempt past its deadline with no outcome


class _Tally:
    """The running totals of one reconciliation."""

    def __init__(self) -> None:
        self.attempt_events = self.attempt_total = self.attempt_max = 0
        self.retried: dict[str, int] = {}
        self.events: list[_Event] = []
        self.stages: dict[str, StageStats] = {}
        self.queues: dict[str, StageStats] = {}
        self.order: dict[tuple[str, str], int] = {}
        self.faults: dict[tuple[int, str], dict[str, Any]] = {}
        # Per stage: events processed there more than once (for duplicates at terminal stages).
        self.dup_ids: dict[str, list[str]] = {}


def _fault(tally: _Tally, record: Record) -> None:
    detail = record.detail or {}
    position = detail.get("fault", -1)
    key = (int(position) if isinstance(position, int) else -1, str(detail.get("kind", "?")))
    entry = tally.faults.get(key)
    if entry is None:
        entry = tally.faults[key] = {"firings": [], "events": set(), "functions": set()}
    ids = [str(e) for e in detail.get("event_ids") or ()]
    entry["firings"].append(ids)
    gave_up = detail.get("gave_up")
    if isinstance(gave_up, int) and gave_up > 0:
        swallowed = detail.get("swallowed")
        entry.setdefault("gave_ups", []).append(
            (ids, gave_up, swallowed if isinstance(swallowed, int) else 0)
        )
    entry["events"].update(ids)
    if detail.get("function"):
        entry["functions"].add(str(detail["function"]))


def _grouped(
    records: list[Record], sink_only: bool, dlqs: frozenset[str], now: float
) -> _Tally | None:
    """Phase one: tally records grouped by event id; ``None`` if they are not grouped that way.

    One sequential pass with no table keyed by event id: at a million events
    such tables cost more than everything else (each insert is a cache miss).
    Per-event tables are only made for the rare event seen at several stages.
    """
    tally = _Tally()
    events, stages, queues, order = tally.events, tally.stages, tally.queues, tally.order
    stage_attempts: dict[str, int] = {}
    stage_processed: dict[str, int] = {}
    queue_attempts: dict[str, int] = {}
    previous = None
    inf = float("-inf")
    names: dict[str, str] = {}  # queue ARN -> short name (a few distinct, millions of uses)
    for e, group in groupby(records, _event_id):
        if previous is not None and e <= previous:
            return None  # not grouped by event id: the caller sorts and retries
        previous = e
        sent_at = None
        dead: Record | None = None
        dlq: str | None = None
        failed_at: str | None = None
        attempts = 0
        last_attempt = last_outcome = last_failure = inf
        last_deadline: Any = None  # the deadline of the latest attempt, if it has one
        last_stage = ""  # the stage of the latest attempt
        ended = False
        first_stage: str | None = None
        first_time = 0.0
        first_at: dict[str, float] | None = None  # only once a second stage appears
        p_stage: str | None = None  # the first stage that processed the event (counted)
        p_seen: str | None = None  # the first stage with a processed record of any kind
        p_more: set[str] | None = None  # further such stages
        p_first: Record | None = None
        done: dict[str, list[Record]] | None = None  # once more than one record processed it
        failed_stages: set[str] | None = None
        via: dict[str, int] | None = None
        fault: Record | None = None  # the latest record of a fault's firing
        for r in group:
            kind = r.kind
            if kind == SENT:
                if sent_at is None or r.at < sent_at:
                    sent_at = r.at
                continue
            if kind == FAULT:
                # A firing may be on record twice (before it acted, and with what followed
                # when its invocation ended): one firing, as the latest record tells it.
                if fault is None or r.at >= fault.at:
                    fault = r
                continue
            if kind == DEAD_LETTERED:
                if dead is None or r.at < dead.at:
                    dead = r
                continue
            if kind != ATTEMPT and kind != PROCESSED and kind != FAILED:
                continue
            detail = r.detail
            if detail:
                function = detail.get("function")
                stage = str(function) if function else (r.source or "unknown")
                raw_queue = detail.get("queue")
            else:
                stage, raw_queue = r.source or "unknown", None
            queue = None
            if raw_queue:
                queue = names.get(raw_queue) if isinstance(raw_queue, str) else None
                if queue is None:
                    queue = names[str(raw_queue)] = queue_name(str(raw_queue))
                if via is None:
                    via = {}
                via[queue] = via.get(queue, 0) | _FLAG.get(kind, 0)
                if dlq is None and queue in dlqs:
                    dlq = queue
            if kind == ATTEMPT:
                attempts += 1
                if r.at > last_attempt:
                    last_attempt = r.at
                    last_deadline = detail.get("deadline") if detail else None
                    last_stage = stage
                stage_attempts[stage] = stage_attempts.get(stage, 0) + 1
                if queue is not None:
                    queue_attempts[queue] = queue_attempts.get(queue, 0) + 1
                if first_stage is None:
                    first_stage, first_time = stage, r.at
                elif stage == first_stage and first_at is None:
                    if r.at < first_time:
                        first_time = r.at
                else:
                    if first_at is None:
                        first_at = {first_stage: first_time}
                    if stage not in first_at or r.at < first_at[stage]:
                        first_at[stage] = r.at
            elif kind == PROCESSED:
                if r.at > last_outcome:
                    last_outcome = r.at
                if stage != p_seen:  # per-stage counts: whatever confirms "processed"
                    if p_seen is None:
                        p_seen = stage
                    else:
                        if p_more is None:
                            p_more = set()
                        p_more.add(stage)
                if sink_only and not _is_sink(r.source):
                    continue
                if queue is not None and queue in dlqs:
                    continue  # handled by the DLQ's consumer: dead-lettered, not processed
                if p_stage is None:
                    p_stage, p_first = stage, r
                else:
                    if done is None:
                        done = {p_stage: [p_first]}  # type: ignore[list-item]
                    done.setdefault(stage, []).append(r)
            else:  # FAILED
                if r.at > last_outcome:
                    last_outcome = r.at
                if failed_stages is None:
                    failed_stages = set()
                failed_stages.add(stage)
                if r.at >= last_failure:
                    last_failure, failed_at = r.at, stage
        if fault is not None:
            _fault(tally, fault)
            if sent_at is None and first_stage is None and p_stage is None:
                continue
        if (
            last_attempt > last_outcome
            and isinstance(last_deadline, int | float)
            and last_deadline + DEADLINE_SLACK < now
        ):
            # The latest invocation ended (Lambda stops it at its deadline) with no outcome.
            ended = True
            if failed_stages is None:
                failed_stages = set()
            failed_stages.add(last_stage)
            failed_at = last_stage
        ev = _Event(e)
        ev.ended = ended
        ev.sent_at, ev.dead, ev.dlq, ev.failed_at = sent_at, dead, dlq, failed_at
        if failed_stages:
            for stage in failed_stages:
                merge_counts(stages, stage).failed += 1
        if via:
            for queue, flags in via.items():
                if flags:
                    stats = merge_counts(queues, queue)
                    stats.processed += flags & 1
                    stats.failed += flags >> 1
        if p_seen is not None:
            stage_processed[p_seen] = stage_processed.get(p_seen, 0) + 1
            if p_more:
                for stage in p_more - {p_seen}:
                    stage_processed[stage] = stage_processed.get(stage, 0) + 1
        if p_stage is not None and done is None:
            ev.processed = [(p_stage, p_first.at)]  # type: ignore[union-attr]
        elif done:
            processed = ev.processed = []
            for stage, recs in done.items():
                stats = merge_counts(stages, stage)
                if len(recs) > 1:
                    if _invocations(recs) > 1:
                        stats.duplicates += 1
                        tally.dup_ids.setdefault(stage, []).append(e)
                    known = [r.at for r in recs if r.at > 0]
                    processed.append((stage, min(known) if known else 0.0))
                else:
                    processed.append((stage, recs[0].at))
        if first_at is not None:
            ordered = sorted(first_at, key=first_at.__getitem__)
            for i, a in enumerate(ordered):
                for b in ordered[i + 1 :]:
                    if first_at[b] > first_at[a]:
                        order[(a, b)] = order.get((a, b), 0) + 1
        if attempts:
            tally.attempt_events += 1
            tally.attempt_total += attempts
            if attempts > 1:
                tally.retried[e] = attempts
                if attempts > tally.attempt_max:
                    tally.attempt_max = attempts
            elif not tally.attempt_max:
                tally.attempt_max = 1
            ev.in_flight = last_attempt > last_outcome and not ended
        events.append(ev)
    for stage, n in stage_attempts.items():
        merge_counts(stages, stage).attempts += n
    for stage, n in stage_processed.items():
        merge_counts(stages, stage).processed += n
    for queue, n in queue_attempts.items():
        merge_counts(queues, queue).attempts += n
    return tally


def _decide(
    tally: _Tally, terminal: set[str], dlq_reasons: Mapping[str, str] | None
) -> Reconciliation:
    """Phase two: decide each event's fate now that the terminal stages are known."""
    processed = dead = unsent = 0
    lost: list[str] = []
    in_flight: list[str] = []
    both: list[str] = []
    reasons: dict[str, int] = {}
    lost_reasons: dict[str, int] = {}
    latencies: list[float] = []
    stages, queues = tally.stages, tally.queues
    for ev in tally.events:
        at = None
        if ev.processed is not None:
            for s, t in ev.processed:
                if s in terminal and (at is None or t < at):
                    at = t
        if at is not None:
            processed += 1
            if ev.dead is not None or ev.dlq is not None:
                both.append(ev.e)
            if ev.sent_at is None:
                unsent += 1
            elif at > 0:  # sink items without a timestamp carry 0: time unknown
                latencies.append(at - ev.sent_at)
        elif ev.dead is not None or ev.dlq is not None:
            dead += 1
            if ev.dead is not None:
                reason = str((ev.dead.detail or {}).get("reason") or "unknown")
                queue = (ev.dead.detail or {}).get("queue") or ev.dead.source
            else:
                reason = (dlq_reasons or {}).get(str(ev.dlq)) or f"dead-lettered to {ev.dlq}"
                queue = ev.dlq
            reasons[reason] = reasons.get(reason, 0) + 1
            if ev.failed_at is not None:
                merge_counts(stages, ev.failed_at).dead_lettered += 1
            if queue:
                merge_counts(queues, queue_name(str(queue))).dead_lettered += 1
            if ev.sent_at is None:
                unsent += 1
        elif ev.sent_at is not None:
            if ev.in_flight:
                in_flight.append(ev.e)
                continue
            lost.append(ev.e)
            if ev.processed:
                why = "stopped after " + ", ".join(sorted(s for s, _ in ev.processed))
            elif ev.ended:
                why = f"no outcome at {ev.failed_at} by its deadline"
            elif ev.failed_at is not None:
                why = f"failed at {ev.failed_at}"
            else:
                why = "never delivered"
            lost_reasons[why] = lost_reasons.get(why, 0) + 1
    duplicates = sorted({e for s in terminal for e in tally.dup_ids.get(s, ())})
    latencies.sort()
    p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
    # The keys reconcile() fills once the stage tables are final follow, in the
    # order the JSON has always had them.
    return {
        "sent": sum(1 for ev in tally.events if ev.sent_at is not None),
        "processed": processed,
        "dead_lettered": dead,
        "lost": len(lost),
        "in_flight": len(in_flight),
        "duplicates": len(duplicates),
        "unsent": unsent,
        "lost_ids": lost,  # already in event id order
        "lost_reasons": dict(sorted(lost_reasons.items())),
        "duplicate_ids": duplicates,
        "in_flight_ids": in_flight,
        "processed_and_dead_lettered_ids": both,
        "dead_letter_reasons": dict(sorted(reasons.items())),
        "latency_ms": {
            "p50": None if p50 is None else round(p50 * 1000.0, 3),
            "p99": None if p99 is None else round(p99 * 1000.0, 3),
        },
        "attempts": {
            "max": tally.attempt_max,
            "mean": round(tally.attempt_total / tally.attempt_events, 3)
            if tally.attempt_events
            else 0.0,
            "by_event": tally.retried,
        },
        "stages": {},
        "queues": {},
        "terminal_stages": [],
        "terminal_from": "inferred",
        "faults": [],
    }


def reconcile(
    records: Iterable[Record],
    processed_from: str = "layer",
    terminal_stages: Iterable[str] | None = None,
    dead_letter_queues: Iterable[str] | None = None,
    edges: Iterable[tuple[str, str]] | None = None,
    now: float | None = None,
) -> Reconciliation:
    """Return the reconciliation of one run's records, JSON-safe.

    Records in the order the ledger store reads them (grouped by event id) take
    one sequential pass; any other order is sorted by event id first.

    Args:
        records: every record of the run, in any order.
        processed_from: ``"layer"`` counts processed records from any source;
            ``"sink"`` counts only those confirmed by the application's sink.
        terminal_stages: the functions where "processed" means done; by
            default the stages nothing traced consumes after (and every sink).
        dead_letter_queues: queues (names, URLs or ARNs) that are dead-letter
            queues or failure destinations: an event delivered from one was
            dead-lettered.
        edges: known ``(upstream, downstream)`` stage pairs from the topology.
        now: the time (epoch seconds) attempts' deadlines are compared with
            (default: the clock).

    Returns:
        ``sent, processed, dead_lettered, lost, in_flight, duplicates, unsent``
        (ints), ``lost_ids, duplicate_ids, in_flight_ids,
        processed_and_dead_lettered_ids`` (sorted lists), ``lost_reasons`` and
        ``dead_letter_reasons`` ({reason: n}), ``attempts`` ({"max", "mean",
        "by_event"}: by_event only for ids with more than one attempt),
        ``latency_ms`` ({"p50", "p99"}, sent to first processed; nulls when
        nothing was both sent and processed with a known time), ``stages`` and
        ``queues`` ({name: {attempts, processed, failed, duplicates,
        dead_lettered}}), ``terminal_stages`` (sorted, with ``terminal_from``:
        ``named`` or ``inferred``) and ``faults`` (one entry per fault that
        fired: ``fault`` position, ``kind``, ``fired``, ``events``, ``functions``;
        ``gave_up``, ``swallowed`` and ``swallowed_ids`` where calls gave up on it).

    Raises:
        ValueError: ``processed_from`` is not ``"layer"`` or ``"sink"``.
    """
    if processed_from not in PROCESSED_FROM:
        raise ValueError(
            f"unknown processed_from '{processed_from}': expected one of "
            + ", ".join(PROCESSED_FROM)
        )
    sink_only = processed_from == "sink"
    dlqs = frozenset(queue_name(str(q)) for q in dead_letter_queues or ())
    recs = records if isinstance(records, list) else list(records)
    # A million per-event objects would trigger the cyclic collector over and over
    # (it tripled the time); they hold no cycles, so pause it for the pass.
    collecting = gc.isenabled()
    gc.disable()
    try:
        clock = time.time() if now is None else now
        tally = _grouped(recs, sink_only, dlqs, clock)
        if tally is None:
            # Timsort is near linear on a few sorted runs (e.g. ledger + sink records).
            tally = _grouped(sorted(recs, key=_event_id), sink_only, dlqs, clock)
            assert tally is not None  # sorted input is grouped by construction
    finally:
        if collecting:
            gc.enable()
    named = [str(s) for s in terminal_stages or ()]
    seen = {s for ev in tally.events for s, _ in ev.processed or ()} | set(tally.stages)
    if named:
        terminal = set(named) | {s for s in seen if _is_sink(s)}
    else:
        terminal = infer_terminal(seen, tally.order, edges)
    out = _decide(tally, terminal, None)
    out["stages"] = as_json(tally.stages)
    out["queues"] = as_json(tally.queues)
    out["terminal_stages"] = sorted(terminal & seen) if not named else sorted(set(named))
    out["terminal_from"] = "named" if named else "inferred"
    out["faults"] = _faults_fired(tally)
    return out


def _faults_fired(tally: _Tally) -> list[FaultFired]:
    """Return each fault's firings on this run's events (or on no traced event at all)."""
    ours: set[str] = set()
    if any(ids for entry in tally.faults.values() for ids in entry["firings"]):
        ours = {ev.e for ev in tally.events}
    out = []
    for (position, kind), entry in sorted(tally.faults.items()):
        fired = FaultFired(
            fault=position,
            kind=kind,
            fired=sum(1 for ids in entry["firings"] if not ids or not ours.isdisjoint(ids)),
            events=len(entry["events"] & ours),
            functions=sorted(entry["functions"]),
        )
        gave_ups = [g for g in entry.get("gave_ups") or () if not g[0] or not ours.isdisjoint(g[0])]
        if gave_ups:
            fired["gave_up"] = sum(g[1] for g in gave_ups)
            fired["swallowed"] = sum(g[2] for g in gave_ups)
            fired["swallowed_ids"] = sorted({e for ids, _, n in gave_ups if n for e in ids} & ours)
        out.append(fired)
    return out
