"""Load: send N traced events to a queue, topic, bus, stream, table, function or HTTP endpoint.

Every event carries a chaoskit trace mark (run id, event id, send time; see
:mod:`chaoskit.ledger.trace`) and is recorded as ``sent`` in the ledger once
AWS accepted it, so probes can later prove where each one ended up. Batch
APIs are used where AWS has them (SendMessageBatch, PublishBatch, PutEvents,
PutRecords, BatchWriteItem: one item per event, for a function reading the
table's stream); Lambda invokes and HTTP posts go one by one, ``concurrency`` at
a time. Batch calls run ``concurrency`` at a time too (default 8), and the
``sent`` records go to the ledger from background threads, so sending is
bound by the target, not by round trips. Payloads can be shaped like the
app's own events (templates and sample events, see :mod:`._payload`).
Sending is paced to ``rate_per_second`` with an injectable clock.
"""

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chaoslib.types import Configuration, Secrets

from chaoskit import aws
from chaoskit.errors import BadInput, aws_failure
from chaoskit.faults import _filters, _payload, _table_items
from chaoskit.ledger import store
from chaoskit.ledger.records import SENT, Record
from chaoskit.ledger.trace import (
    ATTR_EVENT_ID,
    ATTR_RUN_ID,
    MARK,
    NEW_IMAGE_VIEWS,
    new_event_id,
    stamp,
)
from chaoskit.run_context import current_run_id
from chaoskit.undo import is_dry_run

__all__ = ["TARGET_TYPES", "send_events"]

logger = logging.getLogger("chaostoolkit.chaoskit")

TARGET_TYPES = (
    "sqs", "sns", "eventbridge", "lambda", "kinesis", "dynamodb", "stepfunctions", "http",
)  # fmt: skip
#: The most events one call can carry, per target type.
_MAX_BATCH = {"sqs": 10, "sns": 10, "eventbridge": 10, "kinesis": 500, "dynamodb": 25,
              "lambda": 1, "stepfunctions": 1, "http": 1}  # fmt: skip
#: The most bytes one batch call may carry (AWS quotas; the smallest where they changed).
_MAX_BATCH_BYTES = {"sqs": 256 * 1024, "sns": 256 * 1024, "eventbridge": 256 * 1000,
                    "kinesis": 5 * 1024 * 1024, "dynamodb": 16 * 1024 * 1024}  # fmt: skip
#: BatchWriteItem's unprocessed items: retries, and the first wait (doubling) before one.
_UNPROCESSED_RETRIES = 5
_UNPROCESSED_DELAY_S = 0.05
# Injected in tests: waits never really sleep there.
_sleep = time.sleep
#: Room per entry for attributes, ids and envelope fields.
_ENTRY_OVERHEAD = 512
_SAMPLE_IDS = 20
_SAMPLE_ERRORS = 5
_LEDGER_FLUSH = 100
#: Batch calls in flight at once for the batch APIs (SQS, SNS, EventBridge, Kinesis, DynamoDB).
_DEFAULT_WORKERS = 8
#: Loads sent so far per (run, target type, target): each gets its own id stream.
_calls: dict[tuple[str, str, str], int] = {}
_PROGRESS_EVERY_S = 5.0

#: One event to send: its id and its stamped payload.
Event = tuple[str, dict[str, Any]]
#: Sends a batch; returns, per event, ``None`` when accepted or an error text.
Sender = Callable[[Sequence[Event]], list[str | None]]
#: One BatchWriteItem call's items by key: (the event's position in its batch, the item).
_Call = dict[_table_items.Key, tuple[int, dict[str, Any]]]


def _code(err: Exception) -> str:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return f"{error.get('Code', 'ClientError')}: {error.get('Message', '')}".strip()
    return f"{type(err).__name__}: {err}"


