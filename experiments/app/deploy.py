"""Deploy the reference orders app: its template, plus the two things a template cannot do.

The app is ``template.yaml`` (SAM), deployed like any user's app by
``chaoskit deploy --template experiments/app/template.yaml --stack-name orders``.
This script adds, around that same deploy:

1. on local targets, the payments API: ``payments_stub.py`` started in the
   background unless one already answers (its PID in ``$CHAOSKIT_HOME``); it exits
   by itself once the emulators it serves have stopped;
2. the worker's canary candidate: a version of the current code published with
   chaoskit's layer enabled on that version only, so a canary experiment can
   inject faults into the new version alone. CloudFormation publishes a version
   of the function as it is, so this is a step after the stack.

    python experiments/app/deploy.py [--variant broken] [--target aws] [--var key=value]

From Python (the demo, the tests), load this file and call :func:`deploy`.
Configuration keys besides the target keys: ``orders_payments_url`` (default: the
local stub), ``orders_payments_port`` (4590), ``orders_runtime`` (python3.12),
``orders_canary_layer`` (true). The chaoskit ledger table is not part of the app:
chaoskit creates it when a run first needs it.
"""

import argparse
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chaoskit import aws, envvars
from chaoskit.deploy import deploy_template
from chaoskit.errors import BadInput, ChaosKitError

__all__ = [
    "STACK",
    "TEMPLATE",
    "candidate_layer",
    "deploy",
    "ensure_payments_stub",
    "experiment_vars",
    "publish_candidate",
    "stop_payments_stub",
]

APP = Path(__file__).resolve().parent
TEMPLATE = APP / "template.yaml"
STACK = "orders"
VARIANTS = ("good", "broken")
STUB_PORT = 4590
WORKER = "orders-worker"
#: Env keys a canary candidate's publish uses to make each version distinct.
RELEASE = "ORDERS_RELEASE"


# --- the payments stub -----------------------------------------------------------


