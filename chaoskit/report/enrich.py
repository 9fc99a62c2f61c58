"""Fill a journal's ``chaoskit`` member from the event ledger, fail-soft.

The runner calls :func:`enrich_journal` after Chaos Toolkit returns. It reads
the run's ledger records, asks the ledger reconciliation (when that module is
installed) for the final counts, and derives the timeline, the fault windows
and the breaker transitions the report draws. A target with no ledger, or an
experiment that never touched one, still reports: the ledger parts are left
out and a note says why.
"""

import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit import envvars
from chaoskit.errors import BadInput, ChaosKitError
from chaoskit.ledger import records as kinds
from chaoskit.ledger.records import Record
from chaoskit.ledger.stages import queue_name
from chaoskit.report.model import INSTRUMENTATION, as_epoch
from chaoskit.shapes import (
    AppReconciliation,
    FailoverStep,
    FaultCheck,
    FaultSpan,
    InjectedFault,
    JournalExtension,
    Reconciliation,
    TimelinePoint,
)

__all__ = [
    "breaker_transitions",
    "build_timeline",
    "check_faults_fired",
    "enrich_journal",
    "own_failures",
    "uses_chaoskit_activities",
    "uses_ledger",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

RecordReader = Callable[[str, Mapping[str, Any]], list[Record]]

#: Most points a timeline keeps; longer runs are bucketed evenly.
MAX_POINTS = 120
#: Activity modules whose presence means the run writes to the ledger.
_LEDGER_MODULES = ("chaoskit", "probes")


def uses_ledger(experiment: Mapping[str, Any], configuration: Mapping[str, Any]) -> bool:
    """Tell whether a run of ``experiment`` can have written ledger records.

    ``chaoskit_ledger`` in the configuration forces the answer; otherwise any
    chaoskit action or probe in the experiment means yes.
    """
    forced = configuration.get("chaoskit_ledger")
    try:
        if forced is not None and str(forced).strip():
            return envvars.parse_flag(forced, name="chaoskit_ledger")
    except ValueError as err:
        raise BadInput(str(err)) from err
    return uses_chaoskit_activities(experiment)


def uses_chaoskit_activities(experiment: Mapping[str, Any]) -> bool:
    """Tell whether any activity of ``experiment`` is a chaoskit action or probe."""
    hypothesis = experiment.get("steady-state-hypothesis") or {}
    activities = [
        *(hypothesis.get("probes") or []),
        *(experiment.get("method") or []),
        *(experiment.get("rollbacks") or []),
    ]
    for activity in activities:
        module = str((activity.get("provider") or {}).get("module") or "")
        if module.split(".")[0] in _LEDGER_MODULES:
            return True
    return False


def _firsts(records: Iterable[Record], kind: str, source_prefix: str = "") -> dict[str, float]:
    first: dict[str, float] = {}
    for r in records:
        if (
            r.kind == kind
            and r.source.startswith(source_prefix)
            and (r.event_id not in first or r.at < first[r.event_id])
        ):
            first[r.event_id] = r.at
    return first


def _through_dlqs(records: Iterable[Record], dlqs: set[str]) -> dict[str, float]:
    """Return, per event, when a traced function first got it through a dead-letter queue."""
    first: dict[str, float] = {}
    for r in records:
        if r.kind == kinds.ATTEMPT and _via(r, dlqs) and r.at < first.get(r.event_id, math.inf):
            first[r.event_id] = r.at
    return first


def build_timeline(
    records: Sequence[Record],
    processed_from: str = "layer",
    max_points: int = MAX_POINTS,
    dead_letter_queues: Iterable[str] = (),
) -> list[TimelinePoint]:
    """Return cumulative counts over time from a run's ledger records.

    Each point is ``{"t", "sent", "processed", "dead_lettered", "lost"}``:
    events sent so far, first processed so far, dead-lettered (and never
    processed) so far, and events sent but not yet accounted for. Once the
    run has settled, the last point's ``lost`` is the number of lost events.

    Args:
        records: the run's records (any order).
        processed_from: ``"sink"`` counts only processed records confirmed by
            the app's sink (source ``sink:...``); ``"layer"`` counts any.
        max_points: the most points to return.
        dead_letter_queues: the run's dead-letter queues (names): an event a traced
            function got through one of them is dead-lettered from then on, and its
            processing there is not the event's (as the reconciliation counts it).
    """
    dlqs = set(dead_letter_queues)
    sent = _firsts(records, kinds.SENT)
    through = _through_dlqs(records, dlqs) if dlqs else {}
    own = [r for r in records if r.kind != kinds.PROCESSED or not _via(r, dlqs)]
    processed = _firsts(own, kinds.PROCESSED, "sink:" if processed_from == "sink" else "")
    dead = _firsts(records, kinds.DEAD_LETTERED)
    for event, at in through.items():
        dead[event] = min(at, dead.get(event, math.inf))
    dead = {e: t for e, t in dead.items() if e not in processed}
    stamps = sorted({*sent.values(), *processed.values(), *dead.values()})
    if not stamps:
        return []
    if len(stamps) <= max_points:
        times = stamps  # exact: one point per moment something happened
    else:
        first, last, steps = stamps[0], stamps[-1], max_points - 1
        times = [first + (last - first) * i / steps for i in range(steps + 1)]
    sent_at, proc_at, dead_at = (
        sorted(sent.values()),
        sorted(processed.values()),
        sorted(dead.values()),
    )
    points: list[TimelinePoint] = []
    i = j = k = 0
    for t in times:
        while i < len(sent_at) and sent_at[i] <= t:
            i += 1
        while j < len(proc_at) and proc_at[j] <= t:
            j += 1
        while k < len(dead_at) and dead_at[k] <= t:
            k += 1
        # Processed events never recorded as sent (a foreign writer) must not make "lost" < 0.
        points.append(
            {"t": t, "sent": i, "processed": j, "dead_lettered": k, "lost": max(0, i - j - k)}
        )
    return points


def _via(record: Record, dlqs: set[str]) -> bool:
    """Whether ``record`` is of a delivery through one of the dead-letter queues ``dlqs``."""
    queue = (record.detail or {}).get("queue")
    return bool(dlqs and queue and queue_name(str(queue)) in dlqs)


def breaker_transitions(records: Iterable[Record]) -> list[dict[str, Any]]:
    """Return the breaker transitions recorded in the ledger, oldest first."""
    out = []
    for r in sorted((r for r in records if r.kind == kinds.BREAKER), key=lambda r: r.at):
        entry: dict[str, Any] = {"t": r.at, "source": r.source}
        entry.update(r.detail or {})
        out.append(entry)
    return out


def _reconcile(
    run_id: str, records: list[Record], configuration: Mapping[str, Any]
) -> AppReconciliation:
    from chaoskit.ledger.discover import reconcile_with_app

    processed_from = str(configuration.get("chaoskit_processed_from") or "layer")
    return reconcile_with_app(run_id, records, configuration, processed_from)


def _injected(journal: Mapping[str, Any]) -> list[InjectedFault]:
    """Return the layer faults the method injected: kind, function, rate."""
    out: list[InjectedFault] = []
    for run in journal.get("run") or []:
        activity = run.get("activity") or {}
        provider = activity.get("provider") or {}
        func = str(provider.get("func") or "")
        module = str(provider.get("module") or "")
        output = run.get("output")
        if not (func.startswith("inject_") and module.startswith("chaoskit")):
            continue
        if run.get("status") != "succeeded" or not isinstance(output, Mapping):
            continue
        if output.get("dry_run") or not output.get("function_name"):
            continue
        kind = "http" if func == "inject_http_fault" else func[len("inject_") :]
        rate = (provider.get("arguments") or {}).get("rate", 1.0)
        try:
            rate = float(rate)
        except (TypeError, ValueError):
            rate = 1.0
        out.append({"kind": kind, "function": str(output["function_name"]), "rate": rate})
    return out


def filtered_load(journal: Mapping[str, Any]) -> list[str]:
    """Return why the run is inconclusive where a filter on the way dropped its load.

    ``send_events`` asks, before sending to a queue or stream, whether the
    ``FilterCriteria`` of each function reading it passes the events
    (:mod:`chaoskit.faults._filters`). Lambda deletes those no pattern passes, unseen:
    counted lost, they would make the fault look guilty of the filter's work.
    """
    reasons = []
    for run in journal.get("run") or []:
        provider = (run.get("activity") or {}).get("provider") or {}
        output = run.get("output")
        ours = provider.get("module") == "chaoskit.faults.load"
        if not ours or provider.get("func") != "send_events" or not isinstance(output, Mapping):
            continue
        for drop in output.get("filtered_out") or ():
            reasons.append(
                f"the {output.get('sent', 0)} event(s) sent to {output.get('target_type')} "
                f"'{output.get('target')}' do not pass the FilterCriteria of "
                f"{drop.get('function')}'s event source mapping {drop.get('mapping')} "
                f"({' or '.join(drop.get('patterns') or [])}): Lambda deletes them unseen, so "
                "the run tested the filter, not the fault. Give the load a payload one "
                "pattern passes"
            )
    return reasons


def check_faults_fired(
    journal: Mapping[str, Any], ledger: Reconciliation
) -> tuple[list[FaultCheck], list[str]]:
    """Return each injected fault with how often it fired, and why the run is inconclusive.

    A fault injected at a rate above 0 that fired zero times (no ``fault``
    record in the ledger for its kind and function) makes the run
    inconclusive: a hypothesis that held proves nothing then.
    """
    fired = [f for f in ledger.get("faults") or [] if isinstance(f, Mapping)]
    checked: list[FaultCheck] = []
    reasons = []
    for fault in _injected(journal):
        hits = [
            f for f in fired
            if f.get("kind") == fault["kind"] and fault["function"] in (f.get("functions") or [])
        ]  # fmt: skip
        count = sum(int(f.get("fired") or 0) for f in hits)
        events = sum(int(f.get("events") or 0) for f in hits)
        check: FaultCheck = {**fault, "fired": count, "events": events}
        if any("gave_up" in f for f in hits):
            check["gave_up"] = sum(int(f.get("gave_up") or 0) for f in hits)
            check["swallowed"] = sum(int(f.get("swallowed") or 0) for f in hits)
        checked.append(check)
        if fault["rate"] > 0 and count == 0:
            reasons.append(
                f"{fault['kind']} fault on '{fault['function']}' (rate {fault['rate']:g}) "
                "fired 0 times"
            )
    return checked, reasons


def swallowed_failures(ledger: Reconciliation, shown: int = 5) -> list[str]:
    """Return why the run is inconclusive where functions swallowed calls that failed for good.

    A call that ended on an injected error (the SDK retried no more) inside an invocation
    that then reported success: the ledger counts its events processed, but the work the
    call was for may not be done. A hypothesis that held proves nothing for those events.
    """
    reasons = []
    for fault in ledger.get("faults") or []:
        swallowed = int(fault.get("swallowed") or 0) if isinstance(fault, Mapping) else 0
        if not swallowed:
            continue
        where = ", ".join(f"'{f}'" for f in fault.get("functions") or ()) or "a function"
        ids = list(fault.get("swallowed_ids") or ())
        listed = ", ".join(ids[:shown]) + (f" and {len(ids) - shown} more" if len(ids) > shown
                                           else "")  # fmt: skip
        reasons.append(
            f"{swallowed} call(s) in {where} failed for good on the injected {fault['kind']} "
            "(the SDK retried no more), and the invocation then reported success: the "
            "function swallowed the error, so the ledger counts its events processed though "
            "the work may not be done"
            + (f" (events {listed})" if listed else "")
            + ". Each has a 'gave_up' line in the function's log. To see which events were "
            "kept, look where that work lands (with a table of the app's: "
            "'chaoskit_processed_from: sink')"
        )
    return reasons


def untraced_downstream(ledger: Reconciliation) -> list[str]:
    """Return why a run is inconclusive where no event could be followed to its last stage.

    Every lost event stopped after a stage that processed it, and the terminal stages saw
    none of the run's events at all: either they never ran, or that stage does not pass
    chaoskit's trace mark on (it writes an item made of some of the event's fields, or
    sends a new message). The ledger cannot tell which, so it does not call them lost.
    """
    lost = int(ledger.get("lost") or 0)
    reasons = ledger.get("lost_reasons") or {}
    prefix = "stopped after "
    stopped = sorted(k.removeprefix(prefix) for k in reasons if k.startswith(prefix))
    terminal = list(ledger.get("terminal_stages") or ())
    stages: Mapping[str, Any] = ledger.get("stages") or {}
    if not lost or sum(n for k, n in reasons.items() if k.startswith(prefix)) != lost:
        return []
    seen = ("attempts", "processed", "failed", "dead_lettered")
    if not terminal or any(
        int((stages.get(t) or {}).get(count) or 0) for t in terminal for count in seen
    ):
        return []
    where = ", ".join(stopped)
    return [
        f"all {lost} lost event(s) stopped after {where}, and no event of the run reached "
        f"{', '.join(terminal)}: either it never ran, or {where} does not pass chaoskit's "
        "trace mark on (it writes or sends something made of what it got, not the event "
        "itself), so what happens after it cannot be followed. To test it alone, set "
        f"chaoskit_terminal_stages to [{where}]"
    ]


def own_failures(
    records: Iterable[Record],
    dead_letter_queues: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> dict[tuple[str, str], int]:
    """Return how many events the app's own code failed or dead-lettered, per function and why.

    An event counts when no fault of the run fired on it and either:

    - it failed somewhere and was processed nowhere: what failed it is the function's
      code meeting that event (a payload the app rejects, or a poison record sent on
      purpose), not chaoskit. It is counted once, at its last failure;
    - it never failed, was handled without error, and then reached a dead-letter queue
      that SQS's redrive did not put it in (the message has no ``DeadLetterQueueSourceArn``):
      the code that handled it sent it there (an app that routes what it cannot use to a
      queue of its own). It is counted at the last function that handled it.

    A delivery through one of ``dead_letter_queues`` (names) does not count, as a failure
    or as processing: the event was dead-lettered before it, and what the DLQ's reader
    makes of it is after the fact. Events in ``exclude`` (ids) are left out.
    """
    records = records if isinstance(records, list) else list(records)  # read twice
    dlqs = set(dead_letter_queues)
    faulted: set[str] = set(exclude)
    failed: dict[str, tuple[float, str, str]] = {}
    routed: dict[str, str] = {}  # event -> the queue code put it in
    for r in records:
        if r.kind == kinds.FAULT:
            faulted.update(str(e) for e in (r.detail or {}).get("event_ids") or ())
        elif r.kind == kinds.FAILED:
            detail = r.detail or {}
            if _via(r, dlqs):
                continue
            where = str(detail.get("function") or r.source or "unknown")
            error = str(detail.get("error") or "an error")
            if error == "batchItemFailure":  # no error on record: the app's log has it
                error = "reported failed in its batch response; its log says why"
            if r.event_id not in failed or r.at >= failed[r.event_id][0]:
                failed[r.event_id] = (r.at, where, error)
        elif r.kind == kinds.DEAD_LETTERED:
            detail = r.detail or {}
            if detail.get("format") == "sqs_redrive" and not detail.get("condition"):
                routed[r.event_id] = str(detail.get("queue") or r.source or "a queue")
    for event in faulted:
        failed.pop(event, None)
        routed.pop(event, None)
    for event in failed:
        routed.pop(event, None)
    if not failed and not routed:  # the usual run: no table of every processed event is built
        return {}
    handled: dict[str, tuple[float, str]] = {}
    for r in records:
        if r.kind == kinds.PROCESSED and not _via(r, dlqs):
            failed.pop(r.event_id, None)
            if r.event_id in routed and (
                r.event_id not in handled or r.at >= handled[r.event_id][0]
            ):
                where = str((r.detail or {}).get("function") or r.source or "unknown")
                handled[r.event_id] = (r.at, where)
    counts: dict[tuple[str, str], int] = {}
    for _, where, error in failed.values():
        counts[(where, error)] = counts.get((where, error), 0) + 1
    for event, (_, where) in handled.items():
        key = (where, f"handled, then sent to {routed[event]} by its code")
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))


