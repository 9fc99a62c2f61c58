"""A readable view of any Chaos Toolkit journal, ours or not.

Every renderer (HTML, Markdown, JUnit, the run summary) reads journals
through :func:`view_journal`, so they agree on what a run's status, counts,
faults and transitions are. A plain chaostoolkit journal has no ``chaoskit``
key: its view simply has no ledger, timeline or changes.
"""

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from chaoskit.runs import INSTRUMENTATION
from chaoskit.shapes import FaultCheck, StageCounts

__all__ = [
    "INSTRUMENTATION",
    "Activity",
    "Change",
    "Counts",
    "ExperimentView",
    "FaultWindow",
    "ProbeResult",
    "as_epoch",
    "count_of",
    "view_journal",
]

_OUTPUT_LIMIT = 300


def as_epoch(value: Any) -> float | None:
    """Return ``value`` (epoch seconds or an ISO 8601 string) as epoch seconds."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            pass
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
        except ValueError:
            return None
    return None


def count_of(value: Any) -> int | None:
    """Return a count from a number, a list of ids, or a ``{"count"|"total": n}`` dict."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, list | tuple | set):
        return len(value)
    if isinstance(value, Mapping):
        for key in ("count", "total"):
            if isinstance(value.get(key), int | float):
                return int(value[key])
    return None


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)
    return text if len(text) <= _OUTPUT_LIMIT else text[: _OUTPUT_LIMIT - 1] + "…"


@dataclass(frozen=True)
class Counts:
    """Where the run's events ended up, from the ledger reconciliation."""

    sent: int
    processed: int
    dead_lettered: int
    lost: int
    duplicates: int | None = None
    lost_ids: tuple[str, ...] = ()

    def line(self) -> str:
        """Return ``N sent, N processed, N dead-lettered, N lost``."""
        return (
            f"{self.sent} sent, {self.processed} processed, "
            f"{self.dead_lettered} dead-lettered, {self.lost} lost"
        )


@dataclass(frozen=True)
class ProbeResult:
    """One steady-state probe and whether its tolerance held."""

    name: str
    tolerance: str
    output: str
    met: bool | None
    status: str


@dataclass(frozen=True)
class Activity:
    """One method or rollback activity as it ran."""

    name: str
    kind: str
    status: str
    duration: float | None
    error: str = ""


@dataclass(frozen=True)
class Change:
    """A harmful change recorded by the undo control, and whether it was restored."""

    action: str
    resource: str
    status: str
    applied_at: float | None
    restored_at: float | None

    @property
    def restored(self) -> bool:
        """Tell whether the change is no longer live (undone, or never applied)."""
        return self.restored_at is not None or self.status in ("restored", "not-applied")

    @property
    def applied(self) -> bool:
        """Tell whether the change took effect (a failed mutation, undone at once, did not)."""
        return self.status != "not-applied"


@dataclass(frozen=True)
class FaultWindow:
    """A span of time during which a fault was live."""

    start: float
    end: float
    label: str


