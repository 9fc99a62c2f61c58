"""A public Node.js app nobody here wrote, deployed from its own template, under the layer.

``tests/apps/sqs-nodejs`` is AWS's SQS -> Lambda (Node.js) pattern: a queue with a
DLQ after 3 receives, a function that fails, through a partial batch response, each
message whose body contains "error". It is deployed unmodified (but its Runtime line)
with ``chaoskit deploy --template``; the layer is enabled on the function named by its
logical ID; the ledger's verdicts are checked against the app's own queues and log.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chaoskit.deploy import deploy_template
from chaoskit.faults import inject, layer
from chaoskit.ledger import store
from chaoskit.ledger.stages import queue_name
from chaoskit.ledger.trace import stamp
from chaoskit.report.model import view_journal
from tests.support.app_state import ids_in, logged_ids, queue_bodies, sent_ids
from tests.support.sandbox import unique, wait_for

APP = Path(__file__).resolve().parents[1] / "apps" / "sqs-nodejs" / "template.yaml"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


@pytest.fixture(scope="module")
def app(sandbox: dict[str, Any]) -> dict[str, Any]:
    """The app deployed as a stack of its own, and a configuration naming that stack."""
    stack = unique("sqs-nodejs")
    deployed = deploy_template(APP, stack_name=stack, configuration=sandbox)
    configuration = {**sandbox, "chaoskit_stack": stack, "chaoskit_ledger_table": unique("ledger")}
    store.ensure_table(configuration)
    return {"deployed": deployed, "configuration": configuration}


def _kinds(configuration: dict[str, Any], run_id: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for record in store.read_run(run_id, configuration):
        out.setdefault(record.event_id, []).append(record.kind)
    return {event: sorted(kinds) for event, kinds in out.items()}


def test_the_ledger_agrees_with_the_apps_own_queues(aws: Any, app: dict[str, Any]) -> None:
    configuration = app["configuration"]
    outputs = app["deployed"]["outputs"]
    function = outputs["ProcessorFunctionName"]
    enabled = layer.enable_chaoskit_layer(function, configuration=configuration)
    assert enabled["function_name"] == function
    run_id = unique("run")
    sqs = aws("sqs")
    bodies = {"e0": "order 1", "e1": "order 2", "e2": "an error order", "e3": "order 4"}
    for event_id, text in bodies.items():
        body = json.dumps(stamp({"text": text}, run_id, event_id))
        sqs.send_message(QueueUrl=outputs["ProcessingQueueURL"], MessageBody=body)
    expected = {"e0": ["attempt", "processed"], "e1": ["attempt", "processed"],
                "e3": ["attempt", "processed"]}  # fmt: skip

    seen: dict[str, list[str]] = {}

    def settled() -> bool:
        seen.clear()
        seen.update(_kinds(configuration, run_id))
        # The failing message may be received again (its visibility timeout is 30 s) before
        # a loaded machine gets here: each receive is one more attempt and one more failure.
        failing = seen.get("e2", [])
        others = {k: v for k, v in seen.items() if k != "e2"}
        return (
            others == expected
            and set(failing) == {"attempt", "failed"}
            and (failing.count("attempt") == failing.count("failed"))
        )

    try:  # the function's first (cold) start is slow on a loaded machine
        wait_for(settled, timeout=120, what="the ledger records of 4 messages")
    except AssertionError as err:
        raise AssertionError(f"{err}; the ledger had {seen}") from None

    # Ground truth from the app's own queues: the failed message is still in the queue (in
    # flight or waiting out its visibility timeout), or, after its 3 receives, in the DLQ.
    def held(url: str) -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        return int(attrs["ApproximateNumberOfMessages"]) + int(
            attrs["ApproximateNumberOfMessagesNotVisible"]
        )

    dlq = sqs.get_queue_url(QueueName=outputs["ProcessingDLQARN"].rsplit(":", 1)[-1])["QueueUrl"]
    assert held(outputs["ProcessingQueueURL"]) + held(dlq) == 1


def test_an_injected_error_on_the_nodejs_function_fails_every_message(
    aws: Any, app: dict[str, Any]
) -> None:
    configuration = app["configuration"]
    name = app["deployed"]["resources"]["ProcessorFunction"]  # its logical ID, mapped
    layer.enable_chaoskit_layer(name, configuration=configuration)
    inject.inject_exception(name, exception_type="Injected", configuration=configuration)
    assert layer.wait_for_fault_live(name, timeout=30, ping=True, configuration=configuration)
    run_id = unique("run")
    url = app["deployed"]["outputs"]["ProcessingQueueURL"]
    for i in range(3):
        aws("sqs").send_message(QueueUrl=url, MessageBody=json.dumps(stamp({}, run_id, f"x{i}")))
    # Every message fails (a cold start slowed past the function's 3 s timeout under load
    # leaves an attempt with no outcome; SQS delivers it again 30 s later).
    wait_for(
        lambda: (
            set(_kinds(configuration, run_id)) == {f"x{i}" for i in range(3)}
            and all("failed" in kinds for kinds in _kinds(configuration, run_id).values())
        ),
        timeout=90,
        what="a failed attempt of each of the 3 messages",
    )
    records = store.read_run(run_id, configuration)
    failed = [r for r in records if r.kind == "failed"]
    assert {r.detail["error"] for r in failed if r.detail} == {"Injected"}
    assert not [r for r in records if r.kind == "processed"]
    inject.clear_faults(name, configuration=configuration)


def test_the_suite_chaoskit_init_writes_for_it_runs_and_agrees_with_the_app(
    aws: Any, sandbox: dict[str, Any], tmp_path: Path
) -> None:
    stack = unique("sqs-nodejs-suite")  # a deployment of its own: nothing else touched it
    deployed = deploy_template(APP, stack_name=stack, configuration=sandbox)
    env = {**os.environ, "CHAOSKIT_SANDBOX_PORT": str(sandbox["chaoskit_sandbox_port"]),
           "CHAOSKIT_TARGET": "sandbox", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    suite = tmp_path / "suite"
    command = [sys.executable, "-m", "chaoskit.cli.main"]
    init = subprocess.run(
        [*command, "init", "--stack", stack, "--output", str(suite)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    assert "ProcessorFunction (nodejs22.x)" in init.stdout
    names = sorted(p.name for p in suite.glob("*.yaml"))
    assert names == ["errors-processorfunction-sqs.yaml", "gameday.yaml",
                     "kill-switch-processorfunction.yaml"]  # fmt: skip
    run = subprocess.run(
        [*command, "gameday", "run", "gameday.yaml"],
        cwd=suite, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    junit = next(suite.glob("gameday-runs/*/junit.xml")).read_text()
    assert 'failures="0"' in junit and 'errors="0"' in junit
    # Ground truth from the app's own queues: nothing left behind, nothing dead-lettered
    # (no generated event carries the word the app treats as poison).
    sqs = aws("sqs")
    for logical in ("ProcessingQueue", "ProcessingDLQ"):
        attrs = sqs.get_queue_attributes(
            QueueUrl=deployed["resources"][logical], AttributeNames=["All"]
        )["Attributes"]
        assert attrs["ApproximateNumberOfMessages"] == "0", logical
        assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0", logical
    # Every run's counts equal the truth from the app's own log and DLQ: the events its
    # handler logged as processed, per stage and per queue too.
    function = deployed["resources"]["ProcessorFunction"]
    journals = sorted(suite.glob("gameday-runs/*/journals/*.json"))
    assert len(journals) == 2, journals
    for path in journals:
        journal = json.loads(path.read_text())
        view = view_journal(journal)
        counts = view.counts
        assert counts is not None and view.run_id, path
        sent = sent_ids(journal, sandbox)
        processed = logged_ids(aws, function, "Processed message:", view.run_id) & sent
        dead = ids_in(queue_bodies(aws, deployed["resources"]["ProcessingDLQ"]), view.run_id)
        assert (counts.sent, counts.processed) == (len(sent), len(processed)), path
        assert set(counts.lost_ids) == sent - processed - dead, path
        assert counts.dead_lettered == len(dead & sent), path
        assert set(view.stages) == {function}, view.stages
        assert view.stages[function]["processed"] == len(processed), view.stages
        queue = queue_name(deployed["resources"]["ProcessingQueue"])
        assert view.queues[queue]["processed"] == len(processed), view.queues
    summary = next(suite.glob("gameday-runs/*/summary.md")).read_text()
    # The kill switch sends 10 events, the errors experiment 40.
    assert "50 sent, 50 processed, 0 dead-lettered, **0 lost**" in summary
    # The errors experiment's fault really fired, in the Node.js function: the layer's
    # fault records reached the reconciler.
    journal = next(suite.glob("gameday-runs/*/journals/02-*.json")).read_text()
    fired = [int(n) for n in re.findall(r'"kind": "exception",\s*"fired": (\d+)', journal)]
    assert fired and min(fired) > 0, journal[-2000:]
