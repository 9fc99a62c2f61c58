"""What the layer's ledger writes add to an invocation, through the sandbox's Lambda service.

One run, printed figures, no assertions. Run with the project's venv:

    .venv/bin/python benchmarks/ledger_write_e2e.py [--invokes N] [--pause-ms MS] [--endpoint URL]

Five functions with the same trivial handler (``return {"batchItemFailures": []}``)
on the sandbox, runtime python3.12: one without the layer (the baseline), and four
with the chaoskit layer (built with bytecode, published, and put in front of the
handler by ``AWS_LAMBDA_EXEC_WRAPPER=/opt/chaoskit-wrapper``) writing to a fresh
ledger table, one with ``CHAOSKIT_LEDGER_FLUSH=after-response`` (the writes go out
after the response, from the layer's internal extension) and one with ``inline``
(the writes go out before the handler's result is returned), each of the two also
given untraced events (the layer's cost with nothing to write: for after-response,
the extension's own round trip per invocation). The functions' boto3 reaches the
sandbox through the ``AWS_ENDPOINT_URL`` the sandbox gives every function.

Each invocation is a synchronous ``Invoke`` (``LogType=Tail``) of an SQS event of 10
records traced with fresh event ids (the event of ``ledger_write_sandbox.py``, one
run id per function), so the layer writes 10 ``attempt`` and 10 ``processed``
records. After 20 warm-up invocations each, the functions are invoked in turn,
the order rotating every round so that noise hits all alike, ``--invokes`` times
each, with a pause of ``--pause-ms`` after every invocation: a post-response flush
of the previous invocation has finished by then (a back-to-back invoke would wait
for it, as it does in Lambda). Measured per invocation: the client's wall time of
the ``Invoke`` call and the ``Duration`` of the REPORT log line (from dispatch to the
function's response, in the sandbox). Target (issue 5): under 2 ms added per batch.
Then the ledger is read back (polled up to 10 s) and each function's records are
counted against what it should have written.

Without ``--endpoint`` a sandbox is started on a free port and stopped (purged) at
the end; with it, the running sandbox is used and the functions and the table are
deleted at the end (the layer version is kept: see ``cleanup``).
"""

import argparse
import base64
import contextlib
import io
import json
import os
import re
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from common import BATCH, free_port, percentile, sqs_batch

from chaoskit import aws as chaoskit_aws
from chaoskit import sandbox
from chaoskit.layer.build import build_layer_zip
from chaoskit.ledger import store
from chaoskit.ledger.records import ATTEMPT, PROCESSED

RUNTIME = "python3.12"
ROLE = "arn:aws:iam::000000000000:role/lambda"
WARMUP = 20
#: One layer name for every run: the sandbox keeps the layer versions (see ``cleanup``).
LAYER_NAME = "chaoskit-ledger-bench"
HANDLER = 'def handler(event, context):\n    return {"batchItemFailures": []}\n'
#: Label of each function -> CHAOSKIT_LEDGER_FLUSH (None: no layer at all).
FUNCTIONS: dict[str, str | None] = {
    "no layer": None,
    "layer, after-response": "after-response",
    "layer, inline": "inline",
    "layer, after-response, untraced": "after-response",
    "layer, inline, untraced": "inline",
}
UNTRACED = {"layer, after-response, untraced", "layer, inline, untraced"}
BASELINE = "no layer"
_DURATION = re.compile(r"REPORT RequestId: \S+\tDuration: ([0-9.]+) ms")


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


class Stats:
    """One function's measurements: wall and Duration per invocation, errors, layer warnings."""

    def __init__(self) -> None:
        self.wall: list[float] = []
        self.duration: list[float] = []
        self.errors: list[str] = []
        self.warnings: list[str] = []


def invoke(lam: Any, name: str, event: dict[str, Any], stats: Stats | None) -> None:
    """Invoke ``name`` synchronously; record its wall time and REPORT Duration in ``stats``."""
    payload = json.dumps(event).encode()
    t0 = time.perf_counter_ns()
    response = lam.invoke(FunctionName=name, Payload=payload, LogType="Tail")
    body = response["Payload"].read()
    wall = (time.perf_counter_ns() - t0) / 1e6
    if stats is None:
        return
    log = base64.b64decode(response.get("LogResult") or "").decode("utf-8", "replace")
    stats.warnings += [line for line in log.splitlines() if '"chaoskit": "warning"' in line]
    match = _DURATION.search(log)
    if "FunctionError" in response or match is None:
        stats.errors.append(body.decode("utf-8", "replace")[:300] or log[-300:])
        return
    stats.wall.append(wall)
    stats.duration.append(float(match.group(1)))


