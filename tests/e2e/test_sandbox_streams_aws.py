"""Kinesis event source mappings behave as on AWS where events are at stake.

Bisect isolates a poison record, throttles do not use up retries, a re-enabled
mapping resumes from its checkpoint, and a mapping's state is the same in
``Get`` and ``List`` and true of its poller.
"""

import json
import time

from tests.support.sandbox import attempts, create_function, drain, queue, unique, wait_for


def _stream(aws, shards=1):
    kinesis = aws("kinesis")
    name = unique("stream")
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    wait_for(
        lambda: (
            kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE"
        ),
        timeout=30,
        what=f"stream {name} to be active",
    )
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    return name, summary["StreamARN"]


def _put_batch(aws, stream, data):
    answer = aws("kinesis").put_records(
        StreamName=stream, Records=[{"Data": d.encode(), "PartitionKey": "k"} for d in data]
    )
    return [r["SequenceNumber"] for r in answer["Records"]]


def _mapping(aws, function, stream_arn, **extra):
    lam = aws("lambda")
    uuid = lam.create_event_source_mapping(
        FunctionName=function,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=10,
        MaximumBatchingWindowInSeconds=1,
        **extra,
    )["UUID"]
    wait_for(
        lambda: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled",
        timeout=30,
        what="the mapping to be enabled",
    )
    return uuid


def _states(aws, uuid, function):
    lam = aws("lambda")
    got = lam.get_event_source_mapping(UUID=uuid)["State"]
    listed = [
        m["State"]
        for m in lam.list_event_source_mappings(FunctionName=function)["EventSourceMappings"]
        if m["UUID"] == uuid
    ]
    return got, listed[0]


