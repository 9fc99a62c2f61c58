"""SQS event source mappings: redrive of poison messages, partial batch responses."""

import json

from tests.support.sandbox import attempts, create_function, drain, queue, unique, wait_for


def _mapping(aws, name, source_arn, report_failures):
    lam = aws("lambda")
    uuid = lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=source_arn,
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        FunctionResponseTypes=["ReportBatchItemFailures"] if report_failures else [],
    )["UUID"]
    return uuid


def _source_with_dlq(aws, max_receive_count):
    dlq_url, dlq_arn = queue(aws, unique("source-dlq"))
    src_url, src_arn = queue(
        aws,
        unique("source"),
        VisibilityTimeout="2",
        RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        ),
    )
    return src_url, src_arn, dlq_url


def test_poison_messages_reach_the_dlq_after_max_receive_count_and_good_ones_are_deleted(
    aws, recorder
):
    sqs = aws("sqs")
    src_url, src_arn, dlq_url = _source_with_dlq(aws, max_receive_count=2)
    name = unique("sqs-batch")
    create_function(
        aws, name, handler="probe.sqs_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    sqs.send_message(QueueUrl=src_url, MessageBody="poison-1")
    _mapping(aws, name, src_arn, report_failures=False)

    dead = drain(sqs, dlq_url, expect=1, timeout=40)
    assert [m["Body"] for m in dead] == ["poison-1"]
    seen = attempts(aws, recorder, expect=2, timeout=5)
    assert [a["event"]["body"] for a in seen] == ["poison-1", "poison-1"]  # maxReceiveCount

    sqs.send_message(QueueUrl=src_url, MessageBody="good-1")
    seen = attempts(aws, recorder, expect=1, timeout=30)
    assert [a["event"]["body"] for a in seen] == ["good-1"]

    def emptied():
        attributes = sqs.get_queue_attributes(QueueUrl=src_url, AttributeNames=["All"])[
            "Attributes"
        ]
        counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        return all(attributes[c] == "0" for c in counts)  # deleted, not in flight

    wait_for(emptied, timeout=10, what="the good message to be deleted from the source queue")


def test_report_batch_item_failures_returns_only_the_failed_items(aws, recorder):
    sqs = aws("sqs")
    src_url, src_arn, dlq_url = _source_with_dlq(aws, max_receive_count=2)
    name = unique("sqs-partial")
    create_function(
        aws,
        name,
        handler="probe.sqs_handler",
        env={"RECORD_QUEUE_URL": recorder["url"], "REPORT_FAILURES": "1"},
    )
    sqs.send_message_batch(
        QueueUrl=src_url,
        Entries=[
            {"Id": "a", "MessageBody": "good-a"},
            {"Id": "b", "MessageBody": "poison-b"},
            {"Id": "c", "MessageBody": "good-c"},
        ],
    )
    _mapping(aws, name, src_arn, report_failures=True)
    dead = drain(sqs, dlq_url, expect=1, timeout=40)
    assert [m["Body"] for m in dead] == ["poison-b"]
    seen = attempts(aws, recorder, expect=5, timeout=5)
    bodies = sorted(a["event"]["body"] for a in seen)
    assert bodies == ["good-a", "good-c", "poison-b", "poison-b"]  # the good ones ran once