def _p(values: list[float]) -> tuple[float, float]:
    if not values:
        return float("nan"), float("nan")
    return percentile(values, 0.5), percentile(values, 0.99)


def _pair(p: tuple[float, float], minus: tuple[float, float] | None = None) -> str:
    if minus is None:
        return f"p50 {p[0]:8.3f} ms  p99 {p[1]:8.3f} ms"
    return f"p50 {p[0] - minus[0]:+8.3f} ms  p99 {p[1] - minus[1]:+8.3f} ms"


def _create_function(lam: Any, name: str, env: dict[str, str], layers: list[str]) -> None:
    lam.create_function(
        FunctionName=name, Runtime=RUNTIME, Role=ROLE, Handler="bench.handler",
        Code={"ZipFile": _zip({"bench.py": HANDLER})}, Timeout=10, MemorySize=128,
        Environment={"Variables": env}, Layers=layers,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )


def count_ledger(
    run_ids: dict[str, str], configuration: dict[str, Any], expected: int
) -> tuple[dict[str, dict[str, int]], float]:
    """Poll the ledger (up to 10 s) until every layered function's records are in.

    Returns:
        The counts per function and kind, and the seconds waited before the last read.
    """
    t0 = time.monotonic()
    while True:
        waited = time.monotonic() - t0  # when this read began: the reads themselves take time
        counts = {}
        for label, run_id in run_ids.items():
            kinds = [r.kind for r in store.read_run(run_id, configuration)]
            counts[label] = {ATTEMPT: kinds.count(ATTEMPT), PROCESSED: kinds.count(PROCESSED)}
        complete = all(
            min(counts[label].values()) >= expected
            for label, flush in FUNCTIONS.items()
            if flush and label not in UNTRACED
        )
        if complete or time.monotonic() - t0 > 10:
            return counts, waited
        time.sleep(0.5)


def run(endpoint: str, invokes: int, pause_ms: float, clean_up: bool) -> None:
    suffix = os.urandom(4).hex()
    table = f"chaoskit-ledger-bench-{suffix}"
    configuration = {
        "chaoskit_target": "sandbox", "chaoskit_endpoint_url": endpoint,
        "chaoskit_ledger_table": table,
    }  # fmt: skip
    lam = boto3.client(
        "lambda", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
        aws_secret_access_key="test",
        # One attempt: a retried invoke would hide a failure inside a slow figure.
        config=Config(retries={"mode": "standard", "max_attempts": 1}, read_timeout=60),
    )  # fmt: skip
    store.ensure_table(configuration)
    with tempfile.TemporaryDirectory() as tmp:
        layer_zip = build_layer_zip(Path(tmp) / "chaoskit-layer.zip", precompile=True)
        layer_kb = layer_zip.stat().st_size / 1024
        layer = lam.publish_layer_version(
            LayerName=LAYER_NAME, Content={"ZipFile": layer_zip.read_bytes()},
            CompatibleRuntimes=[RUNTIME],
        )  # fmt: skip
    names = {label: f"ledger-bench-{i}-{suffix}" for i, label in enumerate(FUNCTIONS)}
    run_ids = {label: f"bench-{suffix}-{i}" for i, label in enumerate(FUNCTIONS)}
    try:
        for label, flush in FUNCTIONS.items():
            env: dict[str, str] = {}
            if flush is not None:
                env = {
                    "AWS_LAMBDA_EXEC_WRAPPER": "/opt/chaoskit-wrapper",
                    "CHAOSKIT_LEDGER_TABLE": table, "CHAOSKIT_LEDGER_FLUSH": flush,
                }  # fmt: skip
            layers = [layer["LayerVersionArn"]] if flush is not None else []
            _create_function(lam, names[label], env, layers)
        measure(lam, names, run_ids, invokes, pause_ms, configuration)
        print(f"layer zip {layer_kb:.0f} KiB; ledger table {table!r} at {endpoint}")
    finally:
        if clean_up:  # a sandbox this run did not start: leave it as it was
            cleanup(lam, names, configuration, table)


