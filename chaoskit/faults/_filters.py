"""Whether the filter of the function reading a queue or stream lets the load's events through.

Lambda deletes an SQS message, and skips a Kinesis record, that no pattern of its event
source mapping's ``FilterCriteria`` passes: the function never sees it, and the ledger
counts it lost, "never delivered". A run whose events go that way tested the filter, not
the fault. Before the load sends, :func:`dropping_filters` asks AWS itself whether the
first event passes (EventBridge's ``TestEventPattern``: the same pattern rules, on the
target, so the sandbox answers as LocalStack filters), against the record as the filter
sees it: an SQS message's ``body`` (JSON) and ``messageAttributes``, a Kinesis record's
``data`` (JSON).

Only what can be known is judged: a pattern on any other field of the record
(``attributes``, ``partitionKey``, ``eventSourceARN``...) leaves its mapping unjudged, and
any error (a missing permission, an API the endpoint lacks) the whole target: the load
then sends as before, without a word. A queue's messages are shared out among its mappings, so one
that drops them loses its share; a stream's records go to every mapping, so they are
lost only where every mapping drops them.
"""

import json
import logging
import time
from collections.abc import Mapping
from typing import Any, TypedDict

from botocore.exceptions import BotoCoreError, ClientError
from chaoslib.types import Configuration

from chaoskit import aws
from chaoskit.errors import ChaosKitError
from probes._sqs import queue_arn, queue_url

__all__ = ["DroppingFilter", "dropping_filters"]

logger = logging.getLogger("chaostoolkit.chaoskit")

#: Fields of a record, per target type, that the check can build as Lambda does.
_KNOWN = {"sqs": frozenset({"body", "messageAttributes"}), "kinesis": frozenset({"data"})}
#: EventBridge's required event fields, around the record's (a pattern names none of them).
_ENVELOPE = {"id": "chaoskit-filter-check", "account": "123456789012", "source": "chaoskit",
             "resources": [], "detail-type": "chaoskit filter check"}  # fmt: skip


class DroppingFilter(TypedDict):
    """An event source mapping whose ``FilterCriteria`` passes none of the load's events."""

    mapping: str
    function: str
    patterns: list[str]


def _source_arn(target_type: str, target: str, configuration: Configuration) -> str:
    if target.startswith("arn:"):
        return target
    if target_type == "sqs":
        return queue_arn(queue_url(target, configuration), configuration)
    summary = aws.client("kinesis", configuration).describe_stream_summary(StreamName=target)
    return str(summary["StreamDescriptionSummary"]["StreamARN"])


def _record(
    target_type: str, body: Mapping[str, Any], attributes: Mapping[str, Any]
) -> dict[str, Any]:
    """The record's fields a filter reads, as Lambda gives them to it."""
    if target_type == "kinesis":
        return {"data": dict(body)}
    out: dict[str, Any] = {"body": dict(body)}
    if attributes:
        out["messageAttributes"] = {
            name: {
                "stringValue": a.get("StringValue"),
                "stringListValues": [],
                "binaryListValues": [],
                "dataType": a.get("DataType"),
            }
            for name, a in attributes.items()
        }
    return out


def _passes(events: Any, pattern: str, record: Mapping[str, Any], region: str) -> bool:
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    event = {**_ENVELOPE, "region": region, "time": now, **record}
    return bool(events.test_event_pattern(EventPattern=pattern, Event=json.dumps(event))["Result"])


def dropping_filters(
    target_type: str,
    target: str,
    body: Mapping[str, Any],
    attributes: Mapping[str, Any] | None,
    configuration: Configuration,
) -> list[DroppingFilter] | None:
    """Return the mappings reading ``target`` whose filter drops ``body``.

    Args:
        target_type: ``sqs`` or ``kinesis`` (any other: ``[]``).
        target: the queue (name, URL or ARN) or stream (name or ARN).
        body: the first event, as sent (its ``chaoskit`` member included).
        attributes: the SQS message attributes sent with it.

    Returns:
        The dropping mappings, ``[]`` when none drops the event (or the load's events
        reach a stream's function through another), ``None`` when it could not be told.
    """
    known = _KNOWN.get(target_type)
    if known is None:
        return []
    try:
        arn = _source_arn(target_type, target, configuration)
        lam = aws.client("lambda", configuration)
        pages = lam.get_paginator("list_event_source_mappings").paginate(EventSourceArn=arn)
        mappings = [m for page in pages for m in page.get("EventSourceMappings") or []]
        events = aws.client("events", configuration)
        region = events.meta.region_name
        record = _record(target_type, body, attributes or {})
        dropping: list[DroppingFilter] = []
        for m in mappings:
            patterns = [str(f.get("Pattern") or "") for f in
                        ((m.get("FilterCriteria") or {}).get("Filters") or [])]  # fmt: skip
            if not patterns:
                continue
            parsed = [json.loads(p) for p in patterns]
            if not all(isinstance(p, dict) and set(p) <= known for p in parsed):
                continue  # a field the check cannot build: not judged
            if not any(_passes(events, p, record, region) for p in patterns):
                function = str(m.get("FunctionArn") or "").rpartition(":function:")[2]
                dropping.append({"mapping": str(m.get("UUID") or ""),
                                 "function": function.partition(":")[0] or function,
                                 "patterns": patterns})  # fmt: skip
    except (ChaosKitError, BotoCoreError, ClientError, KeyError, ValueError, TypeError,
            AttributeError) as err:  # fmt: skip
        logger.debug("could not check the filters reading %s '%s': %s", target_type, target, err)
        return None
    if target_type == "kinesis" and len(dropping) < len(mappings):
        return []  # another mapping reads every record (or may: one not judged)
    return dropping
