"""Exact reconciliation on crafted ledgers, one category at a time and all together."""

import pytest

from chaoskit.ledger.reconcile import DEADLINE_SLACK, percentile, reconcile
from chaoskit.ledger.records import Record


def R(event: str, kind: str, at: float, source: str = "", **detail: object) -> Record:
    return Record("run-1", event, kind, at, source, dict(detail) or None)


def sent(*events: str, at: float = 0.0) -> list[Record]:
    return [R(e, "sent", at) for e in events]


def test_empty_ledger_reconciles_to_zeroes_and_nulls() -> None:
    out = reconcile([])
    assert out["sent"] == out["processed"] == out["lost"] == out["in_flight"] == 0
    assert out["lost_ids"] == [] and out["dead_letter_reasons"] == {}
    assert out["attempts"] == {"max": 0, "mean": 0.0, "by_event": {}}
    assert out["latency_ms"] == {"p50": None, "p99": None}


def test_every_sent_event_processed_is_nothing_lost() -> None:
    records = [*sent("a", "b"), R("a", "processed", 0.2, "sqs"), R("b", "processed", 0.4, "sqs")]
    out = reconcile(records)
    assert (out["sent"], out["processed"], out["lost"], out["duplicates"]) == (2, 2, 0, 0)


def test_lost_is_sent_minus_processed_minus_dead_lettered() -> None:
    records = [
        *sent("a", "b", "c", "d"),
        R("a", "processed", 1.0, "sqs"),
        R("b", "dead_lettered", 2.0, "dlq", reason="max_receive_count"),
    ]
    out = reconcile(records)
    assert out["lost"] == 2 and out["lost_ids"] == ["c", "d"]
    assert out["dead_lettered"] == 1 and out["dead_letter_reasons"] == {"max_receive_count": 1}


def test_an_event_processed_and_dead_lettered_counts_once_as_processed() -> None:
    records = [
        *sent("a", "b"),
        R("a", "processed", 1.0, "sqs"),
        R("a", "dead_lettered", 3.0, "dlq", reason="RetriesExhausted"),
    ]
    out = reconcile(records)
    assert (out["processed"], out["dead_lettered"], out["lost"]) == (1, 0, 1)
    assert out["processed_and_dead_lettered_ids"] == ["a"]
    assert out["dead_letter_reasons"] == {}
    assert out["lost_ids"] == ["b"]


def test_dead_letters_read_twice_do_not_double_count() -> None:
    records = [
        *sent("a", "b"),
        R("a", "dead_lettered", 2.0, "dlq", reason="RetriesExhausted"),
        R("a", "dead_lettered", 5.0, "dlq", reason="RetriesExhausted"),
        R("b", "dead_lettered", 5.0, "dlq"),
    ]
    out = reconcile(records)
    assert out["dead_lettered"] == 2 and out["lost"] == 0
    assert out["dead_letter_reasons"] == {"RetriesExhausted": 1, "unknown": 1}


def test_duplicates_are_events_processed_twice_by_one_source() -> None:
    records = [
        *sent("a", "b", "c", "d"),
        R("a", "processed", 1.0, "sqs", request_id="r1"),
        R("a", "processed", 2.0, "sqs", request_id="r2"),  # redelivered: a duplicate
        R("b", "processed", 1.0, "sqs", request_id="r3"),
        R("b", "processed", 1.0, "sqs", request_id="r3"),  # same invocation written twice
        R("c", "processed", 1.0, "sqs"),
        R("c", "processed", 1.5, "sink:orders-table"),  # layer + sink: not a duplicate
        R("d", "processed", 1.0, "sqs"),
        R("d", "processed", 1.1, "sqs"),  # no request id: two records, two deliveries
    ]
    out = reconcile(records)
    assert out["duplicates"] == 2 and out["duplicate_ids"] == ["a", "d"]
    assert out["processed"] == 4 and out["lost"] == 0


