"""The activity argument checks: the range table agrees with the signatures, values are typed."""

import importlib
import inspect
import typing

import pytest

from chaoskit.arguments import RANGES, Range, check_arguments, check_value, range_for
from chaoskit.discovery import action_modules, probe_modules
from chaoskit.errors import BadInput

_SKIP = {"configuration", "secrets"}


def _numeric(annotation: object) -> bool:
    if annotation in (int, float):
        return True
    return any(_numeric(arg) for arg in typing.get_args(annotation))


def _activities():
    for module in [*action_modules(), *probe_modules()]:
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", []):
            func = getattr(mod, name)
            if inspect.isfunction(func):
                yield module, name, inspect.signature(func)


def test_every_range_names_a_numeric_parameter_of_a_real_activity():
    activities = {(m, f): sig for m, f, sig in _activities()}
    for module, table in RANGES.items():
        for function, arguments in table.items():
            if function == "*":
                users = {
                    (m, f): sig
                    for (m, f), sig in activities.items()
                    if m == module and any(a in sig.parameters for a in arguments)
                }
                assert users, f"{module}: '*' ranges apply to no activity"
                for argument in arguments:
                    found = [
                        s.parameters[argument] for s in users.values() if argument in s.parameters
                    ]
                    assert found, f"{module}: no activity takes '{argument}'"
                    assert all(_numeric(p.annotation) for p in found), (module, argument)
                continue
            assert (module, function) in activities, f"{module}.{function} is not an activity"
            params = activities[(module, function)].parameters
            for argument in arguments:
                assert argument in params, f"{module}.{function} has no argument '{argument}'"
                assert _numeric(params[argument].annotation), f"{module}.{function}.{argument}"


def test_every_numeric_parameter_has_a_documented_range():
    missing = [
        f"{module}.{function}.{param.name}"
        for module, function, sig in _activities()
        for param in sig.parameters.values()
        if param.name not in _SKIP
        and _numeric(param.annotation)
        and range_for(module, function, param.name) is None
    ]
    assert missing == [], f"add these to chaoskit.arguments.RANGES: {missing}"


def test_every_default_is_within_its_range():
    for module, function, sig in _activities():
        for param in sig.parameters.values():
            if param.name in _SKIP or param.default is inspect.Parameter.empty:
                continue
            assert check_value(module, function, param, param.default) is None, (
                f"{module}.{function}.{param.name} default {param.default!r}"
            )


def test_range_bounds():
    assert Range(0, 1).contains(0) and Range(0, 1).contains(1)
    assert not Range(0, 1).contains(1.0001)
    assert not Range(0, exclusive_low=True).contains(0)
    assert str(Range(0, exclusive_low=True)) == "> 0"


def _experiment(arguments: dict, module="chaoskit.faults.inject", func="inject_latency"):
    return {
        "title": "t",
        "description": "d",
        "method": [
            {
                "type": "action",
                "name": "a",
                "provider": {
                    "type": "python",
                    "module": module,
                    "func": func,
                    "arguments": arguments,
                },
            }
        ],
    }


@pytest.mark.parametrize(
    "value",
    [True, "100", float("nan"), float("inf"), -1, 900_001, [100]],
)
def test_wrong_values_are_refused(value):
    with pytest.raises(BadInput, match="argument 'ms'"):
        check_arguments(_experiment({"function_name": "f", "ms": value}), "x")


@pytest.mark.parametrize("value", [0, 100, 2.5, 900_000, None])
def test_right_values_pass(value):
    check_arguments(_experiment({"function_name": "f", "ms": value}), "x")


def test_int_parameter_refuses_a_float_and_a_bool():
    for value in (1.5, True):
        with pytest.raises(BadInput, match="expected int"):
            check_arguments(
                _experiment(
                    {"function_names": ["f"], "concurrency": value},
                    "chaoskit.faults.kill_switch",
                    "set_reserved_concurrency",
                ),
                "x",
            )


def test_list_items_are_checked():
    with pytest.raises(BadInput, match="function_names"):
        check_arguments(
            _experiment(
                {"function_names": ["f", 3]},
                "chaoskit.faults.kill_switch",
                "set_reserved_concurrency",
            ),
            "x",
        )


def test_substitution_uses_the_configuration_and_skips_unknown_names():
    exp = _experiment({"function_name": "f", "ms": "${delay}"})
    with pytest.raises(BadInput, match="got -3"):
        check_arguments(exp, "x", {"delay": -3})
    check_arguments(exp, "x", {"delay": 30})
    check_arguments(exp, "x", {})  # a secret or a later --var: checked when known


def test_other_packages_are_left_to_chaoslib():
    check_arguments(_experiment({"x": "y"}, "os.path", "join"), "x")


def test_rollbacks_and_hypothesis_probes_are_checked():
    exp = _experiment({"function_name": "f", "ms": 1})
    exp["rollbacks"] = exp.pop("method")
    exp["method"] = []
    exp["rollbacks"][0]["provider"]["arguments"]["rate"] = 2
    with pytest.raises(BadInput, match=r"rollbacks activity 'a'.*'rate'"):
        check_arguments(exp, "x")
