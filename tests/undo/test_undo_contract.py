"""Every activity module C1 owns publishes exactly what chaoslib discovers.

(The repository-wide tests/test_contract.py checks every activity package;
this one pins the undo and infrastructure modules, and their restorers.)
"""

import importlib
import inspect
import re

import pytest
from chaoslib.discovery.discover import discover_activities

from chaoskit.undo.restore import resolve_restorer

MODULES = [
    "chaoskit.faults.kill_switch",
    "chaoskit.faults.route53",
    "chaoskit.faults.canary",
    "chaoskit.faults.throttle",
    "chaoskit.undo.actions",
]


@pytest.mark.parametrize("name", MODULES)
def test_all_matches_discovery(name: str) -> None:
    module = importlib.import_module(name)
    exported = set(module.__all__)
    discovered = {a["name"] for a in discover_activities(name, "action")}
    assert discovered == exported
    for func_name in exported:
        func = getattr(module, func_name)
        params = list(inspect.signature(func).parameters)
        assert params[-2:] == ["configuration", "secrets"], func_name
        assert inspect.getdoc(func), func_name
        verb = func_name.split("_", 1)[0]
        assert verb in {"set", "restore", "fail", "shift", "throttle", "limit", "disable", "cut",
                        "rollback", "list"}, func_name  # fmt: skip


@pytest.mark.parametrize("name", MODULES[:-1])
def test_every_restorer_named_by_a_module_resolves_and_is_not_an_activity(name: str) -> None:
    module = importlib.import_module(name)
    source = inspect.getsource(module)
    specs = set(re.findall(r'"(chaoskit\.faults\.\w+:\w+)"', source))
    specs |= {f"{name}:{f}" for f in re.findall(r'f"\{_MOD\}:(\w+)"', source)}
    assert specs, f"{name} names no restorer"
    for spec in specs:
        restorer = resolve_restorer(spec)
        assert list(inspect.signature(restorer).parameters) == ["snapshot", "configuration"]
        assert restorer.__name__ not in module.__all__


def test_a_journal_written_before_the_plumbing_moved_still_rolls_back() -> None:
    # Journals name restorers by module path; one left by a crash before the
    # fault parameter's restorer left chaoskit.faults must still resolve, also from a mirror.
    from chaoskit.functions.config import restore_fault_parameter

    old = "chaoskit.faults.lambda_config:restore_fault_parameter"
    assert resolve_restorer(old) is restore_fault_parameter
    from chaoskit.undo.registry import resolve_restorer as builtin

    assert builtin(old, builtin_only=True) is restore_fault_parameter