@dataclass
class ExperimentView:
    """Everything a report shows about one experiment run."""

    title: str
    description: str
    status: str
    deviated: bool
    start: float | None
    end: float | None
    duration: float | None
    run_id: str = ""
    target: str = ""
    before: list[ProbeResult] = field(default_factory=list)
    after: list[ProbeResult] = field(default_factory=list)
    before_met: bool | None = None
    after_met: bool | None = None
    method: list[Activity] = field(default_factory=list)
    rollbacks: list[Activity] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    fault_windows: list[FaultWindow] = field(default_factory=list)
    timeline: list[dict[str, float]] = field(default_factory=list)
    counts: Counts | None = None
    breaker: list[dict[str, Any]] = field(default_factory=list)
    failover: list[dict[str, Any]] = field(default_factory=list)
    #: Why the run proves nothing though it held (a fault that fired zero times, a
    #: function that swallowed a call failed for good by one).
    inconclusive: list[str] = field(default_factory=list)
    #: No event was processed, and the app's own code failed them with no fault fired on
    #: them: a deviation then shows the app rejecting chaoskit's events, not the fault.
    payload_rejected: bool = False
    #: Every lost event stopped after a stage, and no event of the run reached the last
    #: stages: the events could not be followed there, so a deviation proves no loss.
    untraced_downstream: bool = False
    #: A filter on the way (an event source mapping's FilterCriteria) passed none of the
    #: load's events: they were deleted unseen, so a deviation proves no loss.
    filtered_out: bool = False
    #: Each injected layer fault with its fired count: kind, function, rate, fired, events.
    faults_fired: list[FaultCheck] = field(default_factory=list)
    #: Per-stage and per-queue counts from the ledger.
    stages: dict[str, StageCounts] = field(default_factory=dict)
    queues: dict[str, StageCounts] = field(default_factory=dict)
    seed: str = ""

    @property
    def outcome(self) -> str:
        """Return ``passed``, ``inconclusive``, ``deviated``, ``failed`` or ``interrupted``.

        A hypothesis not met *before* the method is a failed run: chaoslib
        marks it ``completed`` and not deviated, but nothing was tested. So is
        a method step that failed (chaoslib carries on after it): a fault that
        was never applied proves nothing, however well the hypothesis held.
        A run that held while an injected fault fired zero times is
        ``inconclusive``: it proves nothing either. So is one, held or deviated, where no
        event was processed and the app's own code failed them with no fault fired on
        them: it tested the app rejecting chaoskit's events (a payload it does not
        accept), not the fault; and one, held or deviated, whose lost events all stopped
        after a stage while no event reached the last stages: they could not be followed
        there; and one, held or deviated, whose load a filter on the way (an event source
        mapping's ``FilterCriteria``) passed none of: Lambda deleted it unseen. So is one
        that held where a function swallowed a call that failed for good on an injected
        fault: its events count as processed, but the work the call was for may not be
        done.
        """
        if self.status in ("interrupted", "aborted"):
            return "interrupted"
        if self.deviated or self.after_met is False:
            return (
                "inconclusive"
                if self.payload_rejected or self.untraced_downstream or self.filtered_out
                else "deviated"
            )
        if self.status != "completed" or self.before_met is False or self.failed_steps:
            return "failed"
        if self.inconclusive:
            return "inconclusive"
        return "passed"

    @property
    def failed_steps(self) -> list[Activity]:
        """Return the method's activities that failed."""
        return [a for a in self.method if a.status == "failed"]

    @property
    def ok(self) -> bool:
        """Tell whether the hypothesis held and the run completed."""
        return self.outcome == "passed"

    @property
    def applied_changes(self) -> list[Change]:
        """Return the changes that took effect (not the failed, undone ones)."""
        return [c for c in self.changes if c.applied]

    @property
    def unrestored(self) -> list[Change]:
        """Return the changes that were applied but not undone."""
        return [c for c in self.changes if not c.restored]

    @property
    def time_to_recover(self) -> float | None:
        """Seconds from the last fault's end until every sent event was settled.

        ``None`` when there is no timeline or no fault window to measure from.
        """
        if not self.timeline or not self.fault_windows:
            return None
        fault_end = max(w.end for w in self.fault_windows)
        for point in self.timeline:
            if point["t"] >= fault_end and point.get("lost", 0) == 0:
                return max(0.0, point["t"] - fault_end)
        return None


def _probes(state: Any) -> tuple[list[ProbeResult], bool | None]:
    if not isinstance(state, Mapping):
        return [], None
    results = []
    for probe in state.get("probes") or []:
        activity = probe.get("activity") or {}
        met = probe.get("tolerance_met")
        results.append(
            ProbeResult(
                name=str(activity.get("name", "?")),
                tolerance=_short(activity.get("tolerance")),
                output=_short(probe.get("output")),
                met=met if isinstance(met, bool) else None,
                status=str(probe.get("status", "")),
            )
        )
    met = state.get("steady_state_met")
    return results, met if isinstance(met, bool) else None


def _activities(runs: Any) -> list[Activity]:
    out = []
    for run in runs or []:
        activity = run.get("activity") or {}
        exc = run.get("exception") or []
        error = str(exc[-1]).strip() if isinstance(exc, list) and exc else ""
        out.append(
            Activity(
                name=str(activity.get("name", "?")),
                kind=str(activity.get("type", "")),
                status=str(run.get("status", "")),
                duration=run.get("duration")
                if isinstance(run.get("duration"), int | float)
                else None,
                error=error,
            )
        )
    return out


def _changes(items: Any) -> list[Change]:
    out = []
    for item in items or []:
        if not isinstance(item, Mapping):
            continue
        out.append(
            Change(
                action=str(item.get("action", "?")),
                resource=str(item.get("resource", "?")),
                status=str(item.get("status", "")),
                applied_at=as_epoch(item.get("applied_at")),
                restored_at=as_epoch(item.get("restored_at")),
            )
        )
    return out


