"""Check every chaoskit activity's arguments before the first one runs.

chaoslib checks that an activity's function exists and that the argument
names match its signature; it does not check values. A wrong type or an
out-of-range number (``concurrency: "abc"``, ``rate: 5``, ``ms: 1e12``) would
only fail when its step runs, after earlier steps already changed the target.
:func:`check_arguments` checks, for every python activity of a chaoskit module
(``chaoskit.*`` and ``probes.*``), after ``${name}`` substitution from the
configuration:

- the value's type against the parameter's annotation (``int``, ``float``,
  ``str``, ``bool``, ``list[...]``, ``dict[...]``, optional or not);
- numbers against :data:`RANGES`, the documented range per activity and
  argument. ``tests/test_arguments.py`` checks that every entry names a real
  numeric parameter and that every numeric parameter of every activity has one,
  so the table cannot drift from the signatures.

Activities of other packages are left to chaoslib.
"""

import importlib
import inspect
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaoslib import substitute

from chaoskit.errors import BadInput

__all__ = ["RANGES", "Range", "check_arguments", "check_value", "range_for"]

_OWN = ("chaoskit.", "probes.")


@dataclass(frozen=True)
class Range:
    """An inclusive range of numbers (``None``: unbounded on that side)."""

    low: float | None = None
    high: float | None = None
    #: The low bound itself is refused (``> low``, e.g. a duration of 0).
    exclusive_low: bool = False

    def contains(self, value: float) -> bool:
        """Tell whether ``value`` is within the range."""
        if self.low is not None and (
            value < self.low or (self.exclusive_low and value == self.low)
        ):
            return False
        return self.high is None or value <= self.high

    def __str__(self) -> str:
        low = "" if self.low is None else f"{'>' if self.exclusive_low else '>='} {self.low:g}"
        high = "" if self.high is None else f"<= {self.high:g}"
        return " and ".join(p for p in (low, high) if p) or "any number"


#: Lambda's longest invocation, the ceiling of any per-invocation delay.
_MAX_MS = 900_000.0
_RATE = Range(0.0, 1.0)
_POSITIVE = Range(0.0, exclusive_low=True)
_NON_NEGATIVE = Range(0.0)
_AT_LEAST_ONE = Range(1.0)
_MS = Range(0.0, _MAX_MS)
_STATUS = Range(100.0, 599.0)

#: Documented ranges: ``{module: {function or "*": {argument: Range}}}``; ``"*"`` applies
#: to every activity of the module that takes the argument.
RANGES: dict[str, dict[str, dict[str, Range]]] = {
    "chaoskit.faults.canary": {"shift_alias_traffic": {"weight": Range(0.0, 1.0)}},
    "chaoskit.faults.inject": {
        "*": {"rate": _RATE, "duration": _POSITIVE},
        "inject_latency": {"ms": _MS, "min_ms": _MS, "max_ms": _MS},
        "inject_timeout": {"margin_ms": _MS},
        "inject_status": {"status_code": _STATUS},
        "inject_http_fault": {"status": _STATUS, "retry_after": _NON_NEGATIVE, "latency_ms": _MS},
        "inject_sdk_throttle": {"http_status": _STATUS, "latency_ms": _MS},
    },
    "chaoskit.faults.kill_switch": {
        # AWS: 0 (the kill switch) up to the account's concurrency limit.
        "set_reserved_concurrency": {"concurrency": Range(0.0, 100_000.0)}
    },
    "chaoskit.faults.layer": {
        "enable_chaoskit_layer": {"config_ttl": _NON_NEGATIVE},
        "wait_for_fault_live": {"timeout": _POSITIVE},
    },
    "chaoskit.faults.load": {
        "send_events": {
            "count": Range(1.0, 1_000_000.0),
            "rate_per_second": _POSITIVE,
            "concurrency": Range(1.0, 1000.0),
        }
    },
    "chaoskit.faults.dlq": {
        "redrive_dlq_messages": {"max_messages": _AT_LEAST_ONE, "wait_seconds": _NON_NEGATIVE}
    },
    "chaoskit.faults.throttle": {
        "cut_table_capacity": {"read_capacity": _AT_LEAST_ONE, "write_capacity": _AT_LEAST_ONE},
        # AWS: an SQS event source's MaximumConcurrency is 2 to 1000.
        "limit_event_source_concurrency": {"maximum_concurrency": Range(2.0, 1000.0)},
        "throttle_api_stage": {"rate_limit": _NON_NEGATIVE, "burst_limit": _NON_NEGATIVE},
    },
    "probes.breaker": {"*": {"start": _NON_NEGATIVE, "end": _NON_NEGATIVE}},
    "probes.dlq": {"*": {"max_messages": _AT_LEAST_ONE}},
    "probes.failover": {
        "*": {"start": _NON_NEGATIVE, "end": _NON_NEGATIVE},
        "wait_for_dns_role": {"timeout": _POSITIVE, "poll_interval": _POSITIVE},
    },
    "probes.ledger": {
        "wait_until_settled": {
            "timeout": _POSITIVE,
            "poll_interval": _POSITIVE,
            "quiet_seconds": _NON_NEGATIVE,
            "retry_grace": _NON_NEGATIVE,
        }
    },
}


