"""Every experiment of the library against the reference app on a running sandbox.

On the good app each experiment's hypothesis ("no order lost") holds. On the
broken variant (errors swallowed) every experiment whose fault acts inside the
app's code deviates, and the run names the lost order ids. Kill switch,
latency and failover hold on both variants by design: a stopped, slow or
failed-over function raises nothing for the bug to swallow.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import reference_app

from chaoskit.gameday.spec import load_gameday
from chaoskit.pytest_plugin import ExperimentFailed, run_and_check
from tests.support.app_state import ids_in, kinesis_failed_ids, queue_bodies, sent_ids

APP = reference_app.load()

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
#: The library, in the example game day's order.
LIBRARY = [e.path.stem for e in load_gameday(EXPERIMENTS / "gameday.yaml").experiments]
#: The experiments whose faults the broken variant swallows.
DEVIATE_ON_BROKEN = [
    "errors",
    "downstream-throttling",
    "third-party-throttling",
    "canary",
    "workflow",
    "stream-poison-pill",
]

pytestmark = pytest.mark.sandbox


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private CHAOSKIT_HOME (journals, the payments stub's pid) for this module."""
    path = tmp_path_factory.mktemp("chaoskit-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("CHAOSKIT_HOME", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="module")
def good_app(sandbox: dict[str, Any], home: Path) -> dict[str, Any]:
    return APP.deploy(sandbox)


@pytest.fixture(scope="module")
def broken_app(sandbox: dict[str, Any], good_app: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield APP.deploy(sandbox, variant="broken")
    APP.deploy(sandbox)  # leave the sandbox with the good app


def _outputs(result: Any, name: str) -> list[Any]:
    return [r.get("output") for r in result.journal.get("run", []) if r["activity"]["name"] == name]


def _worker_log(aws: Callable[[str], Any], since: float, lines: int = 60) -> str:
    """What the worker logged since ``since`` (its warnings and errors, if any), for a failure."""
    group = "/aws/lambda/orders-worker"
    events: list[dict[str, Any]] = []
    try:
        pages = aws("logs").get_paginator("filter_log_events")
        for page in pages.paginate(logGroupName=group, startTime=int(since * 1000)):
            events += page["events"]
    except Exception as err:  # a diagnostic must not hide the failure it explains
        return f"(no worker log: {err})"
    events.sort(key=lambda e: e["timestamp"])
    notable = [e for e in events if "WARNING" in e["message"] or "ERROR" in e["message"]]
    shown = (notable or events)[-lines:]
    text = "".join(f"  {e['timestamp']} {e['message'].rstrip()}\n" for e in shown)
    return f"the worker's last {'warnings and errors' if notable else 'lines'} ({group}):\n{text}"


def _run(
    name: str,
    sandbox: dict[str, Any],
    aws: Callable[[str], Any],
    app: dict[str, Any],
    expect: str,
    tmp_path: Path,
) -> Any:
    """Run the library's experiment ``name`` against a deployed ``app``, expecting ``expect``."""
    started = time.time()
    try:
        return run_and_check(
            EXPERIMENTS / f"{name}.yaml",
            sandbox,
            APP.experiment_vars(app),
            expect=expect,
            journal_path=tmp_path / "journal.json",
        )
    except ExperimentFailed as err:
        # The summary says what the probes saw; the worker's own log says why (a
        # payments call that failed after the fault was cleared, say).
        raise ExperimentFailed(f"{err}\n{_worker_log(aws, started)}") from None


def _settled(result: Any) -> dict[str, Any]:
    """Return the output of the run's last wait-until-settled probe."""
    outputs = [
        r.get("output")
        for r in result.journal.get("run", [])
        if r["activity"]["provider"].get("func") == "wait_until_settled"
    ]
    assert outputs, "the run never waited until settled"
    last: dict[str, Any] = outputs[-1]
    return last


def _matches_the_apps_state(
    result: Any, aws: Callable[[str], Any], sandbox: dict[str, Any]
) -> None:
    """chaoskit's lost ids and counts equal a truth read from the app's state alone.

    For the experiments whose orders end in the app's ``orders-table``: an order is
    processed when the table holds it for this run, dead-lettered when one of the
    run's dead-letter queues holds it (for a stream's on-failure queue, the records
    its batch records name, read back from the stream), and lost otherwise.
    """
    config = result.journal.get("experiment", {}).get("configuration") or {}
    if config.get("chaoskit_sink_table") != "orders-table":
        return
    run_id = result.run_id
    processed: set[str] = set()
    kwargs: dict[str, Any] = {"TableName": "orders-table"}
    while True:
        page = aws("dynamodb").scan(**kwargs)
        processed |= {
            i["event_id"]["S"]
            for i in page["Items"]
            if i.get("run_id", {}).get("S") == run_id and "event_id" in i
        }
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    dead: set[str] = set()
    step = next(
        r
        for r in result.journal["run"]
        if r["activity"]["provider"].get("func") == "wait_until_settled"
    )
    for name in step["activity"]["provider"]["arguments"].get("dlqs") or []:
        url = aws("sqs").get_queue_url(QueueName=name)["QueueUrl"]
        bodies = queue_bodies(aws, url)
        dead |= ids_in(bodies, run_id) | kinesis_failed_ids(aws, bodies, run_id)
    sent = sent_ids(result.journal, sandbox)
    settled = _settled(result)
    summary = result.summary()
    assert sorted(settled["lost_ids"]) == sorted(sent - processed - dead), summary
    assert settled["processed"] == len(sent & processed), summary
    assert settled["dead_lettered"] == len((sent & dead) - processed), summary


@pytest.mark.parametrize("name", LIBRARY)
def test_experiment_holds_on_the_good_app(
    name: str,
    sandbox: dict[str, Any],
    aws: Callable[[str], Any],
    good_app: dict[str, Any],
    tmp_path: Path,
) -> None:
    result = _run(name, sandbox, aws, good_app, "held", tmp_path)
    settled = _settled(result)
    assert settled["sent"] > 0
    assert settled["lost"] == 0
    _matches_the_apps_state(result, aws, sandbox)
    assert settled["processed"] + settled["dead_lettered"] >= settled["sent"]
    assert result.view.unrestored == []
    # Chaos Toolkit does not fail a run on a failed method activity: a fault that was
    # never applied would pass vacuously. Every step must have run.
    failed = [a.name for a in result.view.method if a.status != "succeeded"]
    assert failed == [], f"method steps failed: {failed}\n{result.summary()}"
    if name == "failover":
        assert _outputs(result, "dns-answers-the-secondary")[0]["reached"] is True
        assert _outputs(result, "failover-observed") == [True]
    if name == "stream-poison-pill":  # sent inside a batch of good records, dead-lettered alone
        assert _outputs(result, "only-the-poison-dead-lettered") == [1]
    if name == "canary":
        assert _outputs(result, "deployment-alarm-state") == [{"orders-worker-errors": "ALARM"}]
    if (
        name == "notifier-errors"
    ):  # the Node.js notifier: some retried to success, some dead-lettered
        assert _outputs(result, "some-notifications-dead-lettered")[0] >= 1
        assert settled["processed"] > 0
    if name == "third-party-throttling":
        assert _outputs(result, "breaker-opened-during-the-fault") == [True]
        assert _outputs(result, "orders-served-by-the-fallback")[0] > 0


@pytest.mark.parametrize("name", DEVIATE_ON_BROKEN)
def test_fault_experiment_deviates_on_the_broken_app(
    name: str,
    sandbox: dict[str, Any],
    aws: Callable[[str], Any],
    broken_app: dict[str, Any],
    tmp_path: Path,
) -> None:
    result = _run(name, sandbox, aws, broken_app, "deviated", tmp_path)
    settled = _settled(result)
    assert settled["lost"] > 0
    assert len(settled["lost_ids"]) == settled["lost"]  # the lost orders are named
    _matches_the_apps_state(result, aws, sandbox)  # and they are the orders the app lost
    assert result.view.unrestored == []