def test_in_flight_is_an_attempt_without_an_outcome_after_it() -> None:
    records = [
        *sent("a", "b", "c", "d"),
        R("a", "attempt", 1.0, "sqs"),  # running now
        R("b", "attempt", 1.0, "sqs"),
        R("b", "failed", 1.5, "sqs", error="Boom"),  # failed, no retry yet: lost until settled
        R("c", "attempt", 1.0, "sqs"),
        R("c", "failed", 1.5, "sqs"),
        R("c", "attempt", 2.0, "sqs"),  # retry in progress
    ]
    out = reconcile(records)
    assert out["in_flight"] == 2 and out["in_flight_ids"] == ["a", "c"]
    assert out["lost_ids"] == ["b", "d"]
    assert out["attempts"] == {"max": 2, "mean": 1.333, "by_event": {"c": 2}}


def test_an_attempt_past_its_deadline_with_no_outcome_ended_and_is_not_in_flight() -> None:
    # "a" was killed at its deadline (100) on its last attempt; "b" is still within its
    # deadline; "c" ended on its first attempt, then its retry is running; "d" ended, then
    # its retry processed it; "e" has no deadline on record (an older layer): in flight.
    records = [
        *sent("a", "b", "c", "d", "e"),
        R("a", "attempt", 90.0, function="fn", deadline=100.0),
        R("b", "attempt", 200.0, function="fn", deadline=210.0),
        R("c", "attempt", 90.0, function="fn", deadline=100.0),
        R("c", "attempt", 150.0, function="fn", deadline=160.0),
        R("d", "attempt", 90.0, function="fn", deadline=100.0),
        R("d", "attempt", 120.0, function="fn", deadline=130.0),
        R("d", "processed", 121.0, function="fn"),
        R("e", "attempt", 90.0, function="fn"),
    ]
    now = 100.0 + DEADLINE_SLACK + 1  # past a's deadline and its slack, within b's and c's
    out = reconcile(records, now=now)
    assert out["in_flight_ids"] == ["b", "c", "e"]
    assert out["lost_ids"] == ["a"] and out["processed"] == 1
    assert out["lost_reasons"] == {"no outcome at fn by its deadline": 1}
    assert out["stages"]["fn"]["failed"] == 1
    # Within the slack the clocks may disagree: still in flight.
    assert reconcile(records, now=100.0 + DEADLINE_SLACK - 1)["in_flight_ids"] == [
        "a",
        "b",
        "c",
        "e",
    ]
    # Once everything's deadline has passed, only the attempt with no deadline is in flight.
    late = reconcile(records, now=1000.0)
    assert late["in_flight_ids"] == ["e"] and late["lost_ids"] == ["a", "b", "c"]


def test_sink_mode_counts_only_the_application_sink() -> None:
    records = [
        *sent("a", "b", "c"),
        R("a", "processed", 1.0, "sqs"),
        R("b", "processed", 1.0, "sqs"),
        R("b", "processed", 2.0, "sink:orders-table"),
        R("c", "processed", 2.0, "sink"),
    ]
    layer, sink = reconcile(records), reconcile(records, processed_from="sink")
    assert (layer["processed"], layer["lost"]) == (3, 0)
    assert (sink["processed"], sink["lost"], sink["lost_ids"]) == (2, 1, ["a"])
    # a's layer record still tells that the handler ran: it is lost, not in flight.
    assert sink["in_flight"] == 0


def test_unsent_events_are_reported_apart_and_keep_the_identity() -> None:
    records = [
        *sent("a"),
        R("a", "processed", 1.0, "sqs"),
        R("x", "processed", 1.0, "sqs"),
        R("y", "dead_lettered", 1.0, "dlq"),
    ]
    out = reconcile(records)
    assert out["unsent"] == 2
    total = out["processed"] + out["dead_lettered"] + out["in_flight"] + out["lost"]
    assert out["sent"] + out["unsent"] == total


def test_latency_is_sent_to_first_processed_nearest_rank() -> None:
    records = sent(*[f"e{i}" for i in range(100)], at=10.0)
    records += [R(f"e{i}", "processed", 10.0 + (i + 1) / 1000, "sqs") for i in range(100)]
    records.append(R("e0", "processed", 50.0, "sqs"))  # a late duplicate does not move e0
    records.append(R("z", "processed", 0.0, "sink"))  # unknown time, never sent: ignored
    out = reconcile(records)
    assert out["latency_ms"] == {"p50": 50.0, "p99": 99.0}


