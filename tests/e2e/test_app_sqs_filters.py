"""A public app whose functions read their queues through FilterCriteria, on the sandbox.

``tests/apps/sqs-filters`` is AWS's event filtering pattern for SQS: six queues, each
read by a function through a mapping with its own filter (none, ``prefix``,
``anything-but``, ``cidr``, a numeric range with ``exists``, three patterns ORed).
Lambda deletes a message its filter drops, so events the filter does not let through
are gone: a suite sending them would count every one lost. Here the template is
deployed unmodified (but its Runtime line), ``chaoskit init``'s planner writes the
suite, and each generated load, exactly as its experiment sends it, goes through
LocalStack's own filter: every event is processed, none lost. The same load without
what the filter needs is shown deleted, so the filter is seen to drop.
"""

from pathlib import Path
from typing import Any

import pytest

from chaoskit.deploy import deploy_template
from chaoskit.faults.layer import enable_chaoskit_layer
from chaoskit.faults.load import send_events
from chaoskit.ledger import store
from chaoskit.suite import generate_suite
from probes.ledger import wait_until_settled
from tests.support.sandbox import unique

APP = Path(__file__).resolve().parents[1] / "apps" / "sqs-filters" / "template.yaml"

pytestmark = pytest.mark.sandbox

#: The functions whose generated load is sent through their filters here (the others use
#: the same builder: test_suite_filters checks every one against moto's matcher).
CHECKED = ("EsmSqsFilterFunctionIP", "EsmSqsFilterFunctionAnd", "EsmSqsFilterFunctionOr")


def _load(suite: Any, function: str) -> dict[str, Any]:
    """Return the send_events arguments of ``function``'s generated errors experiment."""
    planned = next(p for p in suite.experiments if p.slug == f"errors-{function.lower()}-sqs")
    send = next(s for s in planned.experiment["method"] if s["name"].startswith("send"))
    return dict(send["provider"]["arguments"])


def test_each_generated_load_passes_its_functions_filter_and_none_is_lost(
    sandbox: dict[str, Any], aws: Any
) -> None:
    stack = unique("sqs-filters")
    deployed = deploy_template(APP, stack_name=stack, configuration=sandbox)
    resources = deployed["resources"]
    suite = generate_suite(template=APP, stack_name=stack)
    # Planned from the deployed stack, whose live filters are read back: the same loads.
    from_stack = generate_suite(template=APP, stack=stack, configuration=sandbox)
    assert [p.experiment for p in from_stack.experiments] == [
        p.experiment for p in suite.experiments
    ]
    configuration = {**sandbox, "chaoskit_ledger_table": unique("ledger")}
    store.ensure_table(configuration)
    for function in CHECKED:
        enable_chaoskit_layer(resources[function], configuration=configuration)
    for function in CHECKED:
        load = _load(suite, function)
        queue = resources[load.pop("target").removeprefix("stack:")]
        assert load.pop("target_type") == "sqs" and load["payload"], load
        load.pop("count")  # "${events}", and the experiment's pace: six events here, at once
        load.pop("rate_per_second", None)
        run = {**configuration, "chaoskit_run_id": unique("run"),
               "chaoskit_terminal_stages": [resources[function]]}  # fmt: skip
        sent = send_events("sqs", queue, count=6, configuration=run, **load)
        assert sent["sent"] == 6 and "filtered_out" not in sent, sent
        settled = wait_until_settled(timeout=120, queues=[queue], quiet_seconds=5,
                                     configuration=run)  # fmt: skip
        assert settled["settled"], settled
        assert (settled["processed"], settled["lost"]) == (6, 0), (function, settled)

    # The same load without what the filter needs: LocalStack's filter deletes it.
    queue = resources["EsmSqsFilterQueuePrefix"]
    enable_chaoskit_layer(resources["EsmSqsFilterFunctionPrefix"], configuration=configuration)
    run = {**configuration, "chaoskit_run_id": unique("run"),
           "chaoskit_terminal_stages": [resources["EsmSqsFilterFunctionPrefix"]]}  # fmt: skip
    sent = send_events("sqs", queue, count=3, payload={"region": "eu-west-1"}, configuration=run)
    # Named before it is sent (the run is then inconclusive, not deviated).
    assert [(d["function"], d["patterns"]) for d in sent["filtered_out"]] == [
        (resources["EsmSqsFilterFunctionPrefix"], ['{"body":{"region":[{"prefix":"us-"}]}}'])
    ]
    settled = wait_until_settled(timeout=120, queues=[queue], quiet_seconds=5, configuration=run)
    assert (settled["processed"], settled["lost"]) == (0, 3), settled