def _is_serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _state_dir() -> Path:
    path = Path(os.environ.get(envvars.HOME) or ".chaoskit")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _watch(port: int, endpoint: str) -> bool:
    """Ask the serving stub to serve ``endpoint`` too; False if it is stopping."""
    body = json.dumps({"endpoint": endpoint}).encode()
    request = urllib.request.Request(f"http://127.0.0.1:{port}/_watch", data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return bool(resp.status == 200)
    except urllib.error.HTTPError as err:
        # 400: not an emulator on this machine; the stub stays as it is.
        return err.code == 400
    except (urllib.error.URLError, OSError):
        return False


def ensure_payments_stub(
    port: int = STUB_PORT, timeout: float = 10.0, while_up: str | None = None
) -> str:
    """Start ``payments_stub.py`` in the background unless it already serves; return its URL.

    The URL names ``localhost`` while AWS calls go to ``127.0.0.1``: an HTTP
    fault on host ``localhost`` then hits the payments API and nothing else.

    Args:
        while_up: the emulator's URL: the stub exits once it (and every other emulator
            that asked for the stub) stops accepting connections. None: the stub runs
            until :func:`stop_payments_stub`.
    """
    url = f"http://localhost:{port}/charge"
    deadline = time.monotonic() + timeout
    while _is_serving(port):
        if while_up is None or _watch(port, while_up):
            return url
        if time.monotonic() > deadline:  # a stopping stub that never stops
            raise ChaosKitError(f"the payments stub on port {port} is stopping but still serves")
        time.sleep(0.2)
    state = _state_dir()
    command = [sys.executable, str(APP / "payments_stub.py"), "--port", str(port)]
    if while_up:
        command += ["--while-up", while_up]
    with (state / "payments-stub.log").open("ab") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    (state / "payments-stub.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _is_serving(port):
            return url
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise ChaosKitError(
        f"the payments stub did not start on port {port}: see {state / 'payments-stub.log'}"
    )


def stop_payments_stub() -> bool:
    """Stop the stub this machine started (by its recorded PID); tell whether one was stopped."""
    pid_file = _state_dir() / "payments-stub.pid"
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return False
    return True


# --- the canary candidate --------------------------------------------------------


def _wait_ready(lam: Any, function: str) -> None:
    config = {"Delay": 1, "MaxAttempts": 120}
    lam.get_waiter("function_updated_v2").wait(FunctionName=function, WaiterConfig=config)


def _layers(config: Mapping[str, Any]) -> list[str]:
    return [str(layer["Arn"]) for layer in config.get("Layers") or []]


def candidate_layer(configuration: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return chaoskit's layer and its environment for the candidate (``None`` if off)."""
    if str(configuration.get("orders_canary_layer", True)).lower() in ("false", "0", "no"):
        return None
    # The one builder of the layer's environment, the same enable_chaoskit_layer uses.
    from chaoskit.functions import config, layer_env

    arn = layer_env.publish_layer(configuration)
    current = config.get_configuration(WORKER, configuration)
    plan = layer_env.plan_enable(WORKER, current, arn, configuration)
    return {"layer": arn, "env": plan.layer_variables}


def publish_candidate(configuration: Mapping[str, Any]) -> str:
    """Return the worker's canary candidate, publishing one if the code changed since the last.

    The candidate is the last published version when it has the current code,
    handler and (if enabled) chaoskit's layer; otherwise ``$LATEST`` gets the
    layer for a moment, a version is published, and ``$LATEST`` goes back to the
    app alone. A release number in the environment makes each publish distinct.
    """
    lam = aws.client("lambda", configuration)
    extra = candidate_layer(configuration)
    listed = lam.list_versions_by_function(FunctionName=WORKER)["Versions"]
    published = sorted(int(v["Version"]) for v in listed if v["Version"] != "$LATEST")
    latest = lam.get_function_configuration(FunctionName=WORKER)
    if len(published) >= 2:
        last = lam.get_function_configuration(FunctionName=WORKER, Qualifier=str(published[-1]))
        same = all(latest.get(k) == last.get(k) for k in ("CodeSha256", "Handler"))
        if same and (not extra or extra["layer"] in _layers(last)):
            return str(published[-1])
    env = dict((latest.get("Environment") or {}).get("Variables") or {})
    env[RELEASE] = str((published[-1] if published else 0) + 1)
    update: dict[str, Any] = {"Environment": {"Variables": {**env, **(extra or {}).get("env", {})}}}
    if extra:
        update["Layers"] = [*_layers(latest), extra["layer"]]
    lam.update_function_configuration(FunctionName=WORKER, **update)
    _wait_ready(lam, WORKER)
    version = str(lam.publish_version(FunctionName=WORKER)["Version"])
    env.pop(RELEASE)
    lam.update_function_configuration(
        FunctionName=WORKER, Layers=_layers(latest), Environment={"Variables": env}
    )
    _wait_ready(lam, WORKER)
    return version


# --- the whole deploy ---------------------------------------------------------------


def deploy(
    configuration: Mapping[str, Any] | None = None,
    variant: str = "good",
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Deploy (or update) the reference app on the configured target.

    Returns:
        :func:`chaoskit.deploy.deploy_template`'s result (``outputs``,
        ``resources``...) plus ``variant``, ``payments_url`` and
        ``canary_version``.

    Raises:
        BadInput: unknown variant.
        DeployFailed: the stack failed.
    """
    if variant not in VARIANTS:
        raise BadInput(f"unknown variant '{variant}': expected one of {', '.join(VARIANTS)}")
    cfg = dict(configuration or {})
    target = aws.resolve_target(cfg)
    payments_url = cfg.get("orders_payments_url")
    if not payments_url and target.is_local:
        payments_url = ensure_payments_stub(
            int(cfg.get("orders_payments_port") or STUB_PORT), while_up=target.endpoint_url
        )
    parameters = {
        "Variant": variant,
        "Target": "local" if target.is_local else "aws",
        "Runtime": str(cfg.get("orders_runtime") or "python3.12"),
    }
    if payments_url:
        parameters["PaymentsUrl"] = str(payments_url)
    if target.is_local and target.endpoint_url:
        parameters["LocalPort"] = str(urlsplit(target.endpoint_url).port or 4566)
    result = deploy_template(TEMPLATE, STACK, parameters, cfg, progress=progress)
    candidate = publish_candidate(cfg)
    return {**result, "variant": variant, "payments_url": payments_url, "canary_version": candidate}


def experiment_vars(deployed: Mapping[str, Any]) -> dict[str, Any]:
    """Return the experiment variables only a deployment knows, from :func:`deploy`'s result.

    The failover experiment needs the primary health check's id and the
    secondary API's URL; the canary experiment needs the candidate version.
    """
    outputs = deployed["outputs"]
    return {
        "primary_health_check": outputs["PrimaryHealthCheck"],
        "secondary_url": outputs["SecondaryUrl"],
        "canary_version": deployed["canary_version"],
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: deploy, print the result as JSON and the experiments' ``--var`` flags."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", choices=VARIANTS, default="good")
    parser.add_argument("--target", choices=aws.TARGETS)
    parser.add_argument("--endpoint-url")
    parser.add_argument("--var", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)
    from chaoskit.runner import parse_vars

    try:
        cfg = parse_vars(args.var)
        if args.target:
            cfg["chaoskit_target"] = args.target
        if args.endpoint_url:
            cfg["chaoskit_endpoint_url"] = args.endpoint_url
        result = deploy(
            cfg, args.variant, progress=lambda line: print(f"  {line}", file=sys.stderr)
        )
    except ChaosKitError as err:
        print(f"deploy: error: {err}", file=sys.stderr)
        return err.exit_code
    print(json.dumps(result, indent=2, sort_keys=True))
    pairs = " ".join(f"--var {k}={v}" for k, v in experiment_vars(result).items())
    print(f"experiments that need them take: {pairs}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
