"""The shared foundation: trace marks survive AWS's wrappings; clients resolve targets."""

import base64
import json

import pytest

from chaoskit import aws
from chaoskit.errors import BadInput
from chaoskit.ledger import records
from chaoskit.ledger.trace import find_traces, stamp


def test_trace_survives_every_wrapping() -> None:
    body = json.dumps(stamp({"order": 1}, "run-1", "ev-1", sent_at=10.0))
    shapes = {
        "sqs": {"Records": [{"messageId": "m", "body": body}]},
        "sns": {"Records": [{"Sns": {"Message": body}}]},
        "eventbridge": {"detail": json.loads(body)},
        "kinesis": {"Records": [{"kinesis": {"data": base64.b64encode(body.encode()).decode()}}]},
        "destination": {"requestPayload": json.loads(body), "requestContext": {}},
        "apigw_b64": {"body": base64.b64encode(body.encode()).decode(), "isBase64Encoded": True},
        "sqs_attributes": {
            "messageAttributes": {
                "chaoskit-run-id": {"stringValue": "run-1"},
                "chaoskit-event-id": {"stringValue": "ev-1"},
            }
        },
    }
    for name, event in shapes.items():
        traces = find_traces(event)
        assert [(t.run_id, t.event_id) for t in traces] == [("run-1", "ev-1")], name


def test_a_traced_body_can_be_written_to_dynamodb_as_it_is() -> None:
    # A public app's consumer does table.put_item(Item=json.loads(record["body"])): the
    # mark's float send time failed every chaoskit event there ("Float types are not
    # supported. Use Decimal types instead"), and the run blamed the app's payload.
    from boto3.dynamodb.types import TypeSerializer

    body = json.loads(json.dumps(stamp({"eventId": "e"}, "run-1", "ev-1", sent_at=10.25)))
    TypeSerializer().serialize(body)  # raises TypeError on a float
    (trace,) = find_traces(body)
    assert trace.sent_at == 10.25
    # A mark written before (float seconds) still reads.
    old = {"chaoskit": {"run_id": "run-1", "event_id": "ev-1", "sent_at": 10.5}}
    assert find_traces(old)[0].sent_at == 10.5


def test_untraced_and_odd_input_yields_nothing() -> None:
    for event in (None, 3, "x", {"body": "{not json"}, {"data": "!!"}, [], {"chaoskit": 1}):
        assert find_traces(event) == []


def test_ledger_item_round_trips() -> None:
    rec = records.Record("r", "e", records.PROCESSED, 12.5, "sqs", {"attempt": 2})
    assert records.parse_item(records.make_item(rec)) == rec


def test_target_resolution() -> None:
    assert aws.resolve_target({}).endpoint_url == "http://127.0.0.1:4566"
    assert aws.resolve_target({"chaoskit_target": "aws"}).endpoint_url is None
    with pytest.raises(BadInput, match="unknown target 'gcp'"):
        aws.resolve_target({"chaoskit_target": "gcp"})


def test_client_talks_to_local_endpoint(aws_env: dict[str, str]) -> None:
    sqs = aws.client("sqs", aws_env)
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    assert url.endswith("/q")
    assert aws.client("sqs", aws_env) is sqs
