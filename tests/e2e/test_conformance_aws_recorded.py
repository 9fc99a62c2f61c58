"""Replay event-delivery scenarios AWS recorded and compare the sandbox's result with AWS's.

The facts are snapshot excerpts LocalStack's test suite recorded against real AWS,
vendored in ``tests/conformance/aws_recorded`` (source, commit and licence there).
Each test sets up the recorded scenario on the sandbox (same mapping settings,
same failure, same filters), then compares what matters: where the failure record
landed, its fields and their types (:func:`shape`), the condition and the invoke count,
and which records an event filter let through to the function.
The table of scenarios and results is in ``docs/sandbox.md``.
"""

import json
import time
from functools import cache
from pathlib import Path
from typing import Any

from tests.support.sandbox import (
    attempts,
    create_function,
    drain,
    queue,
    unique,
    wait_for,
    zip_files,
)

RECORDED = Path(__file__).parents[1] / "conformance" / "aws_recorded" / "snapshots.json"


@cache
def _snapshots() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


def recorded(test: str, key: str) -> Any:
    """Return one recorded value of the LocalStack test whose id ends with ``test``."""
    [name] = [k for k in _snapshots() if k.endswith(test)]
    return _snapshots()[name]["recorded-content"][key]


def shape(value: Any) -> Any:
    """Keys and value types, recursively: what two records must share to match."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in sorted(value.items())}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


def _body(message: dict[str, Any]) -> Any:
    return json.loads(message["Body"]) if isinstance(message["Body"], str) else message["Body"]


def _stream(aws: Any) -> tuple[str, str]:
    kinesis = aws("kinesis")
    name = unique("conf-stream")
    kinesis.create_stream(StreamName=name, ShardCount=1)
    wait_for(
        lambda: (
            kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                "StreamStatus"
            ]
            == "ACTIVE"
        ),
        timeout=30,
        what="the stream",
    )
    arn = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]["StreamARN"]
    return name, arn


def test_kinesis_on_failure_record_after_retries(aws, recorder):
    [aws_message] = recorded(
        "test_kinesis_event_source_mapping_with_on_failure_destination_config", "sqs_payload"
    )["Messages"]
    expected = aws_message["Body"]
    stream, stream_arn = _stream(aws)
    name = unique("conf-kinesis")
    create_function(
        aws, name, handler="probe.kinesis_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    dest_url, dest_arn = queue(aws, unique("conf-kinesis-dest"))
    aws("kinesis").put_record(StreamName=stream, Data=b"poison-1", PartitionKey="k")
    aws("lambda").create_event_source_mapping(  # the recorded mapping's settings
        FunctionName=name,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=1,
        MaximumBatchingWindowInSeconds=1,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    [message] = drain(aws("sqs"), dest_url, expect=1, timeout=60)
    got = _body(message)
    assert shape(got) == shape(expected)
    assert got["requestContext"]["condition"] == expected["requestContext"]["condition"]
    count = expected["requestContext"]["approximateInvokeCount"]
    assert got["requestContext"]["approximateInvokeCount"] == count
    assert got["responseContext"]["functionError"] == expected["responseContext"]["functionError"]
    assert got["KinesisBatchInfo"]["batchSize"] == expected["KinesisBatchInfo"]["batchSize"]
    assert len(attempts(aws, recorder, expect=count, timeout=10)) == count


def test_kinesis_record_age_exceeded_before_ingestion(aws):
    [aws_message] = recorded(
        "test_kinesis_maximum_record_age_exceeded[expire-before-ingestion]",
        "record_age_exceeded_payload",
    )["Messages"]
    expected = aws_message["Body"]
    stream, stream_arn = _stream(aws)
    name = unique("conf-age")
    create_function(aws, name, handler="probe.kinesis_handler")
    dest_url, dest_arn = queue(aws, unique("conf-age-dest"))
    aws("kinesis").put_record(StreamName=stream, Data=b"old-1", PartitionKey="k")
    time.sleep(61)  # older than the mapping's maximum record age (60 s, the least allowed)
    aws("lambda").create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=1,
        MaximumBatchingWindowInSeconds=1,
        MaximumRetryAttempts=0,
        MaximumRecordAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    [message] = drain(aws("sqs"), dest_url, expect=1, timeout=60)
    got = _body(message)
    assert shape(got) == shape(expected)  # requestContext, no responseContext
    assert got["requestContext"]["condition"] == "RecordAgeExceeded"
    count = expected["requestContext"]["approximateInvokeCount"]
    assert got["requestContext"]["approximateInvokeCount"] == count


def test_dynamodb_stream_on_failure_record_after_retries(aws):
    [aws_message] = recorded(
        "test_dynamodb_event_source_mapping_with_on_failure_destination_config",
        "destination_queue_messages",
    )["Messages"]
    expected = aws_message["Body"]
    dynamodb = aws("dynamodb")
    table = unique("conf-table")
    described = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]
    failing = unique("conf-ddb-fail")
    # kinesis_handler fails on a DynamoDB record (it has no "kinesis" member): Unhandled.
    create_function(aws, failing, handler="probe.kinesis_handler")
    dest_url, dest_arn = queue(aws, unique("conf-ddb-dest"))
    aws("lambda").create_event_source_mapping(
        FunctionName=failing,
        EventSourceArn=described["LatestStreamArn"],
        StartingPosition="TRIM_HORIZON",
        BatchSize=1,
        MaximumBatchingWindowInSeconds=1,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    dynamodb.put_item(TableName=table, Item={"id": {"S": "item-1"}})
    [message] = drain(aws("sqs"), dest_url, expect=1, timeout=60)
    got = _body(message)
    assert shape(got) == shape(expected)
    assert got["requestContext"]["condition"] == expected["requestContext"]["condition"]
    count = expected["requestContext"]["approximateInvokeCount"]
    assert got["requestContext"]["approximateInvokeCount"] == count
    assert got["DDBStreamBatchInfo"]["batchSize"] == 1


def test_async_destination_after_retries(aws, recorder):
    [aws_message] = recorded("TestLambdaDestinationSqs::test_retries", "queue_destination_payload")[
        "Messages"
    ]
    expected = aws_message["Body"]
    name = unique("conf-async")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    dest_url, dest_arn = queue(aws, unique("conf-async-dest"))
    aws("lambda").put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=2,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    aws("lambda").invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": "conformance"})
    )
    [message] = drain(aws("sqs"), dest_url, expect=1, timeout=90)
    got = _body(message)
    assert sorted(got) == sorted(expected)
    assert shape(got["requestContext"]) == shape(expected["requestContext"])
    assert shape(got["responseContext"]) == shape(expected["responseContext"])
    assert got["requestContext"]["condition"] == "RetriesExhausted"
    count = expected["requestContext"]["approximateInvokeCount"]
    assert got["requestContext"]["approximateInvokeCount"] == count == 3
    assert got["requestPayload"] == {"fail": "conformance"}
    assert len(attempts(aws, recorder, expect=count, timeout=10)) == count


def test_lambda_dlq_message_attributes(aws):
    [expected] = recorded("TestLambdaDLQ::test_dead_letter_queue", "receive_result")["Messages"]
    dlq_url, dlq_arn = queue(aws, unique("conf-lambda-dlq"))
    name = unique("conf-dlq-fn")
    lam = aws("lambda")
    create_function(aws, name)
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.get_waiter("function_updated_v2").wait(FunctionName=name)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": "dlq"}))
    [message] = drain(aws("sqs"), dlq_url, expect=1, timeout=60)
    assert json.loads(message["Body"]) == {"fail": "dlq"}  # the original payload
    attributes = message["MessageAttributes"]
    assert sorted(attributes) == sorted(expected["MessageAttributes"])
    for attribute, value in expected["MessageAttributes"].items():
        assert attributes[attribute]["DataType"] == value["DataType"]


def test_sqs_redrive_after_a_failing_function(aws, recorder):
    counts = [
        recorded("test_redrive_policy_with_failing_lambda", key)["Messages"][0]["Body"]["event"][
            "Records"
        ][0]["attributes"]["ApproximateReceiveCount"]
        for key in ("first_attempt", "second_attempt")
    ]
    assert counts == ["1", "2"]  # AWS: two receives (maxReceiveCount 2), then the DLQ
    dlq_url, dlq_arn = queue(aws, unique("conf-redrive-dlq"))
    src_url, src_arn = queue(
        aws,
        unique("conf-redrive"),
        VisibilityTimeout="2",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
    )
    name = unique("conf-redrive-fn")
    create_function(
        aws, name, handler="probe.sqs_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    aws("sqs").send_message(QueueUrl=src_url, MessageBody="poison-redrive")
    aws("lambda").create_event_source_mapping(
        FunctionName=name, EventSourceArn=src_arn, BatchSize=1, MaximumBatchingWindowInSeconds=0
    )
    [dead] = drain(aws("sqs"), dlq_url, expect=1, timeout=60)
    assert dead["Body"] == "poison-redrive"  # the original body, as recorded in dlq_response
    seen = attempts(aws, recorder, expect=2, timeout=10)
    assert [a["event"]["body"] for a in seen] == ["poison-redrive"] * 2  # maxReceiveCount


PARTIAL_HANDLER = """
def handler(event, context):
    failed = [
        {"itemIdentifier": r["dynamodb"]["SequenceNumber"]}
        for r in event["Records"]
        if r["dynamodb"].get("NewImage", {}).get("should_fail", {}).get("BOOL")
    ]
    return {"batchItemFailures": failed}
