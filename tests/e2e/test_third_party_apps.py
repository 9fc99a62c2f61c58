"""Apps nobody here wrote: deploy each unmodified template, generate its suite, run it, check it.

For each app under ``tests/apps/`` (public serverless patterns, vendored with
only the ``Runtime`` line changed): ``chaoskit.deploy.deploy_template`` deploys
the template onto a fresh sandbox (then again, which must change nothing),
``chaoskit init``'s planner writes the suite, the generated game day runs, and
every experiment's verdict is checked against what the app's own state shows:
the lines its handler logs for each message it processed, the messages in its
DLQ or on-failure queue (a Kinesis on-failure record names a range of
sequence numbers; this test reads those records back from the stream itself).
Where each event went is computed here from the app's state only, never from
chaoskit's ledger (which ids were sent comes from the load action's own records).
The game day runs with a fresh seed (printed; ``CHAOSKIT_TEST_SEED`` replays one):
every invocation's rate roll is replayed from the seed against the faults the
ledger holds, then the rate experiments run again with the same seed (see
``tests/support/rolls_replay.py``). Timings are printed (run with ``-s``) and
recorded in docs/your-app.md.
"""

import dataclasses
import io
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from chaoskit.deploy import deploy_template
from chaoskit.gameday.history import History
from chaoskit.gameday.run import run_gameday
from chaoskit.gameday.spec import load_gameday
from chaoskit.ledger.discover import log_records, merge_log_records, seen
from chaoskit.ledger.stages import queue_name
from chaoskit.ledger.store import read_run
from chaoskit.report.model import as_epoch
from chaoskit.suite import generate_suite, write_suite
from tests.support.app_state import (
    ids_in,
    kinesis_failed_ids,
    logged_ids,
    queue_bodies,
    sent_ids,
)
from tests.support.rolls_replay import (
    fired_events,
    injected_faults,
    mismatched_rolls,
    replayable,
)
from tests.support.sandbox import delete_stack

APPS = Path(__file__).resolve().parents[1] / "apps"

pytestmark = pytest.mark.sandbox


def _truth(
    app: str, aws: Callable[[str], Any], resources: dict[str, str], run_id: str,
    before: float | None = None,
):  # fmt: skip
    """Return (processed ids, dead-lettered ids) from the app's own state (``before`` a time)."""
    if app == "sqs-dlq":
        fn = resources["ProcessorFunction"]
        processed = logged_ids(aws, fn, "Processed message:", run_id)
        dead = ids_in(queue_bodies(aws, resources["ProcessingDLQ"]), run_id)
        return processed, dead
    if app == "sns-async":
        processed = logged_ids(aws, resources["ProcessorFunction"], "Processed message", run_id)
        return processed, set()  # the app has no DLQ and no destination
    if app == "scheduler-async-dlq":
        # The handler logs every event it is given and never fails on its own (its
        # SIMULATE_FAILURE switch is off); the function's DLQ holds what Lambda gave up on.
        fn = resources["ScheduledFunction"]
        processed = logged_ids(aws, fn, "Scheduled function invoked", run_id)
        dead = ids_in(queue_bodies(aws, resources["LambdaExecutionDLQ"]), run_id)
        return processed, dead
    if app == "kinesis-onfailure":
        # The handler logs every record it reads, then rejects what lacks its fields,
        # so a record counts as processed only if it never reached the failure queue.
        bodies = queue_bodies(aws, resources["AnomalyDataQueue"])
        dead = kinesis_failed_ids(aws, bodies, run_id)
        seen = logged_ids(aws, resources["KinesisDataStreamProcessor"], "content -->", run_id)
        return seen - dead, dead
    if app == "lambda-destinations":
        # Each function logs the event it is given as JSON: the last one's lines are what
        # went all the way (a destination record carries the event as requestPayload).
        processed = logged_ids(aws, resources["OnSuccessLambdaFunction"], "chaoskit", run_id)
        dead = ids_in(queue_bodies(aws, resources["OnFailureSqsQueue"]), run_id)
        return processed, dead
    if app == "dynamodb-stream":
        # The consumer prints each batch's records (their new images); it has no
        # on-failure destination: a batch that keeps failing is retried until it expires.
        fn = resources["ConsumerFunction"]
        return logged_ids(aws, fn, "NewImage", run_id, before), set()
    raise AssertionError(app)


