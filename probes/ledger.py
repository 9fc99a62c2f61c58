"""Probes over the event ledger: where did every event of the run go?

``reconcile_run`` returns the whole reconciliation (see
``chaoskit.ledger.reconcile``); the ``count_*`` probes return one number each,
for tolerances. ``wait_until_settled`` replaces fixed pauses: it polls until
nothing is in flight and the queues are drained, reading dead-letter queues
into the ledger as it goes.

Processed events are counted from the layer's records at the run's terminal
stages (``terminal_stages``, or the stages nothing traced consumes after), or,
with ``processed_from: sink``, only from the application's own sink table: a
DynamoDB table whose items carry ``run_id`` and ``event_id``, or the app's own
key (``sink_key``: the table's key attribute, matched to the payload field the
load action recorded; see ``send_events(key_path=...)``).

Dead-letter queues are found from the app itself (redrive policies, function
DLQs and on-failure destinations of the stages seen); events delivered by one
to a traced consumer count as dead-lettered, and chaoskit never reads a DLQ
that has a consumer. Records a function could not write to the table are
collected from its CloudWatch Logs (``records_from_logs``).
"""

import logging
import time
from collections.abc import Mapping
from typing import Any

from chaoslib.types import Configuration, Secrets

from chaoskit.errors import BadInput
from chaoskit.ledger import store
from chaoskit.ledger.discover import reconcile_with_app
from chaoskit.ledger.reconcile import PROCESSED_FROM, unsettled
from chaoskit.ledger.records import ATTEMPT, FAILED, Record
from chaoskit.ledger.stages import queue_name
from chaoskit.run_context import current_run_id
from chaoskit.shapes import AppReconciliation, Reconciliation, SettledReconciliation
from probes.dlq import get_queue_depth, record_dead_letters, with_consumers

