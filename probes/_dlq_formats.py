"""Recognise what a dead-letter queue message is, and find the event ids inside it.

Pure parsing of one SQS message as ``ReceiveMessage`` returns it (``Body``,
``Attributes``, ``MessageAttributes``, ``MessageId``). Formats:

- ``lambda_destination``: an on-failure destination record, JSON with
  ``requestContext`` (``condition``, ``approximateInvokeCount``) and the original
  ``requestPayload`` (async invokes: ``RetriesExhausted``, ``EventAgeExceeded``),
  or a stream batch description (``KinesisBatchInfo`` / ``DDBStreamBatchInfo``,
  which carries no payload) with ``requestContext`` and, when the function
  answered, ``responseContext`` (``RetryAttemptsExhausted``; AWS leaves
  ``responseContext`` out for ``RecordAgeExceeded``, and an emulator may leave
  ``requestContext`` out too); as the body itself (SQS destination), an
  EventBridge event's ``detail`` (EventBridge destination) or an SNS envelope's
  ``Message`` (SNS destination). Shapes checked against AWS-recorded records
  in ``tests/conformance/aws_recorded``.
- ``lambda_dlq``: the original payload, with message attributes ``RequestID``,
  ``ErrorCode`` and ``ErrorMessage``.
- ``eventbridge_dlq``: the original event, with message attributes
  ``ERROR_CODE``, ``ERROR_MESSAGE``, ``EXHAUSTED_RETRY_CONDITION``,
  ``RETRY_ATTEMPTS``, ``RULE_ARN``, ``TARGET_ARN``.
- ``sns_dlq``: an SNS subscription's DLQ: the SNS envelope (``Type``
  ``Notification``, ``TopicArn``, the payload in ``Message``).
- ``stepfunctions_catch``: a state's input sent to a queue from a ``Catch``
  path, carrying the caught error (``{"Error", "Cause"}``, e.g. under
  ``ResultPath: $.error``).
- ``sqs_redrive``: anything else: the original body moved by the source
  queue's redrive policy after ``maxReceiveCount`` receives.
"""

import contextlib
import json
from typing import Any, NamedTuple

from chaoskit.ledger.trace import find_traces

__all__ = [
    "FORMATS",
    "DeadLetter",
    "classify",
    "destination_record",
    "original_body",
    "parse_message",
]

FORMATS = (
    "lambda_destination",
    "lambda_dlq",
    "eventbridge_dlq",
    "sns_dlq",
    "stepfunctions_catch",
    "sqs_redrive",
)

_EVENTBRIDGE_ATTRS = ("ERROR_CODE", "RULE_ARN", "TARGET_ARN", "EXHAUSTED_RETRY_CONDITION")
_LAMBDA_DLQ_ATTRS = ("ErrorMessage", "ErrorCode", "RequestID")


class DeadLetter(NamedTuple):
    """One traced event found in a dead-letter message."""

    run_id: str
    event_id: str
    format: str
    reason: str
    condition: str | None
    attempts: int | None
    message_id: str


def _attr(message: dict[str, Any], name: str) -> str | None:
    value = (message.get("MessageAttributes") or {}).get(name)
    if isinstance(value, dict):
        text = value.get("StringValue")
        return text if isinstance(text, str) else None
    return None


def _body_json(message: dict[str, Any]) -> Any:
    body = message.get("Body")
    if not isinstance(body, str):
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


_BATCH_INFO = ("KinesisBatchInfo", "DDBStreamBatchInfo")


def _is_destination_record(node: Any) -> bool:
    if not isinstance(node, dict):
        return False
    if any(isinstance(node.get(k), dict) for k in _BATCH_INFO):
        return True  # a stream batch record, with or without requestContext
    return isinstance(node.get("requestContext"), dict) and "requestPayload" in node


