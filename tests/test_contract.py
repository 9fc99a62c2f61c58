"""The public contract: what ``chaos discover`` publishes, and the experiment library.

Every activity module (``chaoskit.discovery`` lists them: Chaos Toolkit
actions in ``chaoskit.faults`` and ``chaoskit.undo.actions``, probes in
``probes``) must export exactly the
functions chaoslib discovers, each documented, each ending with
``configuration`` and ``secrets``, with real types (no postponed
annotations, which chaoslib would publish as strings). Every experiment in
``experiments/`` must validate with chaoslib, which also imports each
activity and checks its arguments.
"""

import importlib
import inspect
from pathlib import Path

import pytest
from chaoslib.discovery.discover import discover_activities

import chaoskit
import probes
from chaoskit.discovery import action_modules, probe_modules

ROOT = Path(__file__).resolve().parent.parent

ACTIVITY_MODULES = [*action_modules(), *probe_modules()]

EXPERIMENTS = sorted(
    p
    for p in (ROOT / "experiments").glob("*.y*ml")
    # A game day file lists experiments; it is not one (chaoskit gameday validate checks it).
    if p.name != "gameday.yaml"
)


def test_the_activity_packages_are_found() -> None:
    # The checks below must not pass vacuously because a package was not found.
    assert "chaoskit.faults.kill_switch" in action_modules()
    assert "chaoskit.undo.actions" in action_modules()
    assert "probes.ledger" in probe_modules()


def test_chaos_discover_publishes_every_activity_module() -> None:
    discovery = chaoskit.discover(discover_system=False)
    assert probes.discover(discover_system=False)["activities"] == discovery["activities"]
    by_module: dict[str, set[str]] = {}
    for activity in discovery["activities"]:
        by_module.setdefault(activity["mod"], set()).add(activity["name"])
    assert set(by_module) == set(ACTIVITY_MODULES)
    kinds = {a["name"]: a["type"] for a in discovery["activities"]}
    assert kinds["set_reserved_concurrency"] == "action"
    assert kinds["count_lost_events"] == "probe"
    # Moving messages changes AWS: an action, never a probe.
    assert kinds["redrive_dlq_messages"] == "action"
    assert "redrive_messages" not in kinds


@pytest.mark.parametrize("module_name", ACTIVITY_MODULES)
def test_all_matches_what_chaos_discover_publishes(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(getattr(module, "__all__", []))
    assert exported, f"{module_name} has no __all__"
    functions = {name for name in exported if inspect.isfunction(getattr(module, name, None))}
    discovered = {a["name"] for a in discover_activities(module_name, "action")}
    assert discovered == functions
    for name in sorted(functions):
        func = getattr(module, name)
        params = list(inspect.signature(func).parameters)
        where = f"{module_name}.{name}"
        assert inspect.getdoc(func), f"{where} has no docstring: chaos discover publishes it"
        assert params[-2:] == ["configuration", "secrets"], (
            f"{where} must end with (configuration, secrets), has {params}"
        )
        for param in inspect.signature(func).parameters.values():
            assert not isinstance(param.annotation, str), (
                f"{where}({param.name}) has a string annotation: "
                "drop 'from __future__ import annotations' in activity modules"
            )


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.name)
def test_every_experiment_validates(path: Path) -> None:
    from chaoskit.runner import load_experiment_file

    experiment = load_experiment_file(path)
    assert experiment.get("steady-state-hypothesis"), f"{path.name} has no hypothesis"
