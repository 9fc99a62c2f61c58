"""Notifier: tell the customer their order was accepted. Invoked asynchronously.

An error fails the invocation; Lambda retries it and then sends the event to
the function's on-failure destination (``orders-notifier-failures``).
"""

import json
import logging
from typing import Any

logger = logging.getLogger()
logger.setLevel(logging.INFO)


class NotificationFailed(Exception):
    """The notification could not be sent."""


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Send the notification for one order."""
    if event.get("notify_fail"):
        raise NotificationFailed(f"cannot notify for order {event.get('order_id')}")
    logger.info(json.dumps({"notified": event.get("order_id"), "trace": event.get("chaoskit")}))
    return {"notified": True}