#: Per app: the function that handles its events (logical ID), the queue, topic or
#: stream that delivers them, and the queue Lambda dead-letters them to (if any).
TOPOLOGY = {
    "sqs-dlq": ("ProcessorFunction", "ProcessingQueue", "ProcessingDLQ"),
    "sns-async": ("ProcessorFunction", "ProcessingTopic", None),
    "kinesis-onfailure": ("KinesisDataStreamProcessor", "DataActivityKinesisStream", None),
    # Invoked asynchronously by the experiment itself: no queue delivers its events.
    "scheduler-async-dlq": ("ScheduledFunction", None, "LambdaExecutionDLQ"),
    "dynamodb-stream": ("ConsumerFunction", "DynamoDBTable", None),
    # Two stages: MainLambdaFunction (invoked by the experiment; it dead-letters to its
    # on-failure queue) hands what it processed to OnSuccessLambdaFunction, the last.
    "lambda-destinations": ("OnSuccessLambdaFunction", None, "OnFailureSqsQueue"),
}
#: Apps with more than one stage: the one before the last, which dead-letters.
FIRST_STAGE = {"lambda-destinations": "MainLambdaFunction"}


def _check_stages(
    app: str, view: Any, resources: dict[str, str], processed: set[str], dead: set[str],
    summary: str,
) -> None:  # fmt: skip
    """The per-stage and per-queue counts equal the app's truth (its logs and its DLQ)."""
    function, source, dlq = TOPOLOGY[app]
    stage = resources[function]
    first = resources[FIRST_STAGE.get(app, function)]
    # The app's functions, named as Lambda names them: events end at the last one.
    assert set(view.stages) <= {stage, first}, summary
    assert view.stages.get(stage, {}).get("processed", 0) == len(processed), summary
    if stage in view.stages:
        assert view.stages[stage]["attempts"] >= len(processed), summary
    if first != stage and first in view.stages:
        # Each event the last stage processed was handed on by the first.
        assert view.stages[first]["processed"] >= len(processed), summary
    if source is not None:
        delivered = queue_name(resources[source])
        assert view.queues.get(delivered, {}).get("processed", 0) == len(processed), summary
    if dlq is not None:
        assert view.queues.get(queue_name(resources[dlq]), {}).get("dead_lettered", 0) == len(
            dead
        ), summary
        assert view.stages.get(first, {}).get("dead_lettered", 0) == len(dead), summary


#: Kinds of experiment each app must get (the rest of the plan is unit-tested).
EXPECTED = {
    "sqs-dlq": {"kill switch", "errors"},
    # Its handler creates a kinesis client but never calls it: no throttling to prove.
    "kinesis-onfailure": {"kill switch", "errors", "poison pill"},
    "sns-async": {"errors"},
    "scheduler-async-dlq": {"errors"},
    # Its folder holds both functions' modules; the consumer's own calls no AWS service.
    "dynamodb-stream": {"kill switch", "errors", "poison pill"},
    # One errors experiment per function: Main, invoked as its EventInvokeConfig expects,
    # and its on-success destination, invoked asynchronously on its own.
    "lambda-destinations": {"errors"},
}


@pytest.fixture
def stacks(sandbox: dict[str, Any]) -> Iterator[list[str]]:
    """Names of the stacks a test deploys; each is deleted when the test ends."""
    names: list[str] = []
    yield names
    for name in names:
        delete_stack(sandbox, name)


