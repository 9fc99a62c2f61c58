"""Worker: charge each queued order, store it, and notify the customer.

An SQS batch handler with partial batch responses: a record that fails is
reported in ``batchItemFailures``, so only it returns to the queue, is retried,
and after ``maxReceiveCount`` receives lands in ``orders-dlq``. Nothing is
swallowed (compare :mod:`orders.broken`).

Direct invocations (an order as the event, e.g. a canary invoking the ``live``
alias asynchronously) are handled too: an error fails the invocation, and
Lambda's async retries and on-failure destination take over.
"""

import json
import logging
import os
from typing import Any

import boto3

from orders import payments, store

logger = logging.getLogger()
logger.setLevel(logging.INFO)

_lambda = None


def notify(order: dict[str, Any]) -> None:
    """Invoke the notifier asynchronously (fire and forget; it has its own destination)."""
    global _lambda
    name = os.environ.get("ORDERS_NOTIFIER_FUNCTION")
    if not name:
        return
    if _lambda is None:
        _lambda = boto3.client("lambda")
    response = _lambda.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(order).encode()
    )
    # Read the (empty) answer: an unread streaming body keeps its connection out of the
    # SDK's pool, which then closes it and opens a new one for the next call.
    response["Payload"].read()


def process_order(order: dict[str, Any], fallback_id: str = "") -> str:
    """Charge, store and notify one order; return its id. Raises on any failure."""
    payment = payments.charge(order)
    order_id = store.put_order(
        order,
        status="accepted",
        fallback_id=fallback_id,
        payment=payment.get("status"),
        version=os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
    )
    notify(order)
    return order_id


def process_record(record: dict[str, Any]) -> str:
    """Process one SQS record."""
    order = json.loads(record["body"])
    if not isinstance(order, dict):
        raise ValueError(f"message {record.get('messageId')} is not a JSON object")
    return process_order(order, fallback_id=record.get("messageId", ""))


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process an SQS batch, reporting failed records; or one directly invoked order."""
    if "Records" not in event:
        return {"order_id": process_order(event)}
    failures = []
    for record in event["Records"]:
        try:
            process_record(record)
        except Exception:
            # Reported, not swallowed: SQS retries this record, then dead-letters it.
            logger.exception("order message %s failed", record.get("messageId"))
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
