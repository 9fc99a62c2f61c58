"""SQS plumbing shared by the probes: resolve a queue, peek at it without consuming it."""

import logging
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import aws_failure

__all__ = ["peek", "queue_arn", "queue_attributes", "queue_url", "release"]

#: Seconds peeked messages stay hidden while a peek collects them (then released).
PEEK_VISIBILITY = 30

logger = logging.getLogger("chaostoolkit.chaoskit")
_warned_fifo: set[str] = set()


def queue_url(queue: str, configuration: Mapping[str, Any] | None) -> str:
    """Return the URL of ``queue``, given as a name, a URL or an ARN."""
    if queue.startswith(("http://", "https://")):
        return queue
    name = queue.rsplit(":", 1)[-1] if queue.startswith("arn:") else queue
    sqs = aws.client("sqs", configuration)
    try:
        return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as err:
        raise aws_failure("sqs:GetQueueUrl", queue, err) from err


def queue_attributes(url: str, configuration: Mapping[str, Any] | None) -> dict[str, str]:
    """Return every attribute of the queue at ``url``."""
    try:
        out = aws.client("sqs", configuration).get_queue_attributes(
            QueueUrl=url, AttributeNames=["All"]
        )
    except ClientError as err:
        raise aws_failure("sqs:GetQueueAttributes", url, err) from err
    return dict(out.get("Attributes", {}))


def queue_arn(url: str, configuration: Mapping[str, Any] | None) -> str:
    """Return the ARN of the queue at ``url``."""
    return queue_attributes(url, configuration)["QueueArn"]


def peek(
    url: str,
    configuration: Mapping[str, Any] | None,
    max_messages: int = 1000,
    wait_seconds: int = 0,
) -> list[dict[str, Any]]:
    """Return up to ``max_messages`` messages of the queue, leaving them in it.

    Messages are received with a short visibility timeout (so one peek sees each
    at most once), then made visible again at once (visibility 0). Each receive
    still counts towards a redrive policy's ``maxReceiveCount`` on the peeked
    queue, which is why only dead-letter queues should be peeked.
    """
    sqs = aws.client("sqs", configuration)
    seen: dict[str, dict[str, Any]] = {}
    empty = 0
    try:
        while len(seen) < max_messages and empty < 2:
            out = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=min(10, max_messages - len(seen)),
                VisibilityTimeout=PEEK_VISIBILITY,
                WaitTimeSeconds=wait_seconds,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            batch = out.get("Messages", [])
            # Short polls sample a subset of SQS hosts: stop after two empty answers.
            empty = 0 if batch else empty + 1
            for message in batch:
                seen.setdefault(message["MessageId"], message)
    except ClientError as err:
        release(url, list(seen.values()), configuration)
        raise aws_failure("sqs:ReceiveMessage", url, err) from err
    messages = list(seen.values())
    if url.endswith(".fifo") and len(messages) < max_messages and url not in _warned_fifo:
        _warn_if_fifo_hides(url, len(messages), configuration)
    release(url, messages, configuration)
    return messages


def _warn_if_fifo_hides(url: str, seen: int, configuration: Mapping[str, Any] | None) -> None:
    """Say when a FIFO queue holds more than a peek could see (the caller asks once per queue)."""
    attrs = queue_attributes(url, configuration)
    held = int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
        attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
    )
    if held > seen:
        _warned_fifo.add(url)
        logger.warning(
            "FIFO queue '%s' holds about %d messages but only %d could be read without "
            "consuming them: SQS returns nothing more of a message group while some of it "
            "is in flight, so events behind the first 10 of a group are not seen there",
            url,
            held,
            seen,
        )


def release(
    url: str, messages: list[dict[str, Any]], configuration: Mapping[str, Any] | None
) -> None:
    """Make received ``messages`` visible again at once."""
    sqs = aws.client("sqs", configuration)
    for start in range(0, len(messages), 10):
        entries = [
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
            for i, m in enumerate(messages[start : start + 10])
        ]
        try:
            sqs.change_message_visibility_batch(QueueUrl=url, Entries=entries)
        except ClientError as err:
            raise aws_failure("sqs:ChangeMessageVisibilityBatch", url, err) from err
