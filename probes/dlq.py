"""Dead-letter queues and on-failure destinations: depth, peek, event ids (read-only).

Every probe here leaves the queue as it found it: messages are received with a
short visibility timeout and released at once (``ChangeMessageVisibility`` 0).
SQS has no read that leaves a message untouched, though: a receive hides it
for that moment and adds to its receive count. So :func:`record_dead_letters`
never reads a queue that has a consumer of its own (an enabled event source
mapping): it would race the consumer. Such a queue is skipped with a warning;
the consumer's own traces show what it dead-lettered (see ``probes.ledger``).
The formats understood, and how each one's event ids are found, are described
in ``probes/_dlq_formats.py`` and ``docs/probes.md``. Moving messages back to
their source is an action: ``chaoskit.faults.dlq.redrive_dlq_messages``.
"""

import logging
import time
from typing import Any

from botocore.exceptions import ClientError
from chaoslib.types import Configuration, Secrets

from chaoskit import aws
from chaoskit.errors import AWSActionFailed
from chaoskit.ledger import store
from chaoskit.ledger.records import DEAD_LETTERED, Record
from chaoskit.run_context import current_run_id
from probes._dlq_formats import (
    DeadLetter,
    classify,
    destination_record,
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
]

# Injected in tests: waits never really sleep there.
_clock = time.monotonic
_sleep = time.sleep

# Dead letters this process already wrote, so repeated reads add no ledger items.
_recorded: set[tuple[str, str, str]] = set()
# Queues already warned about (a consumer of their own): one warning per queue.
_warned: set[str] = set()
logger = logging.getLogger("chaostoolkit.chaoskit")


def _consumers(queue: str, configuration: Configuration) -> list[str]:
    """Return the functions consuming ``queue`` through an active event source mapping."""
    try:
        arn = queue_arn(queue_url(queue, configuration), configuration)
        mappings = aws.client("lambda", configuration).list_event_source_mappings(
            EventSourceArn=arn
        )["EventSourceMappings"]
    except (ClientError, AWSActionFailed):
        return []  # cannot tell: read as before
    return sorted(
        str(m.get("FunctionArn", "")).rsplit(":", 1)[-1]
        for m in mappings
        if m.get("State") not in ("Disabled", "Disabling", "Deleting")
    )


def with_consumers(queues: list[str], configuration: Configuration = None) -> list[str]:
    """Return the queues among ``queues`` that a function consumes (not read by chaoskit)."""
    return [q for q in queues if _consumers(q, configuration)]


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
        ``{queue: number of the run's events found in it}``; a queue with a
        consumer of its own is not read and not in the result.
    """
    run = run_id or current_run_id(configuration)
    found: dict[str, int] = {}
    new: list[Record] = []
    now = time.time()
    for queue in queues:
        consumers = _consumers(queue, configuration)
        if consumers:
            if queue not in _warned:
                _warned.add(queue)
                logger.warning(
                    "not reading dead-letter queue '%s': it has a consumer (%s), which a read "
                    "would race; its traces count what it dead-lettered",
                    queue,
                    ", ".join(consumers),
                )
            continue
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
