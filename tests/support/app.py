"""Helpers of the reference app's tests: sample events, the payments API's state, the table.

The fixtures that use them (``payments``, ``app_env``) are in ``tests/app/conftest.py``.
"""

import json
from pathlib import Path
from typing import Any

__all__ = ["EVENTS", "Payments", "load_event", "table_items"]

EVENTS = Path(__file__).resolve().parent.parent / "app" / "events"


def load_event(name: str) -> dict[str, Any]:
    """Return a sample event from ``tests/app/events``."""
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


class Payments:
    """A payments API whose next answers are scripted: ``statuses`` then 200."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.default = 200
        self.calls = 0
        self.url = ""


def table_items(configuration: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Return the orders table's items by order id (plain strings)."""
    from chaoskit import aws

    ddb = aws.client("dynamodb", configuration)
    items = ddb.scan(TableName="orders-table")["Items"]
    return {i["order_id"]["S"]: {k: next(iter(v.values())) for k, v in i.items()} for i in items}
