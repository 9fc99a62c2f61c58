"""A public app that validates its messages and parks what it cannot use, on the sandbox.

``tests/apps/serverless-message-processing``: ``ProcessMessages`` reads ``MainQueue``
(redrive to ``AutomatedDLQ`` after 3 receives) and raises on a message it rejects;
``DecisionMaker`` reads ``AutomatedDLQ`` and sends each message back to ``MainQueue``
or, when it cannot repair it, to ``FatalDLQ``, which nothing reads. With the events
``chaoskit init`` generates (no payload the app knows), every one ends in ``FatalDLQ``.
Every experiment of its suite used to pass with 0 of 110 events processed: the DLQ's
reader, traced, "processed" the rejected events, and the events sent straight to
``AutomatedDLQ`` counted as dead-lettered on arrival.

Here the template is deployed unmodified and the generated kill switches run as a game
day. Where each event went is read from the app itself, never from the ledger: the
messages in ``FatalDLQ``, and the ids ``ProcessMessages`` logged as validated. The
verdict must be inconclusive, naming what the app did, while the app rejects every
event; with the payload edited the way the verdict says, it must pass, with every
event processed.
"""

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit.deploy import deploy_template
from chaoskit.ledger.stages import queue_name
from chaoskit.suite import generate_suite, write_suite
from tests.support.app_state import ids_in, queue_bodies, sent_ids
from tests.support.sandbox import delete_stack, run_generated_gameday, unique

APP = Path(__file__).resolve().parents[1] / "apps" / "serverless-message-processing"
KILL_PROCESSOR, KILL_DECIDER = "kill-switch-processmessages", "kill-switch-decisionmaker"
#: A message ProcessMessages accepts; ``messageId`` is what it logs once validated.
VALID = {
    "messageType": "TYPE_A",
    "payload": {"email": "someone@example.com"},
    "timestamp": "2026-01-01T00:00:00Z",
    "messageId": "{{event_id}}",
}

pytestmark = pytest.mark.sandbox


def _set_payload(path: Path, payload: dict[str, Any]) -> None:
    experiment = yaml.safe_load(path.read_text())
    for step in experiment["method"]:
        if step["provider"].get("func") == "send_events":
            step["provider"]["arguments"]["payload"] = payload
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))


def _validated(aws: Any, function: str, ids: set[str], timeout: float = 60) -> set[str]:
    """The ids among ``ids`` that ProcessMessages logged as validated."""
    deadline = time.monotonic() + timeout
    while True:
        found: set[str] = set()
        pages = aws("logs").get_paginator("filter_log_events")
        for page in pages.paginate(logGroupName=f"/aws/lambda/{function}"):
            for event in page["events"]:
                _, marker, rest = event["message"].partition("Successfully validated message: ")
                if marker and rest.strip() in ids:
                    found.add(rest.strip())
        if found == ids or time.monotonic() > deadline:
            return found
        time.sleep(2)


def test_events_the_app_rejects_or_parks_make_the_run_inconclusive_until_it_accepts_them(
    sandbox: dict[str, Any], aws: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    stack = unique("fatal-queue")
    try:
        resources = deploy_template(APP / "template.yaml", stack_name=stack, configuration=sandbox)[
            "resources"
        ]
        suite = tmp_path / "suite"
        write_suite(generate_suite(template=APP / "template.yaml", stack_name=stack), suite)
        fatal = resources["FatalDLQ"]

        # As generated: the app rejects every event, and parks each one in FatalDLQ.
        result = run_generated_gameday(
            sandbox, suite, tmp_path / "runs", (KILL_PROCESSOR, KILL_DECIDER)
        )
        assert [r.view.outcome for r in result.results] == ["inconclusive"] * 2, [
            r.summary() for r in result.results
        ]
        parked = queue_bodies(aws, fatal)
        for run in result.results:
            sent = sent_ids(run.journal, sandbox)
            assert len(sent) == run.view.counts.sent > 0, run.summary()
            # The app's own record: every event is in its fatal queue.
            assert ids_in(parked, str(run.journal["chaoskit"]["run_id"])) == sent
            assert (run.view.counts.processed, run.view.counts.lost) == (0, 0), run.summary()
            assert run.view.counts.dead_lettered == len(sent), run.summary()
        processor, decider = result.results
        (why,) = processor.view.inconclusive
        assert f"at {resources['ProcessMessages']} (ValueError)" in why, why
        (why,) = decider.view.inconclusive
        assert (
            f"at {resources['DecisionMaker']} (handled, then sent to {queue_name(fatal)} "
            "by its code)"
        ) in why, why

        # With a payload the app accepts, the kill switch is tested, and holds.
        _set_payload(suite / f"{KILL_PROCESSOR}.yaml", VALID)
        again = run_generated_gameday(sandbox, suite, tmp_path / "again", (KILL_PROCESSOR,))
        (run,) = again.results
        sent = sent_ids(run.journal, sandbox)
        assert _validated(aws, resources["ProcessMessages"], sent) == sent
        assert run.view.outcome == "passed", run.summary()
        assert (run.view.counts.processed, run.view.counts.lost) == (len(sent), 0), run.summary()
    finally:
        delete_stack(sandbox, stack)
