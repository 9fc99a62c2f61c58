"""Timelines and transitions derived from ledger records."""

from chaoskit.ledger.records import Record
from chaoskit.report.enrich import breaker_transitions, build_timeline, enrich_journal, uses_ledger


def R(event: str, kind: str, at: float, source: str = "") -> Record:
    return Record("r", event, kind, at, source)


RECORDS = [
    R("a", "sent", 0.0),
    R("b", "sent", 1.0),
    R("c", "sent", 2.0),
    R("d", "sent", 3.0),
    R("a", "attempt", 3.5),
    R("a", "processed", 4.0, "layer"),
    R("a", "processed", 4.5, "layer"),  # duplicate: counted once
    R("b", "dead_lettered", 6.0, "sqs:dlq"),
    R("c", "processed", 8.0, "sink:orders"),
    R("c", "dead_lettered", 9.0, "sqs:dlq"),  # processed wins: not dead-lettered
]


def test_timeline_is_cumulative_and_exact() -> None:
    points = build_timeline(RECORDS, max_points=10)
    assert points[0] == {"t": 0.0, "sent": 1, "processed": 0, "dead_lettered": 0, "lost": 1}
    # c's late dead-letter (it was processed at 8.0) does not extend the timeline.
    assert points[-1] == {"t": 8.0, "sent": 4, "processed": 2, "dead_lettered": 1, "lost": 1}
    assert [p["t"] for p in points] == [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0]
    at4 = points[4]
    assert (at4["sent"], at4["processed"], at4["lost"]) == (4, 1, 3)


def test_timeline_counts_sink_only_when_asked() -> None:
    last = build_timeline(RECORDS, processed_from="sink")[-1]
    # Only c is sink-confirmed; a's layer "processed" does not count, b is dead-lettered.
    assert (last["processed"], last["dead_lettered"], last["lost"]) == (1, 1, 2)


def test_timeline_buckets_long_runs_and_handles_empty() -> None:
    many = [R(f"e{i}", "sent", float(i)) for i in range(1000)]
    points = build_timeline(many, max_points=50)
    assert len(points) == 50 and points[-1]["sent"] == 1000 and points[-1]["lost"] == 1000
    assert build_timeline([]) == []
    single = build_timeline([R("a", "sent", 5.0)])
    assert single == [{"t": 5.0, "sent": 1, "processed": 0, "dead_lettered": 0, "lost": 1}]


def test_breaker_transitions_are_ordered_with_detail() -> None:
    records = [
        Record("r", "b", "breaker", 5.0, "payments", {"from": "open", "to": "closed"}),
        Record("r", "b", "breaker", 2.0, "payments", {"from": "closed", "to": "open"}),
        R("x", "sent", 1.0),
    ]
    assert [(t["t"], t["to"]) for t in breaker_transitions(records)] == [
        (2.0, "open"),
        (5.0, "closed"),
    ]


def test_uses_ledger_from_activities_or_configuration() -> None:
    plain = {"method": [{"provider": {"module": "os.path"}}]}
    ours = {"method": [{"provider": {"module": "chaoskit.faults.concurrency"}}]}
    probe = {"steady-state-hypothesis": {"probes": [{"provider": {"module": "probes.ledger"}}]}}
    assert not uses_ledger(plain, {})
    assert uses_ledger(ours, {}) and uses_ledger(probe, {})
    assert uses_ledger(plain, {"chaoskit_ledger": "true"})
    assert not uses_ledger(ours, {"chaoskit_ledger": False})