def destination_record(message: dict[str, Any]) -> dict[str, Any] | None:
    """Return the Lambda destination record a message carries, else ``None``.

    Sent to SQS directly it is the body; through an EventBridge destination it
    is the event's ``detail``; through an SNS destination, the envelope's
    ``Message``.
    """
    body = _body_json(message)
    if not isinstance(body, dict):
        return None
    candidates: list[Any] = [body, body.get("detail")]
    if body.get("Type") == "Notification" and isinstance(body.get("Message"), str):
        with contextlib.suppress(ValueError):
            candidates.append(json.loads(body["Message"]))
    return next((c for c in candidates if _is_destination_record(c)), None)


def classify(message: dict[str, Any]) -> str:
    """Return the format name of a dead-letter message (one of :data:`FORMATS`)."""
    if destination_record(message) is not None:
        return "lambda_destination"
    body = _body_json(message)
    attrs = message.get("MessageAttributes") or {}
    if any(name in attrs for name in _EVENTBRIDGE_ATTRS):
        return "eventbridge_dlq"
    if any(name in attrs for name in _LAMBDA_DLQ_ATTRS):
        return "lambda_dlq"
    if isinstance(body, dict) and body.get("Type") == "Notification" and "TopicArn" in body:
        return "sns_dlq"
    if _caught_error(body) is not None:
        return "stepfunctions_catch"
    return "sqs_redrive"


def _caught_error(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    for value in body.values():
        if isinstance(value, dict) and "Error" in value and "Cause" in value:
            return value
    return None


def _details(message: dict[str, Any], fmt: str) -> tuple[str, str | None, int | None]:
    """Return (reason, condition, attempts) for a message of format ``fmt``."""
    system = message.get("Attributes") or {}
    record = destination_record(message)
    if fmt == "lambda_destination" and record is not None:
        context = record.get("requestContext")
        context = context if isinstance(context, dict) else {}
        condition = context.get("condition")
        response = record.get("responsePayload")
        batch = any(k in record for k in _BATCH_INFO)
        reason = condition or ("stream batch failed" if batch else "destination")
        if isinstance(response, dict) and response.get("errorType"):
            reason = f"{condition or 'failed'}: {response['errorType']}"
        return str(reason), condition, _int(context.get("approximateInvokeCount"))
    if fmt == "lambda_dlq":
        message_text = _attr(message, "ErrorMessage")
        return message_text or "lambda async failure", _attr(message, "ErrorCode"), None
    if fmt == "eventbridge_dlq":
        condition = _attr(message, "EXHAUSTED_RETRY_CONDITION")
        reason = _attr(message, "ERROR_CODE") or condition or "eventbridge delivery failed"
        return reason, condition, _int(_attr(message, "RETRY_ATTEMPTS"))
    if fmt == "sns_dlq":
        return "sns delivery failed", None, None
    if fmt == "stepfunctions_catch":
        caught = _caught_error(_body_json(message)) or {}
        return str(caught.get("Error") or "caught"), "Catch", None
    # ApproximateReceiveCount counts receives from the DLQ too (peeks included):
    # the source's attempts come from the ledger instead.
    return "max_receive_count", system.get("DeadLetterQueueSourceArn"), None


def parse_message(message: dict[str, Any]) -> list[DeadLetter]:
    """Return every traced event in one dead-letter message (``[]`` if none)."""
    fmt = classify(message)
    body = _body_json(message)
    record = destination_record(message)
    if record is not None:
        # Only the original request carries the events; the response may echo them.
        scope: Any = record.get("requestPayload")
    else:
        scope = {
            "Body": body if body is not None else message.get("Body"),
            "MessageAttributes": message.get("MessageAttributes"),
        }
    reason, condition, attempts = _details(message, fmt)
    message_id = str(message.get("MessageId", ""))
    return [
        DeadLetter(t.run_id, t.event_id, fmt, reason, condition, attempts, message_id)
        for t in find_traces(scope)
    ]


def original_body(message: dict[str, Any]) -> str:
    """Return the body to send back to the source when redriving by hand.

    A Lambda destination record is unwrapped to its ``requestPayload``; every
    other format already carries the original body.
    """
    record = destination_record(message)
    if record is not None and "requestPayload" in record:
        payload = record["requestPayload"]
        return payload if isinstance(payload, str) else json.dumps(payload)
    return str(message.get("Body", ""))
