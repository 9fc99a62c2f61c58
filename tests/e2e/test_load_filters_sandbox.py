"""Before sending, the load asks whether the filter of each function reading the target
lets its events through (on the sandbox: LocalStack's event source mappings, and its
``TestEventPattern``, whose rules are the ones its pollers filter by).

Lambda deletes an SQS message no pattern of its mapping's ``FilterCriteria`` passes; such
events count lost, "never delivered", and the run would blame the fault. Nothing is sent
here but what a case needs: the mappings are only read.
"""

from typing import Any

import pytest

from chaoskit.faults import _filters as filters
from tests.support.sandbox import create_function, queue, unique

pytestmark = pytest.mark.sandbox

PREFIX = '{"body":{"region":[{"prefix":"us-"}]}}'
ATTRIBUTE = '{"messageAttributes":{"tier":{"stringValue":["gold"]}}}'


def _reader(aws: Any, source_arn: str, *patterns: str) -> tuple[str, str]:
    """A function reading ``source_arn`` through ``patterns`` (none: no filter), disabled."""
    name = unique("reader")
    create_function(aws, name)
    extra: dict[str, Any] = {}
    if patterns:
        extra["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in patterns]}
    if ":kinesis:" in source_arn:
        extra["StartingPosition"] = "TRIM_HORIZON"
    mapping = aws("lambda").create_event_source_mapping(
        EventSourceArn=source_arn, FunctionName=name, Enabled=False, **extra
    )
    return name, str(mapping["UUID"])


def _body(**fields: Any) -> dict[str, Any]:
    return {**fields, "chaoskit": {"run_id": "run-1", "event_id": "e1", "sent_ms": 1}}


def _attributes(**values: str) -> dict[str, dict[str, str]]:
    return {k: {"DataType": "String", "StringValue": v} for k, v in values.items()}


def test_a_queue_whose_reader_filters_the_payload_out_is_named(
    sandbox: dict[str, Any], aws: Any
) -> None:
    url, arn = queue(aws, unique("orders"))
    name, uuid = _reader(aws, arn, '{"body":{"region":["nowhere"]}}', PREFIX)
    dropped = filters.dropping_filters("sqs", url, _body(region="eu-west-1"), {}, sandbox)
    assert dropped == [{"mapping": uuid, "function": name,
                        "patterns": ['{"body":{"region":["nowhere"]}}', PREFIX]}]  # fmt: skip
    # One pattern passing is enough; by name, URL or ARN alike.
    for target in (url, url.rsplit("/", 1)[1], arn):
        assert filters.dropping_filters("sqs", target, _body(region="us-1"), {}, sandbox) == []


def test_message_attributes_are_judged_as_lambda_shows_them(
    sandbox: dict[str, Any], aws: Any
) -> None:
    url, arn = queue(aws, unique("orders"))
    _reader(aws, arn, ATTRIBUTE)
    assert filters.dropping_filters("sqs", url, _body(), _attributes(tier="gold"), sandbox) == []
    dropped = filters.dropping_filters("sqs", url, _body(), _attributes(tier="tin"), sandbox)
    assert [d["patterns"] for d in dropped or []] == [[ATTRIBUTE]]


def test_what_cannot_be_told_is_not_judged_a_drop(sandbox: dict[str, Any], aws: Any) -> None:
    url, arn = queue(aws, unique("orders"))
    _reader(aws, arn, '{"attributes":{"ApproximateReceiveCount":["1"]}}')
    body = _body(region="eu-west-1")
    assert filters.dropping_filters("sqs", url, body, {}, sandbox) == []  # not built here
    prefixed, _ = _reader(aws, arn, PREFIX)  # beside it: judged, and dropping
    dropped = filters.dropping_filters("sqs", url, body, {}, sandbox)
    assert [d["function"] for d in dropped or []] == [prefixed]
    assert filters.dropping_filters("sqs", unique("missing"), body, {}, sandbox) is None
    plain_url, plain_arn = queue(aws, unique("plain"))
    _reader(aws, plain_arn)
    assert filters.dropping_filters("sqs", plain_url, body, {}, sandbox) == []


def test_a_stream_is_dropped_only_where_every_reader_filters_the_events_out(
    sandbox: dict[str, Any], aws: Any
) -> None:
    kinesis = aws("kinesis")
    stream = unique("clicks")
    kinesis.create_stream(StreamName=stream, ShardCount=1)
    kinesis.get_waiter("stream_exists").wait(StreamName=stream, WaiterConfig={"Delay": 0.5})
    arn = kinesis.describe_stream_summary(StreamName=stream)["StreamDescriptionSummary"]
    body = _body(page="home")
    checkout, _ = _reader(aws, arn["StreamARN"], '{"data":{"page":["checkout"]}}')
    dropped = filters.dropping_filters("kinesis", stream, body, {}, sandbox)
    assert [d["function"] for d in dropped or []] == [checkout]
    assert filters.dropping_filters("kinesis", stream, _body(page="checkout"), {}, sandbox) == []
    _reader(aws, arn["StreamARN"])  # reads every record
    assert filters.dropping_filters("kinesis", stream, body, {}, sandbox) == []
