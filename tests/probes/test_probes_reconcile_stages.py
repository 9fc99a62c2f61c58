"""Stages, dead-letter queues with consumers and fired faults in the reconciliation.

The ledgers are shaped like a public app's: an input queue (maxReceiveCount 1)
-> ``processor`` -> an output queue -> ``writer``, where ``writer`` also
consumes the input queue's dead-letter queue.
"""

from chaoskit.ledger.reconcile import reconcile
from chaoskit.ledger.records import FAULT, FAULT_PREFIX, Record

IN = "arn:aws:sqs:us-east-1:000000000000:input"
OUT = "arn:aws:sqs:us-east-1:000000000000:output"
DLQ = "arn:aws:sqs:us-east-1:000000000000:input-dlq"


def R(event: str, kind: str, at: float, function: str = "", queue: str = "", **detail: object):
    extra = dict(detail)
    if function:
        extra["function"] = function
    if queue:
        extra["queue"] = queue
    return Record("run-1", event, kind, at, "sqs" if function else "", extra or None)


def hop(event: str, function: str, queue: str, at: float, outcome: str = "processed"):
    return [
        R(event, "attempt", at, function, queue, request_id=f"{event}-{function}-{at}"),
        R(event, outcome, at + 0.1, function, queue, request_id=f"{event}-{function}-{at}"),
    ]


def test_processed_at_an_intermediate_function_does_not_hide_a_loss_further_on() -> None:
    records = [Record("run-1", e, "sent", 0.0) for e in ("a", "b")]
    records += hop("a", "processor", IN, 1.0) + hop("a", "writer", OUT, 2.0)
    records += hop("b", "processor", IN, 1.0)  # never reached the writer
    out = reconcile(records)
    assert out["terminal_stages"] == ["writer"] and out["terminal_from"] == "inferred"
    assert (out["processed"], out["lost"], out["lost_ids"]) == (1, 1, ["b"])
    assert out["lost_reasons"] == {"stopped after processor": 1}
    assert out["stages"]["processor"]["processed"] == 2
    assert out["stages"]["writer"]["processed"] == 1


def test_an_event_handled_by_the_dlq_consumer_is_dead_lettered_not_processed() -> None:
    # The case: all 20 were dead-lettered and written by the DLQ consumer,
    # and chaoskit said "20 processed".
    records = [Record("run-1", f"e{i}", "sent", 0.0) for i in range(4)]
    for i in range(4):
        records += hop(f"e{i}", "processor", IN, 1.0, "failed")
        records += hop(f"e{i}", "writer", DLQ, 5.0)
    out = reconcile(records, dead_letter_queues=[DLQ])
    assert (out["processed"], out["dead_lettered"], out["lost"]) == (0, 4, 0)
    assert out["dead_letter_reasons"] == {"dead-lettered to input-dlq": 4}
    assert out["stages"]["processor"]["dead_lettered"] == 4
    assert out["queues"]["input-dlq"] == {
        "attempts": 4, "processed": 4, "failed": 0, "duplicates": 0, "dead_lettered": 4,
    }  # fmt: skip


def test_an_event_the_dlq_consumer_filters_out_is_lost_with_its_reason() -> None:
    records = [Record("run-1", e, "sent", 0.0) for e in ("kept", "dropped", "ok")]
    records += hop("kept", "processor", IN, 1.0, "failed") + hop("kept", "writer", DLQ, 5.0)
    records += hop("dropped", "processor", IN, 1.0, "failed")  # the filter discarded it
    records += hop("ok", "processor", IN, 1.0) + hop("ok", "writer", OUT, 2.0)
    out = reconcile(records, dead_letter_queues=["input-dlq"])
    assert (out["processed"], out["dead_lettered"], out["lost"]) == (1, 1, 1)
    assert out["lost_ids"] == ["dropped"]
    assert out["lost_reasons"] == {"failed at processor": 1}


def test_named_terminal_stages_beat_the_inferred_ones() -> None:
    records = [Record("run-1", "a", "sent", 0.0), *hop("a", "processor", IN, 1.0)]
    assert reconcile(records)["processed"] == 1  # nothing seen after the processor
    out = reconcile(records, terminal_stages=["writer"])
    assert (out["processed"], out["lost"], out["terminal_from"]) == (0, 1, "named")
    assert out["lost_reasons"] == {"stopped after processor": 1}


def test_topology_edges_make_a_stage_intermediate_even_when_nothing_reached_past_it() -> None:
    records = [Record("run-1", "a", "sent", 0.0), *hop("a", "processor", IN, 1.0)]
    out = reconcile(records, edges=[("processor", "writer")])
    assert (out["processed"], out["lost"]) == (0, 1)


def test_fanned_out_stages_are_both_terminal() -> None:
    records = []
    for i, (first, second) in enumerate([("email", "audit"), ("audit", "email")]):
        e = f"e{i}"
        records.append(Record("run-1", e, "sent", 0.0))
        records += hop(e, first, "arn:aws:sns:us-east-1:0:topic", 1.0)
        records += hop(e, second, "arn:aws:sns:us-east-1:0:topic", 1.5)
    out = reconcile(records)
    assert out["terminal_stages"] == ["audit", "email"]
    assert out["processed"] == 2 and out["lost"] == 0