def test_bisect_sends_only_the_poison_record_to_the_destination(aws, recorder):
    stream, stream_arn = _stream(aws)
    name = unique("bisect-fn")
    create_function(
        aws, name, handler="probe.kinesis_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    dest_url, dest_arn = queue(aws, unique("bisect-failures"))
    sequences = _put_batch(aws, stream, ["good-1", "good-2", "poison-3", "good-4", "good-5"])
    _mapping(
        aws,
        name,
        stream_arn,
        MaximumRetryAttempts=1,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    [failure] = [json.loads(m["Body"]) for m in drain(aws("sqs"), dest_url, 1, timeout=60)]
    info = failure["KinesisBatchInfo"]
    assert info["batchSize"] == 1
    assert info["startSequenceNumber"] == info["endSequenceNumber"] == sequences[2]
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["responseContext"]["functionError"] == "Unhandled"
    assert drain(aws("sqs"), dest_url, 1, timeout=3) == []  # nothing else discarded
    seen = [a["event"]["data"] for a in attempts(aws, recorder, expect=100, timeout=5)]
    for good in ("good-1", "good-2", "good-4", "good-5"):
        assert good in seen  # every valid record reached the function


def test_throttles_wait_for_the_record_age_without_using_retries(aws, recorder):
    lam = aws("lambda")
    stream, stream_arn = _stream(aws)
    name = unique("throttled-fn")
    create_function(
        aws, name, handler="probe.kinesis_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    dest_url, dest_arn = queue(aws, unique("throttle-failures"))
    _put_batch(aws, stream, ["good-1", "good-2"])
    _mapping(
        aws,
        name,
        stream_arn,
        MaximumRetryAttempts=1,
        MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    # With MaximumRetryAttempts 1, counting throttles would discard the batch within seconds.
    assert drain(aws("sqs"), dest_url, 1, timeout=12) == []
    lam.delete_function_concurrency(FunctionName=name)
    seen = [a["event"]["data"] for a in attempts(aws, recorder, expect=2, timeout=30)]
    assert sorted(seen) == ["good-1", "good-2"]
    assert drain(aws("sqs"), dest_url, 1, timeout=2) == []


def test_reenabling_a_mapping_resumes_from_its_checkpoint(aws, recorder):
    lam = aws("lambda")
    stream, stream_arn = _stream(aws)
    name = unique("resume-fn")
    create_function(
        aws, name, handler="probe.kinesis_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    _put_batch(aws, stream, ["a-1", "a-2", "a-3"])
    uuid = _mapping(aws, name, stream_arn)
    first = [a["event"]["data"] for a in attempts(aws, recorder, expect=3, timeout=30)]
    assert sorted(first) == ["a-1", "a-2", "a-3"]
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for(lambda: _states(aws, uuid, name) == ("Disabled", "Disabled"), 30, what="disabled")
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_for(lambda: _states(aws, uuid, name) == ("Enabled", "Enabled"), 30, what="enabled")
    _put_batch(aws, stream, ["b-1"])
    after = [a["event"]["data"] for a in attempts(aws, recorder, expect=10, timeout=8)]
    assert after == ["b-1"]  # no replay from TRIM_HORIZON


def test_a_disabled_mapping_stops_its_poller_before_it_reports_disabled(aws, recorder):
    lam = aws("lambda")
    stream, stream_arn = _stream(aws)
    name = unique("stop-fn")
    create_function(
        aws, name, handler="probe.kinesis_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    _put_batch(aws, stream, ["poison-1"])
    uuid = _mapping(aws, name, stream_arn)  # retries for ever
    attempts(aws, recorder, expect=2, timeout=30)
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got, listed = _states(aws, uuid, name)
        seen.append((got, listed))
        assert got == listed
        if got == "Disabled":
            break
        time.sleep(0.2)
    assert seen[-1] == ("Disabled", "Disabled")
    attempts(aws, recorder, expect=100, timeout=1)  # drain what ran before it stopped
    assert attempts(aws, recorder, expect=1, timeout=8) == []  # no attempt once Disabled


def test_a_shard_retrying_a_poison_record_does_not_hold_up_the_other_shard(aws, recorder):
    kinesis = aws("kinesis")
    stream, stream_arn = _stream(aws, shards=2)
    name = unique("shards-fn")
    create_function(
        aws, name, handler="probe.kinesis_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    kinesis.put_record(StreamName=stream, Data=b"poison-a", PartitionKey="a", ExplicitHashKey="1")
    _mapping(aws, name, stream_arn)  # retries for ever: shard 0 is stuck on its poison
    attempts(aws, recorder, expect=2, timeout=30)
    second_shard = str(2**127 + 1)
    kinesis.put_record(
        StreamName=stream, Data=b"good-b", PartitionKey="b", ExplicitHashKey=second_shard
    )

    def delivered():
        return "good-b" in [a["event"]["data"] for a in attempts(aws, recorder, 50, timeout=1)]

    wait_for(delivered, timeout=30, what="the other shard's record to be delivered")


def test_parallelization_factor_delivers_a_shards_keys_concurrently(aws, recorder):
    kinesis = aws("kinesis")
    stream, stream_arn = _stream(aws)
    name = unique("lanes-fn")
    create_function(
        aws,
        name,
        handler="probe.kinesis_handler",
        env={"RECORD_QUEUE_URL": recorder["url"]},
        timeout=30,
    )
    keys = [f"key-{i}" for i in range(8)]
    kinesis.put_records(
        StreamName=stream,
        Records=[{"Data": f"slow-{k}".encode(), "PartitionKey": k} for k in keys],
    )
    _mapping(aws, name, stream_arn, ParallelizationFactor=4)
    seen = attempts(aws, recorder, expect=8, timeout=60)
    assert sorted(a["event"]["data"] for a in seen) == sorted(f"slow-{k}" for k in keys)
    # One batch of 8 would run in one environment; lanes run at once, in several.
    assert len({a["event"]["pid"] for a in seen}) >= 2


def test_a_reenabled_dynamodb_stream_mapping_resumes_from_its_checkpoint(aws, recorder):
    lam, dynamodb = aws("lambda"), aws("dynamodb")
    table = unique("resume-table")
    stream_arn = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    name = unique("ddb-resume-fn")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    for key in ("a-1", "a-2"):
        dynamodb.put_item(TableName=table, Item={"id": {"S": key}})
    uuid = _mapping(aws, name, stream_arn)

    def keys(timeout):
        batches = attempts(aws, recorder, expect=10, timeout=timeout)
        return [r["dynamodb"]["Keys"]["id"]["S"] for b in batches for r in b["event"]["Records"]]

    first = wait_for(lambda: keys(2), timeout=30, what="the first records")
    assert sorted(first) == ["a-1", "a-2"]
    lam.update_event_source_mapping(UUID=uuid, Enabled=False)
    wait_for(lambda: _states(aws, uuid, name) == ("Disabled", "Disabled"), 30, what="disabled")
    lam.update_event_source_mapping(UUID=uuid, Enabled=True)
    wait_for(lambda: _states(aws, uuid, name) == ("Enabled", "Enabled"), 30, what="enabled")
    dynamodb.put_item(TableName=table, Item={"id": {"S": "b-1"}})
    assert keys(8) == ["b-1"]  # no replay from TRIM_HORIZON