__all__ = [
    "count_dead_lettered_events",
    "count_duplicate_events",
    "count_in_flight_events",
    "count_lost_events",
    "count_processed_events",
    "count_sent_events",
    "reconcile_run",
    "wait_until_settled",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

# Injected in tests: the wait never really sleeps there.
_clock = time.monotonic
_sleep = time.sleep
_now = time.time  # ledger times are epoch seconds


def _processed_from(processed_from: str | None, configuration: Configuration) -> str:
    value = str(processed_from or (configuration or {}).get("chaoskit_processed_from") or "layer")
    if value not in PROCESSED_FROM:
        raise BadInput(f"unknown processed_from '{value}': expected one of layer, sink")
    return value


def reconcile_run(
    run_id: str | None = None,
    sink_table: str | None = None,
    processed_from: str | None = None,
    terminal_stages: list[str] | None = None,
    dead_letter_queues: list[str] | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> AppReconciliation:
    """Reconcile a run: sent, processed, dead-lettered, lost, duplicated, in flight.

    Args:
        run_id: the run (default: the current run).
        sink_table: DynamoDB table of the app's sink whose items (``run_id``,
            ``event_id``, or the app's own key with ``chaoskit_sink_key``) count
            as processed (default: configuration ``chaoskit_sink_table``; none if unset).
        processed_from: ``layer`` or ``sink`` (default: configuration
            ``chaoskit_processed_from``, else ``layer``).
        terminal_stages: the functions where "processed" means done
            (default: configuration ``chaoskit_terminal_stages``, else the
            stages nothing traced consumes after).
        dead_letter_queues: more dead-letter queues than the app's own
            configuration names (default: ``chaoskit_dead_letter_queues``).

    Returns:
        The reconciliation: counts, ``lost_ids``, ``lost_reasons``,
        ``duplicate_ids``, ``in_flight_ids``, ``dead_letter_reasons``,
        ``attempts``, ``latency_ms`` (p50/p99), ``stages`` and ``queues``
        (per-stage and per-queue counts), ``terminal_stages``, ``faults``
        (fired counts per fault), ``records_from_logs``,
        ``dead_letter_queues`` and ``warnings``.
    """
    cfg = configuration or {}
    run = run_id or current_run_id(cfg)
    return _reconcile_records(
        run, sink_table, processed_from, cfg, terminal_stages, dead_letter_queues
    )[0]


def _reconcile_records(
    run: str,
    sink_table: str | None,
    processed_from: str | None,
    cfg: Mapping[str, Any],
    terminal_stages: list[str] | None = None,
    dead_letter_queues: list[str] | None = None,
) -> tuple[AppReconciliation, list[Record]]:
    mode = _processed_from(processed_from, cfg)
    table = sink_table or cfg.get("chaoskit_sink_table")
    if mode == "sink" and not table:
        raise BadInput("processed_from 'sink' needs a sink_table (or chaoskit_sink_table)")
    records = store.read_run(run, cfg, missing_ok=True)
    if table:
        records.extend(store.read_sink(str(table), run, cfg, records=records))
    result = reconcile_with_app(run, records, cfg, mode, terminal_stages, dead_letter_queues)
    return result, records


def count_sent_events(
    run_id: str | None = None,
    sink_table: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many distinct events the run sent.

    Args:
        run_id: the run (default: the current run).
        sink_table: the app's sink table (default: configuration ``chaoskit_sink_table``).
    """
    return reconcile_run(run_id, sink_table, configuration=configuration)["sent"]


def count_processed_events(
    run_id: str | None = None,
    sink_table: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many distinct events were processed at least once.

    Args:
        run_id: the run (default: the current run).
        sink_table: the app's sink table (default: configuration ``chaoskit_sink_table``).
    """
    return reconcile_run(run_id, sink_table, configuration=configuration)["processed"]


def count_dead_lettered_events(
    run_id: str | None = None,
    sink_table: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many distinct events were dead-lettered and never processed.

    Args:
        run_id: the run (default: the current run).
        sink_table: the app's sink table (default: configuration ``chaoskit_sink_table``).
    """
    return reconcile_run(run_id, sink_table, configuration=configuration)["dead_lettered"]


def count_lost_events(
    run_id: str | None = None,
    sink_table: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many sent events were neither processed, dead-lettered nor in flight.

    Final only once the run has settled: call ``wait_until_settled`` first.

    Args:
        run_id: the run (default: the current run).
        sink_table: the app's sink table (default: configuration ``chaoskit_sink_table``).
    """
    return reconcile_run(run_id, sink_table, configuration=configuration)["lost"]


def count_duplicate_events(
    run_id: str | None = None,
    sink_table: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many events were processed more than once by the same source.

    Args:
        run_id: the run (default: the current run).
        sink_table: the app's sink table (default: configuration ``chaoskit_sink_table``).
    """
    return reconcile_run(run_id, sink_table, configuration=configuration)["duplicates"]


def count_in_flight_events(
    run_id: str | None = None,
    sink_table: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many events have an invocation running right now.

    Args:
        run_id: the run (default: the current run).
        sink_table: the app's sink table (default: configuration ``chaoskit_sink_table``).
    """
    return reconcile_run(run_id, sink_table, configuration=configuration)["in_flight"]


def _last_failure(records: list[Record], events: set[str]) -> float:
    """The latest failure of ``events``: a ``failed`` record, or an attempt's passed deadline."""
    now = _now()
    latest = float("-inf")
    for r in records:
        if r.event_id not in events:
            continue
        if r.kind == FAILED:
            latest = max(latest, r.at)
        elif r.kind == ATTEMPT and r.detail:
            deadline = r.detail.get("deadline")
            if isinstance(deadline, int | float) and deadline <= now:
                latest = max(latest, float(deadline))
    return latest


def _signature(result: Reconciliation) -> tuple[int, ...]:
    return (
        result["sent"],
        result["processed"],
        result["dead_lettered"],
        result["lost"],
        result["in_flight"],
        result["duplicates"],
    )


def wait_until_settled(
    timeout: float = 120,
    queues: list[str] | None = None,
    dlqs: list[str] | None = None,
    run_id: str | None = None,
    sink_table: str | None = None,
    processed_from: str | None = None,
    poll_interval: float = 2.0,
    quiet_seconds: float = 10.0,
    retry_grace: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> SettledReconciliation:
    """Wait until the run has settled, then return its reconciliation.

    Settled means: no event in flight, every queue in ``queues`` empty, and
    either nothing lost or the counts unchanged for ``quiet_seconds`` and no
    unaccounted event failed less than ``retry_grace`` seconds ago (an async
    event between retries looks lost until it lands: on AWS the retries come
    about 1 and 2 minutes after a failure, so use ``retry_grace: 200`` there
    for async consumers). Dead-letter queues in
    ``dlqs`` are read into the ledger on every poll, so dead-lettered events
    are counted as such; one that a function consumes is never read (its
    consumer's traces tell), and must be empty too, like ``queues``: what it
    holds has yet to reach that consumer.

    Args:
        timeout: the most seconds to wait.
        queues: source queues that must be drained (names, URLs or ARNs).
        dlqs: dead-letter queues to read into the ledger.
        run_id: the run (default: the current run).
        sink_table: the app's sink table (default: configuration ``chaoskit_sink_table``).
        processed_from: ``layer`` or ``sink`` (default: configuration, else ``layer``).
        poll_interval: seconds between polls.
        quiet_seconds: how long unchanged counts with events still lost mean settled.
        retry_grace: seconds after its last failure an unaccounted event may
            still be retried (ledger times, epoch seconds).

    Returns:
        The reconciliation, plus ``settled`` (false if the timeout came first, with a
        warning saying why), ``waited_s`` and ``undrained`` (queue name -> messages,
        for the ``queues`` not empty at the end).
    """
    run = run_id or current_run_id(configuration)
    start = _clock()
    stable_since: float | None = None
    last: tuple[int, ...] | None = None
    # A DLQ with a consumer is a way on: an event dead-lettered there reads as failed
    # (lost) until its consumer takes it, which may be longer than the quiet seconds.
    drain = [*(queues or []), *with_consumers(list(dlqs or []), configuration)]
    while True:
        # Queues first, then the DLQs and the ledger: a message that leaves a queue (for
        # its DLQ, or a function) before the depth is read is then seen where it went.
        depths = {q: get_queue_depth(q, configuration) for q in drain}
        drained = not any(depths.values())
        if dlqs:
            record_dead_letters(list(dlqs), run, configuration=configuration)
        result, records = _reconcile_records(run, sink_table, processed_from, configuration or {})
        now = _clock()
        signature = _signature(result)
        if signature != last:
            last, stable_since = signature, now
        quiet = stable_since is not None and now - stable_since >= quiet_seconds
        if quiet and retry_grace > 0 and result["lost"]:
            quiet = _last_failure(records, set(result["lost_ids"])) <= _now() - retry_grace
        settled = drained and result["in_flight"] == 0 and (result["lost"] == 0 or quiet)
        if settled or now - start >= timeout:
            held = {queue_name(q): n for q, n in depths.items() if n}
            if not settled:
                logger.warning("%s", unsettled(now - start, held, result["in_flight"]))
            return {
                **result,
                "settled": settled,
                "waited_s": round(now - start, 3),
                "undrained": held,
            }
        _sleep(max(0.0, min(poll_interval, timeout - (now - start))))
