"""A method probe that declares a tolerance fails its step, and the run, when out of tolerance.

chaoslib checks tolerances only in the steady-state hypothesis; a method probe
whose purpose is to observe the fault (failover observed, DNS answers the
secondary, messages wait while the worker is stopped) would otherwise pass
the run whatever it saw.
"""

from pathlib import Path
from typing import Any

import yaml

from chaoskit.runner import run_experiment_file


def _run(tmp_path: Path, tolerance: Any, value: int | None = None) -> Any:
    import ck_undo_steps

    if value is not None:
        ck_undo_steps.set_value("seen", value)
    probe: dict[str, Any] = {
        "type": "probe",
        "name": "fault-observed",
        "provider": {
            "type": "python",
            "module": "ck_undo_steps",
            "func": "value_of",
            "arguments": {"key": "seen"},
        },
    }
    if tolerance is not None:
        probe["tolerance"] = tolerance
    doc = {"title": "observe", "description": "d", "method": [probe]}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc))
    return run_experiment_file(path, journal_path=tmp_path / "j.json")


def test_a_method_probe_out_of_tolerance_fails_the_run(file_state: Path, tmp_path: Path) -> None:
    result = _run(tmp_path, True)  # the probe returns None: not observed
    assert result.view.outcome == "failed", result.summary()
    assert result.exit_code == 1
    assert "method step 'fault-observed' failed" in result.summary()
    assert "out of tolerance" in result.summary()


def test_a_method_probe_within_tolerance_passes(file_state: Path, tmp_path: Path) -> None:
    result = _run(tmp_path, {"type": "range", "range": [1, 100]}, value=5)
    assert result.view.outcome == "passed", result.summary()


def test_a_method_probe_without_tolerance_is_not_judged(file_state: Path, tmp_path: Path) -> None:
    assert _run(tmp_path, None).view.outcome == "passed"
