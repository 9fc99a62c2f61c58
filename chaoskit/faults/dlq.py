"""Move a dead-letter queue's messages back to their source queue (a redrive).

A redrive changes two queues, so it is an action like the others: both
queues must pass the allowlist, a dry run moves nothing, and before anything
moves the undo journal records every message about to move (id, body,
attributes, format) and from where to where.

What "undo" means for a redrive: nothing is moved back. Redriven messages are
meant to be processed again and may already have been; sending them back to
the dead-letter queue would deliver them twice. Rolling back a redrive leaves
the queues alone and logs what the journal holds, so nothing is lost: every
message moved can be found (and re-sent) from the journal by its id and body.
"""

import logging
import time
from typing import Any

from botocore.exceptions import ClientError
from chaoslib.types import Configuration, Secrets

from chaoskit import aws
from chaoskit.errors import AWSActionFailed, BadInput, aws_failure
from chaoskit.undo import guard, mutation
from probes._dlq_formats import classify, original_body
from probes._sqs import peek, queue_arn, queue_attributes, queue_url, release

__all__ = ["redrive_dlq_messages"]

logger = logging.getLogger("chaostoolkit.chaoskit")

ACTION = "redrive_dlq_messages"

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


def _name(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1]


def _tags(url: str, configuration: Configuration) -> dict[str, str]:
    try:
        out = aws.client("sqs", configuration).list_queue_tags(QueueUrl=url)
    except ClientError as err:
        raise aws_failure("sqs:ListQueueTags", _name(url), err) from err
    return {str(k): str(v) for k, v in (out.get("Tags") or {}).items()}


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


def _copy(message: dict[str, Any]) -> dict[str, Any]:
    """Return what is sent back to the source for one dead-lettered message."""
    attrs = {
        k: v
        for k, v in (message.get("MessageAttributes") or {}).items()
        if k not in _AWS_ATTRIBUTES
    }
    return {"body": original_body(message), "attributes": attrs}