def test_all_categories_together_are_exact() -> None:
    records = [
        *sent(*"abcdefgh"),
        R("a", "attempt", 1.0, "sqs"),
        R("a", "processed", 1.1, "sqs", request_id="1"),
        R("b", "attempt", 1.0, "lambda"),
        R("b", "failed", 1.1, "lambda"),
        R("b", "attempt", 2.0, "lambda"),
        R("b", "failed", 2.1, "lambda"),
        R("b", "attempt", 3.0, "lambda"),
        R("b", "failed", 3.1, "lambda"),
        R("b", "dead_lettered", 4.0, "sqs:orders-dlq", reason="RetriesExhausted"),
        R("c", "processed", 1.0, "sqs", request_id="2"),
        R("c", "processed", 1.2, "sqs", request_id="3"),
        R("d", "processed", 1.0, "sqs"),
        R("d", "dead_lettered", 2.0, "sqs:orders-dlq", reason="max_receive_count"),
        R("e", "attempt", 5.0, "sqs"),
        R("f", "attempt", 5.0, "sqs"),
        R("f", "failed", 5.5, "sqs"),
        R("g", "breaker", 1.0, "payments", **{"from": "closed", "to": "open"}),
    ]
    out = reconcile(records)
    assert {k: out[k] for k in ("sent", "processed", "dead_lettered", "in_flight", "lost")} == {
        "sent": 8,
        "processed": 3,
        "dead_lettered": 1,
        "in_flight": 1,
        "lost": 3,
    }
    assert out["lost_ids"] == ["f", "g", "h"] and out["in_flight_ids"] == ["e"]
    assert out["duplicate_ids"] == ["c"] and out["processed_and_dead_lettered_ids"] == ["d"]
    assert out["attempts"]["by_event"] == {"b": 3} and out["attempts"]["max"] == 3


def test_unknown_processed_from_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown processed_from 'app'"):
        reconcile([], processed_from="app")


def test_percentile_nearest_rank_edges() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 1.0) == 4.0


def test_the_result_does_not_depend_on_record_order() -> None:
    import random

    records = [
        *sent(*[f"e{i:02d}" for i in range(40)]),
        *[R(f"e{i:02d}", "attempt", 1.0 + i, "sqs") for i in range(0, 40, 2)],
        *[R(f"e{i:02d}", "processed", 2.0 + i, "sqs") for i in range(0, 40, 3)],
        *[R(f"e{i:02d}", "processed", 3.0 + i, "sqs") for i in range(0, 40, 9)],
        *[R(f"e{i:02d}", "dead_lettered", 4.0 + i, "dlq", reason="x") for i in range(1, 40, 4)],
        *[R(f"e{i:02d}", "failed", 5.0 + i, "sqs") for i in range(0, 40, 5)],
    ]
    grouped = sorted(records, key=lambda r: (r.event_id, r.kind, r.at))
    expected = reconcile(grouped)
    rng = random.Random(3)
    for _ in range(5):
        rng.shuffle(records)
        assert reconcile(records) == expected
        assert reconcile(iter(records)) == expected
    assert expected["sent"] == 40 and expected["duplicate_ids"] == [
        "e00",
        "e09",
        "e18",
        "e27",
        "e36",
    ]


def test_a_few_sorted_runs_and_random_order_agree_with_the_store_order() -> None:
    import random

    ledger = sorted(
        [
            *sent(*[f"e{i:03d}" for i in range(300)]),
            *[R(f"e{i:03d}", "processed", 5.0, "sqs") for i in range(0, 300, 2)],
            *[R(f"e{i:03d}", "attempt", 4.0, "sqs") for i in range(1, 300, 3)],
        ],
        key=lambda r: (r.event_id, r.kind),
    )
    sink = [R(f"e{i:03d}", "processed", 6.0, "sink:t") for i in range(0, 300, 5)]
    expected = reconcile(sorted([*ledger, *sink], key=lambda r: r.event_id), "sink")
    assert reconcile([*ledger, *sink], "sink") == expected  # two runs: merged
    shuffled = [*ledger, *sink]
    random.Random(5).shuffle(shuffled)
    assert reconcile(shuffled, "sink") == expected  # random: hashed by event id
    assert expected["processed"] == 60 and expected["lost_ids"][:2] == ["e002", "e003"]
    assert list(expected["attempts"]["by_event"]) == sorted(expected["attempts"]["by_event"])
