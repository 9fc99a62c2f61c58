"""The reference app from its template on the sandbox: every resource wired, both variants.

Deployed by ``experiments/app/deploy.py`` (the template through
``chaoskit.deploy.deploy_template``, the payments stub, the canary candidate).
"""

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import reference_app

from tests.support.sandbox import delete_stack

APP = reference_app.load()
FUNCTIONS = ("orders-ingest", "orders-worker", "orders-notifier", "orders-stream", "orders-step")


@pytest.fixture(scope="module")
def config(sandbox: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The sandbox configuration, with a payments URL: no stub process is needed here."""
    mp = pytest.MonkeyPatch()
    mp.setenv("CHAOSKIT_HOME", str(tmp_path_factory.mktemp("home")))
    yield {**sandbox, "orders_payments_url": "http://localhost:9/charge"}
    mp.undo()


@pytest.fixture(scope="module")
def deployed(config: dict[str, Any]) -> dict[str, Any]:
    """The app deployed afresh: these tests read a first deploy's versions and mappings.

    Other test files deploy the app to the same sandbox, before or after this one.
    """
    delete_stack(config, "orders")
    return APP.deploy(config)


def _check_functions_and_handlers(aws: Callable[[str], Any], deployed: dict[str, Any]) -> None:
    lam = aws("lambda")
    handlers = {n: lam.get_function_configuration(FunctionName=n)["Handler"] for n in FUNCTIONS}
    assert handlers == {
        "orders-ingest": "orders.ingest.handler",
        "orders-worker": "orders.worker.handler",
        "orders-notifier": "notifier.handler",
        "orders-stream": "orders.stream.handler",
        "orders-step": "orders.step.handler",
    }
    runtime = lam.get_function_configuration(FunctionName="orders-notifier")["Runtime"]
    assert runtime == "nodejs20.x"  # the app's Node.js function
    env = lam.get_function_configuration(FunctionName="orders-worker")["Environment"]
    assert env["Variables"]["PAYMENTS_URL"] == "http://localhost:9/charge"
    assert env["Variables"]["ORDERS_TABLE"] == "orders-table"
    assert deployed["resources"]["Worker"] == "orders-worker"


def _check_queue_and_stream(aws: Callable[[str], Any], deployed: dict[str, Any]) -> None:
    attrs = aws("sqs").get_queue_attributes(
        QueueUrl=deployed["outputs"]["QueueUrl"], AttributeNames=["All"]
    )["Attributes"]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert redrive["deadLetterTargetArn"].endswith(":orders-dlq")
    assert int(redrive["maxReceiveCount"]) == 3
    assert int(attrs["VisibilityTimeout"]) >= 6 * 5  # >= 6x the worker's timeout
    lam = aws("lambda")
    mappings = lam.list_event_source_mappings(FunctionName="orders-worker")["EventSourceMappings"]
    assert len(mappings) == 1, [
        {k: m.get(k) for k in ("UUID", "EventSourceArn", "FunctionArn", "State", "LastModified")}
        for m in mappings
    ]
    (sqs,) = mappings
    assert sqs["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert sqs["BatchSize"] == 5
    (stream,) = lam.list_event_source_mappings(FunctionName="orders-stream")["EventSourceMappings"]
    assert stream["BisectBatchOnFunctionError"] is True
    assert stream["MaximumRetryAttempts"] == 2
    destination = stream["DestinationConfig"]["OnFailure"]["Destination"]
    assert destination.endswith(":orders-stream-failures")


def _check_async_destinations(aws: Callable[[str], Any]) -> None:
    lam = aws("lambda")
    notifier = lam.get_function_event_invoke_config(FunctionName="orders-notifier")
    live = lam.get_function_event_invoke_config(FunctionName="orders-worker", Qualifier="live")
    assert notifier["MaximumRetryAttempts"] == live["MaximumRetryAttempts"] == 1
    failure = notifier["DestinationConfig"]["OnFailure"]["Destination"]
    assert failure.endswith(":orders-notifier-failures")
    assert live["DestinationConfig"]["OnFailure"]["Destination"].endswith(":orders-dlq")


def _check_alias_stable_and_candidate(aws: Callable[[str], Any], deployed: dict[str, Any]) -> None:
    lam = aws("lambda")
    alias = lam.get_alias(FunctionName="orders-worker", Name="live")
    assert alias["FunctionVersion"] == deployed["outputs"]["StableVersion"] == "1"
    assert deployed["canary_version"] == "2"
    # Only the candidate carries chaoskit's layer: a canary's faults hit the new version alone.
    candidate = lam.get_function_configuration(FunctionName="orders-worker", Qualifier="2")
    assert [layer["Arn"].split(":")[6] for layer in candidate["Layers"]] == ["chaoskit"]
    wrapper = candidate["Environment"]["Variables"]["AWS_LAMBDA_EXEC_WRAPPER"]
    assert wrapper == "/opt/chaoskit-wrapper"
    latest = lam.get_function_configuration(FunctionName="orders-worker")
    stable = lam.get_function_configuration(FunctionName="orders-worker", Qualifier="1")
    for plain in (latest, stable):
        assert not plain.get("Layers")
        assert "AWS_LAMBDA_EXEC_WRAPPER" not in plain["Environment"]["Variables"]


def _check_workflow(aws: Callable[[str], Any], deployed: dict[str, Any]) -> None:
    machine = deployed["outputs"]["StateMachine"]
    definition = json.loads(
        aws("stepfunctions").describe_state_machine(stateMachineArn=machine)["definition"]
    )
    task = definition["States"]["Fulfil"]
    assert task["Resource"].endswith(":function:orders-step")
    assert task["Retry"][0]["MaxAttempts"] == 2
    assert task["Catch"][0]["Next"] == "Fallback"
    fallback = definition["States"]["Fallback"]["Parameters"]["QueueUrl"]
    assert fallback.endswith("/orders-workflow-fallback")
    (target,) = aws("events").list_targets_by_rule(Rule="orders-placed")["Targets"]
    assert target["Arn"] == machine


def _check_failover_and_alarm(aws: Callable[[str], Any], deployed: dict[str, Any]) -> None:
    outputs = deployed["outputs"]
    r53 = aws("route53")
    records = r53.list_resource_record_sets(HostedZoneId=outputs["HostedZoneId"])
    failover = {
        r["Failover"]: r
        for r in records["ResourceRecordSets"]
        if r["Name"].rstrip(".") == "api.orders.example.test"
    }
    assert set(failover) == {"PRIMARY", "SECONDARY"}
    assert failover["PRIMARY"]["HealthCheckId"] == outputs["PrimaryHealthCheck"]
    assert failover["PRIMARY"]["ResourceRecords"][0]["Value"].startswith("orders-primary.")
    check = r53.get_health_check(HealthCheckId=outputs["PrimaryHealthCheck"])["HealthCheck"]
    assert check["HealthCheckConfig"]["ResourcePath"] == (
        "/_aws/execute-api/orders-primary/prod/health"
    )
    assert outputs["SecondaryUrl"].endswith("/_aws/execute-api/orders-secondary/prod")
    (alarm,) = aws("cloudwatch").describe_alarms(AlarmNames=["orders-worker-errors"])[
        "MetricAlarms"
    ]
    assert alarm["MetricName"] == "Errors" and alarm["Period"] == 10


def test_every_resource_of_the_app_is_created_and_wired(
    aws: Callable[[str], Any], deployed: dict[str, Any]
) -> None:
    assert deployed["stack_name"] == "orders" and deployed["not_emulated"] == []
    _check_functions_and_handlers(aws, deployed)
    _check_queue_and_stream(aws, deployed)
    _check_async_destinations(aws)
    _check_alias_stable_and_candidate(aws, deployed)
    _check_workflow(aws, deployed)
    _check_failover_and_alarm(aws, deployed)
    assert APP.experiment_vars(deployed) == {
        "primary_health_check": deployed["outputs"]["PrimaryHealthCheck"],
        "secondary_url": deployed["outputs"]["SecondaryUrl"],
        "canary_version": "2",
    }


def _revision(config: dict[str, Any]) -> tuple[Any, ...]:
    return (config["LastModified"], config["CodeSha256"], json.dumps(config.get("Environment")))


def test_deploying_again_changes_nothing(
    aws: Callable[[str], Any], deployed: dict[str, Any], config: dict[str, Any]
) -> None:
    lam = aws("lambda")
    before = {n: _revision(lam.get_function_configuration(FunctionName=n)) for n in FUNCTIONS}
    again = APP.deploy(config)
    after = {n: _revision(lam.get_function_configuration(FunctionName=n)) for n in FUNCTIONS}
    assert again["changed"] is False
    assert again["resources"] == deployed["resources"]
    assert after == before
    versions = lam.list_versions_by_function(FunctionName="orders-worker")["Versions"]
    assert len(versions) == 3  # $LATEST, stable, candidate


def test_the_broken_variant_swaps_handlers_and_publishes_a_new_candidate(
    aws: Callable[[str], Any], deployed: dict[str, Any], config: dict[str, Any]
) -> None:
    lam = aws("lambda")
    try:
        broken = APP.deploy(config, variant="broken")
        worker = lam.get_function_configuration(FunctionName="orders-worker")
        assert worker["Handler"] == "orders.broken.worker_handler"
        assert broken["canary_version"] == "3"
        assert broken["outputs"]["StableVersion"] == "1"
        candidate = lam.get_function_configuration(FunctionName="orders-worker", Qualifier="3")
        assert candidate["Handler"] == "orders.broken.worker_handler"
    finally:
        good = APP.deploy(config)  # leave the sandbox with the good app
    assert lam.get_function_configuration(FunctionName="orders-worker")["Handler"] == (
        "orders.worker.handler"
    )
    assert good["canary_version"] == "4"


def test_the_plain_cli_deploys_the_same_stack(
    deployed: dict[str, Any], sandbox: dict[str, Any], tmp_path: Path
) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "chaoskit.cli.main",
            "deploy",
            "--template",
            str(reference_app.APP / "template.yaml"),
            "--stack-name",
            "orders",
            "--endpoint-url",
            str(sandbox["chaoskit_endpoint_url"]),
            "--parameter",
            "PaymentsUrl=http://localhost:9/charge",
            "--parameter",
            f"LocalPort={sandbox['chaoskit_sandbox_port']}",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = json.loads(done.stdout)
    assert printed["changed"] is False
    assert printed["outputs"]["PrimaryHealthCheck"] == deployed["outputs"]["PrimaryHealthCheck"]
