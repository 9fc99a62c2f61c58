"""The ledger probes against a real (moto) DynamoDB: reconcile a run, counts, settling."""

from collections.abc import Callable
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.errors import BadInput
from chaoskit.ledger import store
from chaoskit.ledger.records import Record
from probes import ledger

RUN = "run-ledger"


def R(event: str, kind: str, at: float, source: str = "") -> Record:
    return Record(RUN, event, kind, at, source)


def _sink(aws_env: dict[str, str], items: list[dict[str, str]], key: str = "pk") -> None:
    ddb = aws.client("dynamodb", aws_env)
    ddb.create_table(
        TableName="orders-table",
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i, item in enumerate(items):
        typed = {k: ({"N": v} if k == "processed_at" else {"S": v}) for k, v in item.items()}
        typed.setdefault(key, {"S": f"order-{i}"})
        ddb.put_item(TableName="orders-table", Item=typed)


def test_reconcile_run_reads_the_ledger_and_counts(aws_env: dict[str, str]) -> None:
    store.ensure_table(aws_env)
    store.write(
        [
            *[R(e, "sent", 10.0) for e in ("a", "b", "c", "d")],
            R("a", "processed", 10.5, "sqs"),
            R("b", "processed", 10.2, "sqs"),
            R("b", "processed", 10.9, "sqs"),
            R("c", "dead_lettered", 12.0, "sqs:orders-dlq"),
            Record("other-run", "z", "sent", 1.0),
        ],
        aws_env,
    )
    cfg = {**aws_env, "chaoskit_run_id": RUN}
    out = ledger.reconcile_run(configuration=cfg)
    assert (out["sent"], out["processed"], out["dead_lettered"], out["lost"]) == (4, 2, 1, 1)
    assert out["lost_ids"] == ["d"] and out["duplicate_ids"] == ["b"]
    assert out["latency_ms"] == {"p50": 200.0, "p99": 500.0}
    assert ledger.count_lost_events(configuration=cfg) == 1
    assert ledger.count_duplicate_events(configuration=cfg) == 1
    assert ledger.count_sent_events(configuration=cfg) == 4
    assert ledger.count_processed_events(configuration=cfg) == 2
    assert ledger.count_dead_lettered_events(configuration=cfg) == 1
    assert ledger.count_in_flight_events(configuration=cfg) == 0
    assert ledger.count_sent_events(run_id="other-run", configuration=cfg) == 1


def test_sink_table_items_count_as_processed_in_sink_mode(aws_env: dict[str, str]) -> None:
    store.ensure_table(aws_env)
    store.write(
        [*[R(e, "sent", 10.0) for e in ("a", "b", "c")], R("a", "processed", 11.0)], aws_env
    )
    _sink(
        aws_env,
        [
            {"run_id": RUN, "event_id": "b", "processed_at": "10.25"},
            {"run_id": RUN, "event_id": "c"},
            {"run_id": "another", "event_id": "a"},
        ],
    )
    cfg = {
        **aws_env,
        "chaoskit_run_id": RUN,
        "chaoskit_sink_table": "orders-table",
        "chaoskit_processed_from": "sink",
    }
    out = ledger.reconcile_run(configuration=cfg)
    # a was handled by the layer but never reached the sink: lost at business level.
    assert (out["processed"], out["lost"], out["lost_ids"]) == (2, 1, ["a"])
    assert out["latency_ms"]["p50"] == 250.0  # c has no timestamp: no latency
    layer = ledger.reconcile_run(processed_from="layer", configuration=cfg)
    assert (layer["processed"], layer["lost"]) == (3, 0)


def test_a_sink_keyed_by_run_id_is_queried(aws_env: dict[str, str]) -> None:
    store.ensure_table(aws_env)
    store.write([R("a", "sent", 1.0)], aws_env)
    ddb = aws.client("dynamodb", aws_env)
    ddb.create_table(
        TableName="sink",
        AttributeDefinitions=[
            {"AttributeName": "run_id", "AttributeType": "S"},
            {"AttributeName": "event_id", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "run_id", "KeyType": "HASH"},
            {"AttributeName": "event_id", "KeyType": "RANGE"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.put_item(TableName="sink", Item={"run_id": {"S": RUN}, "event_id": {"S": "a"}})
    out = ledger.reconcile_run(RUN, sink_table="sink", processed_from="sink", configuration=aws_env)
    assert (out["processed"], out["lost"]) == (1, 0)


def test_sink_mode_without_a_table_is_bad_input(aws_env: dict[str, str]) -> None:
    with pytest.raises(BadInput, match="needs a sink_table"):
        ledger.reconcile_run(RUN, processed_from="sink", configuration=aws_env)
    with pytest.raises(BadInput, match="unknown processed_from 'disk'"):
        ledger.reconcile_run(RUN, processed_from="disk", configuration=aws_env)


class FakeTime:
    """A clock that advances only when the probe sleeps; runs a hook per sleep."""

    def __init__(self, on_sleep: Callable[[int], None]) -> None:
        self.now = 0.0
        self.sleeps = 0
        self.on_sleep = on_sleep

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.now += seconds
        self.on_sleep(self.sleeps)

    @classmethod
    def installed(
        cls, monkeypatch: pytest.MonkeyPatch, on_sleep: Callable[[int], None] = lambda n: None
    ) -> "FakeTime":
        """Return a fake clock that the ledger probes use instead of the real one."""
        fake = cls(on_sleep)
        monkeypatch.setattr(ledger, "_clock", fake.clock)
        monkeypatch.setattr(ledger, "_sleep", fake.sleep)
        return fake


def test_wait_until_settled_waits_for_in_flight_and_reads_dlqs(
    aws_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_queue: Callable[..., str],
    send_sample: Callable[[str, str], None],
) -> None:
    store.ensure_table(aws_env)
    run = "run-dlq"  # the run of the sample DLQ messages
    store.write(
        [
            Record(run, "ev-sqs-1", "sent", 1.0),
            Record(run, "ev-sqs-1", "attempt", 1.1, "sqs"),
            Record(run, "ok", "sent", 1.0),
            Record(run, "ok", "attempt", 1.1, "sqs"),
        ],
        aws_env,
    )
    dlq_url = make_queue("orders-dlq")
    make_queue("orders-queue")

    def progress(n: int) -> None:
        if n == 2:  # the worker finishes "ok"; "ev-sqs-1" fails and lands in the DLQ
            store.write(
                [
                    Record(run, "ok", "processed", 3.0, "sqs"),
                    Record(run, "ev-sqs-1", "failed", 3.0, "sqs"),
                ],
                aws_env,
            )
            send_sample(dlq_url, "dlq_sqs_redrive")

    fake = FakeTime.installed(monkeypatch, progress)
    out = ledger.wait_until_settled(
        timeout=60,
        queues=["orders-queue"],
        dlqs=["orders-dlq"],
        run_id=run,
        poll_interval=1,
        configuration=aws_env,
    )
    assert out["settled"] is True and fake.sleeps == 2
    assert (out["processed"], out["dead_lettered"], out["lost"], out["in_flight"]) == (1, 1, 0, 0)


def test_an_event_dead_lettered_while_the_queue_drains_is_not_counted_lost(
    aws_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_queue: Callable[..., str],
    send_sample: Callable[[str, str], None],
) -> None:
    # Found on a public FIFO app under a kill switch: SQS moved the messages to the DLQ
    # between the probe's DLQ read and its queue-depth check, so the queue looked drained,
    # the DLQ was read too early, and all 10 events were reported lost.
    store.ensure_table(aws_env)
    run = "run-dlq"
    store.write([Record(run, "ev-sqs-1", "sent", 1.0)], aws_env)
    dlq_url = make_queue("orders-dlq")
    make_queue("orders-queue")
    depth = ledger.get_queue_depth

    def depth_while_sqs_moves_the_message(queue: str, configuration: Any = None) -> int:
        if not depth(dlq_url, aws_env):  # SQS moves it to the DLQ right now
            send_sample(dlq_url, "dlq_sqs_redrive")
        return depth(queue, configuration)

    monkeypatch.setattr(ledger, "get_queue_depth", depth_while_sqs_moves_the_message)
    FakeTime.installed(monkeypatch)
    out = ledger.wait_until_settled(
        timeout=60,
        queues=["orders-queue"],
        dlqs=["orders-dlq"],
        run_id=run,
        quiet_seconds=0,
        configuration=aws_env,
    )
    assert out["settled"] is True
    assert (out["dead_lettered"], out["lost"]) == (1, 0)


def test_wait_until_settled_gives_up_at_the_timeout(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, make_queue: Callable[..., str]
) -> None:
    store.ensure_table(aws_env)
    store.write([R("a", "sent", 1.0), R("a", "attempt", 2.0, "lambda")], aws_env)
    fake = FakeTime.installed(monkeypatch)
    out = ledger.wait_until_settled(timeout=10, run_id=RUN, poll_interval=3, configuration=aws_env)
    assert out["settled"] is False and out["in_flight_ids"] == ["a"]
    assert out["waited_s"] == 10.0 and fake.sleeps == 4
    assert out["undrained"] == {}


def test_a_wait_that_times_out_says_which_queues_still_hold_messages(
    aws_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    make_queue: Callable[..., str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A queue read by a function that keeps failing, with no redrive policy: its messages
    # come back until their retention ends. The events read as lost at the timeout; the
    # run must say they may still be in that queue, not only count them lost.
    store.ensure_table(aws_env)
    store.write([R("a", "sent", 1.0), R("a", "attempt", 2.0, "sqs"), R("a", "failed", 2.5, "sqs")],
                aws_env)  # fmt: skip
    url = make_queue("retried")
    aws.client("sqs", aws_env).send_message(QueueUrl=url, MessageBody="{}")
    FakeTime.installed(monkeypatch)
    out = ledger.wait_until_settled(
        timeout=10, queues=["retried"], run_id=RUN, poll_interval=3, configuration=aws_env
    )
    assert out["settled"] is False and out["lost"] == 1
    assert out["undrained"] == {"retried": 1}
    assert (
        "the run did not settle in 10 s: queue retried still holds 1 message(s); events "
        "counted lost may still be processed or dead-lettered later"
    ) in caplog.text


def test_lost_events_settle_once_counts_stay_quiet(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store.ensure_table(aws_env)
    store.write([R("a", "sent", 1.0), R("b", "sent", 1.0), R("b", "processed", 2.0)], aws_env)
    FakeTime.installed(monkeypatch)
    out = ledger.wait_until_settled(
        timeout=100, run_id=RUN, poll_interval=2, quiet_seconds=6, configuration=aws_env
    )
    assert out["settled"] is True and out["lost_ids"] == ["a"] and out["waited_s"] == 6.0


def test_a_missing_ledger_table_means_nothing_recorded(aws_env: dict[str, str]) -> None:
    out = ledger.reconcile_run(RUN, configuration=aws_env)
    assert (out["sent"], out["lost"]) == (0, 0)
    names = aws.client("dynamodb", aws_env).list_tables()["TableNames"]
    assert names == []  # a probe never creates the ledger


def test_retry_grace_waits_for_a_failed_event_to_be_retried(
    aws_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    store.ensure_table(aws_env)
    failed_at = 1000.0
    store.write(
        [R("a", "sent", 990.0), R("a", "attempt", 995.0), R("a", "failed", failed_at)], aws_env
    )

    def retry_lands(n: int) -> None:
        if n == 3:  # the async retry, a minute later, succeeds
            store.write([R("a", "attempt", 1060.0), R("a", "processed", 1061.0)], aws_env)

    fake = FakeTime.installed(monkeypatch, retry_lands)
    monkeypatch.setattr(ledger, "_now", lambda: failed_at + fake.now)
    out = ledger.wait_until_settled(
        timeout=600,
        run_id=RUN,
        poll_interval=10,
        quiet_seconds=5,
        retry_grace=200,
        configuration=aws_env,
    )
    # Without the grace it would have settled at 10 s with "a" lost.
    assert out["settled"] is True and out["lost"] == 0 and out["waited_s"] == 30.0

    store.write([R("b", "sent", 990.0), R("b", "failed", failed_at)], aws_env)
    fake.now, fake.sleeps, fake.on_sleep = 0.0, 0, lambda n: None
    out = ledger.wait_until_settled(
        timeout=600,
        run_id=RUN,
        poll_interval=10,
        quiet_seconds=5,
        retry_grace=200,
        configuration=aws_env,
    )
    assert out["settled"] is True and out["lost_ids"] == ["b"] and out["waited_s"] == 200.0
