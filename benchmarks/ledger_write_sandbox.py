"""What the layer's ledger writes add to a handler, against the sandbox's DynamoDB.

One run, printed figures, no assertions. Run with the project's venv:

    .venv/bin/python benchmarks/ledger_write_sandbox.py [--batches 300] [--endpoint URL]

Each batch is an SQS event of 10 traced records (fresh event ids per batch) handed
to a trivial handler through the layer (``chaoskit.layer.runtime.Layer``, no fault
config), interleaved with the bare handler and with the layer on an untraced batch.
The layer queues 10 ``attempt`` and 10 ``processed`` records with its ledger writer
(``chaoskit.layer.writer``), which writes them from its own thread to the ledger
table on the sandbox (127.0.0.1, the layer's own boto3 client, as a function in the
sandbox uses it). Two ways, timed apart:

- ``after-response`` (the default in Lambda): the layer returns at once; the
  internal extension flushes the writer after the response. Here the benchmark
  plays the extension: it flushes after each timed call, outside the timing, and
  times that flush on its own (the environment's post-response time).
- ``inline`` (no extension): the layer flushes before it returns.

Target (issue 5): under 2 ms added per batch to the handler.

Without ``--endpoint`` a sandbox is started on a free port and stopped (purged) at
the end; with it, the running sandbox (or any DynamoDB endpoint) is used.
"""

import argparse
import os
import random
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from common import BATCH, Context, free_port, percentile, sqs_batch, timed_ms

from chaoskit import sandbox
from chaoskit.layer import _aws, extension, log, tracing
from chaoskit.layer.runtime import Layer
from chaoskit.layer.writer import LedgerWriter
from chaoskit.ledger import store
from chaoskit.ledger.records import PROCESSED, Record


def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
    return {"batchItemFailures": []}


def _row(name: str, values: list[float]) -> str:
    p50, p99 = percentile(values, 0.5), percentile(values, 0.99)
    return f"{name:58s} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms"


class _AnswerAtOnce(BaseHTTPRequestHandler):
    """A DynamoDB endpoint that answers every call with ``{}`` at once, keep-alive."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle's algorithm and the
        # client's delayed ACK add 40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.0")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _use_endpoint(endpoint: str) -> None:
    os.environ.update(
        AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test",
        AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1",
    )  # fmt: skip
    _aws.reset()


def client_side(batches: int) -> None:
    """Time the same writes against an endpoint that does no work: the layer's own cost."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _AnswerAtOnce)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    _use_endpoint(f"http://127.0.0.1:{server.server_address[1]}")
    records = [Record("r", f"c-{i}", PROCESSED, time.time(), "sqs", {}) for i in range(BATCH)]
    try:
        for label, validate in (("", True), (", parameter_validation off", False)):
            _aws.reset()
            if not validate:  # what the layer's client would save without botocore's checks
                import boto3
                from botocore.config import Config

                _aws._clients["dynamodb"] = boto3.session.Session().client(
                    "dynamodb", config=Config(parameter_validation=False, retries={
                        "mode": "standard", "max_attempts": 1}),
                    endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                )  # fmt: skip
            for _ in range(20):
                tracing.write_records(records)
            times = [timed_ms(lambda: tracing.write_records(records)) for _ in range(batches)]
            print(_row(f"one write_records, no-op endpoint{label}", times))
    finally:
        server.shutdown()
        _aws.reset()


def run(endpoint: str, batches: int) -> None:
    _use_endpoint(endpoint)
    configuration = {"chaoskit_target": "sandbox", "chaoskit_endpoint_url": endpoint}
    table = store.ensure_table(configuration)
    warnings: list[str] = []
    log.set_sink(warnings.append)  # a failed write warns instead of raising: count them
    ledger = LedgerWriter()
    layer = Layer({}, rng=random.Random(1), sleep=lambda s: None, ledger=ledger)
    ctx = Context()
    run_id = f"bench-{os.urandom(4).hex()}"
    events = [sqs_batch(run_id, b) for b in range(2 * batches + 20)]

    def after_response(event: dict[str, Any]) -> None:
        extension._active = True  # what the registered extension makes the layer do
        try:
            layer.invoke(handler, event, ctx)
        finally:
            extension._active = False

    for event in events[:20]:  # warm up: the client, connections, the table's first writes
        layer.invoke(handler, event, ctx)
    untraced = sqs_batch(run_id, -1, traced=False)
    bare, plain, after, flushes, inline, write = [], [], [], [], [], []
    for b in range(batches):  # interleaved: noise hits every case alike
        first, second = events[20 + 2 * b], events[21 + 2 * b]
        bare.append(timed_ms(lambda: handler(first, ctx)))  # noqa: B023
        plain.append(timed_ms(lambda: layer.invoke(handler, untraced, ctx)))
        after.append(timed_ms(lambda: after_response(first)))  # noqa: B023
        flushes.append(timed_ms(lambda: ledger.flush(5.0)))  # the post-response phase
        inline.append(timed_ms(lambda: layer.invoke(handler, second, ctx)))  # noqa: B023
        records = [Record(run_id, f"w-{b}-{i}", PROCESSED, time.time(), "sqs", {})
                   for i in range(BATCH)]  # fmt: skip
        write.append(timed_ms(lambda: tracing.write_records(records)))  # noqa: B023
    written = sum(1 for r in store.read_run(run_id, configuration) if r.event_id.startswith("e-"))

    print(
        f"ledger table {table!r} at {endpoint}; {batches} batches of {BATCH} SQS records each way"
    )
    print(_row("bare handler", bare))
    print(_row("layer, untraced batch (no ledger write)", plain))
    print(_row("layer, traced, after-response (handler's time)", after))
    print(_row("  then the post-response flush (1 BatchWriteItem)", flushes))
    print(_row("layer, traced, inline (flush before returning)", inline))
    print(_row("one write_records of 10 records", write))
    for label, values in (("after-response", after), ("inline", inline)):
        added50 = percentile(values, 0.5) - percentile(bare, 0.5)
        added99 = percentile(values, 0.99) - percentile(bare, 0.99)
        print(f"added per traced batch, {label}: p50 {added50:.3f} ms, p99 {added99:.3f} ms"
              "  (target < 2 ms)")  # fmt: skip
    expected = (2 * batches + 20) * BATCH * 2
    print(f"ledger items written by the traced batches: {written} of {expected}; "
          f"warnings: {len(warnings)}")  # fmt: skip
    sdk = [timed_ms(lambda: _aws.call("dynamodb", "describe_limits")) for _ in range(batches)]
    print(_row("DescribeLimits (the endpoint's floor per call)", sdk))
    client_side(batches)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=300)
    parser.add_argument("--endpoint", help="a running sandbox (default: start one)")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cpu(s), "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    if args.endpoint:
        run(args.endpoint, args.batches)
        return
    port = free_port()
    endpoint = sandbox.ensure_up(port, progress=lambda line: None, timeout=180)
    try:
        run(endpoint, args.batches)
        rss = sandbox.status(port).get("rss_mb")
        print(f"sandbox RSS {rss} MB")
    finally:
        sandbox.down(port, purge=True)


if __name__ == "__main__":
    main()
