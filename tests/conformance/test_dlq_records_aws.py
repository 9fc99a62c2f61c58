"""chaoskit's DLQ reader recognises every failure record shape AWS writes.

Each message below was recorded against AWS by LocalStack's test suite (see
``aws_recorded/SOURCE.md``); nothing here talks to a sandbox.
"""

from typing import Any

import pytest

from chaoskit.ledger.trace import stamp
from probes._dlq_formats import classify, destination_record, parse_message
from probes._stream_batch import batch_info

from .recorded import as_received, recorded, sns_envelope


def _messages(test: str, key: str) -> list[dict[str, Any]]:
    content = recorded(test, key)
    if "Messages" in content:
        return [as_received(m) for m in content["Messages"]]
    if "Body" in content:
        return [as_received(content)]
    return [sns_envelope(content)]


# recorded test, key -> (condition, approximateInvokeCount, batch kind or None)
STREAM_AND_ASYNC = {
    ("test_kinesis_event_source_mapping_with_on_failure_destination_config", "sqs_payload"): (
        "RetryAttemptsExhausted",
        2,
        "kinesis",
    ),
    (
        "test_kinesis_maximum_record_age_exceeded[expire-while-retrying]",
        "record_age_exceeded_payload",
    ): ("RecordAgeExceeded", 8, "kinesis"),
    (
        "test_kinesis_maximum_record_age_exceeded[expire-before-ingestion]",
        "record_age_exceeded_payload",
    ): ("RecordAgeExceeded", 1, "kinesis"),
    (
        "test_kinesis_event_source_mapping_with_sns_on_failure_destination_config",
        "failure_sns_message",
    ): ("RetryAttemptsExhausted", 2, "kinesis"),
    (
        "test_dynamodb_event_source_mapping_with_on_failure_destination_config",
        "destination_queue_messages",
    ): ("RetryAttemptsExhausted", 2, "dynamodb"),
    (
        "test_dynamodb_event_source_mapping_with_sns_on_failure_destination_config",
        "failure_sns_message",
    ): ("RetryAttemptsExhausted", 2, "dynamodb"),
    ("TestLambdaDestinationSqs::test_retries", "queue_destination_payload"): (
        "RetriesExhausted",
        3,
        None,
    ),
    ("TestLambdaDestinationSqs::test_maxeventage", "no_retry_failure_message"): (
        "EventAgeExceeded",
        1,
        None,
    ),
    ("TestLambdaDestinationSqs::test_maxeventage", "single_retry_failure_message"): (
        "EventAgeExceeded",
        2,
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(STREAM_AND_ASYNC), ids=lambda c: f"{c[0]}:{c[1]}")
def test_an_aws_recorded_failure_record_is_a_lambda_destination(case: tuple[str, str]) -> None:
    condition, attempts, kind = STREAM_AND_ASYNC[case]
    [message] = _messages(*case)
    assert classify(message) == "lambda_destination"
    record = destination_record(message)
    assert record is not None and record["requestContext"]["condition"] == condition
    assert record["requestContext"]["approximateInvokeCount"] == attempts
    found = batch_info(record)
    assert (found[0] if found else None) == kind


def test_an_aws_recorded_record_age_exceeded_record_has_no_response_context() -> None:
    [message] = _messages(
        "test_kinesis_maximum_record_age_exceeded[expire-while-retrying]",
        "record_age_exceeded_payload",
    )
    record = destination_record(message)
    assert record is not None and "responseContext" not in record


def test_a_stream_batch_record_without_request_context_is_still_recognised() -> None:
    [message] = _messages(
        "test_kinesis_event_source_mapping_with_on_failure_destination_config", "sqs_payload"
    )
    record = destination_record(message)
    assert record is not None
    bare = as_received({"Body": {"KinesisBatchInfo": record["KinesisBatchInfo"]}})
    assert classify(bare) == "lambda_destination"
    assert batch_info(destination_record(bare)) is not None


def test_an_aws_recorded_eventbridge_destination_event_carries_the_payload() -> None:
    event = recorded("test_invoke_lambda_eventbridge", "lambda_destination_event_bus_failure")
    message = as_received({"Body": event, "MessageId": "m-eb"})
    assert classify(message) == "lambda_destination"
    record = destination_record(message)
    assert record is not None and record["requestPayload"] == {"mode": "failure"}
    [letter] = parse_message(
        as_received(
            {
                "Body": {**event, "detail": {**event["detail"], "requestPayload": _traced()}},
                "MessageId": "m-eb",
            }
        )
    )
    assert (letter.condition, letter.attempts) == ("RetriesExhausted", 1)


def test_an_aws_recorded_lambda_dlq_message_is_a_lambda_dlq() -> None:
    [message] = _messages("TestLambdaDLQ::test_dead_letter_queue", "receive_result")
    assert classify(message) == "lambda_dlq"


def _traced() -> dict[str, Any]:
    return stamp({"mode": "failure"}, "run-aws", "ev-1")