def test_duplicates_count_at_terminal_stages_only() -> None:
    records = [Record("run-1", "a", "sent", 0.0)]
    records += hop("a", "processor", IN, 1.0) + hop("a", "processor", IN, 3.0)  # redelivered
    records += hop("a", "writer", OUT, 4.0)
    out = reconcile(records)
    assert out["duplicates"] == 0
    assert out["stages"]["processor"]["duplicates"] == 1
    assert out["stages"]["processor"]["attempts"] == 2


def test_fired_faults_are_counted_per_fault_and_never_count_as_events() -> None:
    fault = {"fault": 0, "kind": "exception", "function": "processor"}
    records = [
        Record("run-1", "a", "sent", 0.0),
        *hop("a", "processor", IN, 1.0, "failed"),
        Record("run-1", FAULT_PREFIX + "r1#0", FAULT, 1.0, "sqs", {**fault, "event_ids": ["a"]}),
        Record("run-1", FAULT_PREFIX + "r2#0", FAULT, 2.0, "sqs", {**fault, "event_ids": ["a"]}),
        Record("run-1", FAULT_PREFIX + "r3#0", FAULT, 2.0, "", {**fault, "event_ids": []}),
    ]
    out = reconcile(records)
    assert out["faults"] == [
        {"fault": 0, "kind": "exception", "fired": 3, "events": 1, "functions": ["processor"]}
    ]
    assert (out["sent"], out["lost"], out["unsent"]) == (1, 1, 0)


def test_a_firing_on_record_twice_counts_once_as_its_later_record_tells_it() -> None:
    # A downstream fault's first firing goes on record before it acts, and again with the
    # calls that gave up on it when the invocation ends: the same record id.
    fault = {"fault": 0, "kind": "sdk_throttle", "function": "processor", "event_ids": ["a"]}
    first = FAULT_PREFIX + "r1#n1#sdk_throttle#0#0"
    records = [
        Record("run-1", "a", "sent", 0.0),
        *hop("a", "processor", IN, 1.0, "processed"),
        Record("run-1", first, FAULT, 1.1, "sqs", fault),
        Record("run-1", first, FAULT, 1.5, "sqs", {**fault, "gave_up": 1, "swallowed": 1}),
        Record("run-1", FAULT_PREFIX + "r1#n1#sdk_throttle#0#1", FAULT, 1.5, "sqs", fault),
        # An asynchronous retry of the same request: another invocation, another nonce.
        Record("run-1", FAULT_PREFIX + "r1#n2#sdk_throttle#0#0", FAULT, 2.0, "sqs", fault),
    ]
    out = reconcile(records)
    assert out["faults"] == [{
        "fault": 0, "kind": "sdk_throttle", "fired": 3, "events": 1, "functions": ["processor"],
        "gave_up": 1, "swallowed": 1, "swallowed_ids": ["a"],
    }]  # fmt: skip
    assert reconcile(list(reversed(records)))["faults"] == out["faults"]


def test_a_fault_firing_only_on_an_earlier_runs_events_does_not_count_for_this_run() -> None:
    # A stream retries an earlier run's blocked batch: the layer fires this run's fault
    # on records of that run, while none of this run's events is delivered.
    fault = {"fault": 0, "kind": "exception", "function": "processor"}
    records = [
        Record("run-2", "b", "sent", 0.0),
        Record("run-2", FAULT_PREFIX + "r1#0", FAULT, 1.0, "", {**fault, "event_ids": ["old"]}),
        Record("run-2", FAULT_PREFIX + "r2#0", FAULT, 2.0, "", {**fault, "event_ids": ["old"]}),
    ]
    assert reconcile(records)["faults"] == [
        {"fault": 0, "kind": "exception", "fired": 0, "events": 0, "functions": ["processor"]}
    ]
    # A batch holding one of this run's events with the old one counts, for that event.
    records.append(
        Record("run-2", FAULT_PREFIX + "r3#0", FAULT, 3.0, "", {**fault, "event_ids": ["old", "b"]})
    )
    (fired,) = reconcile(records)["faults"]
    assert (fired["fired"], fired["events"]) == (1, 1)


def test_in_sink_mode_a_stage_still_shows_what_it_processed() -> None:
    records = [Record("run-1", "a", "sent", 0.0), *hop("a", "writer", IN, 1.0)]
    records.append(Record("run-1", "a", "processed", 2.0, "sink:orders"))
    out = reconcile(records, processed_from="sink")
    assert out["stages"]["writer"]["processed"] == 1
    assert out["stages"]["sink:orders"]["processed"] == 1
    assert out["processed"] == 1


def test_streams_are_counted_under_their_names_a_dynamodb_stream_under_its_tables() -> None:
    # A DynamoDB stream's label is a time with colons: its last segment was the count's
    # name ("38.304053"), where the report and the probes name the table.
    table = "arn:aws:dynamodb:us-east-1:000000000000:table/Orders/stream/2026-12-02T05:38:04.053"
    kinesis = "arn:aws:kinesis:us-east-1:000000000000:stream/clicks"
    records = [Record("run-1", e, "sent", 0.0) for e in ("a", "b")]
    records += hop("a", "consumer", table, 1.0) + hop("b", "reader", kinesis, 1.0)
    out = reconcile(records)
    assert set(out["queues"]) == {"Orders", "clicks"}
    assert out["queues"]["Orders"]["processed"] == out["queues"]["clicks"]["processed"] == 1
