"""``chaoskit.deploy.deploy`` against the moto server: every resource, idempotent, both variants."""

import json
import os
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from chaoskit import aws
from chaoskit.deploy import FUNCTIONS, deploy, package
from chaoskit.errors import BadInput

APP = Path(__file__).resolve().parents[2] / "experiments" / "app"


def test_unknown_variant_is_refused_before_anything_is_created(aws_env: dict[str, str]) -> None:
    config = {**aws_env, "orders_payments_url": "http://localhost:9/charge"}
    with pytest.raises(BadInput, match="unknown variant 'evil'"):
        deploy(config, variant="evil")
    assert aws.client("lambda", config).list_functions()["Functions"] == []


def test_code_zip_vendors_the_dependencies_and_is_reproducible() -> None:
    first = package.build_code_zip(APP)
    names = set(zipfile.ZipFile(BytesIO(first)).namelist())
    assert {"orders/worker.py", "orders/broken.py", "pybreaker/__init__.py"} <= names
    assert any(n.startswith("tenacity/") for n in names)
    assert not any("__pycache__" in n or ".dist-info" in n for n in names)
    assert package.build_code_zip(APP) == first


def test_missing_dependency_or_app_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="cannot vendor 'no-such-dist'"):
        package.vendored_files(["no-such-dist"])
    with pytest.raises(BadInput, match="cannot find the reference app"):
        package.app_dir({"orders_app_dir": str(tmp_path)})


def _unzip(tmp_path: Path) -> Path:
    code = tmp_path / "task"
    zipfile.ZipFile(BytesIO(package.build_code_zip(APP))).extractall(code)
    return code