def _move_by_hand(
    dlq_url: str, source_url: str, wanted: set[str], configuration: Configuration
) -> list[str]:
    """Move the messages whose ids are in ``wanted``; return the ids moved, in order."""
    sqs = aws.client("sqs", configuration)
    fifo = source_url.endswith(".fifo")
    moved: list[str] = []
    others: dict[str, dict[str, Any]] = {}
    empty = 0
    try:
        while len(moved) < len(wanted) and empty < 2:
            try:
                batch = sqs.receive_message(
                    QueueUrl=dlq_url,
                    MaxNumberOfMessages=10,
                    VisibilityTimeout=60,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except ClientError as err:
                raise aws_failure("sqs:ReceiveMessage", dlq_url, err) from err
            empty = 0 if batch else empty + 1
            for message in batch:
                if message["MessageId"] not in wanted or message["MessageId"] in moved:
                    # Arrived after the journal was written: not this redrive's to move.
                    others.setdefault(message["MessageId"], message)
                    continue
                copy = _copy(message)
                kwargs: dict[str, Any] = {
                    "QueueUrl": source_url,
                    "MessageBody": copy["body"],
                    "MessageAttributes": copy["attributes"],
                }
                if fifo:
                    system = message.get("Attributes") or {}
                    kwargs["MessageGroupId"] = system.get("MessageGroupId", "chaoskit-redrive")
                    kwargs["MessageDeduplicationId"] = message["MessageId"]
                try:
                    sqs.send_message(**kwargs)
                    # Delete only once the copy is in the source: at least once, never lost.
                    sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
                except ClientError as err:
                    raise aws_failure("sqs:SendMessage/DeleteMessage", source_url, err) from err
                moved.append(str(message["MessageId"]))
    finally:
        release(dlq_url, list(others.values()), configuration)
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


def _move_task(
    dlq_url: str, source_url: str, wait_seconds: float, configuration: Configuration
) -> dict[str, Any] | None:
    """Start (and wait for) a StartMessageMoveTask; ``None`` when the endpoint has none."""
    sqs = aws.client("sqs", configuration)
    dlq_arn = queue_arn(dlq_url, configuration)
    try:
        out = sqs.start_message_move_task(
            SourceArn=dlq_arn, DestinationArn=queue_arn(source_url, configuration)
        )
    except ClientError as err:
        code = str(err.response.get("Error", {}).get("Code", ""))
        status = str(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if code in _NO_MOVE_TASK or status in _NO_MOVE_TASK:
            return None
        raise aws_failure("sqs:StartMessageMoveTask", dlq_url, err) from err
    moved = _wait_for_move(dlq_arn, out.get("TaskHandle"), wait_seconds, configuration)
    return {"method": "move_task", "moved": moved, "task_handle": out.get("TaskHandle")}


def restore_redrive_snapshot(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Leave a redrive in place: its messages are not moved back (see the module docstring).

    Idempotent: it changes nothing and logs where the journal keeps the messages.
    """
    messages = snapshot.get("messages") or []
    logger.info(
        "the redrive of %d message(s) from '%s' to '%s' is not moved back (they may already "
        "be processed); the journal keeps each message's id and body",
        len(messages),
        snapshot.get("dlq_url"),
        snapshot.get("source_url"),
    )


def redrive_dlq_messages(
    queue: str,
    source: str | None = None,
    max_messages: int = 1000,
    use_move_task: bool = True,
    wait_seconds: float = 60,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Move a dead-letter queue's messages back to their source queue.

    Both queues must be allowed (``chaoskit_allow``); a dry run moves nothing.
    The messages about to move (id, body, attributes) are recorded in the undo
    journal first. Uses SQS ``StartMessageMoveTask`` where the endpoint has it,
    the messages are plain redrives and all of them fit in ``max_messages``;
    otherwise receives, sends to the source and deletes each recorded message
    (Lambda destination records are unwrapped to their ``requestPayload``, and
    AWS error attributes are dropped). Rollback does not move messages back:
    they may already be processed; the journal keeps them.

    Args:
        queue: the dead-letter queue (name, URL or ARN).
        source: the queue to move to (default: the one queue whose redrive
            policy names this dead-letter queue).
        max_messages: the most messages to move.
        use_move_task: try ``StartMessageMoveTask`` first.
        wait_seconds: how long to wait for a move task to finish (0: do not wait).

    Returns:
        ``{"method": "move_task" | "by_hand" | "none", "moved": n, "task_handle",
        "message_ids", "remaining", "dry_run"}``; ``moved`` is null when a move
        task did not finish within ``wait_seconds``; ``remaining`` is the
        dead-letter queue's visible messages afterwards.
    """
    dlq_url = queue_url(queue, configuration)
    source_url = _source_url(dlq_url, source, configuration)
    for url in (dlq_url, source_url):
        guard(_name(url), _tags(url, configuration), configuration)
    found = peek(dlq_url, configuration, max_messages)
    records = [
        {"message_id": str(m["MessageId"]), "format": classify(m), **_copy(m)} for m in found
    ]
    snapshot = {"dlq_url": dlq_url, "source_url": source_url, "messages": records}
    plain = all(r["format"] == "sqs_redrive" for r in records) and len(found) < max_messages
    result: dict[str, Any] = {"method": "none", "moved": 0, "task_handle": None}
    with mutation(
        action=ACTION,
        resource=_name(dlq_url),
        restorer="chaoskit.faults.dlq:restore_redrive_snapshot",
        snapshot=snapshot,
        configuration=configuration,
    ) as change:
        if not change.dry_run and records:
            task = None
            if use_move_task and plain:
                task = _move_task(dlq_url, source_url, wait_seconds, configuration)
            if task is not None:
                result = task
            else:
                ids = _move_by_hand(
                    dlq_url, source_url, {r["message_id"] for r in records}, configuration
                )
                result = {"method": "by_hand", "moved": len(ids), "task_handle": None}
    remaining = int(queue_attributes(dlq_url, configuration).get("ApproximateNumberOfMessages", 0))
    return {
        **result,
        "message_ids": [r["message_id"] for r in records],
        "remaining": remaining,
        "dry_run": change.dry_run,
    }
