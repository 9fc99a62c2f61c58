"""CloudWatch metrics stored without waiting for the disk, and sent in batches.

1. LocalStack keeps CloudWatch metrics in SQLite and opens, writes and commits
   the database for every ``PutMetricData``, under one lock. Under load each
   commit's ``fsync`` queued the next, and the request threads waiting on the
   lock held up everything else (the largest share of LocalStack's time in a
   profile of SQS -> Lambda). The sandbox's state is disposable: its metric
   connections commit with ``PRAGMA synchronous=OFF`` (SQLite still writes every
   row; only the flush to the disk is left to the operating system).
2. Lambda publishes ``Invocations`` (and ``Errors``) for every invocation, each
   from a new thread with its own ``PutMetricData`` call, and SQS one call per
   send, receive and delete: a sixth of LocalStack's CPU in a profile of the
   reference app. Here each data point is queued with the timestamp LocalStack
   gives it, and one thread sends what is queued with one ``PutMetricData`` per
   account, region and namespace (up to 1,000 data points a call, the API's
   limit), points of one metric in one second merged into ``Values``/``Counts``
   (:func:`merge`: LocalStack stores the same rows, with one write per merged
   datum). The same data points reach the same metrics; a ``GetMetricData`` or an
   alarm sees them a few milliseconds later (CloudWatch itself takes about a minute).
   While points keep coming, a :class:`~.pacing.Pacer` spaces the calls
   :data:`INTERVAL` apart (the first after a quiet spell goes at once): sent as
   soon as anything was queued, a busy sandbox still made about one call per
   invocation. A point then shows up to :data:`INTERVAL` later, with its own timestamp.
   The batch goes straight to what ``PutMetricData`` ends in (the CloudWatch
   provider's parameter check, then its database), not through botocore and
   LocalStack's request chain; through the API when the provider is not found.
3. SQS hands each of those data points (two per message sent, one per receive and
   per delete) to a thread pool, which then only queues it: a future, a lock and a
   thread woken per point, on the request's own thread. Here the request's thread
   queues it itself (:func:`dispatch_sqs_metric`).
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
from datetime import UTC, datetime
from typing import Any

from localstack.utils.patch import Patch

from .pacing import Pacer
from .patching import replace, wrap

LOG = logging.getLogger(__name__)

#: PutMetricData's limit of data points per call.
MAX_DATA = 1000
#: Least seconds between two sends while data points keep coming.
INTERVAL = 0.2


class _FastSqlite:
    """The ``sqlite3`` module, whose ``connect`` turns off the flush to the disk."""

    def __getattr__(self, name: str) -> Any:
        return getattr(sqlite3, name)

    @staticmethod
    def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        connection = sqlite3.connect(*args, **kwargs)
        connection.execute("PRAGMA synchronous=OFF")
        return connection


Key = tuple[str | None, str | None, str]


class MetricBatcher:
    """Queues data points; one daemon thread sends them in batches."""

    def __init__(self, pacer: Pacer | None = None) -> None:
        self.queue: queue.Queue[tuple[Key, dict[str, Any]]] = queue.Queue()
        self.pacer = pacer or Pacer(INTERVAL)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put(self, account: str | None, region: str | None, namespace: str, datum: Any) -> None:
        """Queue one data point (sent within milliseconds)."""
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="chaoskit-metrics", daemon=True
                    )
                    self._thread.start()
        self.queue.put(((account, region, namespace), datum))

    def _run(self) -> None:
        while True:
            self.round()

    def round(self) -> None:
        """Wait for a data point, pace, then send everything queued."""
        items = [self.queue.get()]
        self.pacer.wait()
        while True:
            try:
                items.append(self.queue.get_nowait())
            except queue.Empty:
                break
        self.send(items)

    @staticmethod
    def send(items: list[tuple[Key, dict[str, Any]]]) -> None:
        """Send ``items`` with one call per account, region, namespace and 1,000 points."""
        from localstack.aws.connect import connect_to

        grouped: dict[Key, list[dict[str, Any]]] = {}
        for key, datum in items:
            grouped.setdefault(key, []).append(datum)
        for (account, region, namespace), points in grouped.items():
            data = merge(points)
            for start in range(0, len(data), MAX_DATA):
                chunk = data[start : start + MAX_DATA]
                try:
                    if not put_direct(account, region, namespace, chunk):
                        client = connect_to(aws_access_key_id=account, region_name=region)
                        client.cloudwatch.put_metric_data(Namespace=namespace, MetricData=chunk)
                except Exception as err:
                    LOG.info("Unable to put metric data to CloudWatch (%s): %s", namespace, err)


def _cloudwatch_provider() -> Any:
    from localstack.services.plugins import SERVICE_PLUGINS

    return getattr(SERVICE_PLUGINS.get_service("cloudwatch"), "_provider", None)


def put_direct(
    account: str | None,
    region: str | None,
    namespace: str,
    data: list[Any],
    provider: Any = None,
) -> bool:
    """Store ``data`` as ``PutMetricData`` would; ``False`` if it must go through the API."""
    from localstack.services.cloudwatch import provider_v2

    provider = provider or _cloudwatch_provider()
    database = getattr(provider, "cloudwatch_database", None)
    if not account or not region or database is None:
        return False
    provider_v2._validate_parameters_for_put_metric_data(data)
    database.add_metric_data(account, region, namespace, data)
    return True


#: PutMetricData's limit of distinct values in one datum's ``Values``.
MAX_VALUES = 150


def merge(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge data points of one metric in one second into ``Values`` and ``Counts``.

    LocalStack stores a datum's timestamp in whole seconds and a ``Values``/``Counts``
    datum as ``Counts[i]`` rows of ``Values[i]``: the rows stored are the same as
    for the points one by one, with one database write per merged datum instead of
    one per point.
    """
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for point in points:
        dimensions = tuple(sorted((d["Name"], d["Value"]) for d in point["Dimensions"]))
        key = (point["MetricName"], dimensions, point.get("Unit"),
               int(point["Timestamp"].timestamp()))  # fmt: skip
        slot = merged.setdefault(key, {"point": point, "counts": {}})
        counts: dict[float, int] = slot["counts"]
        counts[point["Value"]] = counts.get(point["Value"], 0) + 1
    out: list[dict[str, Any]] = []
    for slot in merged.values():
        point, pairs = slot["point"], list(slot["counts"].items())
        for start in range(0, len(pairs), MAX_VALUES):
            chunk = pairs[start : start + MAX_VALUES]
            datum = {k: v for k, v in point.items() if k != "Value"}
            datum["Values"] = [float(value) for value, _ in chunk]
            datum["Counts"] = [float(count) for _, count in chunk]
            out.append(datum)
    return out