def _import_listener(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    # -S -I: no site-packages, no environment: only the function's code and /opt/python.
    script = (
        "import sys; sys.path[:0] = sys.argv[1:]\n"
        "from orders import payments\n"
        "print([type(l).__name__ for l in payments.breaker.listeners])\n"
    )
    return subprocess.run(
        [sys.executable, "-S", "-I", "-c", script, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_breaker_listener_loads_in_the_function_when_the_layer_is_there(tmp_path: Path) -> None:
    from chaoskit.layer.build import vendor_into

    code = _unzip(tmp_path)
    opt_python = tmp_path / "opt" / "python"
    opt_python.mkdir(parents=True)
    vendor_into(opt_python)  # the layer's python/ tree, as Lambda mounts it

    with_layer = _import_listener([code, opt_python])
    without_layer = _import_listener([code])

    assert with_layer.returncode == 0, with_layer.stderr
    assert with_layer.stdout.strip() == "['LedgerListener']"
    assert without_layer.returncode == 0, without_layer.stderr
    assert without_layer.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def config(moto_server: str) -> Iterator[dict[str, str]]:
    """One moto state for the whole module: a deploy costs seconds, so the checks share one.

    Same setup as ``aws_env`` at module scope; the tests above it in this file
    use ``aws_env`` and run first.
    """
    urllib.request.urlopen(
        urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST"), timeout=10
    ).read()
    patch = pytest.MonkeyPatch()
    for name in list(os.environ):
        if name.startswith("AWS_"):
            patch.delenv(name)
    patch.setenv("AWS_ACCESS_KEY_ID", "testing")
    patch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    aws.clear_cache()
    # An explicit payments URL: no stub process is started by these tests.
    yield {
        "chaoskit_target": "localstack",
        "chaoskit_endpoint_url": moto_server,
        "aws_region": "us-east-1",
        "orders_payments_url": "http://localhost:9/charge",
    }
    aws.clear_cache()
    patch.undo()


def _revision(config: dict[str, Any]) -> tuple[Any, ...]:
    return (config["LastModified"], config["CodeSha256"], json.dumps(config.get("Environment")))


@pytest.fixture(scope="module")
def deployed(config: dict[str, str]) -> dict[str, Any]:
    return deploy(config)


def _check_creates_the_functions_with_their_handlers(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    lam = aws.client("lambda", config)
    handlers = {
        name: lam.get_function_configuration(FunctionName=name)["Handler"] for name in FUNCTIONS
    }
    assert handlers == {
        "orders-ingest": "orders.ingest.handler",
        "orders-worker": "orders.worker.handler",
        "orders-notifier": "orders.notifier.handler",
        "orders-stream": "orders.stream.handler",
        "orders-step": "orders.step.handler",
    }
    worker_env = lam.get_function_configuration(FunctionName="orders-worker")["Environment"]
    assert worker_env["Variables"]["PAYMENTS_URL"] == "http://localhost:9/charge"
    assert set(deployed["functions"]) == set(FUNCTIONS)


def _check_wires_the_queue_with_a_dlq_and_partial_batch_responses(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    sqs = aws.client("sqs", config)
    attrs = sqs.get_queue_attributes(
        QueueUrl=deployed["queues"]["orders-queue"], AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":orders-dlq")
    assert int(redrive["maxReceiveCount"]) == 3
    assert int(attrs["VisibilityTimeout"]) >= 6 * 5  # >= 6x the worker's timeout
    lam = aws.client("lambda", config)
    mapping = lam.list_event_source_mappings(FunctionName="orders-worker")["EventSourceMappings"]
    assert len(mapping) == 1
    assert mapping[0]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def _check_wires_the_stream_with_bisect_retries_and_a_destination(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    lam = aws.client("lambda", config)
    (mapping,) = lam.list_event_source_mappings(FunctionName="orders-stream")["EventSourceMappings"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert mapping["MaximumRetryAttempts"] == 2
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        ":orders-stream-failures"
    )


def _check_gives_async_functions_an_on_failure_destination(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    lam = aws.client("lambda", config)
    notifier = lam.get_function_event_invoke_config(FunctionName="orders-notifier")
    live = lam.get_function_event_invoke_config(FunctionName="orders-worker", Qualifier="live")
    assert notifier["DestinationConfig"]["OnFailure"]["Destination"].endswith(
        ":orders-notifier-failures"
    )
    assert live["DestinationConfig"]["OnFailure"]["Destination"].endswith(":orders-dlq")


def _check_creates_the_live_alias_on_a_stable_version_and_a_candidate(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    lam = aws.client("lambda", config)
    alias = lam.get_alias(FunctionName="orders-worker", Name="live")
    assert alias["FunctionVersion"] == deployed["worker_alias"]["stable"] == "1"
    assert deployed["worker_alias"]["candidate"] == "2"
    # Only the candidate carries chaoskit's layer: a canary's faults hit the new version alone.
    candidate = lam.get_function_configuration(FunctionName="orders-worker", Qualifier="2")
    assert [layer["Arn"].split(":")[6] for layer in candidate["Layers"]] == ["chaoskit"]
    assert (
        candidate["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/chaoskit-wrapper"
    )
    latest = lam.get_function_configuration(FunctionName="orders-worker")
    stable = lam.get_function_configuration(FunctionName="orders-worker", Qualifier="1")
    for plain in (latest, stable):
        assert not plain.get("Layers")
        assert "AWS_LAMBDA_EXEC_WRAPPER" not in plain["Environment"]["Variables"]


def _check_creates_the_workflow_with_retry_and_catch(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    sfn = aws.client("stepfunctions", config)
    definition = json.loads(
        sfn.describe_state_machine(stateMachineArn=deployed["state_machine"])["definition"]
    )
    task = definition["States"]["Fulfil"]
    assert task["Resource"] == deployed["functions"]["orders-step"]
    assert task["Retry"][0]["MaxAttempts"] == 2
    assert task["Catch"][0]["Next"] == "Fallback"
    fallback = definition["States"]["Fallback"]["Parameters"]["QueueUrl"]
    assert fallback == deployed["queues"]["orders-workflow-fallback"]
    events = aws.client("events", config)
    (target,) = events.list_targets_by_rule(Rule="orders-placed")["Targets"]
    assert target["Arn"] == deployed["state_machine"]


def _check_creates_the_failover_record_and_the_alarm(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    r53 = aws.client("route53", config)
    records = r53.list_resource_record_sets(HostedZoneId=deployed["hosted_zone_id"])
    failover = {
        r["Failover"]: r
        for r in records["ResourceRecordSets"]
        if r["Name"].rstrip(".") == "api.orders.example.test"
    }
    assert set(failover) == {"PRIMARY", "SECONDARY"}
    assert failover["PRIMARY"]["HealthCheckId"] == deployed["health_checks"]["primary"]
    assert failover["PRIMARY"]["ResourceRecords"][0]["Value"].startswith("orders-primary.")
    check = r53.get_health_check(HealthCheckId=deployed["health_checks"]["primary"])
    assert check["HealthCheck"]["HealthCheckConfig"]["ResourcePath"].endswith("/prod/health")
    assert deployed["apis"]["secondary"]["url"].endswith("/_aws/execute-api/orders-secondary/prod")
    cloudwatch = aws.client("cloudwatch", config)
    (alarm,) = cloudwatch.describe_alarms(AlarmNames=["orders-worker-errors"])["MetricAlarms"]
    assert alarm["MetricName"] == "Errors"


def test_deploy_creates_every_resource_of_the_app(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    # One deployment, checked resource by resource (a deploy costs seconds).
    _check_creates_the_functions_with_their_handlers(deployed, config)
    _check_wires_the_queue_with_a_dlq_and_partial_batch_responses(deployed, config)
    _check_wires_the_stream_with_bisect_retries_and_a_destination(deployed, config)
    _check_gives_async_functions_an_on_failure_destination(deployed, config)
    _check_creates_the_live_alias_on_a_stable_version_and_a_candidate(deployed, config)
    _check_creates_the_workflow_with_retry_and_catch(deployed, config)
    _check_creates_the_failover_record_and_the_alarm(deployed, config)


def test_deploy_twice_changes_nothing(deployed: dict[str, Any], config: dict[str, str]) -> None:
    lam = aws.client("lambda", config)
    before = {
        name: _revision(lam.get_function_configuration(FunctionName=name)) for name in FUNCTIONS
    }
    again = deploy(config)
    after = {
        name: _revision(lam.get_function_configuration(FunctionName=name)) for name in FUNCTIONS
    }
    assert again == deployed
    assert after == before
    versions = lam.list_versions_by_function(FunctionName="orders-worker")["Versions"]
    assert len(versions) == 3  # $LATEST, stable, candidate
    r53 = aws.client("route53", config)
    assert len(r53.list_health_checks()["HealthChecks"]) == 2


def test_deploy_keeps_chaoskit_env_vars_set_by_a_running_experiment(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    lam = aws.client("lambda", config)
    env = lam.get_function_configuration(FunctionName="orders-worker")["Environment"]["Variables"]
    env["CHAOSKIT_CONFIG_PARAMETER"] = "/chaoskit/faults/orders-worker"
    lam.update_function_configuration(FunctionName="orders-worker", Environment={"Variables": env})

    deploy(config)

    after = lam.get_function_configuration(FunctionName="orders-worker")["Environment"]
    assert after["Variables"]["CHAOSKIT_CONFIG_PARAMETER"] == "/chaoskit/faults/orders-worker"


def test_broken_variant_swaps_handlers_and_publishes_a_new_candidate(
    deployed: dict[str, Any], config: dict[str, str]
) -> None:
    broken = deploy(config, variant="broken")
    lam = aws.client("lambda", config)
    assert (
        lam.get_function_configuration(FunctionName="orders-worker")["Handler"]
        == "orders.broken.worker_handler"
    )
    assert broken["worker_alias"]["candidate"] == "3"
    assert broken["worker_alias"]["stable"] == "1"
    candidate = lam.get_function_configuration(FunctionName="orders-worker", Qualifier="3")
    assert candidate["Handler"] == "orders.broken.worker_handler"
