"""CloudWatch metrics stored without waiting for the disk.

LocalStack keeps CloudWatch metrics in SQLite and opens, writes and commits the
database for every ``PutMetricData``, under one lock. Lambda publishes a metric
for every invocation and SQS for every send, receive and delete, so under load
each commit's ``fsync`` queued the next, and the request threads waiting on the
lock held up everything else (the largest share of LocalStack's time in a
profile of SQS -> Lambda). The sandbox's state is disposable: its metric
connections commit with ``PRAGMA synchronous=OFF`` (SQLite still writes every
row; only the flush to the disk is left to the operating system). Metrics,
alarms and ``GetMetricData`` answer as before.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from localstack.utils.patch import Patch

from .patching import replace


class _FastSqlite:
    """The ``sqlite3`` module, whose ``connect`` turns off the flush to the disk."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = sqlite3.connect(*args, **kwargs)
        connection.execute("PRAGMA synchronous=OFF")
        return connection


def patches() -> list[Patch]:
    """The CloudWatch metric store patch."""
    from localstack.services.cloudwatch import cloudwatch_database_helper

    return [replace(cloudwatch_database_helper, "sqlite3", _FastSqlite())]
