"""The broken variant: the same app with a classic bug, errors swallowed.

Each handler catches what goes wrong, logs it and reports success. Failures
look like successes: SQS deletes the message, Step Functions neither retries
nor catches, the stream moves on. The orders are silently gone, and chaoskit's
experiments must catch it (template parameter ``Variant=broken``, or
``python experiments/app/deploy.py --variant broken``).
"""

import logging
from typing import Any

from orders import stream, worker

logger = logging.getLogger()


def worker_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Process an SQS batch; BUG: a failed record is logged and dropped."""
    if "Records" not in event:
        try:
            return {"order_id": worker.process_order(event)}
        except Exception:
            logger.warning("order failed; ignoring", exc_info=True)
            return {}
    for record in event["Records"]:
        try:
            worker.process_record(record)
        except Exception:
            logger.warning("order %s failed; ignoring", record.get("messageId"), exc_info=True)
    return {"batchItemFailures": []}


def stream_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Store a Kinesis batch; BUG: a bad record is skipped without a trace."""
    processed = 0
    for record in event.get("Records", []):
        try:
            stream.handler({"Records": [record]}, context)
            processed += 1
        except Exception:
            logger.warning("record skipped", exc_info=True)
    return {"processed": processed}


def step_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fulfil an order; BUG: an error becomes a "success" the workflow cannot retry."""
    from orders import step

    try:
        return step.handler(event, context)
    except Exception:
        logger.warning("fulfilment failed; ignoring", exc_info=True)
        return {"status": "ok"}
