"""Two Ctrl-C in a row: the run is interrupted once, and its summary and journal are kept.

The signals are sent by the process to itself at the two moments a second Ctrl-C
used to escape: while chaoslib was still handling the first one (its
``signal_exit`` event), and while the finished run's ledger was being read.
"""

import json
import os
import signal
import textwrap
from pathlib import Path
from typing import Any

import pytest
from chaoslib.run import RunEventHandler

from chaoskit.runner import run_experiment_file

EXPERIMENT = """\
title: interrupted twice
description: the method presses Ctrl-C
configuration: {chaoskit_ledger: true}
method:
  - type: action
    name: press-ctrl-c
    provider: {type: python, module: ctrlc_activity, func: press}
  - type: action
    name: never-runs
    provider: {type: python, module: ctrlc_activity, func: mark}
rollbacks:
  - type: action
    name: rollback-runs
    provider: {type: python, module: ctrlc_activity, func: rolled_back}
"""

ACTIVITY = """\
import os
import signal

CALLS = []


def press() -> None:
    CALLS.append("press")
    os.kill(os.getpid(), signal.SIGINT)


def mark() -> None:
    CALLS.append("mark")


def rolled_back() -> None:
    CALLS.append("rollback")
"""


class PressAgainWhileHandling(RunEventHandler):  # type: ignore[misc]
    """Sends the second Ctrl-C from inside chaoslib's handling of the first."""

    def signal_exit(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def experiment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "ctrlc_activity.py").write_text(textwrap.dedent(ACTIVITY), encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    return path


def _run(experiment: Path, **kwargs: Any) -> Any:
    try:
        return run_experiment_file(experiment, **kwargs)
    except KeyboardInterrupt:
        pytest.fail("the second Ctrl-C escaped the run: no summary, no journal")


def _check(result: Any, journal: Path) -> None:
    import ctrlc_activity  # type: ignore[import-not-found]

    assert result.status == "interrupted"
    assert result.exit_code == 3
    assert ctrlc_activity.CALLS == ["press", "rollback"]
    assert json.loads(journal.read_text())["status"] == "interrupted"
    assert "INTERRUPTED" in result.summary()
    ctrlc_activity.CALLS.clear()


def test_second_ctrl_c_while_chaoslib_handles_the_first(experiment: Path, tmp_path: Path) -> None:
    journal = tmp_path / "j.json"
    result = _run(
        experiment,
        journal_path=journal,
        event_handlers=[PressAgainWhileHandling()],
        read_records=lambda run_id, config: [],
    )
    _check(result, journal)


def test_ctrl_c_while_the_ledger_is_read(experiment: Path, tmp_path: Path) -> None:
    def read_records(run_id: str, config: Any) -> list[Any]:
        os.kill(os.getpid(), signal.SIGINT)  # the run is over; its record is being written
        return []

    journal = tmp_path / "j.json"
    result = _run(experiment, journal_path=journal, read_records=read_records)
    _check(result, journal)


def test_the_previous_handler_is_back_afterwards(experiment: Path, tmp_path: Path) -> None:
    before = signal.getsignal(signal.SIGINT)
    run_experiment_file(
        experiment, journal_path=tmp_path / "j.json", read_records=lambda run_id, config: []
    )
    assert signal.getsignal(signal.SIGINT) is before
    import ctrlc_activity  # type: ignore[import-not-found]

    ctrlc_activity.CALLS.clear()
