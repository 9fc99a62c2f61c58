"""Config-store calls and per-invocation overhead, side by side on one local SSM endpoint.

Compares, for the same 1,000 invocations of the same handler with faults configured
but not firing: chaoskit's layer (SSM parameter, cached per environment with a TTL),
a fetch-every-invocation baseline (the same layer with TTL 0), and the ``chaos-lambda``
package from PyPI (it reads SSM on every invocation). One run, printed figures, no
assertions. SSM is a moto server on 127.0.0.1; nothing leaves the machine.

chaos-lambda 0.3 needs ``ssm-cache<3``; install both outside the project, e.g.::

    .venv/bin/python -m pip install --no-deps --target /tmp/chaoslambda-pkgs \\
        chaos-lambda==0.3 'ssm-cache<3' future
    .venv/bin/python benchmarks/layer_config_store.py --chaos-lambda-path /tmp/chaoslambda-pkgs
"""

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from common import Context, free_port

from chaoskit import envvars
from chaoskit.layer import _aws
from chaoskit.layer.loader import ConfigLoader
from chaoskit.layer.runtime import Layer

PARAMETER = "/chaoskit/faults/orders-api"
CHAOS_LAMBDA_PARAMETER = "chaoslambda.config"
RATE_PER_SECOND = 100  # simulated arrival rate, for the TTL clock


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": "ok"}


class SsmCounter:
    """Count GetParameter(s) requests that really went over HTTP, from any client."""

    def __init__(self) -> None:
        import botocore.endpoint

        self.count = 0
        original = botocore.endpoint.Endpoint._send

        def _send(endpoint: Any, request: Any) -> Any:
            target = request.headers.get("X-Amz-Target") or b""
            if isinstance(target, bytes):
                target = target.decode()
            if target.startswith("AmazonSSM.GetParameter"):
                self.count += 1
            return original(endpoint, request)

        botocore.endpoint.Endpoint._send = _send


def run(name: str, invoke: Callable[[], Any], counter: SsmCounter, n: int) -> dict[str, Any]:
    before = counter.count
    invoke()  # the first of the n invocations: client creation, first fetch (not timed)
    timings = []
    for _ in range(n - 1):
        t0 = time.perf_counter_ns()
        invoke()
        timings.append((time.perf_counter_ns() - t0) / 1000)
    calls = counter.count - before
    return {"name": name, "calls": calls, "mean_us": statistics.fmean(timings),
            "p50_us": statistics.median(timings)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--invocations", type=int, default=1000)
    parser.add_argument("--ttl", type=float, default=5.0)
    parser.add_argument("--chaos-lambda-path", default=os.environ.get("CHAOS_LAMBDA_PATH"))
    args = parser.parse_args()

    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update({"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
                       "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
                       "AWS_DEFAULT_REGION": "us-east-1"})  # fmt: skip
    os.environ.pop("AWS_PROFILE", None)
    _aws.reset()
    counter = SsmCounter()
    n = args.invocations
    try:
        import boto3

        ssm = boto3.client("ssm")
        ours = {"version": "v-bench", "expires_at": time.time() + 3600,
                "faults": [{"kind": "latency", "rate": 0, "ms": 400}]}  # fmt: skip
        ssm.put_parameter(Name=PARAMETER, Value=json.dumps(ours), Type="String")
        theirs = {"fault_type": "latency", "delay": 400, "is_enabled": True, "error_code": 404,
                  "exception_msg": "chaos", "rate": 0}  # fmt: skip
        ssm.put_parameter(Name=CHAOS_LAMBDA_PARAMETER, Value=json.dumps(theirs), Type="String")

        ctx, event = Context("orders-api", qualifier=None, remaining_ms=3000), {"path": "/orders"}
        results = [run("bare handler", lambda: handler(event, ctx), counter, n)]

        def layer_with_ttl(ttl: float) -> Callable[[], Any]:
            simulated = [0.0]

            def clock() -> float:  # invocations arrive at RATE_PER_SECOND
                simulated[0] += 1.0 / RATE_PER_SECOND
                return simulated[0]

            environ = {envvars.CONFIG_PARAMETER: PARAMETER, envvars.CONFIG_TTL: str(ttl)}
            layer = Layer(environ, loader=ConfigLoader(environ, clock=clock),
                          rng=random.Random(1), sleep=lambda s: None)  # fmt: skip
            return lambda: layer.invoke(handler, event, ctx)

        results.append(run(f"chaoskit layer (TTL {args.ttl:g} s)", layer_with_ttl(args.ttl),
                           counter, n))  # fmt: skip
        results.append(run("fetch every invocation (TTL 0)", layer_with_ttl(0), counter, n))

        if args.chaos_lambda_path:
            sys.path.insert(0, args.chaos_lambda_path)
        try:
            os.environ["CHAOS_PARAM"] = CHAOS_LAMBDA_PARAMETER
            from chaos_lambda import inject_fault

            wrapped = inject_fault(handler)
            results.append(run("chaos-lambda 0.3", lambda: wrapped(event, ctx), counter, n))
        except ImportError as err:
            print(f"chaos-lambda not measured: cannot import it ({err}); see the docstring")
    finally:
        server.stop()

    bare = results[0]["mean_us"]
    print(f"{n} invocations at a simulated {RATE_PER_SECOND}/s "
          f"({n / RATE_PER_SECOND:g} s), faults configured but not firing\n")  # fmt: skip
    print(f"{'':34s} {'SSM calls':>9s} {'per 1000':>9s} {'mean us':>10s} {'p50 us':>9s} "
          f"{'added us':>9s}")  # fmt: skip
    for r in results:
        added = r["mean_us"] - bare
        print(f"{r['name']:34s} {r['calls']:9d} {r['calls'] * 1000 / n:9.1f} {r['mean_us']:10.1f}"
              f" {r['p50_us']:9.1f} {added:9.1f}")  # fmt: skip
    ours_added = results[1]["mean_us"] - bare
    for r in results[2:]:
        print(f"per-invocation overhead, {r['name']} / chaoskit layer: "
              f"{(r['mean_us'] - bare) / ours_added:.0f}x")  # fmt: skip


if __name__ == "__main__":
    main()
