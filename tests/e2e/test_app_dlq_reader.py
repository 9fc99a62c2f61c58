"""A public app whose dead-letter queue is read through a filter, on the sandbox.

``tests/apps/apigw-sqs-lambda-sqs``: ``ProcessInputQueue`` reads ``InputQueue``
(redrive to ``InputQueueDLQ`` after one receive) and forwards each body to
``OutputQueue``; ``WriteTestResult`` reads ``OutputQueue`` and ``InputQueueDLQ`` through
the filter ``{"body": {"data": {"type": ["TEST"]}}}`` and writes each message's
``data.id`` to a table, with the queue it came from. Lambda deletes what that filter
drops, unseen, and chaoskit never reads a queue that has a consumer: the suite
``chaoskit init`` wrote used to send events the filter drops, and the kill switch
counted every dead-lettered event lost ("never delivered").

Here the template is deployed unmodified (but its Runtime lines), the planner writes
the suite, and ``ProcessInputQueue``'s kill switch and errors experiments run as a game
day, with the payload edited the way their description tells a user to (``id`` and
``message`` added, ``type`` kept). Where each event went is read from the app's own
table, never from the ledger: an id written from ``OutputQueue`` was processed by
``ProcessInputQueue``, one written from ``InputQueueDLQ`` was dead-lettered. The verdict
must say the same, event by event, and lose none.
"""

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit.deploy import deploy_template
from chaoskit.ledger.stages import queue_name
from chaoskit.suite import generate_suite, write_suite
from tests.support.app_state import sent_ids
from tests.support.sandbox import delete_stack, run_generated_gameday, unique

APP = Path(__file__).resolve().parents[1] / "apps" / "apigw-sqs-lambda-sqs" / "template.yaml"
RUN = ("kill-switch-processinputqueue", "errors-processinputqueue-sqs")

pytestmark = pytest.mark.sandbox


def _edit_payload(path: Path) -> None:
    """Give each event the fields the app's writer reads, keeping what its filter needs."""
    experiment = yaml.safe_load(path.read_text())
    for step in experiment["method"]:
        if step["provider"].get("func") == "send_events":
            payload = step["provider"]["arguments"]["payload"]
            assert payload == {"data": {"type": "TEST"}}, payload  # what the filter needs
            payload["data"].update(id="{{event_id}}", message="chaos")
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))


def _written(aws: Any, table: str, ids: set[str], timeout: float = 90) -> dict[str, str]:
    """Return event id -> the queue the app's writer read it from, once every id is there."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, str] = {}
        for page in aws("dynamodb").get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                if item["id"]["S"] in ids:
                    found[item["id"]["S"]] = item["Queue_Name"]["S"]
        if set(found) == ids or time.monotonic() > deadline:
            return found
        time.sleep(2)


def test_events_dead_lettered_to_a_filtered_reader_are_counted_where_the_app_put_them(
    sandbox: dict[str, Any], aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    stack = unique("dlq-reader")
    try:
        resources = deploy_template(APP, stack_name=stack, configuration=sandbox)["resources"]
        suite = generate_suite(template=APP, stack_name=stack)
        write_suite(suite, tmp_path / "suite")
        for slug in RUN:
            _edit_payload(tmp_path / "suite" / f"{slug}.yaml")
        result = run_generated_gameday(sandbox, tmp_path / "suite", tmp_path / "runs", RUN)
        assert len(result.results) == len(RUN)
        output = queue_name(resources["OutputQueue"])
        dlq = queue_name(resources["InputQueueDLQ"])
        for run in result.results:
            view = run.view
            sent = sent_ids(run.journal, sandbox)
            assert len(sent) == view.counts.sent > 0, run.summary()
            where = _written(aws, resources["TestResultsTable"], sent)
            assert set(where) == sent, (run.summary(), sorted(sent - set(where)))
            processed = {e for e, q in where.items() if q == output}
            dead = {e for e, q in where.items() if q == dlq}
            assert processed | dead == sent, where
            # The verdict, event by event, is the app's own record of it.
            assert view.counts.lost == 0, run.summary()
            assert (view.counts.processed, view.counts.dead_lettered) == (
                len(processed),
                len(dead),
            ), run.summary()
            assert view.outcome == "passed", run.summary()
        kill, _ = result.results
        # Reserved concurrency 0 returns each received message to the queue; at the next
        # receive it exceeds maxReceiveCount 1 and is dead-lettered, as on AWS.
        assert kill.view.counts.dead_lettered > 0, kill.summary()
    finally:
        delete_stack(sandbox, stack)
