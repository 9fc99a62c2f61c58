"""Trace marks: how a chaoskit event id rides inside an event, and how to find it.

A traced payload is a JSON object with a ``chaoskit`` member::

    {"chaoskit": {"run_id": "r-1", "event_id": "e-1", "sent_ms": 1700000000500}, ...}

The send time is whole milliseconds: an app that writes what it receives to DynamoDB with
boto3's resource API (``Table.put_item(Item=json.loads(body))``, a common handler) fails
on any float (``TypeError: Float types are not supported``), so a float in the mark made
every chaoskit event fail such an app. A mark written before (``sent_at``, float
seconds) is still read.

AWS wraps that payload in many shapes (an SQS body string, an SNS envelope,
EventBridge ``detail``, base64 Kinesis ``data``, DynamoDB stream images, a
Lambda destination's ``requestPayload``, an API Gateway ``body``).
:func:`find_traces` walks any of them. SQS message attributes
``chaoskit-run-id`` / ``chaoskit-event-id`` are honoured too, for bodies the
sender cannot change.

Standard library only: the layer imports this module.
"""

import base64
import binascii
import json
import os
import time
from typing import Any, NamedTuple

__all__ = [
    "ATTR_EVENT_ID",
    "ATTR_RUN_ID",
    "MARK",
    "NEW_IMAGE_VIEWS",
    "Trace",
    "find_traces",
    "new_event_id",
    "new_run_id",
    "stamp",
]

MARK = "chaoskit"
#: DynamoDB stream views whose records carry the item written, and so its mark.
NEW_IMAGE_VIEWS = ("NEW_IMAGE", "NEW_AND_OLD_IMAGES")
ATTR_RUN_ID = "chaoskit-run-id"
ATTR_EVENT_ID = "chaoskit-event-id"

_MAX_DEPTH = 12


class Trace(NamedTuple):
    """One traced event: the run it belongs to and its id."""

    run_id: str
    event_id: str
    sent_at: float | None = None


def new_run_id() -> str:
    """Return a fresh, sortable run id."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + "-" + os.urandom(4).hex()


def new_event_id() -> str:
    """Return a fresh event id."""
    return os.urandom(16).hex()


def stamp(
    payload: dict[str, Any], run_id: str, event_id: str, sent_at: float | None = None
) -> dict[str, Any]:
    """Return a copy of ``payload`` carrying the trace mark."""
    marked = dict(payload)
    marked[MARK] = {
        "run_id": run_id,
        "event_id": event_id,
        "sent_ms": round((time.time() if sent_at is None else sent_at) * 1000),
    }
    return marked


def _unwrap_dynamodb(value: Any) -> Any:
    # DynamoDB stream images use typed values: {"S": "x"}, {"M": {...}}, {"N": "1"}.
    if isinstance(value, dict) and len(value) == 1:
        ((kind, inner),) = value.items()
        if kind == "M" and isinstance(inner, dict):
            return {k: _unwrap_dynamodb(v) for k, v in inner.items()}
        if kind in ("S", "N"):
            return inner
    return value


def _from_mark(mark: Any) -> Trace | None:
    mark = _unwrap_dynamodb(mark)
    if not isinstance(mark, dict):
        return None
    run_id, event_id = mark.get("run_id"), mark.get("event_id")
    if not isinstance(run_id, str) or not isinstance(event_id, str):
        return None
    sent_ms, sent_at = mark.get("sent_ms"), mark.get("sent_at")
    try:
        if sent_ms is not None:
            sent: float | None = float(sent_ms) / 1000
        else:
            sent = float(sent_at) if sent_at is not None else None
    except (TypeError, ValueError):
        sent = None
    return Trace(run_id, event_id, sent)


def _attr_value(attr: Any) -> str | None:
    if isinstance(attr, dict):
        value = attr.get("stringValue", attr.get("StringValue", attr.get("Value")))
        return value if isinstance(value, str) else None
    return attr if isinstance(attr, str) else None


def _from_attributes(attrs: Any) -> Trace | None:
    if not isinstance(attrs, dict):
        return None
    run_id = _attr_value(attrs.get(ATTR_RUN_ID))
    event_id = _attr_value(attrs.get(ATTR_EVENT_ID))
    if run_id and event_id:
        return Trace(run_id, event_id)
    return None


def _decode_string(text: str, maybe_base64: bool) -> Any:
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(stripped)
        except ValueError:
            return None
    if maybe_base64 and stripped:
        try:
            raw = base64.b64decode(stripped, validate=True)
            return _decode_string(raw.decode("utf-8"), False)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
    return None


def _walk(node: Any, found: dict[tuple[str, str], Trace], depth: int, b64: bool) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, str):
        if MARK in node or b64:
            decoded = _decode_string(node, b64)
            if decoded is not None:
                _walk(decoded, found, depth + 1, False)
        return
    if isinstance(node, list):
        for item in node:
            _walk(item, found, depth + 1, False)
        return
    if not isinstance(node, dict):
        return
    trace = _from_mark(node[MARK]) if MARK in node else None
    for attrs_key in ("messageAttributes", "MessageAttributes"):
        trace = trace or _from_attributes(node.get(attrs_key))
    if trace is not None:
        key = (trace.run_id, trace.event_id)
        if key not in found or found[key].sent_at is None:
            found[key] = trace
    for key, value in node.items():
        if key == MARK:
            continue
        # Kinesis record data and API Gateway bodies may be base64.
        decode_b64 = key == "data" or (key == "body" and node.get("isBase64Encoded") is True)
        _walk(value, found, depth + 1, decode_b64)


def find_traces(event: Any) -> list[Trace]:
    """Return every distinct trace in ``event``, in order of first appearance.

    Works on whole Lambda events, single records, DLQ message bodies and
    destination records. Never raises on odd input: unknown shapes yield ``[]``.
    """
    found: dict[tuple[str, str], Trace] = {}
    _walk(event, found, 0, False)
    return list(found.values())
