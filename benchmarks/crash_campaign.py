"""Crash campaign: SIGKILL real `chaoskit run`s of every mutating experiment, then compare.

For each trial a real ``chaoskit run`` process runs one of the mutating
experiments against a moto server on 127.0.0.1 and is killed with SIGKILL at a
random moment (before its first change, while a change is being recorded or
made, or once every change is applied). ``chaoskit rollback --all`` then runs,
and the full state of every resource is read again and compared with the
state before the trial: function configuration, reserved concurrency, aliases
and routing, tags (the function's, and the deadline tags of the mapping, table,
stage and health check), event source mappings, table and index capacity, the API
stage's method settings, the health check through every API that returns it
(GetHealthCheck, ListHealthChecks, GetHealthCheckStatus), and chaoskit's own
SSM parameters (fault configs, locks, journal mirror), which must be gone.

Run the full campaign (prints figures, asserts nothing)::

    .venv/bin/python benchmarks/crash_campaign.py --trials 56 --seed 1

The CI test ``tests/undo/test_undo_crash_campaign.py`` runs the same trials at
a smaller count.
"""

import argparse
import io
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "undo" / "fixtures"
BIN = Path(sys.executable).parent

#: Keys that change on every write and are not state chaoskit changes.
_VOLATILE = {
    "LastModified",
    "RevisionId",
    "CodeSha256",
    "LastUpdateStatus",
    "LastUpdateStatusReason",
    "LastUpdateStatusReasonCode",
    "StateTransitionReason",
    "HealthCheckVersion",
    "LastProcessingResult",
    "ResponseMetadata",
    "NumberOfDecreasesToday",
    "LastIncreaseDateTime",
    "LastDecreaseDateTime",
    "lastUpdatedDate",
}


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        # A mapping's ScalingConfig {} and no ScalingConfig both mean "no cap"; restoring
        # a mapping that had none sends {} (Lambda's way to remove a cap), which moto keeps.
        return {
            k: _clean(v)
            for k, v in sorted(value.items())
            if k not in _VOLATILE and not (k == "ScalingConfig" and not v)
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def _zip(name: str = "app.py", text: str = "def handler(e, c):\n    return e\n") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(name, text)
    return buf.getvalue()


FUNCTION = "orders-worker"


def build_world(config: dict[str, Any]) -> dict[str, str]:
    """Create every resource the experiments change; return their ids."""
    from chaoskit import aws

    role = aws.client("iam", config).create_role(RoleName="crash", AssumeRolePolicyDocument="{}")
    lam = aws.client("lambda", config)
    lam.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.12",
        Role=role["Role"]["Arn"],
        Handler="app.handler",
        Code={"ZipFile": _zip()},
        Layers=[
            lam.publish_layer_version(LayerName="user-lib", Content={"ZipFile": _zip("a.py")})[
                "LayerVersionArn"
            ]
        ],
        Environment={"Variables": {"TABLE": "orders-table", "MODE": "live"}},
        Tags={"app": "orders"},
    )
    lam.put_function_concurrency(FunctionName=FUNCTION, ReservedConcurrentExecutions=7)
    for description in ("v1", "v2", "v3"):
        lam.update_function_configuration(FunctionName=FUNCTION, Description=description)
        lam.publish_version(FunctionName=FUNCTION)
    lam.create_alias(
        FunctionName=FUNCTION,
        Name="live",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"3": 0.1}},
    )
    sqs = aws.client("sqs", config)
    url = sqs.create_queue(QueueName="orders-queue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    uuid = lam.create_event_source_mapping(FunctionName=FUNCTION, EventSourceArn=arn, BatchSize=5)[
        "UUID"
    ]
    aws.client("dynamodb", config).create_table(
        TableName="orders-table",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        ProvisionedThroughput={"ReadCapacityUnits": 40, "WriteCapacityUnits": 30},
        GlobalSecondaryIndexes=[
            {
                "IndexName": "by-sk",
                "KeySchema": [{"AttributeName": "sk", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
                "ProvisionedThroughput": {"ReadCapacityUnits": 20, "WriteCapacityUnits": 10},
            }
        ],
    )
    apig = aws.client("apigateway", config)
    api = str(apig.create_rest_api(name="orders-api")["id"])
    root = apig.get_resources(restApiId=api)["items"][0]["id"]
    apig.put_method(restApiId=api, resourceId=root, httpMethod="GET", authorizationType="NONE")
    apig.put_integration(restApiId=api, resourceId=root, httpMethod="GET", type="MOCK")
    apig.create_stage(
        restApiId=api, stageName="prod", deploymentId=apig.create_deployment(restApiId=api)["id"]
    )
    apig.update_stage(
        restApiId=api,
        stageName="prod",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "100"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "50"},
        ],
    )
    check = aws.client("route53", config).create_health_check(
        CallerReference="crash-campaign",
        HealthCheckConfig={
            "Type": "HTTP",
            "FullyQualifiedDomainName": "api.orders.example.test",
            "Port": 80,
            "ResourcePath": "/health",
        },
    )["HealthCheck"]["Id"]
    layer = lam.publish_layer_version(
        LayerName="chaoskit", Content={"ZipFile": _zip("python/x.py", "X = 1\n")}
    )["LayerVersionArn"]
    return {"uuid": str(uuid), "api": api, "check": str(check), "layer": str(layer)}


