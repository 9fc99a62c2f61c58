"""Benchmark: how fast ``send_events`` puts traced events into SQS (and their ``sent`` records).

    .venv/bin/python benchmarks/load_send.py [EVENTS] [--endpoint URL]

Sends EVENTS events (default 5,000) to a fresh queue with ``concurrency`` 1
(one batch call at a time: the old behaviour, the baseline) and then 8 (the
default), in the same process, and prints events/s for each and the ratio.
Every run checks that the ledger holds exactly one ``sent`` record per event.
With ``--endpoint`` (e.g. a running sandbox, ``http://127.0.0.1:4566``) it
targets that; otherwise a moto server on 127.0.0.1. Target: 2,000 events/s.
Measure against the sandbox: moto's SQS recounts every message of the queue for
each message sent, so with a few thousand queued moto is the limit (about 30
events/s), not ``send_events``.
"""

import sys
import time
import uuid
from typing import Any

from common import free_port

from chaoskit import aws
from chaoskit.faults.load import send_events
from chaoskit.ledger import store

TARGET = 2_000.0


def _config(endpoint: str) -> dict[str, Any]:
    return {"chaoskit_target": "localstack", "chaoskit_endpoint_url": endpoint,
            "aws_region": "us-east-1", "chaoskit_ledger_table": "bench-ledger"}  # fmt: skip


def measure(config: dict[str, Any], events: int, concurrency: int) -> float:
    """Send ``events`` with ``concurrency``; return events per second."""
    run = f"bench-{uuid.uuid4().hex[:8]}"
    url = aws.client("sqs", config).create_queue(QueueName=run)["QueueUrl"]
    start = time.perf_counter()
    out = send_events("sqs", url, count=events, concurrency=concurrency,
                      payload={"orderId": "{{uuid}}", "n": "{{index}}"},
                      configuration={**config, "chaoskit_run_id": run})  # fmt: skip
    elapsed = time.perf_counter() - start
    sent = [r for r in store.read_run(run, config) if r.kind == "sent"]
    assert out["sent"] == events == len(sent) == len({r.event_id for r in sent}), out
    return events / elapsed


def main(argv: list[str]) -> int:
    events = int(argv[0]) if argv and argv[0].isdigit() else 5_000
    server = None
    if "--endpoint" in argv:
        endpoint = argv[argv.index("--endpoint") + 1]
    else:
        from moto.server import ThreadedMotoServer

        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
    try:
        config = _config(endpoint)
        store.ensure_table(config)
        baseline = measure(config, events, 1)
        fast = measure(config, events, 8)
        verdict = "OK" if fast >= TARGET else "UNDER TARGET"
        print(f"send_events to SQS at {endpoint}: {events:,} events")
        print(f"  concurrency 1 (baseline): {baseline:,.0f} events/s")
        print(f"  concurrency 8 (default):  {fast:,.0f} events/s "
              f"(x{fast / baseline:.1f}; target {TARGET:,.0f}: {verdict})")  # fmt: skip
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