def _whole_batch(send: Callable[[Sequence[Event]], list[str | None]]) -> Sender:
    # A failed call fails every event of its batch; the load goes on.
    def guarded(batch: Sequence[Event]) -> list[str | None]:
        try:
            return send(batch)
        except (ClientError, BotoCoreError, OSError) as err:
            return [_code(err)] * len(batch)

    return guarded


def _fifo(name: str) -> bool:
    return name.endswith(".fifo")


def _message_entries(
    batch: Sequence[Event], body_key: str, fifo: bool, options: Mapping[str, Any]
) -> list[dict[str, Any]]:
    # SQS SendMessageBatch and SNS PublishBatch entries differ only in the body's key.
    entries = []
    for index, (event_id, body) in enumerate(batch):
        entry: dict[str, Any] = {
            "Id": str(index),
            body_key: json.dumps(body),
            "MessageAttributes": _attributes_sent(
                options.get("message_attributes", {}), body[MARK]["run_id"], event_id
            ),
        }
        if fifo:
            entry["MessageGroupId"] = options.get("message_group_id") or event_id
            entry["MessageDeduplicationId"] = event_id
        entries.append(entry)
    return entries


def _attributes_sent(
    given: Mapping[str, dict[str, str]], run_id: str, event_id: str
) -> dict[str, dict[str, str]]:
    """The message attributes an SQS message or SNS notification is sent with: the
    user's (:func:`_message_attributes`) and chaoskit's trace ids."""
    return {
        **given,
        ATTR_RUN_ID: {"DataType": "String", "StringValue": run_id},
        ATTR_EVENT_ID: {"DataType": "String", "StringValue": event_id},
    }


def _message_attributes(target_type: str, given: Any) -> dict[str, dict[str, str]]:
    """Return SQS/SNS message attributes from ``{name: value}``, or raise :class:`BadInput`.

    A string is ``String``, a number ``Number``, a list of strings ``String.Array``
    (SNS only: SQS has no such type).
    """
    if given in (None, ""):
        return {}
    if target_type not in ("sqs", "sns"):
        raise BadInput(f"message_attributes are for sqs and sns targets, not {target_type!r}")
    if not isinstance(given, Mapping):
        raise BadInput(f"invalid message_attributes {given!r}: expected an object of name: value")
    out: dict[str, dict[str, str]] = {}
    for name, value in given.items():
        where = f"message_attributes.{name}"
        if not isinstance(name, str) or not name or name in (ATTR_RUN_ID, ATTR_EVENT_ID):
            raise BadInput(f"invalid {where}: expected a name other than chaoskit's own")
        if isinstance(value, str):
            out[name] = {"DataType": "String", "StringValue": value}
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = {"DataType": "Number", "StringValue": str(value)}
        elif (
            target_type == "sns"
            and isinstance(value, list)
            and all(isinstance(v, str) for v in value)
        ):
            out[name] = {"DataType": "String.Array", "StringValue": json.dumps(value)}
        else:
            kinds = "a string, a number or (sns) a list of strings"
            raise BadInput(f"invalid {where} {value!r}: expected {kinds}")
    if len(out) > 8:  # SQS and SNS take 10 a message, and chaoskit sets 2
        raise BadInput(f"{len(out)} message_attributes: expected at most 8")
    return out


def _batch_errors(out: Mapping[str, Any], size: int) -> list[str | None]:
    errors: list[str | None] = [None] * size
    for failed in out.get("Failed", []):
        errors[int(failed["Id"])] = f"{failed.get('Code')}: {failed.get('Message', '')}"
    return errors


def _positional_errors(
    results: Sequence[Mapping[str, Any]], size: int, what: str
) -> list[str | None]:
    """Errors of a batch answered result by result, in order (EventBridge, Kinesis)."""
    return [
        f"{r.get('ErrorCode')}: {r.get('ErrorMessage', '')}" if r.get("ErrorCode") else None
        for r in results
    ] + [f"no result {what}"] * (size - len(results))


