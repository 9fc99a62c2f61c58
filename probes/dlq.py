"""Dead-letter queues and on-failure destinations: depth, peek, event ids, redrive.

Every probe here leaves the queue as it found it: messages are received with a
short visibility timeout and released at once (``ChangeMessageVisibility`` 0).
The formats understood, and how each one's event ids are found, are described
in ``probes/_dlq_formats.py`` and ``docs/probes.md``.
"""

import time
from typing import Any

from botocore.exceptions import ClientError
from chaoslib.types import Configuration, Secrets

from chaoskit import aws
from chaoskit.errors import AWSActionFailed, BadInput, aws_failure
from chaoskit.ledger import store
from chaoskit.ledger.records import DEAD_LETTERED, Record
from chaoskit.run_context import current_run_id
from probes._dlq_formats import (
    DeadLetter,
    classify,
    destination_record,
    original_body,
    parse_message,
)
from probes._sqs import peek, queue_arn, queue_attributes, queue_url
from probes._stream_batch import batch_info, resolve_batch

__all__ = [
    "count_dead_letters",
    "get_event_ids",
    "get_queue_depth",
    "peek_messages",
    "record_dead_letters",
    "redrive_messages",
]

#: Message attributes that dead-letter sources add; not copied back on a redrive.
_AWS_ATTRIBUTES = frozenset(
    {
        "RequestID",
        "ErrorCode",
        "ErrorMessage",
        "ERROR_CODE",
        "ERROR_MESSAGE",
        "EXHAUSTED_RETRY_CONDITION",
        "RETRY_ATTEMPTS",
        "RULE_ARN",
        "TARGET_ARN",
    }
)
#: Error codes meaning "this endpoint has no StartMessageMoveTask" (emulators).
_NO_MOVE_TASK = frozenset(
    {"InvalidAction", "UnsupportedOperation", "NotImplemented", "InternalFailure", "500"}
)

# Injected in tests: waits never really sleep there.
_clock = time.monotonic
_sleep = time.sleep

# Dead letters this process already wrote, so repeated reads add no ledger items.
_recorded: set[tuple[str, str, str]] = set()


def _letters(message: dict[str, Any], configuration: Configuration) -> list[DeadLetter]:
    letters = parse_message(message)
    if letters or classify(message) != "lambda_destination":
        return letters
    # A stream failure record names a batch by sequence numbers: read it back.
    record = destination_record(message)
    batch = batch_info(record)
    if record is None or batch is None:
        return []
    context = record.get("requestContext") or {}
    condition = context.get("condition")
    return [
        DeadLetter(
            t.run_id,
            t.event_id,
            "lambda_destination",
            str(condition or "stream batch failed"),
            condition,
            context.get("approximateInvokeCount"),
            str(message.get("MessageId", "")),
        )
        for t in resolve_batch(batch[0], batch[1], configuration)
    ]


def _dead_letters(
    queue: str, run_id: str | None, configuration: Configuration, max_messages: int
) -> list[DeadLetter]:
    url = queue_url(queue, configuration)
    found: list[DeadLetter] = []
    for message in peek(url, configuration, max_messages=max_messages):
        letters = _letters(message, configuration)
        found.extend(d for d in letters if run_id is None or d.run_id == run_id)
    return found


def get_queue_depth(
    queue: str, configuration: Configuration = None, secrets: Secrets = None
) -> int:
    """Return how many messages a queue holds, visible or in flight.

    Args:
        queue: queue name, URL or ARN.
    """
    attrs = queue_attributes(queue_url(queue, configuration), configuration)
    return sum(
        int(attrs.get(name, 0))
        for name in (
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        )
    )