def measure(
    lam: Any,
    names: dict[str, str],
    run_ids: dict[str, str],
    invokes: int,
    pause_ms: float,
    configuration: dict[str, Any],
) -> None:
    labels = list(FUNCTIONS)
    stats = {label: Stats() for label in labels}
    pause = pause_ms / 1000
    for n in range(WARMUP + invokes):
        warm = n >= WARMUP
        shift = n % len(labels)  # rotate the order: no function always follows the same one
        for label in labels[shift:] + labels[:shift]:
            event = sqs_batch(run_ids[label], n, traced=label not in UNTRACED)
            invoke(lam, names[label], event, stats[label] if warm else None)
            time.sleep(pause)

    print(
        f"{invokes} invocations per function of {BATCH} traced SQS records, after {WARMUP} "
        f"warm-up invocations each, interleaved; runtime {RUNTIME}"
    )
    print(
        f"pause of {pause_ms:g} ms after every invocation, so that a post-response ledger "
        "flush of the previous one has finished (a back-to-back invoke would wait for it, "
        "as it does in Lambda)"
    )
    print(f"{'':34s}{'Invoke wall time (client)':32s}   REPORT Duration")
    for label in labels:
        s = stats[label]
        print(f"{label:34s}{_pair(_p(s.wall))}   {_pair(_p(s.duration))}")
    print("added versus no layer, per batch (target < 2 ms):")
    base = stats[BASELINE]
    for label in labels:
        if label == BASELINE:
            continue
        s = stats[label]
        wall = _pair(_p(s.wall), _p(base.wall))
        duration = _pair(_p(s.duration), _p(base.duration))
        print(f"  {label:32s}{wall}   {duration}")

    expected = (WARMUP + invokes) * BATCH
    counts, waited = count_ledger(run_ids, configuration, expected)
    print(
        f"ledger records read back {waited:.1f} s after the last invocation (each of "
        f"{WARMUP + invokes} batches should write {BATCH} {ATTEMPT} + {BATCH} {PROCESSED}):"
    )
    for label, flush in FUNCTIONS.items():
        want = expected if flush and label not in UNTRACED else 0
        got = counts[label]
        print(f"  {label:32s}{ATTEMPT} {got[ATTEMPT]} of {want}, "
              f"{PROCESSED} {got[PROCESSED]} of {want}")  # fmt: skip
    for label in labels:
        s = stats[label]
        if s.errors:
            print(f"{label}: {len(s.errors)} failed invocation(s), first: {s.errors[0]}")
        if s.warnings:
            print(f"{label}: {len(s.warnings)} layer warning(s) in the log tails, "
                  f"first: {s.warnings[0]}")  # fmt: skip


def cleanup(lam: Any, names: dict[str, str], configuration: dict[str, Any], table: str) -> None:
    """Delete the functions and the table; keep the layer version.

    The sandbox keeps a layer whose last version was deleted, with no versions, and
    then fails every ``ListLayers`` call: the layer's versions are left in place.
    """
    for name in names.values():
        with contextlib.suppress(lam.exceptions.ResourceNotFoundException):
            lam.delete_function(FunctionName=name)
    chaoskit_aws.client("dynamodb", configuration).delete_table(TableName=table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invokes", type=int, default=200)
    parser.add_argument("--pause-ms", type=float, default=100.0)
    parser.add_argument("--endpoint", help="a running sandbox (default: start one)")
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION="us-east-1"
    )
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cpu(s), "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    if args.endpoint:
        run(args.endpoint, args.invokes, args.pause_ms, clean_up=True)
        return
    port = free_port()
    endpoint = sandbox.ensure_up(port, progress=lambda line: None, timeout=180)
    try:
        run(endpoint, args.invokes, args.pause_ms, clean_up=False)  # purged below
        rss = sandbox.status(port).get("rss_mb")
        print(f"sandbox RSS {rss} MB")
    finally:
        sandbox.down(port, purge=True)


if __name__ == "__main__":
    main()