def _sqs(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    sqs = aws.client("sqs", configuration)
    url = target
    if not target.startswith(("http://", "https://")):
        try:
            url = sqs.get_queue_url(QueueName=target)["QueueUrl"]
        except ClientError as err:
            raise aws_failure("sqs:GetQueueUrl", target, err) from err
    fifo = _fifo(url)

    def send(batch: Sequence[Event]) -> list[str | None]:
        entries = _message_entries(batch, "MessageBody", fifo, options)
        return _batch_errors(sqs.send_message_batch(QueueUrl=url, Entries=entries), len(batch))

    return _whole_batch(send)


def _arn_by_name(
    target: str, arns: Callable[[], Iterator[str]], operation: str, missing: str
) -> str:
    """Return ``target`` if it is an ARN, else the listed ARN whose last part it names.

    Raises:
        BadInput: no listed ARN ends in that name (``missing`` says what was expected).
        AWSActionFailed: the listing (``operation``) failed.
    """
    if target.startswith("arn:"):
        return target
    try:
        for arn in arns():
            if arn.rsplit(":", 1)[-1] == target:
                return arn
    except ClientError as err:
        raise aws_failure(operation, target, err) from err
    raise BadInput(missing)


def _topic_arn(sns: Any, target: str) -> str:
    def arns() -> Iterator[str]:
        for page in sns.get_paginator("list_topics").paginate():
            yield from (str(t["TopicArn"]) for t in page.get("Topics", []))

    missing = f"no SNS topic named '{target}': expected a topic name or ARN"
    return _arn_by_name(target, arns, "sns:ListTopics", missing)


def _sns(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    sns = aws.client("sns", configuration)
    arn = _topic_arn(sns, target)
    fifo = _fifo(arn)

    def send(batch: Sequence[Event]) -> list[str | None]:
        entries = _message_entries(batch, "Message", fifo, options)
        out = sns.publish_batch(TopicArn=arn, PublishBatchRequestEntries=entries)
        return _batch_errors(out, len(batch))

    return _whole_batch(send)


def _eventbridge(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    events = aws.client("events", configuration)
    bus = target or "default"

    def send(batch: Sequence[Event]) -> list[str | None]:
        entries = [
            {
                "Source": options["source"],
                "DetailType": options["detail_type"],
                "Detail": json.dumps(body),
                "EventBusName": bus,
            }
            for _, body in batch
        ]
        out = events.put_events(Entries=entries)
        return _positional_errors(out.get("Entries", []), len(batch), "entry")

    return _whole_batch(send)


def _kinesis(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    kinesis = aws.client("kinesis", configuration)
    stream = {"StreamARN": target} if target.startswith("arn:") else {"StreamName": target}

    def send(batch: Sequence[Event]) -> list[str | None]:
        records = [
            {
                "Data": json.dumps(body).encode("utf-8"),
                "PartitionKey": options.get("partition_key") or event_id,
            }
            for event_id, body in batch
        ]
        out = kinesis.put_records(Records=records, **stream)
        return _positional_errors(out.get("Records", []), len(batch), "record")

    return _whole_batch(send)


def _describe_table(ddb: Any, target: str) -> dict[str, Any]:
    _table_items.check_target(target)
    try:
        table: dict[str, Any] = ddb.describe_table(TableName=target)["Table"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            raise BadInput(
                f"no DynamoDB table '{target}': expected the name or ARN of an existing table"
            ) from err
        raise aws_failure("dynamodb:DescribeTable", target, err) from err
    stream = table.get("StreamSpecification") or {}
    shown = stream.get("StreamEnabled") and stream.get("StreamViewType") in NEW_IMAGE_VIEWS
    if not shown and not _kinesis_destination(ddb, target):
        logger.warning("load: table '%s' has no stream showing new images (NEW_IMAGE or "
                       "NEW_AND_OLD_IMAGES) and no Kinesis streaming destination: a function "
                       "reading it will not see the trace marks", target)  # fmt: skip
    return table


def _kinesis_destination(ddb: Any, target: str) -> bool:
    """Tell whether the table puts its changes on a Kinesis stream (each with its new image)."""
    try:
        found = ddb.describe_kinesis_streaming_destination(TableName=target)
    except ClientError:
        return False  # not known here (an emulator without it): the warning stands
    destinations = found.get("KinesisDataStreamDestinations") or []
    return any(d.get("DestinationStatus") in ("ACTIVE", "ENABLING") for d in destinations)


def _dynamodb(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    ddb = aws.client("dynamodb", configuration)
    keys = _table_items.key_types(_describe_table(ddb, target))
    # Keys made from the run too: a rerun with the same seed sends the same event ids, and
    # writing over an earlier run's items would make the stream show MODIFY records (an
    # INSERT filter drops them), not the INSERTs the first run's function saw.
    run_id = str(options.get("run_id") or "")

    def write(call: _Call, errors: list[str | None]) -> None:
        # A failed call fails only the events it carried: the batch's earlier calls
        # (a pinned key's earlier writes, the items a retry left behind) were written.
        delay = _UNPROCESSED_DELAY_S
        for attempt in range(_UNPROCESSED_RETRIES + 1):
            if attempt:
                _sleep(delay)
                delay *= 2
            requests = [{"PutRequest": {"Item": item}} for _, item in call.values()]
            try:
                out = ddb.batch_write_item(RequestItems={target: requests})
            except (ClientError, BotoCoreError, OSError) as err:
                for position, _ in call.values():
                    errors[position] = _code(err)
                return
            left = [
                _table_items.key_of(r["PutRequest"]["Item"], keys)
                for unprocessed in out.get("UnprocessedItems", {}).values()
                for r in unprocessed
            ]
            call = {key: call[key] for key in left if key in call}
            if not call:
                return
        for position, _ in call.values():
            errors[position] = (
                f"UnprocessedItems: still unprocessed after {_UNPROCESSED_RETRIES} retries"
            )

    def send(batch: Sequence[Event]) -> list[str | None]:
        errors: list[str | None] = [None] * len(batch)
        call: _Call = {}
        for position, (event_id, body) in enumerate(batch):
            try:
                item = _table_items.to_item(body, event_id, keys, run_id)
            except (TypeError, ValueError, ArithmeticError) as err:
                errors[position] = f"{type(err).__name__}: {err}"
                continue
            size = _table_items.item_size(item)
            if size > _table_items.MAX_ITEM_BYTES:
                errors[position] = f"ItemTooLarge: {size} bytes, over DynamoDB's 400 KB"
                continue
            key = _table_items.key_of(item, keys)
            if key in call:  # one call may not write an item twice: the later write goes next
                write(call, errors)
                call = {}
            call[key] = (position, item)
        if call:
            write(call, errors)
        return errors

    return send


def _parallel(one: Callable[[Event], str | None]) -> Sender:
    def send(batch: Sequence[Event]) -> list[str | None]:
        if len(batch) == 1:
            return [one(batch[0])]
        with ThreadPoolExecutor(max_workers=len(batch)) as pool:
            return list(pool.map(one, batch))

    return send


def _lambda(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    lam = aws.client("lambda", configuration)
    invocation_type = options["invocation_type"]
    if invocation_type not in ("Event", "RequestResponse"):
        raise BadInput(
            f"invalid invocation_type '{invocation_type}': expected 'Event' or 'RequestResponse'"
        )

    def one(event: Event) -> str | None:
        try:
            out = lam.invoke(
                FunctionName=target,
                InvocationType=invocation_type,
                Payload=json.dumps(event[1]).encode("utf-8"),
            )
            # Read the answer, even an empty one: an unread payload keeps its connection
            # out of the SDK's pool, and the next invoke opens a new one.
            payload = out["Payload"].read() if "Payload" in out else b""
        except (ClientError, BotoCoreError) as err:
            return _code(err)
        if invocation_type == "RequestResponse" and out.get("FunctionError"):
            return (
                f"FunctionError {out['FunctionError']}: {payload.decode('utf-8', 'replace')[:200]}"
            )
        return None

    return _parallel(one)


def _state_machine_arn(sfn: Any, target: str) -> str:
    def arns() -> Iterator[str]:  # arn:aws:states:REGION:ACCOUNT:stateMachine:NAME
        for page in sfn.get_paginator("list_state_machines").paginate():
            yield from (str(m["stateMachineArn"]) for m in page.get("stateMachines", []))

    missing = f"no state machine named '{target}': expected a state machine name or ARN"
    return _arn_by_name(target, arns, "states:ListStateMachines", missing)


def _stepfunctions(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    sfn = aws.client("stepfunctions", configuration)
    arn = _state_machine_arn(sfn, target)

    def one(event: Event) -> str | None:
        # The event id names the execution: a StartExecution the SDK retries after a lost
        # answer finds the execution already started (same name, same input), not a second.
        try:
            sfn.start_execution(
                stateMachineArn=arn, name=f"chaoskit-{event[0]}", input=json.dumps(event[1])
            )
        except (ClientError, BotoCoreError) as err:
            return _code(err)
        return None

    return _parallel(one)


def _http(target: str, configuration: Configuration, options: Mapping[str, Any]) -> Sender:
    if not target.startswith(("http://", "https://")):
        raise BadInput(f"invalid URL '{target}': expected http:// or https://")
    headers = {"Content-Type": "application/json", **(options.get("headers") or {})}
    timeout = float(options.get("timeout") or 30)

    def one(event: Event) -> str | None:
        request = urllib.request.Request(
            target, data=json.dumps(event[1]).encode("utf-8"), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                response.read()
        except urllib.error.HTTPError as err:
            return f"HTTP {err.code}: {err.reason}"
        except (urllib.error.URLError, OSError) as err:
            return f"{type(err).__name__}: {err}"
        return None

    return _parallel(one)


_SENDERS = {
    "sqs": _sqs,
    "sns": _sns,
    "eventbridge": _eventbridge,
    "kinesis": _kinesis,
    "dynamodb": _dynamodb,
    "lambda": _lambda,
    "stepfunctions": _stepfunctions,
    "http": _http,
}


def _by_size(batch: Sequence[Event], limit: int | None) -> list[Sequence[Event]]:
    """Split a batch so that no call carries more than ``limit`` bytes."""
    if limit is None:
        return [batch]
    chunks: list[Sequence[Event]] = []
    current: list[Event] = []
    size = 0
    for event in batch:
        need = len(json.dumps(event[1]).encode("utf-8")) + _ENTRY_OVERHEAD
        if current and size + need > limit:
            chunks.append(current)
            current, size = [], 0
        current.append(event)
        size += need
    if current:
        chunks.append(current)
    return chunks


class _LedgerQueue:
    """Writes ``sent`` records in the background, a few ``BatchWriteItem`` calls at a time."""

    def __init__(self, configuration: Configuration, workers: int) -> None:
        self.configuration = configuration
        self.pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="ledger")
        self.futures: list[Future[int]] = []
        self.pending: list[Record] = []

    def add(self, records: list[Record]) -> None:
        self.pending.extend(records)
        while len(self.pending) >= _LEDGER_FLUSH:
            chunk, self.pending = self.pending[:_LEDGER_FLUSH], self.pending[_LEDGER_FLUSH:]
            self.futures.append(self.pool.submit(store.write, chunk, self.configuration))

    def close(self) -> None:
        try:
            if self.pending:
                self.futures.append(self.pool.submit(store.write, self.pending, self.configuration))
                self.pending = []
            for future in self.futures:
                future.result()  # a failed ledger write fails the load: it must not go unseen
        finally:
            self.pool.shutdown(wait=True)


def _send(
    sender: Sender,
    target_type: str,
    target: str,
    count: int,
    batch_size: int,
    rate_per_second: float | None,
    payload: Mapping[str, Any],
    run_id: str,
    configuration: Configuration,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    wall: Callable[[], float] = time.time,
    workers: int = 1,
    render: Callable[[int, str, str], dict[str, Any]] | None = None,
    key_path: str | None = None,
    new_id: Callable[[], str] = new_event_id,
    check: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any]:
    start = clock()
    found: dict[str, Any] = {}  # what ``check`` said of the first event
    last_progress = start
    sent_ids: list[str] = []
    errors: dict[str, int] = {}
    failed = 0
    ledger = _LedgerQueue(configuration, min(4, max(1, workers)))
    pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="load")
    in_flight: deque[tuple[float, list[Event], Future[list[str | None]]]] = deque()

    def call(batch: list[Event]) -> list[str | None]:
        results: list[str | None] = []
        for chunk in _by_size(batch, _MAX_BATCH_BYTES.get(target_type)):
            results.extend(sender(chunk))
        return results

    def collect() -> None:
        nonlocal failed
        sent_at, batch, future = in_flight.popleft()
        records = []
        for (event_id, body), error in zip(batch, future.result(), strict=True):
            if error is None:
                sent_ids.append(event_id)
                detail: dict[str, Any] = {"target": target, "sent_at": sent_at}
                if key_path:
                    key = _payload.key_at(body, key_path)
                    if key is not None:
                        detail["key"] = key
                records.append(Record(run_id, event_id, SENT, sent_at, target_type, detail))
            else:
                failed += 1
                errors[error] = errors.get(error, 0) + 1
        ledger.add(records)

    try:
        for first in range(0, count, batch_size):
            if rate_per_second:
                due = start + first / rate_per_second
                now = clock()
                if due > now:
                    sleep(due - now)
            sent_at = wall()
            batch: list[Event] = []
            for index in range(first, min(first + batch_size, count)):
                event_id = new_id()
                body = render(index, event_id, run_id) if render else dict(payload)
                batch.append((event_id, stamp(body, run_id, event_id, sent_at)))
            if check is not None and first == 0:
                found = check(batch[0][1])
            in_flight.append((sent_at, batch, pool.submit(call, batch)))
            while len(in_flight) > max(1, workers) * 2 or (in_flight and in_flight[0][2].done()):
                collect()
            if clock() - last_progress >= _PROGRESS_EVERY_S:
                last_progress = clock()
                done = first + len(batch)
                logger.info("load: %d/%d events to %s '%s' (%d failed)", done, count,
                            target_type, target, failed)  # fmt: skip
        while in_flight:
            collect()
    finally:
        pool.shutdown(wait=True)
        ledger.close()
    return {
        "run_id": run_id,
        "target_type": target_type,
        "target": target,
        "sent": len(sent_ids),
        "failed": failed,
        "event_ids": sent_ids[:_SAMPLE_IDS],
        "errors": sorted(errors, key=lambda e: -errors[e])[:_SAMPLE_ERRORS],
        "duration_s": round(clock() - start, 3),
        **found,
    }


def send_events(
    target_type: str,
    target: str,
    count: int = 10,
    rate_per_second: float | None = None,
    payload: dict[str, Any] | None = None,
    invocation_type: str = "Event",
    source: str = "chaoskit.load",
    detail_type: str = "ChaosKitEvent",
    partition_key: str | None = None,
    message_group_id: str | None = None,
    headers: dict[str, str] | None = None,
    message_attributes: dict[str, Any] | None = None,
    concurrency: int | None = None,
    run_id: str | None = None,
    samples: str | None = None,
    key_path: str | None = None,
    seed: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Send ``count`` traced events to a target and record each as sent in the ledger.

    Each event is the next sample event (``samples``), with ``payload`` merged
    over it, its placeholders filled in (``{{index}}``, ``{{uuid}}``,
    ``{{event_id}}``, ``{{now}}``, ``{{now_iso}}``, ``{{int:1:9}}``,
    ``{{choice:a|b}}``...; see ``docs/actions.md``), plus a ``chaoskit`` member
    (run id, event id, send time); SQS and SNS messages also carry the
    ``chaoskit-run-id`` and ``chaoskit-event-id`` message attributes. Only
    events AWS (or the endpoint) accepted are recorded as sent; the others are
    counted as failed.

    A ``dynamodb`` target gets one item per event (BatchWriteItem), for a
    function reading the table's stream: the mark is in the record's
    ``NewImage``, so the stream must show new images (``NEW_IMAGE`` or
    ``NEW_AND_OLD_IMAGES``). Every key attribute the payload does not carry at
    its top level is filled from the event id (``S``: the id, ``N``: a number
    from it, ``B``: its bytes), so each event writes its own item; a payload
    that pins a key (``{"pk": "order-1"}``) keeps it, and later events then
    overwrite the same item (``MODIFY`` records). JSON floats are written as
    numbers, ``null`` as NULL.

    Args:
        target_type: ``sqs``, ``sns``, ``eventbridge``, ``lambda``, ``kinesis``,
            ``dynamodb``, ``stepfunctions`` or ``http``.
        target: queue name or URL; topic name or ARN; event bus name; function name
            or ARN; stream name or ARN; table name or ARN; state machine name or ARN
            (one execution per event, named ``chaoskit-<event id>``, the event its
            input); or the URL to POST JSON to (API Gateway, a function URL).
        count: how many events to send.
        rate_per_second: pace the sending; by default as fast as possible.
        payload: JSON object every event starts from (a template).
        invocation_type: for ``lambda``: ``Event`` (async) or ``RequestResponse`` (sync).
        source: EventBridge ``Source``.
        detail_type: EventBridge ``DetailType``.
        partition_key: Kinesis partition key; by default each event's id.
        message_group_id: group of SQS/SNS FIFO messages; by default each event's id,
            so a FIFO queue delivers them as it does distinct customers' messages (one
            failing event does not hold the others back, and a FIFO dead-letter queue
            can be read past its first 10 messages). Give one value to test ordering.
        headers: extra HTTP headers for ``http``.
        message_attributes: message attributes of every ``sqs`` and ``sns`` message,
            ``{name: value}``: a string, a number, or (``sns``) a list of strings; for a
            subscription's filter policy on attributes.
        concurrency: calls in parallel: batch calls for ``sqs``, ``sns``,
            ``eventbridge``, ``kinesis`` and ``dynamodb`` (default 8), invokes, executions or
            requests for ``lambda``, ``stepfunctions`` and ``http`` (default 1).
        run_id: the run to record the events under; by default the current run.
        samples: sample events: a JSON lines file, a JSON file, or a folder of
            ``*.json`` files (the app's ``events/`` folder); used in turn.
        key_path: dotted path of the app's own key in the payload (e.g.
            ``orderId``): recorded with each sent event, so a sink table keyed
            by it can confirm processing (``chaoskit_sink_key``).
        seed: seeds ``{{uuid}}``, ``{{int}}`` and ``{{choice}}`` (default: the
            run's seed, configuration ``chaoskit_seed``, else the run id).

    Returns:
        ``{"run_id", "target_type", "target", "sent", "failed", "event_ids"
        (the first 20), "errors" (the most frequent, up to 5), "duration_s"}``, and
        ``filtered_out`` where the ``FilterCriteria`` of a function reading the queue
        or stream passes none of the events (:mod:`._filters`): each such mapping's
        ``mapping`` (UUID), ``function`` and ``patterns``. Lambda deletes such events
        unseen; the run is then inconclusive.
    """
    try:
        count = int(count)
        rate = float(rate_per_second) if rate_per_second not in (None, "") else None
        parallel = int(concurrency) if concurrency not in (None, "") else None
    except (TypeError, ValueError) as err:
        raise BadInput(
            f"invalid count {count!r}, rate_per_second {rate_per_second!r} or concurrency "
            f"{concurrency!r}: expected numbers"
        ) from err
    if target_type not in _SENDERS:
        raise BadInput(
            f"unknown target_type '{target_type}': expected one of {', '.join(TARGET_TYPES)}"
        )
    if count < 0:
        raise BadInput(f"invalid count {count!r}: expected 0 or more events")
    if rate is not None and rate <= 0:
        raise BadInput(f"invalid rate_per_second {rate_per_second!r}: expected more than 0")
    if parallel is not None and parallel < 1:
        raise BadInput(f"invalid concurrency {concurrency!r}: expected 1 or more")
    attributes = _message_attributes(target_type, message_attributes)
    if payload is not None and not isinstance(payload, Mapping):
        raise BadInput(f"invalid payload {payload!r}: expected a JSON object")
    run = run_id or current_run_id(configuration)
    run_seed = str(seed or (configuration or {}).get("chaoskit_seed") or run)
    # The same seed gives the same event ids and payloads (so the same faults fire on
    # the same events); a second load to the same target in one run gets its own.
    key = (run, target_type, target)
    _calls[key] = _calls.get(key, 0) + 1
    stream = f"{run_seed}:{target_type}:{target}:{_calls[key]}"
    render = _payload.Renderer(payload, _payload.load_samples(samples) if samples else None, stream)
    options = {
        "invocation_type": invocation_type,
        "source": source,
        "detail_type": detail_type,
        "partition_key": partition_key,
        "message_group_id": message_group_id,
        "headers": headers,
        "message_attributes": attributes,
        "run_id": run,
    }
    if is_dry_run(configuration):
        logger.info("dry run: would send %d events to %s '%s'", count, target_type, target)
        return {"run_id": run, "target_type": target_type, "target": target, "sent": 0,
                "failed": 0, "event_ids": [], "errors": [], "duration_s": 0.0,
                "dry_run": True}  # fmt: skip
    sender = _SENDERS[target_type](target, configuration, options)
    store.ensure_table(configuration)
    batch = _MAX_BATCH[target_type]
    workers = parallel or _DEFAULT_WORKERS
    if target_type in ("lambda", "stepfunctions", "http"):
        batch, workers = max(1, parallel or 1), 1  # the batch is the concurrency
    if rate:
        batch = max(1, min(batch, int(rate)))
    fifo = target_type in ("sqs", "sns") and _fifo(target)
    if fifo:
        workers = 1  # one group's order is the order sent: no parallel batches
    ids = random.Random(stream + ":ids")

    def check(body: dict[str, Any]) -> dict[str, Any]:
        mark = body[MARK]
        sent_with = _attributes_sent(attributes, mark["run_id"], mark["event_id"])
        dropping = _filters.dropping_filters(target_type, target, body, sent_with, configuration)
        for d in dropping or ():
            logger.warning(
                "the FilterCriteria of %s's event source mapping %s passes none of the "
                "events sent to %s '%s' (patterns: %s): Lambda deletes them unseen and the "
                "ledger counts them lost, so the run tests the filter, not the fault; give "
                "a payload one pattern passes", d["function"], d["mapping"], target_type,
                target, ", ".join(d["patterns"]),
            )  # fmt: skip
        return {"filtered_out": dropping} if dropping else {}

    return _send(
        sender, target_type, target, count, batch, rate, payload or {}, run, configuration,
        workers=workers, render=render, key_path=key_path,
        new_id=lambda: f"{ids.getrandbits(128):032x}",
        check=check if target_type in ("sqs", "kinesis") and count else None,
    )  # fmt: skip
