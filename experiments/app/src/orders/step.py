"""Fulfilment task of the ``orders-workflow`` state machine.

Errors propagate to Step Functions: the state's ``Retry`` absorbs transient
ones, and its ``Catch`` routes the rest to a fallback state that queues the
order on ``orders-workflow-fallback``. No order is dropped.
"""

from typing import Any

from orders import store


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Fulfil one order (an EventBridge event's ``detail``, or the order itself)."""
    order = event.get("detail") if isinstance(event.get("detail"), dict) else event
    order_id = store.put_order(order, status="fulfilled", fallback_id=str(event.get("id", "")))
    return {"order_id": order_id, "status": "fulfilled"}
