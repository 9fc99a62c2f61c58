"""What the chaoskit layer costs a function: added latency per invocation, cold import, zip size.

One run, printed figures and ratios, no assertions. Run with the project's venv:

    .venv/bin/python benchmarks/layer_overhead.py [--invocations 20000]

Targets from issue 2: added latency with the layer active and no fault matching
p50 <= 20 us and p99 <= 100 us; cold import <= 15 ms.
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from common import Context, percentile

from chaoskit import envvars
from chaoskit.layer import log
from chaoskit.layer.build import build_layer_zip
from chaoskit.layer.runtime import Layer

#: An API Gateway proxy event without a trace mark (traced events write to the ledger).
EVENT = {
    "resource": "/orders",
    "path": "/orders",
    "httpMethod": "POST",
    "headers": {"Content-Type": "application/json"},
    "requestContext": {"resourcePath": "/orders", "httpMethod": "POST", "stage": "prod",
                       "requestId": "api-1", "apiId": "abc123"},
    "body": json.dumps({"order": 1, "items": [{"sku": "A-1", "qty": 2}]}),
    "isBase64Encoded": False,
}  # fmt: skip
SQS_EVENT = {
    "Records": [
        {"messageId": f"m-{i}", "body": json.dumps({"order": i}), "eventSource": "aws:sqs",
         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders-queue",
         "messageAttributes": {}, "attributes": {"ApproximateReceiveCount": "1"}}
        for i in range(10)
    ]
}  # fmt: skip
#: Faults that are configured but match none of the benchmark's invocations.
NOT_MATCHING = {
    "version": "v-bench",
    "expires_at": time.time() + 3600,
    "faults": [
        {"kind": "exception", "rate": 1, "match": {"qualifier": "canary"}},
        {"kind": "latency", "rate": 1, "ms": 100, "match": {"source": "kinesis"}},
        {"kind": "status", "rate": 1, "status_code": 503,
         "match": {"fields": {"path": "/payments"}}},
    ],
}  # fmt: skip


#: A fault that fires on every invocation without sleeping (handler not run).
FIRING = {"kind": "status", "rate": 1, "status_code": 503}


def handler(event: object, context: object) -> dict[str, object]:
    return {"statusCode": 200, "body": "ok"}


def added_latency(environ: dict[str, str], event: object, n: int) -> dict[str, float]:
    layer = Layer(environ, rng=random.Random(1), sleep=lambda s: None)
    ctx = Context("orders-api", remaining_ms=3000)
    for _ in range(2000):  # warm up: first config parse, caches
        layer.invoke(handler, event, ctx)
    bare: list[float] = []
    wrapped: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(n):  # interleaved, so drift and noise hit both alike
        t0 = clock()
        handler(event, ctx)
        t1 = clock()
        layer.invoke(handler, event, ctx)
        t2 = clock()
        bare.append((t1 - t0) / 1000)
        wrapped.append((t2 - t1) / 1000)
    return {
        "bare_p50_us": percentile(bare, 0.5),
        "layer_p50_us": percentile(wrapped, 0.5),
        "added_p50_us": percentile(wrapped, 0.5) - percentile(bare, 0.5),
        "added_p99_us": percentile(wrapped, 0.99) - percentile(bare, 0.99),
    }


def import_ms(pythonpath: Path, code: str, runs: int, before: str = "pass") -> tuple[float, float]:
    """Return (min wall, min CPU) ms of ``code`` in fresh interpreters, ``before`` run untimed.

    CPU time (the process's own) is reported beside wall time because wall time on a
    shared machine mostly measures the other tenants.
    """
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": str(pythonpath)}  # fmt: skip
    script = (
        f"{before}; import time; t, c = time.perf_counter(), time.process_time(); {code}; "
        "print((time.perf_counter() - t) * 1e3, (time.process_time() - c) * 1e3)"
    )
    walls, cpus = [], []
    with tempfile.TemporaryDirectory() as cwd:
        for _ in range(runs):
            out = subprocess.run(
                [sys.executable, "-c", script], env=env, cwd=cwd, capture_output=True,
                text=True, check=True,
            )  # fmt: skip
            wall, cpu = out.stdout.split()
            walls.append(float(wall))
            cpus.append(float(cpu))
    return min(walls), min(cpus)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=20_000)
    parser.add_argument("--import-runs", type=int, default=15)
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]} on {os.cpu_count()} cpu(s), "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip

    print("\n== added latency per invocation (no fault matching) ==")
    cases = {
        "no config": ({}, EVENT),
        "3 faults, none matching (API GW)": ({envvars.CONFIG: json.dumps(NOT_MATCHING)}, EVENT),
        "3 faults, none matching (SQS x10)": (
            {envvars.CONFIG: json.dumps(NOT_MATCHING)}, SQS_EVENT),
        "kill switch": ({envvars.DISABLED: "1", envvars.CONFIG: json.dumps(NOT_MATCHING)}, EVENT),
        "injection on: status fault fires": (
            {envvars.CONFIG: json.dumps({**NOT_MATCHING, "faults": [FIRING]})}, EVENT),
    }  # fmt: skip
    log.set_sink(lambda line: None)  # the JSON line is built; where it goes is not measured
    for name, (environ, event) in cases.items():
        r = added_latency(environ, event, args.invocations)
        print(f"{name:36s} added p50 {r['added_p50_us']:6.1f} us   p99 {r['added_p99_us']:6.1f} us"
              f"   (bare handler p50 {r['bare_p50_us']:.2f} us)")  # fmt: skip
    print("targets (no fault matching): p50 <= 20 us, p99 <= 100 us")

    print("\n== cold import of chaoskit.layer.handler (fresh interpreter per run, best of runs) ==")
    with tempfile.TemporaryDirectory() as tmp:
        plain, compiled = Path(tmp) / "plain", Path(tmp) / "compiled"
        sizes = {}
        for where, precompile in ((plain, False), (compiled, True)):
            zipped = build_layer_zip(Path(tmp) / f"{where.name}.zip", precompile=precompile)
            sizes[where.name] = zipped.stat().st_size
            with zipfile.ZipFile(zipped) as archive:
                archive.extractall(where)
        runtime = "import json, logging"  # what Lambda's Python bootstrap has already imported
        layer = "import chaoskit.layer.handler"
        for name, root in (("source only (read-only /opt)", plain),
                           ("with --precompile bytecode", compiled)):  # fmt: skip
            alone = import_ms(root / "python", layer, args.import_runs)
            after = import_ms(root / "python", layer, args.import_runs, before=runtime)
            print(
                f"{name:30s} bare interpreter: wall {alone[0]:5.1f} ms, cpu {alone[1]:5.1f} ms"
                f" | after json+logging: wall {after[0]:5.1f} ms, cpu {after[1]:5.1f} ms"
            )
        print("target: <= 15 ms")
        print("\n== layer zip size ==")
        for name, size in sizes.items():
            print(f"{name:10s} {size:8d} bytes ({size / 1024:.1f} KiB)")


if __name__ == "__main__":
    main()
