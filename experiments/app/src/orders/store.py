"""The orders table: one item per order, written idempotently.

Every item carries ``run_id`` and ``event_id`` when the order came with a
chaoskit trace mark, so an experiment can count what really reached the table.
"""

import os
import time
from typing import Any

import boto3
from botocore.config import Config

_table = None


def table() -> Any:
    """Return the orders table (created once per execution environment)."""
    global _table
    if _table is None:
        # Three attempts with DynamoDB's own short backoff (50 ms, doubling: the legacy
        # mode's DynamoDB policy), so a throttled batch fits the function's timeout; a
        # write still throttled after that fails its record, and the queue retries it.
        config = Config(retries={"mode": "legacy", "max_attempts": 3})
        resource = boto3.resource("dynamodb", config=config)
        _table = resource.Table(os.environ.get("ORDERS_TABLE", "orders-table"))
    return _table


def order_id(order: dict[str, Any], fallback: str = "") -> str:
    """Return the order's id: its own ``order_id``, else its chaoskit event id."""
    mark = order.get("chaoskit") or {}
    return str(order.get("order_id") or mark.get("event_id") or fallback)


def put_order(order: dict[str, Any], status: str, fallback_id: str = "", **extra: Any) -> str:
    """Write the order with its status; a second write of the same order overwrites it."""
    mark = order.get("chaoskit") or {}
    item = {"order_id": order_id(order, fallback_id), "status": status, "at": str(time.time())}
    if mark.get("run_id") and mark.get("event_id"):
        item["run_id"] = str(mark["run_id"])
        item["event_id"] = str(mark["event_id"])
    item.update({k: v for k, v in extra.items() if v is not None})
    table().put_item(Item=item)
    return item["order_id"]
