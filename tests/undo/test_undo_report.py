"""A run's summary says what happened to each change: a failed mutation is not "applied"."""

from pathlib import Path

import yaml

from chaoskit.runner import run_experiment_file


def _experiment(tmp_path: Path, func: str) -> Path:
    path = tmp_path / "exp.yaml"
    step = {
        "type": "action",
        "name": "harm",
        "provider": {
            "type": "python",
            "module": "ck_undo_steps",
            "func": func,
            "arguments": {"key": "k", "value": 1},
        },
    }
    doc = {"title": "one change", "description": "d", "method": [step]}
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_failed_mutation_is_reported_as_not_applied(file_state: Path, tmp_path: Path) -> None:
    result = run_experiment_file(_experiment(tmp_path, "change_and_fail"))
    summary = result.summary()
    assert [c.status for c in result.view.changes] == ["not-applied"]
    assert "faults applied: 0" in summary, summary
    assert "resources restored: 1" not in summary
    assert "not applied: 1" in summary
    assert "set_value on k: not applied (the action failed; undone at once)" in summary
    assert result.exit_code == 1  # the failed step fails the run


def test_an_applied_and_restored_change_is_counted(file_state: Path, tmp_path: Path) -> None:
    result = run_experiment_file(_experiment(tmp_path, "change"))
    summary = result.summary()
    assert "faults applied: 1; resources restored: 1" in summary, summary
    assert "not applied" not in summary