def read_state(config: dict[str, Any], ids: dict[str, str]) -> dict[str, Any]:
    """Read the full state of every resource the experiments may change."""
    from chaoskit import aws
    from chaoskit.undo.expiry import health_check_arn, read_all

    lam = aws.client("lambda", config)
    r53 = aws.client("route53", config)
    ssm = aws.client("ssm", config)
    listed = [
        c for c in r53.list_health_checks()["HealthChecks"] if c["Id"] == ids["check"]
    ]  # every API that returns a health check
    status = r53.get_health_check_status(HealthCheckId=ids["check"])["HealthCheckObservations"]
    params = ssm.get_parameters_by_path(Path="/chaoskit/", Recursive=True)["Parameters"]
    state = {
        "function": lam.get_function_configuration(FunctionName=FUNCTION),
        "concurrency": lam.get_function_concurrency(FunctionName=FUNCTION),
        "aliases": lam.list_aliases(FunctionName=FUNCTION)["Aliases"],
        "tags": lam.list_tags(
            Resource=lam.get_function(FunctionName=FUNCTION)["Configuration"]["FunctionArn"]
        ),
        "mapping": lam.get_event_source_mapping(UUID=ids["uuid"]),
        "table": aws.client("dynamodb", config).describe_table(TableName="orders-table")["Table"],
        "stage": aws.client("apigateway", config)
        .get_stage(restApiId=ids["api"], stageName="prod")
        .get("methodSettings"),
        "health_check": r53.get_health_check(HealthCheckId=ids["check"])["HealthCheck"],
        "health_check_listed": listed,
        "health_check_status": sorted(
            str(o.get("StatusReport", {}).get("Status", "")).split(":")[0] for o in status
        ),
        "chaoskit_parameters": sorted(p["Name"] for p in params),
    }
    # chaoskit's deadline tags on every other kind a change harms (the function's are above)
    state["mapping_tags"] = read_all("lambda", state["mapping"]["EventSourceMappingArn"], config)
    state["table_tags"] = read_all("dynamodb", state["table"]["TableArn"], config)
    region = lam.meta.region_name
    stage = f"arn:aws:apigateway:{region}::/restapis/{ids['api']}/stages/prod"
    state["stage_tags"] = read_all("apigateway", stage, config)
    state["health_check_tags"] = read_all("route53", health_check_arn(ids["check"]), config)
    return _clean(state)


def diff(before: Any, after: Any, path: str = "") -> list[str]:
    """Return the paths where two states differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after)):
            out += diff(before.get(key), after.get(key), f"{path}.{key}")
        return out
    return [] if before == after else [f"{path}: {before!r} -> {after!r}"]


def _step(name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    return {
        "type": "action",
        "name": name,
        "provider": {"type": "python", "module": module, "func": func, "arguments": arguments},
    }


def experiments(ids: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Return the method of every mutating experiment (a long wait is appended to each)."""
    f = "chaoskit.faults."
    return {
        "kill-switch": [
            _step("stop", f + "kill_switch", "set_reserved_concurrency", function_names=[FUNCTION])
        ],
        "failover": [
            _step("fail", f + "route53", "fail_health_check", health_check_id=ids["check"],
                  mode="force")
        ],
        "canary": [
            _step("shift", f + "canary", "shift_alias_traffic", function_name=FUNCTION,
                  alias="live", version="2", weight=0.5)
        ],
        "stage": [
            _step("throttle", f + "throttle", "throttle_api_stage", rest_api_id=ids["api"],
                  stage_name="prod", rate_limit=1, burst_limit=2)
        ],
        "mapping": [
            _step("limit", f + "throttle", "limit_event_source_concurrency",
                  maximum_concurrency=2, uuid=ids["uuid"]),
            _step("disable", f + "throttle", "disable_event_source_mapping", uuid=ids["uuid"]),
        ],
        "table": [_step("cut", f + "throttle", "cut_table_capacity", table_name="orders-table")],
        "layer-inject-kill": [
            _step("enable", f + "layer", "enable_chaoskit_layer", function_name=FUNCTION,
                  layer_arn=ids["layer"]),
            _step("inject", f + "inject", "inject_latency", function_name=FUNCTION, ms=50),
            _step("inject2", f + "inject", "inject_exception", function_name=FUNCTION, rate=0.5),
            _step("stop", f + "kill_switch", "set_reserved_concurrency", function_names=[FUNCTION]),
        ],
    }  # fmt: skip


