"""The experiment library: each file validates and keeps the library's promises."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from chaoskit.runner import load_experiment_file

ROOT = Path(__file__).resolve().parents[2] / "experiments"
LIBRARY = sorted(p for p in ROOT.glob("*.yaml") if p.name != "gameday.yaml")


def _activities(experiment: dict[str, Any]) -> list[dict[str, Any]]:
    return [*experiment.get("method", []), *experiment.get("rollbacks", [])]


def test_the_game_day_lists_exactly_the_library() -> None:
    gameday = yaml.safe_load((ROOT / "gameday.yaml").read_text())
    assert sorted(e["path"] for e in gameday["experiments"]) == [p.name for p in LIBRARY]
    assert len(LIBRARY) == 10


#: Experiments whose events never reach the orders table: the layer counts them processed.
LAYER_COUNTED = {"notifier-errors"}


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_experiment_validates_with_chaoslib(path: Path) -> None:
    experiment = load_experiment_file(path)  # imports every activity, checks its arguments
    assert experiment["title"]


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_experiment_proves_no_event_lost_and_restores(path: Path) -> None:
    experiment = yaml.safe_load(path.read_text())
    probes = experiment["steady-state-hypothesis"]["probes"]
    lost = [p for p in probes if p["provider"].get("func") == "count_lost_events"]
    assert lost and lost[0]["tolerance"] == 0
    assert lost[0]["provider"]["module"] == "probes.ledger"
    rollbacks = [r["provider"]["func"] for r in experiment["rollbacks"]]
    assert rollbacks == ["rollback_current_run"]
    config = experiment["configuration"]
    if path.stem in LAYER_COUNTED:
        assert "chaoskit_processed_from" not in config  # the layer's records (the default)
    else:
        assert config["chaoskit_processed_from"] == "sink"
        assert config["chaoskit_sink_table"] == "orders-table"
    actions = [a for a in _activities(experiment) if a["type"] == "action"]
    harm = [a for a in actions if a["provider"]["module"].startswith("chaoskit.faults.")]
    assert harm, f"{path.name} causes no harm through chaoskit.faults"
    settles = [a for a in experiment["method"] if a["provider"].get("func") == "wait_until_settled"]
    assert settles, f"{path.name} never waits for the run to settle"