def _windows(
    ext: Mapping[str, Any], changes: Sequence[Change], end: float | None
) -> list[FaultWindow]:
    windows = []
    given = ext.get("fault_windows") or []
    for item in given:
        start, stop = as_epoch(item.get("start")), as_epoch(item.get("end"))
        label = str(item.get("label", ""))
        if start is not None and label.split(" ", 1)[0] not in INSTRUMENTATION:
            windows.append(FaultWindow(start, stop or end or start, label))
    if given:
        return windows
    for change in changes:
        if change.applied_at is not None and change.action not in INSTRUMENTATION:
            stop = change.restored_at or end or change.applied_at
            windows.append(
                FaultWindow(change.applied_at, stop, f"{change.action} {change.resource}")
            )
    return windows


def _counts(ledger: Any, timeline: Sequence[Mapping[str, float]]) -> Counts | None:
    if isinstance(ledger, Mapping):
        values = {
            k: count_of(ledger.get(k)) for k in ("sent", "processed", "dead_lettered", "lost")
        }
        if all(v is not None for v in values.values()):
            lost_ids = ledger.get("lost_ids") or (
                ledger["lost"] if isinstance(ledger.get("lost"), list) else []
            )
            return Counts(
                sent=values["sent"] or 0,
                processed=values["processed"] or 0,
                dead_lettered=values["dead_lettered"] or 0,
                lost=values["lost"] or 0,
                duplicates=count_of(ledger.get("duplicates")),
                lost_ids=tuple(str(i) for i in lost_ids),
            )
    if timeline:
        last = timeline[-1]
        return Counts(
            sent=int(last.get("sent", 0)),
            processed=int(last.get("processed", 0)),
            dead_lettered=int(last.get("dead_lettered", 0)),
            lost=int(last.get("lost", 0)),
        )
    return None


def view_journal(journal: Mapping[str, Any]) -> ExperimentView:
    """Return the :class:`ExperimentView` of a Chaos Toolkit journal."""
    experiment = journal.get("experiment") or {}
    ext = journal.get("chaoskit") if isinstance(journal.get("chaoskit"), Mapping) else {}
    assert isinstance(ext, Mapping)
    states = journal.get("steady_states") or {}
    before, before_met = _probes(states.get("before"))
    after, after_met = _probes(states.get("after"))
    start, end = as_epoch(journal.get("start")), as_epoch(journal.get("end"))
    changes = _changes(ext.get("changes"))
    timeline = [dict(p) for p in ext.get("timeline") or [] if isinstance(p, Mapping) and "t" in p]
    duration = journal.get("duration")
    return ExperimentView(
        title=str(experiment.get("title") or "untitled experiment"),
        description=str(experiment.get("description") or ""),
        status=str(journal.get("status") or "unknown"),
        deviated=bool(journal.get("deviated")),
        start=start,
        end=end,
        duration=float(duration) if isinstance(duration, int | float) else None,
        run_id=str(ext.get("run_id") or ""),
        target=str(ext.get("target") or ""),
        before=before,
        after=after,
        before_met=before_met,
        after_met=after_met,
        method=_activities(journal.get("run")),
        rollbacks=_activities(journal.get("rollbacks")),
        changes=changes,
        fault_windows=_windows(ext, changes, end),
        timeline=timeline,
        counts=_counts(ext.get("ledger"), timeline),
        inconclusive=[str(r) for r in ext.get("inconclusive") or []],
        payload_rejected=bool(ext.get("payload_rejected")),
        untraced_downstream=bool(ext.get("untraced_downstream")),
        filtered_out=bool(ext.get("filtered_out")),
        # Journals on disk may come from older versions: readers use .get on these.
        faults_fired=[
            cast(FaultCheck, dict(f))
            for f in ext.get("faults_fired") or []
            if isinstance(f, Mapping)
        ],
        stages=dict((ext.get("ledger") or {}).get("stages") or {}),
        queues=dict((ext.get("ledger") or {}).get("queues") or {}),
        seed=str(ext.get("seed") or ""),
        breaker=[dict(b) for b in ext.get("breaker") or [] if isinstance(b, Mapping)],
        failover=[dict(f) for f in ext.get("failover") or [] if isinstance(f, Mapping)],
    )
