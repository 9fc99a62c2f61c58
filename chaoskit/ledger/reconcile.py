"""Reconcile one run's ledger: where every sent event ended up.

Pure computation over :class:`~chaoskit.ledger.records.Record` values, standard
library only: one sequential pass over records grouped by event id. The
rules, per event id (every count is of *unique* event ids, so a dead-letter
queue read twice, or a record written twice, never counts twice):

- ``sent``: ids with a ``sent`` record.
- ``processed``: ids with a ``processed`` record (``processed_from="sink"``:
  only records whose source is ``sink`` or ``sink:<table>``, i.e. confirmed
  by the application's own sink).
- ``dead_lettered``: ids with a ``dead_lettered`` record and *not* processed.
  An event both processed and dead-lettered (the handler's side effect
  happened, then a later delivery failed) counts as processed; such ids are
  listed under ``processed_and_dead_lettered_ids``.
- ``in_flight``: sent ids, neither processed nor dead-lettered, whose latest
  ``attempt`` has no ``failed``/``processed`` record after it: an invocation
  is running right now.
- ``lost``: sent ids that are none of the above. Final only once the run has
  settled (see ``probes.ledger.wait_until_settled``); before that, an event
  still waiting in a queue or between async retries shows as lost.
- ``duplicates``: ids processed more than once by one source. Records that
  carry the same ``request_id`` in their detail are one invocation, counted
  once; a layer record and a sink record of the same event are not a
  duplicate of each other.

Identity: ``sent + unsent = processed + dead_lettered + in_flight + lost``,
where ``unsent`` counts processed or dead-lettered ids never recorded as sent
(a foreign writer, or a sent record that was never written).
"""

import math
from collections.abc import Iterable
from itertools import groupby
from operator import attrgetter
from typing import Any

from chaoskit.ledger.records import ATTEMPT, DEAD_LETTERED, FAILED, PROCESSED, SENT, Record

__all__ = ["PROCESSED_FROM", "percentile", "reconcile"]

PROCESSED_FROM = ("layer", "sink")

_event_id = attrgetter("event_id")


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


def _duplicate(records: list[Record]) -> bool:
    per_source: dict[str, set[Any]] = {}
    for index, record in enumerate(records):
        detail = record.detail
        request_id = detail.get("request_id") if detail else None
        per_source.setdefault(record.source, set()).add(request_id or index)
    return any(len(keys) > 1 for keys in per_source.values())


class _Tally:
    """The running totals of one reconciliation."""

    def __init__(self) -> None:
        self.sent = self.processed = self.dead = self.unsent = 0
        self.attempt_events = self.attempt_total = self.attempt_max = 0
        self.lost: list[str] = []
        self.in_flight: list[str] = []
        self.duplicates: list[str] = []
        self.both: list[str] = []
        self.reasons: dict[str, int] = {}
        self.retried: dict[str, int] = {}
        self.latencies: list[float] = []


