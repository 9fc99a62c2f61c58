"""Under plain `chaos run`, the control refuses wrong argument values before any activity."""

from pathlib import Path

import pytest
from chaoslib.experiment import run_experiment

from chaoskit.runner import CONTROL


def _experiment(rate: object, marker: Path) -> dict:
    return {
        "title": "t",
        "description": "d",
        "controls": [dict(CONTROL)],
        "configuration": {"rate": rate},
        "method": [
            {
                "type": "action",
                "name": "first",
                "provider": {
                    "type": "python",
                    "module": "pathlib",
                    "func": "Path.touch",
                    "arguments": {"self": str(marker)},
                },
            },
            {
                "type": "action",
                "name": "latency",
                "provider": {
                    "type": "python",
                    "module": "chaoskit.faults.inject",
                    "func": "inject_latency",
                    "arguments": {"function_name": "orders", "ms": 10, "rate": "${rate}"},
                },
            },
        ],
    }


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))


def test_a_rate_out_of_range_interrupts_before_the_first_action(tmp_path: Path) -> None:
    marker = tmp_path / "first-ran"
    journal = run_experiment(_experiment(5, marker))
    assert journal["status"] == "interrupted"
    assert journal["run"] == []
    assert not marker.exists()
