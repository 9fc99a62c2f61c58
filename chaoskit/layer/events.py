"""What an invocation is: its event source, qualifier and event fields.

Standard library only; everything here runs on every invocation, so it is
kept to a few dictionary lookups.
"""

from collections.abc import Iterator
from typing import Any

from chaoskit.layer.config import Match
from chaoskit.layer.context import LambdaContext

__all__ = [
    "batch_items",
    "detect_source",
    "field_value",
    "matches",
    "plain_image",
    "qualifier_of",
    "record_payloads",
]

_RECORD_SOURCES = {"aws:sqs": "sqs", "aws:kinesis": "kinesis", "aws:dynamodb": "dynamodb"}
_MISSING = object()
_MAX_DEPTH = 32  # DynamoDB's own limit on nesting within an item


def detect_source(event: Any) -> str:
    """Return the event source: sqs, sns, eventbridge, kinesis, dynamodb, apigateway or direct."""
    if not isinstance(event, dict):
        return "direct"
    records = event.get("Records")
    if isinstance(records, list) and records and isinstance(records[0], dict):
        first = records[0]
        source = _RECORD_SOURCES.get(first.get("eventSource", ""))
        if source:
            return source
        if first.get("EventSource") == "aws:sns":
            return "sns"
    if "detail-type" in event and "source" in event and "detail" in event:
        return "eventbridge"
    context = event.get("requestContext")
    if isinstance(context, dict) and (
        "httpMethod" in event or "routeKey" in event or "http" in context or "apiId" in context
    ):
        return "apigateway"
    return "direct"  # fmt: skip


def qualifier_of(context: LambdaContext | None) -> str:
    """Return the invoked version or alias from the context's ARN, ``$LATEST`` if unqualified."""
    arn = getattr(context, "invoked_function_arn", None)
    if isinstance(arn, str):
        parts = arn.split(":")
        if len(parts) >= 8 and parts[7]:
            return parts[7]
    return "$LATEST"


def field_value(event: Any, path: str) -> Any:
    """Return the value at a dotted path in ``event`` (list indexes allowed), or a sentinel."""
    node = event
    for part in path.split("."):
        if isinstance(node, dict):
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def matches(match: Match | None, event: Any, source: str, qualifier: str) -> bool:
    """Tell whether an invocation is one the fault applies to."""
    if match is None:
        return True
    if match.qualifiers and qualifier not in match.qualifiers:
        return False
    if match.source is not None and match.source != source:
        return False
    if all(field_value(event, path) == value for path, value in match.fields):
        return True
    # A field may also name a record's own payload (an SQS body, a Kinesis record's
    # data, an SNS message, a DynamoDB stream record's new image): a batch matches when
    # one of its records does, which is how a poison pill fails every batch it is in
    # until bisection isolates it.
    return bool(match.fields) and any(
        all(field_value(payload, path) == value for path, value in match.fields)
        for payload in record_payloads(event, source)
    )


def _unwrapped(body: Any) -> Any:
    """Return the message of an SNS notification an SQS body holds (a topic's subscription
    without raw delivery wraps each message in one), else the body."""
    if (
        isinstance(body, dict)
        and body.get("Type") == "Notification"
        and "TopicArn" in body
        and isinstance(body.get("Message"), str)
    ):
        return _decoded(body["Message"], False)
    return body


def _table_change(data: Any) -> Any:
    """Return the new item of a DynamoDB change record Kinesis data holds (a table's Kinesis
    streaming destination puts one per change) as plain values, else the data; a change
    without a new item (``REMOVE``) gives ``None``."""
    if (
        isinstance(data, dict)
        and data.get("eventSource") == "aws:dynamodb"
        and "recordFormat" in data
        and isinstance(data.get("dynamodb"), dict)
    ):
        return plain_image(data["dynamodb"].get("NewImage"))
    return data


def _decoded(text: Any, maybe_base64: bool) -> Any:
    if not isinstance(text, str):
        return None
    if maybe_base64:
        import base64
        import binascii

        try:
            text = base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
    if text.lstrip()[:1] != "{":
        return None
    import json

    try:
        return json.loads(text)
    except ValueError:
        return None


def _member(record: dict[str, Any], key: str) -> dict[str, Any]:
    value = record.get(key)
    return value if isinstance(value, dict) else {}


def _number(text: Any) -> Any:
    if not isinstance(text, str):
        return text
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def _plain(value: Any, depth: int = 0) -> Any:
    """Return a DynamoDB typed value (``{"N": "12"}``) as a plain one; odd input as is."""
    if not isinstance(value, dict) or len(value) != 1 or depth > _MAX_DEPTH:
        return value
    ((kind, inner),) = value.items()
    if kind in ("S", "B", "BS", "BOOL"):
        return inner
    if kind == "N":
        return _number(inner)
    if kind == "NULL":
        return None
    if kind == "M" and isinstance(inner, dict):
        return {key: _plain(item, depth + 1) for key, item in inner.items()}
    if kind == "L" and isinstance(inner, list):
        return [_plain(item, depth + 1) for item in inner]
    if kind == "SS" and isinstance(inner, list):
        return list(inner)
    if kind == "NS" and isinstance(inner, list):
        return [_number(item) for item in inner]
    return value


def plain_image(image: Any) -> dict[str, Any] | None:
    """Return a DynamoDB stream image (typed attribute values) as a plain object, or ``None``."""
    return _plain({"M": image}) if isinstance(image, dict) else None


def record_payloads(event: Any, source: str) -> Iterator[Any]:
    """Yield the decoded payload of each record of a batch.

    An SQS body, a Kinesis record's data and an SNS message are JSON objects (Kinesis
    data base64 encoded; an SQS body that is an SNS notification, from a topic's
    subscription without raw delivery, gives its message; Kinesis data that is a table's
    change record gives its ``NewImage``); a DynamoDB stream record's payload is its
    ``NewImage`` as plain values. A record without one (``KEYS_ONLY``, ``REMOVE``) yields
    nothing.
    """
    for record, _ in batch_items(event, source):
        if record is event or not isinstance(record, dict):
            return
        if source == "sqs":
            payload = _unwrapped(_decoded(record.get("body"), False))
        elif source == "kinesis":
            payload = _table_change(_decoded(_member(record, "kinesis").get("data"), True))
        elif source == "sns":
            payload = _decoded(_member(record, "Sns").get("Message"), False)
        elif source == "dynamodb":
            payload = plain_image(_member(record, "dynamodb").get("NewImage"))
        else:
            payload = None
        if payload is not None:
            yield payload


def batch_items(event: Any, source: str) -> Iterator[tuple[Any, str | None]]:
    """Yield ``(record, item identifier)`` per batch record, as ``batchItemFailures`` names them.

    SQS names a record by ``messageId``, Kinesis and DynamoDB streams by sequence
    number. Events that are not batches yield the whole event with ``None``.
    """
    records = event.get("Records") if isinstance(event, dict) else None
    if source in ("sqs", "kinesis", "dynamodb", "sns") and isinstance(records, list):
        for record in records:
            ident = None
            if isinstance(record, dict):
                if source == "sqs":
                    ident = record.get("messageId")
                elif source == "kinesis":
                    ident = _member(record, "kinesis").get("sequenceNumber")
                elif source == "dynamodb":
                    ident = _member(record, "dynamodb").get("SequenceNumber")
            yield record, ident if isinstance(ident, str) else None
    else:
        yield event, None
