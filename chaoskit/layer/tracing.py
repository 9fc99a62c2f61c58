"""Ledger records from inside the function: attempts, outcomes and acks (contracts 2 and 3).

:func:`attempts` and :func:`outcomes` build the records of one invocation;
each carries the function (the stage) and, for queue and stream records, the
ARN of the queue, topic or stream it came from (``detail["queue"]``).
:class:`chaoskit.layer.writer.LedgerWriter` queues them and calls
:func:`write_records`, which packs them (one item per invocation's records,
:func:`chaoskit.ledger.records.pack_items`) into ``BatchWriteItem`` calls of
at most 25 items (DynamoDB's limit). A write that fails (an error, a throttle, unprocessed items)
never changes the function's outcome, and never drops a record: the records
it could not write go to the function's log as one structured line
(:func:`chaoskit.ledger.records.to_log_line`), which the reconciler collects.
"""

import time
from typing import Any

from chaoskit.layer import _aws, events, log
from chaoskit.ledger.records import (
    ACK_PREFIX,
    ATTEMPT,
    FAILED,
    PROCESSED,
    Record,
    pack_items,
    table_name,
    to_log_line,
)
from chaoskit.ledger.trace import MARK, Trace, find_traces

__all__ = [
    "MAX_ITEMS",
    "MAX_RECORDS",
    "Traced",
    "collect",
    "log_records",
    "outcomes",
    "write_ack",
    "write_records",
]

MAX_ITEMS = 25
#: Records the writer hands to one :func:`write_records` call.
MAX_RECORDS = 1000
_ALL = "*"  # every item of the batch failed


class Traced:
    """One traced event in this invocation, the batch item that carries it, and its queue."""

    __slots__ = ("delivery", "item_id", "queue", "trace")

    def __init__(
        self, trace: Trace, item_id: str | None, queue: str | None = None, delivery: int = 1
    ) -> None:
        self.trace = trace
        self.item_id = item_id
        self.queue = queue
        self.delivery = delivery  # SQS's ApproximateReceiveCount; 1 where unknown


def _delivery(record: Any) -> int:
    attributes = record.get("attributes") if isinstance(record, dict) else None
    count = attributes.get("ApproximateReceiveCount") if isinstance(attributes, dict) else None
    try:
        return max(1, int(count)) if count is not None else 1
    except (TypeError, ValueError):
        return 1


def _origin(record: Any) -> str | None:
    """Return the ARN of the queue, stream or topic a batch record came from."""
    if not isinstance(record, dict):
        return None
    arn = record.get("eventSourceARN") or record.get("EventSourceArn")
    if isinstance(arn, str) and arn:
        return arn
    subscription = record.get("EventSubscriptionArn")
    if isinstance(subscription, str) and subscription.count(":") >= 6:
        return subscription.rsplit(":", 1)[0]  # arn:aws:sns:region:account:topic:subscription
    return None


def _may_carry_trace(event: Any, source: str) -> bool:
    # A fast negative for the busiest batch shapes: an SQS or SNS record carries a mark
    # only in its body/message text or as a message attribute, and either spells
    # "chaoskit". Other shapes (base64 Kinesis data, typed DynamoDB images) get the walk.
    records = event.get("Records") if isinstance(event, dict) else None
    if source not in ("sqs", "sns") or not isinstance(records, list):
        return True
    for record in records:
        if not isinstance(record, dict):
            return True
        holder = record.get("Sns") if source == "sns" else record
        if not isinstance(holder, dict):
            return True
        text = holder.get("Message" if source == "sns" else "body")
        if not isinstance(text, str) or MARK in text:
            return True
        for attrs in (holder.get("messageAttributes"), holder.get("MessageAttributes")):
            if attrs and any(MARK in str(key) for key in attrs):
                return True
    return False


def collect(event: Any, source: str) -> list[Traced]:
    """Return every traced event in ``event`` with its batch item identifier."""
    if not _may_carry_trace(event, source):
        return []
    if not (isinstance(event, dict) and isinstance(event.get("Records"), list)):
        return [Traced(trace, None) for trace in find_traces(event)]
    found: list[Traced] = []
    seen: set[tuple[str, str]] = set()
    for record, ident in events.batch_items(event, source):  # one walk per record
        queue = _origin(record)
        delivery = _delivery(record)
        for trace in find_traces(record):
            key = (trace.run_id, trace.event_id)
            if key not in seen:
                seen.add(key)
                found.append(Traced(trace, ident, queue, delivery))
    return found


def _detail(item: Traced, detail: dict[str, Any], extra: dict[str, Any] | None = None) -> Any:
    """Return one traced item's record detail: its queue, and its SQS delivery from the second."""
    if item.queue is None and item.delivery <= 1 and not extra:
        return detail
    out = dict(detail)
    if item.queue is not None:
        out["queue"] = item.queue
    if item.delivery > 1:  # what the event's rolls were keyed on (chaoskit.layer.rolls)
        out["delivery"] = item.delivery
    if extra:
        out.update(extra)
    return out


