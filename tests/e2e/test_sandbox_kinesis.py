"""Kinesis event source: a poison record is retried, then sent to the on-failure destination."""

import json

from tests.support.sandbox import attempts, create_function, drain, queue, unique, wait_for


def test_poison_record_is_retried_then_reaches_the_on_failure_destination(aws, recorder):
    kinesis, lam = aws("kinesis"), aws("lambda")
    stream = unique("stream")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    wait_for(
        lambda: (
            kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE"
        ),
        timeout=30,
        what=f"stream {stream} to be active",
    )
    stream_arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    name = unique("kinesis-fn")
    create_function(
        aws, name, handler="probe.kinesis_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    dest_url, dest_arn = queue(aws, unique("stream-failures"))
    lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    kinesis.put_record(StreamName=stream, Data=b"poison-1", PartitionKey="k")
    records = drain(aws("sqs"), dest_url, expect=1, timeout=60)
    assert len(records) == 1
    failure = json.loads(records[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["KinesisBatchInfo"]["batchSize"] == 1

    kinesis.put_record(StreamName=stream, Data=b"good-1", PartitionKey="k")
    seen = attempts(aws, recorder, expect=3, timeout=30)
    data = [a["event"]["data"] for a in seen]
    assert data.count("poison-1") == 2  # the first attempt and one retry
    assert data.count("good-1") == 1