def test_enrich_keeps_control_changes_and_derives_windows() -> None:
    journal = {
        "end": "1970-01-01T00:00:30+00:00",
        "chaoskit": {"changes": [{"action": "a", "resource": "f", "applied_at": 10.0}]},
        "run": [
            {
                "activity": {"name": "dns", "provider": {"module": "probes.failover"}},
                "output": {"answer": "secondary"},
                "end": "1970-01-01T00:00:20+00:00",
            }
        ],
    }
    ext = enrich_journal(journal, "r", {}, "sandbox", read_records=lambda r, c: RECORDS)
    assert ext["changes"][0]["action"] == "a"
    assert ext["fault_windows"] == [{"start": 10.0, "end": 30.0, "label": "a f"}]
    assert ext["failover"] == [{"t": 20.0, "name": "dns", "output": {"answer": "secondary"}}]
    assert ext["timeline"][-1]["lost"] == 1
    skipped = enrich_journal({}, "r", {}, "aws", read_records=None, with_ledger=False)
    assert "timeline" not in skipped and skipped["target"] == "aws"


def test_enrich_shades_faults_not_the_layer_that_carries_them() -> None:
    changes = [
        {"action": "enable_chaoskit_layer", "resource": "f", "applied_at": 10.0},
        {"action": "publish_version_with_layer", "resource": "f:versions", "applied_at": 10.0},
        {"action": "point_alias_at_layer_version", "resource": "f:live", "applied_at": 10.0},
        {"action": "inject_exception", "resource": "f", "applied_at": 11.0, "restored_at": 20.0},
    ]
    journal = {"end": "1970-01-01T00:00:30+00:00", "chaoskit": {"changes": changes}}
    ext = enrich_journal(journal, "r", {}, "sandbox", read_records=lambda r, c: RECORDS)
    assert ext["fault_windows"] == [{"start": 11.0, "end": 20.0, "label": "inject_exception f"}]
    assert len(ext["changes"]) == 4  # still listed as changes, and restored as such


def _failed(event: str, at: float, error: str = "KeyError") -> Record:
    return Record("r", event, "failed", at, "layer", {"function": "writer", "error": error})


def _fault(events: list[str], at: float) -> Record:
    detail = {"fault": 0, "kind": "exception", "function": "writer", "event_ids": events}
    return Record("r", f"fault#{at}", "fault", at, "layer", detail)


def test_events_failed_by_the_apps_own_code_are_named_apart_from_the_faults() -> None:
    records = [
        *(R(e, "sent", 0.0) for e in "abcd"),
        _fault(["a"], 1.0),
        _failed("a", 1.0, "ChaosKitInjectedError"),  # the fault's doing
        _failed("a", 2.0, "KeyError"),  # and then its own, on a later attempt
        _failed("b", 1.0),  # its own code, twice: counted once
        _failed("b", 2.0),
        _failed("c", 1.0),  # its own code, then processed on a retry
        R("c", "processed", 3.0, "layer"),
        R("d", "processed", 1.0, "layer"),
    ]
    ext = enrich_journal({}, "r", {}, "sandbox", read_records=lambda r, c: records)
    (warning,) = [w for w in ext["ledger"]["warnings"] if "own code" in w]
    assert warning.startswith("1 event(s) were failed or dead-lettered by the app's own code")
    assert "1 at writer (KeyError)" in warning
    assert ext["inconclusive"] == []  # others were processed: the run tested something


def test_a_run_where_the_app_rejected_every_event_on_its_own_is_inconclusive() -> None:
    # No event processed; the fault hit one, the function's own code failed the others
    # (a payload it rejects): the hypothesis may hold, but the fault made no difference.
    records = [
        *(R(e, "sent", 0.0) for e in "abc"),
        _fault(["a"], 1.0),
        _failed("a", 1.0, "ChaosKitInjectedError"),
        R("a", "dead_lettered", 5.0, "sqs:dlq"),
        _failed("b", 1.0),
        R("b", "dead_lettered", 5.0, "sqs:dlq"),
        _failed("c", 1.0, "ValueError"),
        R("c", "dead_lettered", 5.0, "sqs:dlq"),
    ]
    ext = enrich_journal({}, "r", {}, "sandbox", read_records=lambda r, c: records)
    assert not [w for w in ext["ledger"]["warnings"] if "own code" in w]  # said once, below
    (reason,) = ext["inconclusive"]
    assert reason.startswith(
        "no event was processed, and 2 were failed or dead-lettered by the app's own code"
    )
    assert "1 at writer (KeyError), 1 at writer (ValueError)" in reason