@pytest.mark.parametrize("app", sorted(EXPECTED))
def test_a_third_party_app_deploys_gets_a_suite_and_every_verdict_matches_its_state(
    app: str,
    sandbox: dict[str, Any],
    aws: Callable[[str], Any],
    stacks: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    template = APPS / app / "template.yaml"
    stacks.append(app)
    started = time.monotonic()
    first = deploy_template(template, stack_name=app, configuration=sandbox)
    deployed_s = time.monotonic() - started
    assert first["status"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE"), first
    started = time.monotonic()
    again = deploy_template(template, stack_name=app, configuration=sandbox)
    unchanged_s = time.monotonic() - started
    assert again["changed"] is False

    started = time.monotonic()
    suite = generate_suite(template=template, stack_name=app)
    write_suite(suite, tmp_path / "suite")
    init_s = time.monotonic() - started
    assert {p.kind for p in suite.experiments} == EXPECTED[app]
    # The deployed stack gives the same plan (its code read from the template's folder).
    from_stack = generate_suite(template=template, stack=app, configuration=sandbox)
    assert [p.slug for p in from_stack.experiments] == [p.slug for p in suite.experiments]
    assert [p.experiment for p in from_stack.experiments] == [
        p.experiment for p in suite.experiments
    ]

    gameday = load_gameday(tmp_path / "suite" / "gameday.yaml")
    # The sandbox runs with FAST timings: asynchronous retries come 1 and 2 s after a
    # failure instead of AWS's minutes, so the generated retry_grace can be shortened.
    # A fresh seed each time the test runs (printed; CHAOSKIT_TEST_SEED replays one), used
    # twice below.
    seed = os.environ.get("CHAOSKIT_TEST_SEED") or str(random.randrange(1, 2**31))
    gameday = dataclasses.replace(
        gameday,
        endpoint_url=sandbox["chaoskit_endpoint_url"],
        vars={**gameday.vars, "retry_grace": 20, "chaoskit_seed": seed},
    )
    started = time.monotonic()
    result = _run(gameday, tmp_path / "runs")
    gameday_s = time.monotonic() - started
    print(
        f"\n{app}: deploy {deployed_s:.1f} s, unchanged {unchanged_s:.1f} s, "
        f"init {init_s:.2f} s, game day {gameday_s:.1f} s ({len(result.results)} experiments), "
        f"seed {seed}"
    )
    assert len(result.results) == len(suite.experiments)
    resources = first["resources"]
    for run in result.results:
        _check_run(app, run, aws, resources, sandbox, seed)
    if app == "dynamodb-stream":
        # The records held behind the poison pill were retried, not dropped: once the
        # rollback cleared the fault they went through (AWS retries them until they
        # expire, after 24 hours), though too late for the verdict, which came first.
        pill = next(r for r in result.results if "poison" in Path(r.path).name)
        held = sent_ids(pill.journal, sandbox)
        deadline = time.monotonic() + 60
        while not held <= _truth(app, aws, resources, pill.run_id)[0]:
            assert time.monotonic() < deadline, "records held behind the poison pill were lost"
            time.sleep(2)

    # The same seed again, for the experiments whose faults roll: the same events are
    # sent, every invocation fires as its rolls say, and where each invocation carries
    # one event (so no poller's batching is involved) the same events are hit and lost.
    rolled = [r for r in result.results if replayable(injected_faults(r.journal))]
    assert rolled, "no experiment rolled a fault"
    if app not in REPLAYED:
        return
    again = _run(
        dataclasses.replace(
            gameday, experiments=tuple(gameday.ordered()[result.results.index(r)] for r in rolled)
        ),
        tmp_path / "again",
    )
    for before, after in zip(rolled, again.results, strict=True):
        records = _check_run(app, after, aws, resources, sandbox, seed)
        assert sent_ids(after.journal, sandbox) == sent_ids(before.journal, sandbox), (
            after.summary()
        )
        first_records = _ledger(before.run_id, sandbox)
        if app in SINGLE_EVENT_INVOCATIONS:
            assert fired_events(records) == fired_events(first_records), after.summary()
            lost = set(after.view.counts.lost_ids)
            assert lost == set(before.view.counts.lost_ids), after.summary()
            assert after.view.outcome == before.view.outcome, after.summary()
        print(
            f"  same seed again: {after.view.outcome} (before: {before.view.outcome}); "
            f"{len(fired_events(records))} events hit (before: {len(fired_events(first_records))})"
        )


#: Apps whose rate experiments run a second time with the same seed (the others only have
#: their rolls checked against the seed, to keep the suite's time down): a batched
#: stream, a batched queue, and two asynchronous apps.
REPLAYED = {"kinesis-onfailure", "sqs-dlq", "sns-async", "scheduler-async-dlq"}
#: Apps whose every invocation carries one event: a rerun with the same seed is exact.
SINGLE_EVENT_INVOCATIONS = {"sns-async", "scheduler-async-dlq", "lambda-destinations"}


def _run(gameday: Any, output_dir: Path) -> Any:
    return run_gameday(
        gameday,
        output_dir=output_dir,
        history=History(output_dir / "history.db"),
        console=Console(file=io.StringIO()),
    )


def _ledger(run_id: str, sandbox: dict[str, Any]) -> list[Any]:
    """Return the run's records as the reconciler reads them: the table, and what the
    functions logged instead (a write that failed under load goes to the log)."""
    records = read_run(run_id, sandbox)
    logged, _ = log_records(seen(records)[0], run_id, configuration=sandbox)
    merge_log_records(records, logged)
    return records


def _check_run(
    app: str, run: Any, aws: Callable[[str], Any], resources: dict[str, str],
    sandbox: dict[str, Any], seed: str,
) -> list[Any]:  # fmt: skip
    """Check one experiment's verdict and counts against the app's own state; return its records."""
    view = run.view
    assert view.status == "completed", (run.path, run.summary())
    assert not view.failed_steps, run.summary()
    assert not view.unrestored, run.summary()
    assert view.seed == seed, run.summary()
    sent = sent_ids(run.journal, sandbox)
    assert sent, f"{run.path}: nothing was sent"
    # What the app had processed when the rollback began: a record held behind a poison
    # pill (retried until it expires, no destination) is processed once the rollback has
    # cleared the fault and removed the layer, unseen by chaoskit, whose verdict came first.
    cut = as_epoch(run.journal["rollbacks"][0]["start"]) if app == "dynamodb-stream" else None
    processed, dead = _truth(app, aws, resources, run.run_id, cut)
    lost = sent - processed - dead
    counts = view.counts
    assert counts is not None, run.summary()
    print(
        f"  {Path(run.path).name}: {view.outcome}; chaoskit {counts.sent} sent, "
        f"{counts.processed} processed, {counts.dead_lettered} dead-lettered, "
        f"{counts.lost} lost; the app's state: {len(processed & sent)} processed, "
        f"{len(dead & sent)} dead-lettered, {len(lost)} lost"
    )
    assert counts.sent == len(sent)
    assert set(counts.lost_ids) == lost, run.summary()
    assert counts.dead_lettered == len(dead & sent), run.summary()
    assert counts.processed == len(processed & sent), run.summary()
    _check_stages(app, view, resources, processed & sent, dead & sent, run.summary())
    # The verdict follows the app's truth: it deviates exactly when events were lost.
    # sns-async really loses events: the function has no on-failure destination or
    # DLQ, so an event whose three attempts all fail is dropped by Lambda.
    # No vacuous verdict: a run whose injected fault never fired (a rate roll that
    # missed every invocation) proves nothing, and must say so rather than pass.
    injected = [
        step
        for step in run.journal["run"]
        if step["activity"]["provider"].get("func", "").startswith("inject_")
    ]
    faults = run.journal["chaoskit"]["ledger"].get("faults") or []
    unfired = bool(injected) and (not faults or any(f["fired"] == 0 for f in faults))
    expected = "deviated" if lost else ("inconclusive" if unfired else "passed")
    assert view.outcome == expected, run.summary()
    # Every invocation fired exactly as the seed's rolls on its events say.
    records = _ledger(run.run_id, sandbox)
    faults = injected_faults(run.journal)
    checked, wrong = mismatched_rolls(records, seed, faults)
    assert not wrong, "\n".join(wrong)
    assert checked or not replayable(faults), f"{run.path}: no roll to check"
    return records