def _grouped(records: list[Record], sink_only: bool) -> _Tally | None:
    """Tally records grouped by event id; ``None`` if they are not grouped that way.

    One sequential pass with no table keyed by event id: at a million events
    such tables cost more than everything else (each insert is a cache miss).
    """
    tally = _Tally()
    lost, in_flight, latencies = tally.lost, tally.in_flight, tally.latencies
    previous = None
    for e, group in groupby(records, _event_id):
        if previous is not None and e <= previous:
            return None  # not grouped by event id: the caller sorts and retries
        previous = e
        sent_at = None
        first: Record | None = None
        more: list[Record] | None = None
        dead: Record | None = None
        attempts = 0
        last_attempt = last_outcome = float("-inf")
        for r in group:
            kind = r.kind
            if kind == SENT:
                if sent_at is None or r.at < sent_at:
                    sent_at = r.at
            elif kind == ATTEMPT:
                attempts += 1
                if r.at > last_attempt:
                    last_attempt = r.at
            elif kind == PROCESSED:
                if r.at > last_outcome:
                    last_outcome = r.at
                if sink_only and not _is_sink(r.source):
                    continue
                if first is None:
                    first = r
                else:
                    if more is None:
                        more = [first]
                    more.append(r)
            elif kind == FAILED:
                if r.at > last_outcome:
                    last_outcome = r.at
            elif kind == DEAD_LETTERED and (dead is None or r.at < dead.at):
                dead = r
        if attempts:
            tally.attempt_events += 1
            tally.attempt_total += attempts
            if attempts > 1:
                tally.retried[e] = attempts
                if attempts > tally.attempt_max:
                    tally.attempt_max = attempts
            elif not tally.attempt_max:
                tally.attempt_max = 1
        if sent_at is not None:
            tally.sent += 1
        if first is not None:
            tally.processed += 1
            processed_at = first.at
            if more is not None:
                known = [r.at for r in more if r.at > 0]
                processed_at = min(known) if known else processed_at
                if _duplicate(more):
                    tally.duplicates.append(e)
            if dead is not None:
                tally.both.append(e)
            if sent_at is None:
                tally.unsent += 1
            elif processed_at > 0:  # sink items without a timestamp carry 0: time unknown
                latencies.append(processed_at - sent_at)
        elif dead is not None:
            tally.dead += 1
            reason = str((dead.detail or {}).get("reason") or "unknown")
            tally.reasons[reason] = tally.reasons.get(reason, 0) + 1
            if sent_at is None:
                tally.unsent += 1
        elif sent_at is not None:
            if attempts and last_attempt > last_outcome:
                in_flight.append(e)
            else:
                lost.append(e)
    return tally


def reconcile(records: Iterable[Record], processed_from: str = "layer") -> dict[str, Any]:
    """Return the reconciliation of one run's records, JSON-safe.

    Records in the order the ledger store reads them (grouped by event id) take
    one sequential pass; any other order is sorted by event id first.

    Args:
        records: every record of the run, in any order.
        processed_from: ``"layer"`` counts processed records from any source;
            ``"sink"`` counts only those confirmed by the application's sink.

    Returns:
        ``sent, processed, dead_lettered, lost, in_flight, duplicates, unsent``
        (ints), ``lost_ids, duplicate_ids, in_flight_ids,
        processed_and_dead_lettered_ids`` (sorted lists), ``dead_letter_reasons``
        ({reason: n} over the dead-lettered ids), ``attempts`` ({"max", "mean",
        "by_event"}: by_event only for ids with more than one attempt) and
        ``latency_ms`` ({"p50", "p99"}, sent to first processed; nulls when
        nothing was both sent and processed with a known time).

    Raises:
        ValueError: ``processed_from`` is not ``"layer"`` or ``"sink"``.
    """
    if processed_from not in PROCESSED_FROM:
        raise ValueError(
            f"unknown processed_from '{processed_from}': expected one of "
            + ", ".join(PROCESSED_FROM)
        )
    sink_only = processed_from == "sink"
    recs = records if isinstance(records, list) else list(records)
    tally = _grouped(recs, sink_only)
    if tally is None:
        # Timsort is near linear on a few sorted runs (e.g. ledger + sink records).
        tally = _grouped(sorted(recs, key=_event_id), sink_only)
        assert tally is not None  # sorted input is grouped by construction
    tally.latencies.sort()
    p50, p99 = percentile(tally.latencies, 0.5), percentile(tally.latencies, 0.99)
    return {
        "sent": tally.sent,
        "processed": tally.processed,
        "dead_lettered": tally.dead,
        "lost": len(tally.lost),
        "in_flight": len(tally.in_flight),
        "duplicates": len(tally.duplicates),
        "unsent": tally.unsent,
        "lost_ids": tally.lost,  # already in event id order
        "duplicate_ids": tally.duplicates,
        "in_flight_ids": tally.in_flight,
        "processed_and_dead_lettered_ids": tally.both,
        "dead_letter_reasons": dict(sorted(tally.reasons.items())),
        "attempts": {
            "max": tally.attempt_max,
            "mean": round(tally.attempt_total / tally.attempt_events, 3)
            if tally.attempt_events
            else 0.0,
            "by_event": tally.retried,
        },
        "latency_ms": {
            "p50": None if p50 is None else round(p50 * 1000.0, 3),
            "p99": None if p99 is None else round(p99 * 1000.0, 3),
        },
    }