"""


def test_dynamodb_partial_batch_failure_record(aws):
    [aws_message] = recorded(
        "test_dynamodb_report_batch_item_failures", "destination_queue_messages"
    )["Messages"]
    expected = aws_message["Body"]
    dynamodb = aws("dynamodb")
    table = unique("conf-partial")
    stream_arn = dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "my_partition_key", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "my_partition_key", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
    )["TableDescription"]["LatestStreamArn"]
    name = unique("conf-partial-fn")
    create_function(
        aws, name, handler="partial.handler", code=zip_files({"partial.py": PARTIAL_HANDLER})
    )
    dest_url, dest_arn = queue(aws, unique("conf-partial-dest"))
    for i in range(6):  # the recorded items: the sixth fails
        dynamodb.put_item(
            TableName=table,
            Item={"my_partition_key": {"S": f"testId{i}"}, "should_fail": {"BOOL": i == 5}},
        )
    aws("lambda").create_event_source_mapping(  # the recorded mapping's settings
        FunctionName=name,
        EventSourceArn=stream_arn,
        StartingPosition="TRIM_HORIZON",
        BatchSize=3,
        MaximumBatchingWindowInSeconds=1,
        MaximumRetryAttempts=3,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    [message] = drain(aws("sqs"), dest_url, expect=1, timeout=90)
    got = _body(message)
    # AWS: responseContext.functionError is null for a partial failure
    assert sorted(got) == sorted(expected)
    assert sorted(got["responseContext"]) == sorted(expected["responseContext"])
    assert got["responseContext"]["functionError"] is expected["responseContext"]["functionError"]
    assert got["requestContext"]["condition"] == expected["requestContext"]["condition"]
    count = expected["requestContext"]["approximateInvokeCount"]
    assert got["requestContext"]["approximateInvokeCount"] == count
    assert got["DDBStreamBatchInfo"]["batchSize"] == expected["DDBStreamBatchInfo"]["batchSize"]
    assert drain(aws("sqs"), dest_url, expect=1, timeout=3) == []  # only the failing item


#: LocalStack's ``test_sqs_event_filter`` cases (its source at the vendored commit):
#: the mapping's filter, a message it lets through, one it drops. AWS invoked the function
#: once with the first only, and the queue was empty after: the second was deleted.
SQS_FILTERS: dict[str, tuple[dict[str, Any], Any, Any]] = {
    "single": (
        {"body": {"my-key": ["my-value"]}},
        {"my-key": "my-value"},
        {"my-key": "other-value"},
    ),
    "or": (
        {"body": {"my-key": ["my-value-one", "my-value-two"]}},
        {"my-key": "my-value-two"},
        {"my-key": "other-value"},
    ),
    "and": (
        {"body": {"my-key-one": ["other-filter", "my-value-one"], "my-key-two": ["my-value-two"]}},
        {"my-key-one": "my-value-one", "my-key-two": "my-value-two"},
        {"my-key-one": "other-value-", "my-key-two": "my-value-two"},
    ),
    "exists": (
        {"body": {"my-key": [{"exists": True}]}},
        {"my-key": "any-value-one"},
        {"other-key": "any-value-two"},
    ),
    "numeric-bigger": (
        {"body": {"my-number": [{"numeric": [">", 100]}]}},
        {"my-number": 101},
        {"my-number": 100},
    ),
    "numeric-smaller": (
        {"body": {"my-number": [{"numeric": ["<", 100]}]}},
        {"my-number": 99},
        {"my-number": 100},
    ),
    "numeric-range": (
        {"body": {"my-number": [{"numeric": [">=", 100, "<", 200]}]}},
        {"my-number": 100},
        {"my-number": 200},
    ),
    "prefix": (
        {"body": {"my-key": [{"prefix": "yes"}]}},
        {"my-key": "yes-value"},
        {"my-key": "no-value"},
    ),
    "valid-json-filter": (
        {"body": {"my-key": ["my-value"]}},
        {"my-key": "my-value"},
        "plain-string",
    ),
}


def _delivered(aws: Any, recorder: dict[str, str], expect: int, timeout: float) -> list[Any]:
    """Return every record the recording function got: ``expect`` of them, then any late one."""
    got = attempts(aws, recorder, expect=expect, timeout=timeout)
    time.sleep(5)  # a record the filter should have dropped comes within the next polls
    got += attempts(aws, recorder, expect=1, timeout=1)
    return [record for attempt in got for record in attempt["event"]["Records"]]


def test_sqs_filters_deliver_what_aws_delivered_and_delete_the_rest(aws, recorder):
    sqs, lam = aws("sqs"), aws("lambda")
    name = unique("conf-sqs-filter")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    cases: dict[str, tuple[str, str]] = {}
    for case, (pattern, passes, dropped) in SQS_FILTERS.items():
        url, arn = queue(aws, unique("conf-filter"))
        for item in (passes, dropped):  # both sent first, as the recorded test did
            sqs.send_message(
                QueueUrl=url, MessageBody=item if isinstance(item, str) else json.dumps(item)
            )
        lam.create_event_source_mapping(
            EventSourceArn=arn,
            FunctionName=name,
            MaximumBatchingWindowInSeconds=1,
            FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]},
        )
        cases[arn] = (case, url)
    records = _delivered(aws, recorder, expect=len(cases), timeout=120)
    got: dict[str, list[Any]] = {}
    for record in records:
        got.setdefault(cases[record["eventSourceARN"]][0], []).append(json.loads(record["body"]))
    aws_got = {
        case: [
            r["body"]
            for event in recorded(f"test_sqs_event_filter[{case}]", "invocation_events")
            for r in event["Records"]
        ]
        for case in SQS_FILTERS
    }
    assert got == aws_got
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    for case, url in cases.values():  # what a filter drops is deleted, not left in the queue
        wait_for(
            lambda url=url: (
                not any(
                    int(v)
                    for v in sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)[
                        "Attributes"
                    ].values()
                )
            ),
            timeout=30,
            what=f"queue of case {case} to be empty",
        )


#: LocalStack's ``test_dynamodb_event_filter`` cases: two items put in turn (the second
#: with the first one's key is a MODIFY), and the mapping's filter. What AWS delivered is
#: recorded as ``lambda-multiple-log-events``.
DYNAMODB_FILTERS: dict[str, tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = {
    "insert_same_entry_twice": (
        {"id": {"S": "id_value"}, "id2": {"S": "id2_value"}},
        {"id": {"S": "id_value"}, "id2": {"S": "id2_value"}},
        {"eventName": ["INSERT"]},
    ),
    "content_or_filter": (
        {"id": {"S": "id_value"}},
        {"id": {"S": "id_value"}, "id2": {"S": "id2_new_value"}},
        {"eventName": ["INSERT", "MODIFY"]},
    ),
    "content_filter_type": (
        {"id": {"S": "id_value_1"}, "presentKey": {"S": "presentValue"}},
        {"id": {"S": "id_value_2"}},
        {"dynamodb": {"NewImage": {"presentKey": {"S": ["presentValue"]}}}},
    ),
    "exists_filter_type": (
        {"id": {"S": "id_value_1"}, "presentKey": {"S": "presentValue"}},
        {"id": {"S": "id_value_2"}},
        {"dynamodb": {"NewImage": {"presentKey": {"S": [{"exists": True}]}}}},
    ),
    "exists_false_filter": (
        {"id": {"S": "id_value_1"}},
        {"id": {"S": "id_value_2"}, "presentKey": {"S": "presentValue"}},
        {"dynamodb": {"NewImage": {"presentKey": [{"exists": False}]}}},
    ),
    "numeric_filter": (
        {"id": {"S": "id_value_1"}, "numericFilter": {"N": "42"}},
        {"id": {"S": "id_value_2"}, "numericFilter": {"N": "101"}},
        {"dynamodb": {"NewImage": {"numericFilter": {
            "N": [{"numeric": [">", 100]}, {"anything-but": "101"}]}}}},
    ),
    "prefix_filter": (
        {"id": {"S": "id_value_1"}, "prefix": {"S": "us-1-other-suffix"}},
        {"id": {"S": "id_value_1"}, "prefix": {"S": "other-suffix"}},
        {"dynamodb": {"NewImage": {"prefix": {"S": [{"prefix": "us-1"}]}}}},
    ),
    "date_time_conversion": (
        {"id": {"S": "id_value_1"}},
        {"id": {"S": "id_value_2"}},
        {"dynamodb": {"ApproximateCreationDateTime": [{"numeric": [">", 0]}]}},
    ),
}  # fmt: skip


def test_dynamodb_stream_filters_deliver_what_aws_delivered(aws, recorder):
    dynamodb, lam = aws("dynamodb"), aws("lambda")
    name = unique("conf-ddb-filter")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    cases: dict[str, str] = {}
    tables: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    for case, (first, second, pattern) in DYNAMODB_FILTERS.items():
        table = unique("conf-filter")
        stream_arn = dynamodb.create_table(  # the recorded table: key id, both images
            TableName=table,
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]["LatestStreamArn"]
        uuid = lam.create_event_source_mapping(  # the recorded mapping's settings
            FunctionName=name,
            EventSourceArn=stream_arn,
            BatchSize=1,
            StartingPosition="TRIM_HORIZON",
            MaximumBatchingWindowInSeconds=1,
            MaximumRetryAttempts=1,
            FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]},
        )["UUID"]
        cases[stream_arn] = case
        tables[table] = (first, second)
        wait_for(
            lambda uuid=uuid: lam.get_event_source_mapping(UUID=uuid)["State"] == "Enabled",
            timeout=30,
            what="the mapping",
        )
    for table, (first, second) in tables.items():
        dynamodb.put_item(TableName=table, Item=first)
        dynamodb.put_item(TableName=table, Item=second)
    aws_got = {
        case: [
            (r["eventName"], r["dynamodb"].get("NewImage"))
            for event in recorded(f"dynamodb_event_filter[{case}]", "lambda-multiple-log-events")
            for r in event["Records"]
        ]
        for case in DYNAMODB_FILTERS
    }  # fmt: skip
    records = _delivered(aws, recorder, expect=sum(map(len, aws_got.values())), timeout=120)
    got: dict[str, list[Any]] = {}
    for record in records:
        image = record["dynamodb"].get("NewImage")
        got.setdefault(cases[record["eventSourceARN"]], []).append((record["eventName"], image))
    assert got == aws_got


def _number(value: str) -> dict[str, str]:
    return {"DataType": "Number", "StringValue": value}


#: LocalStack's SNS filter-policy tests (their source at the vendored commit), one
#: subscription per policy: (test, the recorded receives after its messages were
#: published, policy, scope, raw delivery, [(message, attributes)]). AWS delivered what
#: those receives hold and nothing else: each test asserts the others never arrive.
SNS_POLICIES: list[tuple[str, list[str], dict[str, Any], str | None, bool, list[Any]]] = [
    (
        "::test_filter_policy",
        ["messages-1", "messages-2"],
        {"attr1": [{"numeric": [">", 0, "<=", 100]}]},
        None,
        False,
        [
            ("This is a test message", {"attr1": _number("99")}),
            ("This is another test message", {"attr1": _number("111")}),
        ],
    ),
    (
        "::test_filter_policy",
        ["messages-3"],
        {"attr1": [None, {"anything-but": "whatever"}]},
        None,
        False,
        [("This the test message for null", {})],
    ),
    (
        "::test_exists_filter_policy",
        ["messages-1", "messages-2"],
        {"store": [{"exists": True}]},
        None,
        False,
        [
            ("message-1", {"store": _number("99"), "def": _number("99")}),
            ("message-2", {"attr1": _number("111")}),
        ],
    ),
    (
        "::test_exists_filter_policy",
        ["messages-3", "messages-4"],
        {"store": [{"exists": False}]},
        None,
        False,
        [
            ("message-3", {"def": _number("99")}),
            ("message-4", {"store": _number("99"), "def": _number("99")}),
        ],
    ),
    (
        "::test_filter_policy_on_message_body[True]",
        ["recv-passed-msg-0", "recv-passed-msg-1"],
        {
            "object": {
                "key": [{"prefix": "auto-"}, "hardcodedvalue"],
                "nested_key": [{"exists": False}],
            },
            "test": [{"exists": False}],
        },
        "MessageBody",
        True,
        [
            (json.dumps(m), {})
            for m in [
                {"object": {"key": "auto-test"}},
                {"object": {"key": "hardcodedvalue"}},
                {"object": {"key": "test-auto"}},
                {"object": {"key": "auto-test"}, "test": "just-exists"},
                {"object": {"key": "auto-test", "nested_key": "just-exists"}},
                {"object": {"test": "auto-test"}},
                {"test": "auto-test"},
            ]
        ]
        + [("Regular string message", {}), (json.dumps("Regular string message"), {})],
    ),
]


def _message_text(body: Any, raw: bool) -> str:
    """The published message a queue's body carries (raw, or in SNS's envelope)."""
    if raw:
        return body if isinstance(body, str) else json.dumps(body)
    return str(body["Message"])


def test_sns_filter_policies_deliver_what_aws_delivered(aws):
    sns, sqs = aws("sns"), aws("sqs")
    cases = []
    for test, keys, policy, scope, raw, messages in SNS_POLICIES:
        topic = sns.create_topic(Name=unique("conf-policy"))["TopicArn"]
        url, arn = queue(aws, unique("conf-policy"))
        attributes = {"FilterPolicy": json.dumps(policy), "RawMessageDelivery": str(raw).lower()}
        if scope:
            attributes["FilterPolicyScope"] = scope
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes)
        for message, message_attributes in messages:
            sns.publish(TopicArn=topic, Message=message, MessageAttributes=message_attributes)
        aws_got = {
            _message_text(m["Body"], raw)
            for key in keys
            for m in recorded(test, key).get("Messages", [])
        }
        cases.append((test, policy, url, raw, aws_got))
    for test, policy, url, raw, aws_got in cases:
        got = drain(sqs, url, expect=len(aws_got), timeout=30)
        time.sleep(1)  # a message the policy should have dropped would be there by now
        got += drain(sqs, url, expect=1, timeout=1)
        texts = {m["Body"] if raw else json.loads(m["Body"])["Message"] for m in got}
        assert texts == aws_got, (test, policy)


def _kinesis_records(aws: Any, stream: str, expect: int, timeout: float = 20) -> list[Any]:
    """Every record on the stream's one shard, read from its start, once ``expect`` are there."""
    kinesis = aws("kinesis")
    [shard] = kinesis.list_shards(StreamName=stream)["Shards"]
    found: list[Any] = []

    def read() -> bool:
        iterator = kinesis.get_shard_iterator(
            StreamName=stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found[:] = kinesis.get_records(ShardIterator=iterator)["Records"]
        return len(found) >= expect

    wait_for(read, timeout=timeout, what=f"{expect} record(s) on {stream}")
    return found


def test_a_tables_kinesis_streaming_destination_puts_each_change_as_aws_does(aws):
    # LocalStack's test_enable_kinesis_streaming_destination, recorded against AWS: a table,
    # a stream, EnableKinesisStreamingDestination, one item put by TransactWriteItems.
    [expected] = recorded("test_enable_kinesis_streaming_destination", "result-records")
    ddb = aws("dynamodb")
    table = unique("conf-kds")
    ddb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    stream, stream_arn = _stream(aws)
    ddb.enable_kinesis_streaming_destination(TableName=table, StreamArn=stream_arn)
    [destination] = ddb.describe_kinesis_streaming_destination(TableName=table)[
        "KinesisDataStreamDestinations"
    ]
    assert (destination["StreamArn"], destination["DestinationStatus"]) == (stream_arn, "ACTIVE")
    ddb.transact_write_items(
        TransactItems=[{"Put": {"Item": {"id": {"S": "test"}}, "TableName": table}}]
    )

    [got] = _kinesis_records(aws, stream, expect=1)
    data = json.loads(got["Data"])
    # Values the snapshot replaced by placeholders are compared by kind; the rest as recorded.
    assert set(got) >= set(expected)
    assert len(got["PartitionKey"]) == 32 and int(got["PartitionKey"], 16) >= 0
    created = data["dynamodb"].pop("ApproximateCreationDateTime")
    assert isinstance(created, int) and abs(created / 1000 - time.time()) < 60  # milliseconds
    aws_data = json.loads(json.dumps(expected["Data"]))
    aws_data["dynamodb"].pop("ApproximateCreationDateTime")
    assert (data.pop("awsRegion"), data.pop("tableName")) == ("us-east-1", table)
    assert isinstance(data.pop("eventID"), str)
    for placeholder in ("awsRegion", "tableName", "eventID"):
        aws_data.pop(placeholder)
    assert data == aws_data  # eventName, userIdentity, recordFormat, Keys, NewImage, SizeBytes 12

    # A change and a removal follow with both images, or the old one; a transaction that
    # fails puts nothing; a disabled destination gets no more.
    ddb.update_item(
        TableName=table, Key={"id": {"S": "test"}}, UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "1"}},
    )  # fmt: skip
    ddb.delete_item(TableName=table, Key={"id": {"S": "test"}})
    failed = {"TableName": table, "Key": {"id": {"S": "absent"}},
              "ConditionExpression": "attribute_exists(id)"}  # fmt: skip
    try:
        ddb.transact_write_items(
            TransactItems=[{"Put": {"Item": {"id": {"S": "never"}}, "TableName": table}},
                           {"ConditionCheck": failed}]
        )  # fmt: skip
    except ddb.exceptions.TransactionCanceledException:
        pass
    else:
        raise AssertionError("the transaction's condition check should have failed")
    ddb.disable_kinesis_streaming_destination(TableName=table, StreamArn=stream_arn)
    ddb.put_item(TableName=table, Item={"id": {"S": "after"}})
    _kinesis_records(aws, stream, expect=3)
    time.sleep(1)  # anything wrongly put (the failed transaction, after the disable) is there now
    on_stream = _kinesis_records(aws, stream, expect=3)
    records = [json.loads(r["Data"]) for r in on_stream]
    changes = [(r["eventName"], sorted(k for k in r["dynamodb"] if k.endswith("Image")))
               for r in records]  # fmt: skip
    assert changes == [
        ("INSERT", ["NewImage"]),
        ("MODIFY", ["NewImage", "OldImage"]),
        ("REMOVE", ["OldImage"]),
    ]
    assert records[1]["dynamodb"]["NewImage"] == {"id": {"S": "test"}, "n": {"N": "1"}}
    assert records[1]["dynamodb"]["OldImage"] == {"id": {"S": "test"}}
    # Keys and every image counted, as AWS counted the INSERT's keys and image (12): the
    # MODIFY adds the old image ({"id": "test"}: 6) to at least as much.
    assert records[1]["dynamodb"]["SizeBytes"] >= records[0]["dynamodb"]["SizeBytes"] + 6
    assert len({r["PartitionKey"] for r in on_stream}) == 1  # one item, one partition key