def test_events_a_batch_response_failed_point_to_the_functions_log() -> None:
    # A partial batch response names the failed records and no error (a public app's
    # ValidationException was in its log only): the reason said "(batchItemFailure)".
    records = [R("a", "sent", 0.0), _failed("a", 1.0, "batchItemFailure")]
    ext = enrich_journal({}, "r", {}, "sandbox", read_records=lambda r, c: records)
    (reason,) = ext["inconclusive"]
    assert "1 at writer (reported failed in its batch response; its log says why)" in reason


def test_a_dlq_readers_failures_do_not_make_the_run_inconclusive(
    aws_env: dict[str, str],
) -> None:
    # A kill switch dead-lettered every event unprocessed (maxReceiveCount 1); the DLQ's
    # reader, traced, then failed on each (a field the events lack). Nothing failed them
    # before the DLQ: the kill switch was tested, and nothing was lost. It used to read
    # as "the app rejecting chaoskit's events", inconclusive.
    dlq = "arn:aws:sqs:us-east-1:123456789012:input-dlq"
    records = [*(R(e, "sent", 0.0) for e in "abc")]
    for e in "abc":
        detail = {"function": "writer", "queue": dlq, "error": "KeyError"}
        records += [Record("r", e, k, 5.0, "sqs", dict(detail)) for k in ("attempt", "failed")]
    config = {**aws_env, "chaoskit_dead_letter_queues": "input-dlq"}
    ext = enrich_journal({}, "r", config, "sandbox", read_records=lambda r, c: records)
    assert (ext["ledger"]["dead_lettered"], ext["ledger"]["lost"]) == (3, 0), ext["ledger"]
    assert ext["inconclusive"] == [] and ext["payload_rejected"] is False
    # The same failures delivered by the source queue are the app rejecting the events.
    for r in records:
        if r.detail:
            r.detail["queue"] = dlq.replace("input-dlq", "input")
    ext = enrich_journal({}, "r", config, "sandbox", read_records=lambda r, c: records)
    assert ext["payload_rejected"] is True, ext["inconclusive"]


def test_the_timeline_counts_what_a_dlqs_traced_reader_got_as_dead_lettered(
    aws_env: dict[str, str],
) -> None:
    # The reconciliation counts an event a traced function got through a DLQ as
    # dead-lettered, never processed; the chart drew those events as lost for good
    # ("10 lost" above a run whose counts said 0 lost, 10 dead-lettered).
    dlq = {"function": "writer", "queue": "arn:aws:sqs:us-east-1:123456789012:input-dlq"}
    records = [
        R("a", "sent", 0.0),
        R("b", "sent", 0.0),
        R("b", "processed", 1.0, "sqs"),
        Record("r", "a", "attempt", 5.0, "sqs", dict(dlq)),
        Record("r", "a", "processed", 6.0, "sqs", dict(dlq)),
    ]
    last = build_timeline(records, dead_letter_queues=["input-dlq"])[-1]
    assert (last["processed"], last["dead_lettered"], last["lost"]) == (1, 1, 0), last
    assert build_timeline(records, dead_letter_queues=["input-dlq"])[-2]["lost"] == 1  # t=1
    # What enrich_journal draws is what it counts.
    ext = enrich_journal(
        {}, "r", {**aws_env, "chaoskit_dead_letter_queues": "input-dlq"},
        "sandbox", read_records=lambda r, c: records,
    )  # fmt: skip
    final = ext["timeline"][-1]
    ledger = ext["ledger"]
    assert (
        (final["processed"], final["dead_lettered"], final["lost"])
        == (
            ledger["processed"],
            ledger["dead_lettered"],
            ledger["lost"],
        )
        == (1, 1, 0)
    )