def _own_failure_notes(
    counts: Mapping[tuple[str, str], int], processed: int
) -> tuple[list[str], list[str]]:
    """Return the warning on events the app's own code failed or dead-lettered, or, when no
    event was processed at all, the reason the run is inconclusive instead."""
    if not counts:
        return [], []
    parts = [f"{n} at {where} ({error})" for (where, error), n in counts.items()]
    total = sum(counts.values())
    warning = (
        f"{total} event(s) were failed or dead-lettered by the app's own code with no fault "
        f"fired on them, and were never processed: {', '.join(parts)}. Unless the experiment "
        "sent them broken on purpose, the events' payload is not one the app accepts: give "
        "the experiment one it does ('payload:' of its send_events action)"
    )
    if processed:
        return [warning], []
    reason = (
        f"no event was processed, and {total} were failed or dead-lettered by the app's own "
        f"code with no fault fired on them ({', '.join(parts)}): the run tested the app "
        "rejecting chaoskit's events, not the fault; give the experiment a payload the app "
        "accepts"
    )
    return [], [reason]


def _failover(journal: Mapping[str, Any]) -> list[FailoverStep]:
    out: list[FailoverStep] = []
    for run in journal.get("run") or []:
        activity = run.get("activity") or {}
        module = str((activity.get("provider") or {}).get("module") or "")
        if module.endswith("failover") and run.get("output") is not None:
            out.append(
                {
                    "t": as_epoch(run.get("end")),
                    "name": activity.get("name"),
                    "output": run["output"],
                }
            )
    return out