@dataclass
class Trial:
    """One trial: which experiment, when it was killed, and what the rollback left."""

    experiment: str
    moment: str
    changes_seen: int
    rollback_code: int
    rollback_s: float
    differences: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def exact(self) -> bool:
        """Tell whether everything was restored exactly."""
        return self.rollback_code == 0 and not self.differences and not self.error


def _changes(home: Path) -> list[str]:
    statuses: dict[str, str] = {}
    for path in (home / "journal").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and event.get("id"):
                statuses[str(event["id"])] = str(event.get("status"))
    return list(statuses.values())


def run_trial(
    config: dict[str, Any],
    ids: dict[str, str],
    name: str,
    moment: str,
    workdir: Path,
    rng: random.Random,
    before: dict[str, Any],
) -> Trial:
    """Run one experiment, SIGKILL it at ``moment``, roll back, compare with ``before``."""
    home = workdir / "home"
    method = [
        *experiments(ids)[name],
        _step("busy", "ck_undo_steps", "wait_for_interrupt", seconds=120),
    ]
    experiment = {
        "title": f"crash campaign: {name}",
        "description": "killed with SIGKILL, then rolled back",
        "configuration": {**config, "chaoskit_journal_mirror": True},
        "method": method,
    }
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / f"{name}.json"
    path.write_text(json.dumps(experiment))
    env = {k: v for k, v in os.environ.items() if k != "CHAOSKIT_RUN_ID"}
    env.update(CHAOSKIT_HOME=str(home), PYTHONPATH=str(FIXTURES))
    proc = subprocess.Popen(
        [str(BIN / "chaoskit"), "run", str(path)],
        cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wanted = len(experiments(ids)[name])
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        statuses = _changes(home)
        if moment == "early" and (statuses or rng.random() < 0.02):
            time.sleep(rng.uniform(0, 0.05))
            break
        if moment == "mid" and statuses:
            time.sleep(rng.uniform(0, 0.4))
            break
        if moment == "applied" and statuses.count("applied") >= wanted:
            break
        time.sleep(0.005)
    error = ""
    if proc.poll() is not None:
        error = f"the run ended before the kill: {proc.communicate()[1][-500:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    seen = len(_changes(home))
    start = time.monotonic()
    done = subprocess.run(
        [str(BIN / "chaoskit"), "rollback", "--all"],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    took = time.monotonic() - start
    if done.returncode != 0:
        error = error or f"rollback exited {done.returncode}: {done.stderr[-500:]}"
    after = read_state(config, ids)
    return Trial(name, moment, seen, done.returncode, took, diff(before, after), error)


MOMENTS = ("early", "mid", "applied")


def campaign(
    config: dict[str, Any],
    trials: int,
    seed: int,
    workdir: Path,
    progress: Callable[[Trial], None] | None = None,
) -> list[Trial]:
    """Run ``trials`` trials over every mutating experiment and every kill moment."""
    from chaoskit import aws

    aws.clear_cache()
    ids = build_world(config)
    before = read_state(config, ids)
    rng = random.Random(seed)
    names = list(experiments(ids))
    out = []
    for i in range(trials):
        name = names[i % len(names)]
        moment = (
            MOMENTS[(i // len(names)) % len(MOMENTS)]
            if trials > len(names)
            else rng.choice(MOMENTS)
        )
        trial = run_trial(config, ids, name, moment, workdir / f"t{i}", rng, before)
        out.append(trial)
        if progress:
            progress(trial)
        if not trial.exact:
            before = read_state(config, ids)  # judge the next trials on their own
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=56)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    from common import free_port
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                      AWS_DEFAULT_REGION="us-east-1")  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    config = {"chaoskit_target": "localstack", "chaoskit_endpoint_url": endpoint,
              "aws_region": "us-east-1"}  # fmt: skip
    print(f"load average: {os.getloadavg()}")
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="crash-campaign-") as tmp:

            def show(t: Trial) -> None:
                mark = "exact" if t.exact else f"NOT EXACT {t.error} {t.differences[:3]}"
                print(f"{t.experiment:18} {t.moment:8} changes {t.changes_seen:2} "
                      f"rollback {t.rollback_s:5.2f} s  {mark}", flush=True)  # fmt: skip

            results = campaign(config, args.trials, args.seed, Path(tmp), show)
    finally:
        server.stop()
    exact = sum(t.exact for t in results)
    total = time.monotonic() - started
    kinds = len({t.experiment for t in results})
    moments = sorted({t.moment for t in results})
    print(f"\n{exact}/{len(results)} trials restored exactly ({kinds} experiments, "
          f"kill moments {moments})")  # fmt: skip
    rollbacks = sorted(t.rollback_s for t in results)
    median = rollbacks[len(rollbacks) // 2]
    print(f"rollback wall time: median {median:.2f} s, max {rollbacks[-1]:.2f} s")
    print(f"campaign wall time: {total:.0f} s ({total / len(results):.1f} s per trial)")


if __name__ == "__main__":
    main()
