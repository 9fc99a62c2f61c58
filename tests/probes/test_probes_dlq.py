"""DLQ and destination formats: parsed from AWS-shaped messages, peeked and read on SQS."""

import json
from collections.abc import Callable
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.ledger import store
from chaoskit.ledger.reconcile import reconcile
from chaoskit.ledger.records import Record
from probes import dlq
from probes._dlq_formats import classify, original_body, parse_message

Loader = Callable[[str], dict[str, Any]]

EXPECTED = {
    # sample: (format, event ids, reason, condition, attempts)
    "dlq_sqs_redrive": ("sqs_redrive", ["ev-sqs-1"], "max_receive_count", None, None),
    "dlq_sqs_redrive_attributes": ("sqs_redrive", ["ev-sqs-2"], "max_receive_count", None, None),
    "dlq_lambda_destination": (
        "lambda_destination",
        ["ev-dest-1"],
        "RetriesExhausted: ChaosKitInjectedError",
        "RetriesExhausted",
        3,
    ),
    "dlq_lambda_destination_eventbridge": (
        "lambda_destination",
        ["ev-dest-eb"],
        "RetriesExhausted: ChaosKitInjectedError",
        "RetriesExhausted",
        3,
    ),
    "dlq_lambda_destination_sns": (
        "lambda_destination",
        ["ev-dest-sns"],
        "RetriesExhausted: ChaosKitInjectedError",
        "RetriesExhausted",
        3,
    ),
    "dlq_lambda_dlq": ("lambda_dlq", ["ev-ldlq-1"], "injected", "200", None),
    "dlq_stepfunctions_catch": (
        "stepfunctions_catch",
        ["ev-sfn-1"],
        "ChaosKitInjectedError",
        "Catch",
        None,
    ),
    "dlq_sns_dlq": ("sns_dlq", ["ev-sns-1"], "sns delivery failed", None, None),
    "dlq_eventbridge_dlq": (
        "eventbridge_dlq",
        ["ev-eb-1"],
        "SDK_CLIENT_ERROR",
        "MaximumRetryAttempts",
        185,
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_format_yields_its_event_ids_and_reason(name: str, sample: Loader) -> None:
    fmt, ids, reason, condition, attempts = EXPECTED[name]
    message = {**sample(name), "MessageId": "m-1"}
    assert classify(message) == fmt
    letters = parse_message(message)
    assert [d.event_id for d in letters] == ids
    assert {d.run_id for d in letters} == {"run-dlq"}
    assert (letters[0].reason, letters[0].condition, letters[0].attempts) == (
        reason,
        condition,
        attempts,
    )


def test_a_stream_failure_record_is_recognised_but_carries_no_payload(sample: Loader) -> None:
    message = sample("dlq_lambda_destination_stream")
    assert classify(message) == "lambda_destination"
    assert parse_message(message) == []


def test_a_destination_record_redrives_as_its_request_payload(sample: Loader) -> None:
    message = sample("dlq_lambda_destination")
    assert json.loads(original_body(message))["chaoskit"]["event_id"] == "ev-dest-1"
    wrapped = sample("dlq_lambda_destination_eventbridge")
    assert json.loads(original_body(wrapped))["chaoskit"]["event_id"] == "ev-dest-eb"
    plain = sample("dlq_sqs_redrive")
    assert original_body(plain) == plain["Body"]


def test_peek_sees_every_format_and_leaves_the_queue_as_it_was(
    aws_env: dict[str, str], make_queue: Callable[..., str], send_sample: Callable[[str, str], None]
) -> None:
    url = make_queue("orders-dlq")
    for name in EXPECTED:
        send_sample(url, name)
    assert dlq.get_queue_depth("orders-dlq", aws_env) == len(EXPECTED)
    peeked = dlq.peek_messages("orders-dlq", max_messages=50, configuration=aws_env)
    assert sorted(p["format"] for p in peeked) == sorted(f for f, *_ in EXPECTED.values())
    # Non-destructive: everything is visible again at once, nothing in flight.
    attrs = aws.client("sqs", aws_env).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert int(attrs["ApproximateNumberOfMessages"]) == len(EXPECTED)
    again = dlq.peek_messages(url, max_messages=50, configuration=aws_env)
    assert {p["message_id"] for p in again} == {p["message_id"] for p in peeked}


def test_event_ids_are_filtered_by_run(
    aws_env: dict[str, str], make_queue: Callable[..., str], send_sample: Callable[[str, str], None]
) -> None:
    url = make_queue("orders-dlq")
    send_sample(url, "dlq_sqs_redrive")
    send_sample(url, "dlq_lambda_dlq")
    aws.client("sqs", aws_env).send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"chaoskit": {"run_id": "other-run", "event_id": "x"}}),
    )
    assert dlq.get_event_ids(url, run_id="run-dlq", configuration=aws_env) == [
        "ev-ldlq-1",
        "ev-sqs-1",
    ]
    assert dlq.get_event_ids(url, all_runs=True, configuration=aws_env) == [
        "ev-ldlq-1",
        "ev-sqs-1",
        "x",
    ]
    assert dlq.count_dead_letters(url, run_id="other-run", configuration=aws_env) == 1