def range_for(module: str, function: str, argument: str) -> Range | None:
    """Return the documented range of an activity's argument, or ``None``."""
    table = RANGES.get(module, {})
    own = table.get(function, {})
    if argument in own:
        return own[argument]
    return table.get("*", {}).get(argument)


def _type_name(annotation: Any) -> str:
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def _matches(value: Any, annotation: Any) -> bool:
    """Tell whether ``value`` fits ``annotation`` (unknown annotations accept anything)."""
    if annotation in (inspect.Parameter.empty, Any, object):
        return True
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(float(value))
        )
    if annotation is str:
        return isinstance(value, str)
    if annotation is list or origin is list:
        if not isinstance(value, list):
            return False
        args = typing.get_args(annotation)
        return not args or all(_matches(item, args[0]) for item in value)
    if annotation is dict or origin in (dict, Mapping):
        return isinstance(value, Mapping)
    return True  # a type we do not check


def check_value(module: str, function: str, param: inspect.Parameter, value: Any) -> str | None:
    """Return why ``value`` does not fit ``param`` of ``module.function``, or ``None``."""
    if isinstance(value, str) and "${" in value:
        return None  # resolved only at run time (a secret, a variable given later)
    if not _matches(value, param.annotation):
        return f"got {value!r}, expected {_type_name(param.annotation)}"
    bounds = range_for(module, function, param.name)
    if (
        bounds is not None
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not bounds.contains(float(value))
    ):
        return f"got {value!r}, expected a number {bounds}"
    return None


def _activities(experiment: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    found: list[tuple[str, Mapping[str, Any]]] = []
    hypothesis = experiment.get("steady-state-hypothesis")
    if isinstance(hypothesis, Mapping):
        probes = hypothesis.get("probes")
        if isinstance(probes, list):
            found += [("steady-state-hypothesis", p) for p in probes if isinstance(p, Mapping)]
    for section in ("method", "rollbacks"):
        items = experiment.get(section)
        if isinstance(items, list):
            found += [(section, a) for a in items if isinstance(a, Mapping)]
    return found


def _plain(configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    # Only what substitution can use without side effects: literal values.
    return {
        k: v for k, v in (configuration or {}).items() if not isinstance(v, Mapping) and k != ""
    }


def check_arguments(
    experiment: Mapping[str, Any],
    where: str,
    configuration: Mapping[str, Any] | None = None,
) -> None:
    """Refuse an experiment whose chaoskit activities get a wrong type or an out-of-range value.

    Args:
        experiment: the experiment (already checked by chaoslib).
        where: how messages name the experiment (``experiment file 'x.yaml'``).
        configuration: used for ``${name}`` substitution; default the experiment's own.

    Raises:
        BadInput: naming the activity, the argument, the value and what was expected.
    """
    config = _plain(configuration if configuration is not None else experiment.get("configuration"))
    refs = {
        a.get("name"): a
        for _, a in _activities(experiment)
        if isinstance(a.get("provider"), Mapping)
    }
    for section, activity in _activities(experiment):
        if "ref" in activity and "provider" not in activity:
            activity = refs.get(activity.get("ref"), activity)
        provider = activity.get("provider")
        if not isinstance(provider, Mapping) or provider.get("type") != "python":
            continue
        module, function = str(provider.get("module") or ""), str(provider.get("func") or "")
        if not module.startswith(_OWN):
            continue
        try:
            func = getattr(importlib.import_module(module), function)
            params = inspect.signature(func).parameters
        except (ImportError, AttributeError, TypeError, ValueError):
            continue  # chaoslib reports a missing module or function
        arguments = provider.get("arguments") or {}
        if not isinstance(arguments, Mapping):
            raise BadInput(
                f"{where}: {section} activity '{activity.get('name')}': 'arguments' must be "
                f"a mapping, got {type(arguments).__name__}"
            )
        resolved = substitute(dict(arguments), config, {})
        for name, value in resolved.items():
            param = params.get(name)
            if param is None:
                continue  # chaoslib reports unknown arguments
            problem = check_value(module, function, param, value)
            if problem:
                raise BadInput(
                    f"{where}: {section} activity '{activity.get('name')}' "
                    f"({module}.{function}): argument '{name}': {problem}"
                )