def _failed_items(result: Any, event: Any, source: str) -> set[str] | None:
    """Return the batch items Lambda will retry, ``None`` when the whole batch succeeded.

    Lambda's rules for a partial batch response: an empty or null ``itemIdentifier``
    fails the whole batch (returned as ``{"*"}``); on Kinesis and DynamoDB streams the
    batch is retried from the earliest failed sequence number, so every later record
    fails with it.
    """
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return None
    failures = result.get("batchItemFailures") or []
    named: set[str] = set()
    for failure in failures:
        ident = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if ident is None or ident == "":
            return {_ALL}
        named.add(str(ident))
    if named and source in ("kinesis", "dynamodb"):
        order = [ident for _, ident in events.batch_items(event, source)]
        positions = [i for i, ident in enumerate(order) if ident in named]
        if positions:
            named.update(ident for ident in order[min(positions) :] if ident is not None)
    return named


def failed_count(result: Any, event: Any, source: str) -> int | None:
    """Return how many batch items a handler's ``result`` fails, ``None`` for all of them."""
    failed = _failed_items(result, event, source)
    if failed is None:
        return 0
    return None if _ALL in failed else len(failed)


def outcomes(
    traced: list[Traced], source: str, detail: dict[str, Any], result: Any = None,
    error: BaseException | None = None, event: Any = None,
) -> list[Record]:  # fmt: skip
    """Return the ``processed``/``failed`` record of each traced event after the handler."""
    now = time.time()
    failed = None if error is not None else _failed_items(result, event, source)
    records = []
    for item in traced:
        if error is not None:
            kind, extra = FAILED, {"error": type(error).__name__}
        elif failed is not None and (
            _ALL in failed or item.item_id is None or item.item_id in failed
        ):
            # An item the function did not name cannot be told apart: count it as failed.
            kind, extra = FAILED, {"error": "batchItemFailure"}
        else:
            kind, extra = PROCESSED, {}
        records.append(
            Record(item.trace.run_id, item.trace.event_id, kind, now, source,
                   _detail(item, detail, extra))
        )  # fmt: skip
    return records


def attempts(
    traced: list[Traced], source: str, detail: dict[str, Any], deadline: float | None = None
) -> list[Record]:
    """Return the ``attempt`` record of each traced event, before the handler.

    ``deadline`` (epoch seconds, from the context's remaining time) is when Lambda ends
    the invocation at the latest: an attempt with no outcome after it is not in flight.
    """
    now = time.time()
    extra = None if deadline is None else {"deadline": round(deadline, 3)}
    return [
        Record(t.trace.run_id, t.trace.event_id, ATTEMPT, now, source, _detail(t, detail, extra))
        for t in traced
    ]


def log_records(records: list[Record]) -> None:
    """Write ``records`` to the function's log as one structured line (the fallback path)."""
    if not records:
        return
    try:
        log.sink(to_log_line(records))
    except Exception as err:  # logging never changes the outcome either
        log.warning(f"could not log {len(records)} ledger record(s): {err!r}")


def write_records(records: list[Record]) -> None:
    """Write records, packed, in ``BatchWriteItem`` calls of up to 25 items; never raise.

    Whatever DynamoDB did not take (an error, a throttle, unprocessed items)
    goes to the function's log through :func:`log_records`, with one warning.
    """
    try:
        packs = pack_items(records)
    except Exception as err:  # tracing never changes the outcome
        log.warning(f"could not pack {len(records)} ledger record(s): {err!r}; they go to the log")
        log_records(records)
        return
    for start in range(0, len(packs), MAX_ITEMS):
        _write_batch(packs[start : start + MAX_ITEMS])


def _write_batch(packs: list[tuple[dict[str, Any], list[Record]]]) -> None:
    if not packs:
        return
    table = table_name()
    count = sum(len(recs) for _, recs in packs)
    try:
        out = _aws.call(
            "dynamodb",
            "batch_write_item",
            RequestItems={table: [{"PutRequest": {"Item": item}} for item, _ in packs]},
        )
        unprocessed = out.get("UnprocessedItems", {}).get(table)
        if unprocessed:
            left = {item["PutRequest"]["Item"]["sk"]["S"] for item in unprocessed}
            missed = [r for item, recs in packs if item["sk"]["S"] in left for r in recs]
            log.warning(
                f"ledger table {table!r} left {len(missed)} record(s) unwritten: they go to the log"
            )
            log_records(missed)
    except Exception as err:  # tracing never changes the outcome
        log.warning(
            f"could not write to ledger table {table!r}: {type(err).__name__}: {err}; "
            f"{count} record(s) go to the log"
        )
        log_records([r for _, recs in packs for r in recs])


def write_ack(function: str, environment: str, version: str, qualifier: str) -> bool:
    """Record that this environment applied ``version``; warn and return False on failure."""
    table = table_name()
    item = {
        "run_id": {"S": ACK_PREFIX + function},
        "sk": {"S": environment},
        "version": {"S": version},
        "at": {"N": repr(time.time())},
        "qualifier": {"S": qualifier},
    }
    try:
        _aws.call("dynamodb", "put_item", TableName=table, Item=item)
    except Exception as err:  # an ack is best effort
        log.warning(f"could not acknowledge config {version!r} in {table!r}: {err}")
        return False
    return True
