"""The result shapes the ledger, the probes, the report and the journal exchange.

One place names every key of the dictionaries that cross module boundaries
and end up as JSON in journals: the reconciliation of a run's ledger (what
:func:`chaoskit.ledger.reconcile.reconcile` returns, what
:func:`chaoskit.ledger.discover.reconcile_with_app` adds to it, what
``probes.ledger.wait_until_settled`` adds on top) and the journal's
``chaoskit`` member that the report, the summary and the JUnit output read.

They are :class:`typing.TypedDict` types: at run time plain dictionaries, so
the JSON written to disk is exactly what it was. Readers of journals written
elsewhere (older versions, other tools) still read with ``.get``: a journal on
disk is input, not a promise.

Standard library only (the ledger modules that use it are).
"""

from typing import Any, Literal, NotRequired, TypedDict

__all__ = [
    "AppReconciliation",
    "AttemptStats",
    "FailoverStep",
    "FaultCheck",
    "FaultFired",
    "FaultSpan",
    "InjectedFault",
    "JournalExtension",
    "LatencyMs",
    "Reconciliation",
    "SettledReconciliation",
    "StageCounts",
    "TimelinePoint",
]


class StageCounts(TypedDict):
    """Counts of one stage (function) or one delivering queue over a run."""

    attempts: int
    processed: int
    failed: int
    duplicates: int
    dead_lettered: int


class LatencyMs(TypedDict):
    """Sent to first processed, in milliseconds; ``None`` when nothing was timed."""

    p50: float | None
    p99: float | None


class AttemptStats(TypedDict):
    """Attempts per event: the most, the mean, and the ids attempted more than once."""

    max: int
    mean: float
    by_event: dict[str, int]


class FaultFired(TypedDict):
    """One fault of the layer's config that fired during the run."""

    fault: int  # position in the config (-1 when the record named none)
    kind: str
    fired: int
    events: int
    functions: list[str]
    #: Calls that ended on this fault's error, the client retrying no more (only when some did).
    gave_up: NotRequired[int]
    #: Of those, the ones the invocation answered with success: the function swallowed them.
    swallowed: NotRequired[int]
    #: The events of the invocations that swallowed one.
    swallowed_ids: NotRequired[list[str]]


class Reconciliation(TypedDict):
    """Where every event of a run ended up (:func:`chaoskit.ledger.reconcile.reconcile`)."""

    sent: int
    processed: int
    dead_lettered: int
    lost: int
    in_flight: int
    duplicates: int
    unsent: int
    lost_ids: list[str]
    lost_reasons: dict[str, int]
    duplicate_ids: list[str]
    in_flight_ids: list[str]
    processed_and_dead_lettered_ids: list[str]
    dead_letter_reasons: dict[str, int]
    latency_ms: LatencyMs
    attempts: AttemptStats
    stages: dict[str, StageCounts]
    queues: dict[str, StageCounts]
    terminal_stages: list[str]
    terminal_from: Literal["named", "inferred"]
    faults: list[FaultFired]


class AppReconciliation(Reconciliation):
    """The reconciliation with what the app told (``reconcile_with_app``)."""

    records_from_logs: int
    dead_letter_queues: list[str]
    warnings: list[str]


class SettledReconciliation(AppReconciliation):
    """The reconciliation once the run settled (``probes.ledger.wait_until_settled``)."""

    settled: bool
    waited_s: float
    #: Queue name -> messages it still held, for the queues waited on that were not empty.
    undrained: dict[str, int]


class TimelinePoint(TypedDict):
    """Cumulative counts at one moment of the run (the report's chart)."""

    t: float
    sent: int
    processed: int
    dead_lettered: int
    lost: int


class FaultSpan(TypedDict):
    """When one recorded change was in effect."""

    start: float
    end: float
    label: str


class InjectedFault(TypedDict):
    """A layer fault the experiment's method injected."""

    kind: str
    function: str
    rate: float


class FaultCheck(InjectedFault):
    """An injected fault with how often the ledger saw it fire."""

    fired: int
    events: int
    #: Calls that ended on its error (the client retried no more), where some did.
    gave_up: NotRequired[int]
    #: Of those, the ones their invocation answered with success.
    swallowed: NotRequired[int]


class FailoverStep(TypedDict):
    """A failover activity of the method and what it returned."""

    t: float | None
    name: Any
    output: Any


class JournalExtension(TypedDict, total=False):
    """The journal's ``chaoskit`` member.

    Written by the undo control (``run_id``, ``changes``, ``rollback``,
    ``stop_alarm``, ``safety_abort``), by ``chaoskit.report.enrich`` (the
    ledger parts) and by the runner (``seed``, ``stack``). Every key is
    optional: a run without a ledger, or a journal from plain ``chaos run``
    with only the control, has a few of them.
    """

    run_id: str
    target: str
    seed: str
    stack: dict[str, Any]
    changes: list[dict[str, Any]]
    rollback: list[dict[str, Any]]
    stop_alarm: str  # the CloudWatch alarm that stopped the run
    safety_abort: str
    fault_windows: list[FaultSpan]
    breaker: list[dict[str, Any]]  # a transition: t, source and the record's detail
    failover: list[FailoverStep]
    timeline: list[TimelinePoint]
    ledger: AppReconciliation
    ledger_error: str
    faults_fired: list[FaultCheck]
    inconclusive: list[str]
    #: Set when no event was processed and the app's own code failed them (no fault fired
    #: on them): the run tested the app rejecting chaoskit's events, even if it deviated.
    payload_rejected: bool
    #: Set when every lost event stopped after a stage and no event reached the terminal
    #: stages: the events could not be followed there, even if the run deviated.
    untraced_downstream: bool
    #: Set when the filter of a function reading the load's queue or stream passes none of
    #: its events (Lambda deletes them unseen): the run tested the filter, even if it deviated.
    filtered_out: bool
    unfired_faults_allowed: list[str]