BATCHER = MetricBatcher()


def _now() -> datetime:
    return datetime.now(UTC)


def publish_lambda_metric(
    metric: str,
    value: float,
    kwargs: dict[str, Any],
    account_id: str | None = None,
    region_name: str | None = None,
) -> None:
    """LocalStack's ``publish_lambda_metric``, queued."""
    from localstack.utils.bootstrap import is_api_enabled
    from localstack.utils.cloudwatch.cloudwatch_util import dimension_lambda

    if not is_api_enabled("cloudwatch"):
        return
    BATCHER.put(
        account_id,
        region_name,
        "AWS/Lambda",
        {"MetricName": metric, "Dimensions": dimension_lambda(kwargs),
         "Timestamp": _now(), "Value": value},
    )  # fmt: skip


def publish_sqs_metric(
    account_id: str,
    region: str,
    queue_name: str,
    metric: str,
    value: float = 1,
    unit: str = "Count",
) -> None:
    """LocalStack's ``publish_sqs_metric``, queued."""
    from localstack.utils.bootstrap import is_api_enabled

    if not is_api_enabled("cloudwatch"):
        return
    BATCHER.put(
        account_id,
        region,
        "AWS/SQS",
        {"MetricName": metric, "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
         "Unit": unit, "Timestamp": _now(), "Value": value},
    )  # fmt: skip


def dispatch_sqs_metric(original: Any, dispatcher: Any, *args: Any, **kwargs: Any) -> None:
    """``CloudwatchDispatcher.dispatch_sqs_metric`` without its thread pool hop."""
    if getattr(dispatcher, "running", False):
        publish_sqs_metric(*args, **kwargs)


def start_thread(original: Any, method: Any, *args: Any, **kwargs: Any) -> Any:
    """Run Lambda's per-invocation metric "threads" inline: they only queue now."""
    if str(kwargs.get("name") or "").startswith("record-cloudwatch-metric"):
        method()
        return None
    return original(method, *args, **kwargs)


def patches() -> list[Patch]:
    """The CloudWatch metric patches."""
    from localstack.services.cloudwatch import cloudwatch_database_helper
    from localstack.services.lambda_.invocation import metrics, version_manager
    from localstack.services.sqs import provider as sqs_provider

    return [
        replace(cloudwatch_database_helper, "sqlite3", _FastSqlite()),
        replace(metrics, "publish_lambda_metric", publish_lambda_metric),
        replace(sqs_provider, "publish_sqs_metric", publish_sqs_metric),
        wrap(sqs_provider.CloudwatchDispatcher, "dispatch_sqs_metric", dispatch_sqs_metric),
        wrap(version_manager, "start_thread", start_thread),
    ]