def test_a_dlq_readers_processing_does_not_hide_the_apps_rejection(
    aws_env: dict[str, str],
) -> None:
    # The app's consumer failed every event on its own (a payload it rejects); SQS
    # dead-lettered them, and the DLQ's reader, traced, handled each without error. That
    # counts the events dead-lettered, never processed: the run tested the app rejecting
    # chaoskit's events. The reader's processing used to clear the failures, and the run
    # passed with 0 of 10 processed.
    dlq = {"function": "decider", "queue": "arn:aws:sqs:us-east-1:123456789012:input-dlq"}
    records = [*(R(e, "sent", 0.0) for e in "ab")]
    for e in "ab":
        records += [
            _failed(e, 1.0, "ValueError"),
            Record("r", e, "attempt", 5.0, "sqs", dict(dlq)),
            Record("r", e, "processed", 6.0, "sqs", dict(dlq)),
        ]
    config = {**aws_env, "chaoskit_dead_letter_queues": "input-dlq"}
    ext = enrich_journal({}, "r", config, "sandbox", read_records=lambda r, c: records)
    assert (ext["ledger"]["processed"], ext["ledger"]["dead_lettered"]) == (0, 2)
    (reason,) = ext["inconclusive"]
    assert "2 at writer (ValueError)" in reason and ext["payload_rejected"] is True


def _routed(event: str, condition: str | None) -> list[Record]:
    """An event the ``router`` handled without error, then found in queue ``fatal``."""
    detail = {"function": "router", "queue": "arn:aws:sqs:us-east-1:123456789012:in"}
    letter = {"reason": "max_receive_count", "queue": "fatal", "condition": condition,
              "format": "sqs_redrive", "attempts": None, "message_id": f"m-{event}"}  # fmt: skip
    return [
        R(event, "sent", 0.0),
        Record("r", event, "attempt", 1.0, "sqs", dict(detail)),
        Record("r", event, "processed", 1.5, "sqs", dict(detail)),
        Record("r", event, "dead_lettered", 9.0, "sqs:fatal", letter),
    ]


def test_events_the_apps_code_sent_to_its_own_dead_letter_queue_are_its_rejection(
    aws_env: dict[str, str],
) -> None:
    # A router sends what it cannot use to a queue of its own (no redrive put it there:
    # the message has no DeadLetterQueueSourceArn). With chaoskit's payload it sent every
    # event there: 0 processed, all "dead-lettered", and the run passed.
    records = [*_routed("a", None), *_routed("b", None)]
    config = {**aws_env, "chaoskit_terminal_stages": "writer"}  # downstream of the router
    ext = enrich_journal({}, "r", config, "sandbox", read_records=lambda r, c: records)
    assert (ext["ledger"]["processed"], ext["ledger"]["dead_lettered"]) == (0, 2)
    (reason,) = ext["inconclusive"]
    assert "2 at router (handled, then sent to fatal by its code)" in reason, reason
    # SQS's redrive put them there (the source queue is named): a downstream consumer,
    # stopped, dead-lettered them. That is the fault's effect, not the app's choice.
    redriven = [*_routed("a", "arn:aws:sqs:us-east-1:123456789012:mid")]
    ext = enrich_journal({}, "r", config, "sandbox", read_records=lambda r, c: redriven)
    assert ext["inconclusive"] == [], ext["inconclusive"]
    assert not [w for w in ext["ledger"]["warnings"] if "own code" in w]
    # Another event processed: the routed ones are a warning, not a verdict.
    writer = {"function": "writer"}
    records += [R("c", "sent", 0.0), Record("r", "c", "processed", 2.0, "sqs", writer)]
    ext = enrich_journal({}, "r", config, "sandbox", read_records=lambda r, c: records)
    assert ext["inconclusive"] == []
    assert any("2 at router (handled" in w for w in ext["ledger"]["warnings"])
