"""Fixtures for the reference app's tests: its package on sys.path, its table, a payments API.

The app's handlers run in-process against the moto server (``aws_env``); the
payments API is a real HTTP server on 127.0.0.1 whose answers a test sets.
"""

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.app import Payments, load_event, table_items  # noqa: F401

APP = Path(__file__).resolve().parents[2] / "experiments" / "app" / "src"
EVENTS = Path(__file__).resolve().parent / "events"
if str(APP) not in sys.path:
    sys.path.insert(0, str(APP))


@pytest.fixture
def payments() -> Iterator[Payments]:
    """Serve a scriptable payments API on 127.0.0.1; yield its controller."""
    state = Payments()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            with lock:
                state.calls += 1
                status = state.statuses.pop(0) if state.statuses else state.default
            body = json.dumps({"status": "charged" if status == 200 else "error"}).encode()
            self.send_response(status)
            if status == 429:
                self.send_header("Retry-After", "0")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/charge"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def app_env(
    aws_env: dict[str, str], payments: Payments, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, str]]:
    """Create the orders table and queue, point the app at them and at ``payments``."""
    from chaoskit import aws

    # The table and queue as experiments/app/template.yaml declares them.
    aws.client("dynamodb", aws_env).create_table(
        TableName="orders-table",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": "S"}
            for name in ("order_id", "run_id", "event_id")
        ],
        KeySchema=[{"AttributeName": "order_id", "KeyType": "HASH"}],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-run",
                "KeySchema": [
                    {"AttributeName": "run_id", "KeyType": "HASH"},
                    {"AttributeName": "event_id", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )
    queue = aws.client("sqs", aws_env).create_queue(QueueName="orders-queue")["QueueUrl"]
    monkeypatch.setenv("ORDERS_TABLE", "orders-table")
    monkeypatch.setenv("ORDERS_QUEUE_URL", queue)
    monkeypatch.setenv("PAYMENTS_URL", payments.url)
    monkeypatch.delenv("ORDERS_NOTIFIER_FUNCTION", raising=False)

    from orders import ingest, store, worker
    from orders import payments as payments_module

    # Clients are cached per execution environment; each test is a fresh one.
    monkeypatch.setattr(store, "_table", None)
    monkeypatch.setattr(ingest, "_sqs", None)
    monkeypatch.setattr(worker, "_lambda", None)
    monkeypatch.setattr(payments_module.post_charge.retry, "sleep", lambda seconds: None)
    payments_module.breaker.close()
    yield {**aws_env, "queue_url": queue}
    payments_module.breaker.close()
