"""What the benchmarks share: ports, percentiles, a Lambda context, an SQS batch.

Benchmarks run as scripts (``python benchmarks/<name>.py``), so this module is
imported as ``common``; it puts the repository root on ``sys.path`` so that
``chaoskit`` imports from the checkout. Benchmarks import this module, never
each other.
"""

import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chaoskit.ledger.trace import stamp  # noqa: E402

__all__ = [
    "BATCH",
    "QUEUE_ARN",
    "ROOT",
    "Context",
    "free_port",
    "percentile",
    "sqs_batch",
    "timed_ms",
]

QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:orders-queue"
#: Messages per SQS batch the ledger benchmarks deliver.
BATCH = 10


class Context:
    """The attributes of a Lambda context the layer reads."""

    def __init__(
        self,
        function_name: str = "orders-worker",
        qualifier: str | None = "live",
        remaining_ms: int = 30_000,
    ) -> None:
        arn = f"arn:aws:lambda:us-east-1:000000000000:function:{function_name}"
        self.function_name = function_name
        self.aws_request_id = "req-1"
        self.invoked_function_arn = f"{arn}:{qualifier}" if qualifier else arn
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    """Return the ``q`` quantile (0..1) of ``values``, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed_ms(call: Callable[[], Any]) -> float:
    """Return how many milliseconds ``call()`` took."""
    t0 = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - t0) / 1e6


def sqs_batch(run_id: str, batch: int, traced: bool = True) -> dict[str, Any]:
    """Return an SQS event of :data:`BATCH` orders, traced under ``run_id`` unless told not."""
    records = []
    for i in range(BATCH):
        body: dict[str, Any] = {"order_id": f"{batch}-{i}"}
        if traced:
            body = stamp(body, run_id, f"e-{batch}-{i}")
        records.append(
            {"messageId": f"m-{batch}-{i}", "receiptHandle": "r", "body": json.dumps(body),
             "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
             "eventSource": "aws:sqs", "eventSourceARN": QUEUE_ARN, "awsRegion": "us-east-1"}
        )  # fmt: skip
    return {"Records": records}
