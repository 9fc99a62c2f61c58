"""A public Step Functions app nobody here wrote: its planned experiment finds its losses.

``tests/apps/sfn-lambda-lambda`` is AWS's pattern of a standard workflow calling two
Node.js functions in turn. Each task's ``Retry`` names only Lambda's own errors
(``Lambda.ServiceException``...), and no state has a ``Catch``: an execution whose
first function throws fails, and its event is kept nowhere but in the execution's
history. The template is deployed unmodified (``nodejs24.x`` runs on the machine's
Node.js, with one warning in the sandbox's log). ``chaoskit init``'s planner reads the
live definition, starts the state machine directly (nothing in the stack does), and
says the second function gets the first one's result, not the event. Its errors
experiment is run as ``chaoskit run`` runs it: it deviates, and the events it counts
lost are exactly those whose executions failed.
"""

import shutil
from pathlib import Path
from typing import Any

import pytest

from chaoskit.deploy import deploy_template
from chaoskit.ledger import store
from chaoskit.runner import run_experiment_file
from chaoskit.suite import generate_suite, write_suite
from tests.support.sandbox import unique, wait_for

APP = Path(__file__).resolve().parents[1] / "apps" / "sfn-lambda-lambda" / "template.yaml"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


def test_a_task_without_catch_loses_the_events_its_function_fails(
    sandbox: dict[str, Any], aws: Any, tmp_path: Path
) -> None:
    stack = unique("sfn-lambda")
    deployed = deploy_template(APP, stack_name=stack, configuration=sandbox)
    suite = generate_suite(template=APP, stack=stack, configuration=sandbox)
    assert [p.slug for p in suite.experiments] == ["errors-firstfunction-stepfunctions"]
    assert suite.uncovered == [
        "SecondFunction: a task of state machine StateMachineStandardInvokeLambda that traced "
        "events do not reach: Task state First_Function on the way: its result replaces the input"
    ]
    write_suite(suite, tmp_path / "suite")
    configuration = {**sandbox, "chaoskit_ledger_table": unique("ledger")}
    store.ensure_table(configuration)
    variables = {
        key: value
        for key, value in configuration.items()
        if key.startswith("chaoskit_") or key.startswith("aws_")
    }

    result = run_experiment_file(
        tmp_path / "suite" / "errors-firstfunction-stepfunctions.yaml",
        target="sandbox",
        variables={**variables, "events": 12, "settle_timeout": 120},
    )

    assert result.deviated
    counts = result.view.counts
    assert counts is not None and (counts.sent, counts.dead_lettered) == (12, 0)
    # The app's own record: each execution is named after its event. The second function
    # runs after the first, the last stage traced: wait until every execution has ended.
    sfn = aws("stepfunctions")
    machine = deployed["resources"]["StateMachineStandardInvokeLambda"]

    def ended() -> list[dict[str, Any]]:
        executions = sfn.list_executions(stateMachineArn=machine)["executions"]
        return [] if any(e["status"] == "RUNNING" for e in executions) else executions

    executions = wait_for(ended, timeout=60, what="every execution to end")
    by_status: dict[str, set[str]] = {}
    for execution in executions:
        event = execution["name"].removeprefix("chaoskit-")
        by_status.setdefault(execution["status"], set()).add(event)
    assert set(by_status) <= {"SUCCEEDED", "FAILED"}
    assert by_status.get("FAILED"), "the fault fired on no event: nothing was tested"
    assert set(counts.lost_ids) == by_status["FAILED"]
    assert counts.processed == len(by_status.get("SUCCEEDED", ()))