def test_recorded_dead_letters_never_double_count(
    aws_env: dict[str, str], make_queue: Callable[..., str], send_sample: Callable[[str, str], None]
) -> None:
    url = make_queue("orders-dlq")
    for name in ("dlq_sqs_redrive", "dlq_lambda_destination", "dlq_eventbridge_dlq"):
        send_sample(url, name)
    sent = [Record("run-dlq", e, "sent", 1.0) for e in ("ev-sqs-1", "ev-dest-1", "ev-eb-1")]
    store.ensure_table(aws_env)
    store.write(sent, aws_env)
    first = dlq.record_dead_letters(["orders-dlq"], run_id="run-dlq", configuration=aws_env)
    second = dlq.record_dead_letters([url], run_id="run-dlq", configuration=aws_env)
    assert first == {"orders-dlq": 3} and second == {url: 3}
    records = store.read_run("run-dlq", aws_env)
    assert sum(r.kind == "dead_lettered" for r in records) == 3  # nothing written twice
    # Even if another process writes the same dead letters again, the count holds.
    store.write([r for r in records if r.kind == "dead_lettered"], aws_env)
    out = reconcile(store.read_run("run-dlq", aws_env))
    assert (out["dead_lettered"], out["lost"]) == (3, 0)
    assert out["dead_letter_reasons"] == {
        "RetriesExhausted: ChaosKitInjectedError": 1,
        "SDK_CLIENT_ERROR": 1,
        "max_receive_count": 1,
    }
    detail = next(
        r.detail for r in records if r.event_id == "ev-dest-1" and r.kind == "dead_lettered"
    )
    assert detail is not None and detail["queue"] == "orders-dlq"
    assert detail["condition"] == "RetriesExhausted" and detail["attempts"] == 3


def test_a_missing_queue_names_the_queue(aws_env: dict[str, str]) -> None:
    from chaoskit.errors import AWSActionFailed

    with pytest.raises(AWSActionFailed, match="sqs:GetQueueUrl on 'nope'"):
        dlq.get_queue_depth("nope", aws_env)


def test_a_stream_failure_record_is_resolved_from_the_stream(
    aws_env: dict[str, str], make_queue: Callable[..., str], sample: Loader
) -> None:
    kinesis = aws.client("kinesis", aws_env)
    kinesis.create_stream(StreamName="orders-stream", ShardCount=1)
    stream = kinesis.describe_stream(StreamName="orders-stream")["StreamDescription"]
    sequences = []
    for i in range(5):
        data = json.dumps({"order_id": i, "chaoskit": {"run_id": "run-dlq", "event_id": f"k{i}"}})
        out = kinesis.put_record(StreamName="orders-stream", Data=data.encode(), PartitionKey="p")
        sequences.append(out["SequenceNumber"])
    # The failed batch is records 1..2: only those two events were skipped.
    record = json.loads(sample("dlq_lambda_destination_stream")["Body"])
    record["KinesisBatchInfo"].update(
        streamArn=stream["StreamARN"],
        shardId=stream["Shards"][0]["ShardId"],
        startSequenceNumber=sequences[1],
        endSequenceNumber=sequences[2],
        batchSize=2,
    )
    url = make_queue("orders-stream-failures")
    aws.client("sqs", aws_env).send_message(QueueUrl=url, MessageBody=json.dumps(record))
    assert dlq.get_event_ids(url, run_id="run-dlq", configuration=aws_env) == ["k1", "k2"]
    peeked = dlq.peek_messages(url, configuration=aws_env)
    assert peeked[0]["reason"] == "RetryAttemptsExhausted" and peeked[0]["attempts"] == 4


def test_a_fifo_dlq_that_hides_messages_behind_a_group_says_so(
    aws_env: dict[str, str], make_queue: Callable[..., str], caplog: pytest.LogCaptureFixture
) -> None:
    from probes._sqs import peek

    url = make_queue("orders-dlq.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    sqs = aws.client("sqs", aws_env)
    for i in range(15):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="one-customer")
    assert len(peek(url, aws_env)) == 10  # what SQS allows: the rest wait behind the group
    assert "holds about 15 messages but only 10 could be read" in caplog.text
    caplog.clear()
    other = make_queue("spread-dlq.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for i in range(15):
        sqs.send_message(QueueUrl=other, MessageBody=f"m{i}", MessageGroupId=f"g{i}")
    assert len(peek(other, aws_env)) == 15
    assert "could be read" not in caplog.text