def peek_messages(
    queue: str,
    max_messages: int = 10,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Look at a dead-letter queue's messages without consuming them.

    Args:
        queue: queue name, URL or ARN.
        max_messages: the most messages to return.

    Returns:
        One entry per message: ``message_id``, ``format`` (sqs_redrive,
        lambda_destination, lambda_dlq, sns_dlq, eventbridge_dlq), ``reason``,
        ``condition``, ``attempts``, ``event_ids`` and the raw ``body``.
    """
    url = queue_url(queue, configuration)
    out = []
    for message in peek(url, configuration, max_messages=max_messages):
        letters = _letters(message, configuration)
        first = letters[0] if letters else None
        out.append(
            {
                "message_id": message.get("MessageId"),
                "format": classify(message),
                "reason": first.reason if first else None,
                "condition": first.condition if first else None,
                "attempts": first.attempts if first else None,
                "event_ids": [d.event_id for d in letters],
                "body": message.get("Body"),
            }
        )
    return out


def get_event_ids(
    queue: str,
    run_id: str | None = None,
    all_runs: bool = False,
    max_messages: int = 1000,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[str]:
    """Return the sorted, unique chaoskit event ids held in a dead-letter queue.

    Args:
        queue: queue name, URL or ARN.
        run_id: only this run's events (default: the current run).
        all_runs: every traced event, whatever its run.
        max_messages: the most messages to read.
    """
    run = None if all_runs else (run_id or current_run_id(configuration))
    return sorted({d.event_id for d in _dead_letters(queue, run, configuration, max_messages)})


def count_dead_letters(
    queue: str,
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many distinct events of the run sit in a dead-letter queue.

    Args:
        queue: queue name, URL or ARN.
        run_id: the run (default: the current run).
    """
    return len(get_event_ids(queue, run_id, configuration=configuration))


def record_dead_letters(
    queues: list[str],
    run_id: str | None = None,
    max_messages: int = 1000,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, int]:
    """Write the run's events found in dead-letter queues to the ledger as dead-lettered.

    Safe to call repeatedly: reconciliation counts each event id once, and
    events this process already recorded are not written again.

    Args:
        queues: dead-letter queue names, URLs or ARNs.
        run_id: the run (default: the current run).
        max_messages: the most messages to read per queue.

    Returns:
        ``{queue: number of the run's events found in it}``.
    """
    run = run_id or current_run_id(configuration)
    found: dict[str, int] = {}
    new: list[Record] = []
    now = time.time()
    for queue in queues:
        letters = _dead_letters(queue, run, configuration, max_messages)
        found[queue] = len({d.event_id for d in letters})
        name = queue.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
        for d in letters:
            key = (d.run_id, d.event_id, d.message_id)
            if key in _recorded:
                continue
            _recorded.add(key)
            detail = {
                "reason": d.reason,
                "queue": name,
                "condition": d.condition,
                "format": d.format,
                "attempts": d.attempts,
                "message_id": d.message_id,
            }
            new.append(Record(d.run_id, d.event_id, DEAD_LETTERED, now, f"sqs:{name}", detail))
    if new:
        store.ensure_table(configuration)
        store.write(new, configuration)
    return found


def _source_url(dlq_url: str, source: str | None, configuration: Configuration) -> str:
    if source:
        return queue_url(source, configuration)
    try:
        out = aws.client("sqs", configuration).list_dead_letter_source_queues(QueueUrl=dlq_url)
    except ClientError as err:
        raise aws_failure("sqs:ListDeadLetterSourceQueues", dlq_url, err) from err
    urls = out.get("queueUrls", [])
    if len(urls) != 1:
        raise BadInput(
            f"queue '{dlq_url}' is the dead-letter queue of {len(urls)} queues: "
            "expected exactly one, pass source= to choose"
        )
    return str(urls[0])


def _move_by_hand(
    dlq_url: str, source_url: str, max_messages: int, configuration: Configuration
) -> int:
    sqs = aws.client("sqs", configuration)
    fifo = source_url.endswith(".fifo")
    moved = 0
    while moved < max_messages:
        try:
            batch = sqs.receive_message(
                QueueUrl=dlq_url,
                MaxNumberOfMessages=min(10, max_messages - moved),
                VisibilityTimeout=60,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
        except ClientError as err:
            raise aws_failure("sqs:ReceiveMessage", dlq_url, err) from err
        if not batch:
            return moved
        for message in batch:
            attrs = {
                k: v
                for k, v in (message.get("MessageAttributes") or {}).items()
                if k not in _AWS_ATTRIBUTES
            }
            kwargs: dict[str, Any] = {
                "QueueUrl": source_url,
                "MessageBody": original_body(message),
                "MessageAttributes": attrs,
            }
            if fifo:
                system = message.get("Attributes") or {}
                kwargs["MessageGroupId"] = system.get("MessageGroupId", "chaoskit-redrive")
                kwargs["MessageDeduplicationId"] = message["MessageId"]
            try:
                sqs.send_message(**kwargs)
                # Delete only once the copy is safely in the source: at least once, never lost.
                sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            except ClientError as err:
                raise aws_failure("sqs:SendMessage/DeleteMessage", source_url, err) from err
            moved += 1
    return moved


def _wait_for_move(
    dlq_arn: str, handle: str | None, wait_seconds: float, configuration: Configuration
) -> int | None:
    """Wait for a move task to finish; return how many messages it moved."""
    sqs = aws.client("sqs", configuration)
    deadline = _clock() + wait_seconds
    while True:
        try:
            tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn, MaxResults=10).get("Results", [])
        except ClientError as err:
            raise aws_failure("sqs:ListMessageMoveTasks", dlq_arn, err) from err
        task = next((t for t in tasks if not handle or t.get("TaskHandle") == handle), None)
        task = task or (tasks[0] if tasks else None)
        if task and task.get("Status") == "FAILED":
            raise AWSActionFailed(
                "sqs:StartMessageMoveTask",
                dlq_arn,
                "MoveTaskFailed",
                str(task.get("FailureReason")),
            )
        if task and task.get("Status") == "COMPLETED":
            return int(task.get("ApproximateNumberOfMessagesMoved", 0))
        if _clock() >= deadline:
            return None
        _sleep(1.0)


def redrive_messages(
    queue: str,
    source: str | None = None,
    max_messages: int = 1000,
    use_move_task: bool = True,
    wait_seconds: float = 60,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Move a dead-letter queue's messages back to their source queue.

    Uses SQS ``StartMessageMoveTask`` where the endpoint has it and the
    messages are plain redrives; otherwise receives, sends to the source and
    deletes, one message at a time (Lambda destination records are unwrapped to
    their ``requestPayload`` first, and AWS error attributes are dropped).

    Args:
        queue: the dead-letter queue (name, URL or ARN).
        source: the queue to move to (default: the one queue whose redrive
            policy names this dead-letter queue).
        max_messages: the most messages to move by hand.
        use_move_task: try ``StartMessageMoveTask`` first.
        wait_seconds: how long to wait for a move task to finish (0: do not wait).

    Returns:
        ``{"method": "move_task" | "by_hand", "moved": n, "task_handle": str or None}``;
        ``moved`` is null when a move task did not finish within ``wait_seconds``.
    """
    dlq_url = queue_url(queue, configuration)
    source_url = _source_url(dlq_url, source, configuration)
    plain = all(classify(m) == "sqs_redrive" for m in peek(dlq_url, configuration, max_messages))
    if use_move_task and plain:
        sqs = aws.client("sqs", configuration)
        try:
            dlq_arn = queue_arn(dlq_url, configuration)
            out = sqs.start_message_move_task(
                SourceArn=dlq_arn, DestinationArn=queue_arn(source_url, configuration)
            )
            moved = _wait_for_move(dlq_arn, out.get("TaskHandle"), wait_seconds, configuration)
            return {"method": "move_task", "moved": moved, "task_handle": out.get("TaskHandle")}
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code", ""))
            status = str(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code not in _NO_MOVE_TASK and status not in _NO_MOVE_TASK:
                raise aws_failure("sqs:StartMessageMoveTask", dlq_url, err) from err
    moved = _move_by_hand(dlq_url, source_url, max_messages, configuration)
    return {"method": "by_hand", "moved": moved, "task_handle": None}