def _fault_windows(changes: Iterable[Any], end: float | None) -> list[FaultSpan]:
    windows: list[FaultSpan] = []
    for change in changes:
        if not isinstance(change, Mapping):
            continue
        start = as_epoch(change.get("applied_at"))
        if start is None or change.get("action") in INSTRUMENTATION:
            continue
        stop = as_epoch(change.get("restored_at")) or end or start
        label = f"{change.get('action', '?')} {change.get('resource', '')}".strip()
        windows.append({"start": start, "end": stop, "label": label})
    return windows


def _read_ledger_and_sink(run_id: str, configuration: Mapping[str, Any]) -> list[Record]:
    # The summary must count what the probes count: with a sink table, its items
    # are the processed events (``chaoskit_processed_from: sink``).
    from chaoskit.ledger.store import read_run, read_sink

    records = read_run(run_id, configuration)
    sink = configuration.get("chaoskit_sink_table")
    if sink:
        records.extend(read_sink(str(sink), run_id, configuration, records=records))
    return records


def enrich_journal(
    journal: dict[str, Any],
    run_id: str,
    configuration: Mapping[str, Any],
    target: str,
    read_records: RecordReader | None = None,
    with_ledger: bool = True,
) -> JournalExtension:
    """Fill ``journal["chaoskit"]`` and return it.

    Keeps whatever the control already wrote there (``changes``). The ledger
    is read only when ``with_ledger``; if reading fails the reason is noted
    under ``ledger_error`` and the rest of the journal is still filled.
    """
    ext: JournalExtension = journal.setdefault("chaoskit", {})
    ext["run_id"] = run_id
    ext["target"] = target
    ext.setdefault("changes", [])
    ext["fault_windows"] = _fault_windows(ext["changes"], as_epoch(journal.get("end")))
    ext.setdefault("breaker", [])
    ext["failover"] = ext.get("failover") or _failover(journal)
    if not with_ledger:
        return ext
    if read_records is None:
        read_records = _read_ledger_and_sink
    try:
        records = list(read_records(run_id, configuration))
    except (ChaosKitError, BotoCoreError, ClientError) as err:
        logger.warning("could not read the ledger of run '%s': %s", run_id, err)
        ext["ledger_error"] = str(err)
        return ext
    processed_from = str(configuration.get("chaoskit_processed_from") or "layer")
    ext["breaker"] = ext["breaker"] or breaker_transitions(records)
    ledger = ext["ledger"] = _reconcile(run_id, records, configuration)
    ext["timeline"] = build_timeline(
        records, processed_from, dead_letter_queues=ledger.get("dead_letter_queues") or ()
    )
    ext["faults_fired"], reasons = check_faults_fired(journal, ledger)
    required = configuration.get("chaoskit_require_faults_fired", True)
    if envvars.is_falsy(required):
        ext["inconclusive"] = []
        ext["unfired_faults_allowed"] = reasons
    else:
        ext["inconclusive"] = reasons
    filtered = filtered_load(journal)
    ext["inconclusive"] = [*ext["inconclusive"], *swallowed_failures(ledger), *filtered]
    ext["filtered_out"] = bool(filtered)
    own = own_failures(
        records,
        ledger.get("dead_letter_queues") or (),
        exclude=ledger.get("processed_and_dead_lettered_ids") or (),
    )
    warnings, rejected = _own_failure_notes(own, int(ledger["processed"]))
    if warnings:
        ledger["warnings"] = [*(ledger.get("warnings") or []), *warnings]
    untraced = untraced_downstream(ledger)
    ext["inconclusive"] = [*ext["inconclusive"], *rejected, *untraced]
    ext["payload_rejected"] = bool(rejected)
    ext["untraced_downstream"] = bool(untraced)
    return ext
