"""An event an EventBridge rule's pattern matches, so generated load reaches its target.

:func:`example` builds the least event a pattern accepts, field by field, from
what each field's list allows: a literal, ``prefix``, ``suffix``,
``equals-ignore-case``, ``wildcard``, ``exists``, ``numeric`` ranges and
``anything-but`` (values, prefixes or suffixes), in nested objects and ``$or``
branches. What it cannot satisfy for sure (``cidr``, filters it does not know,
a ``numeric`` range with no room, values chaoskit's own fields would break)
gives ``None``: the rule is then reported not covered rather than sent events
it would drop.

Only ``source``, ``detail-type`` and ``detail`` are sent by ``send_events``
(``account`` and ``region`` are the sender's own), so a pattern on any other
top-level field is not satisfied, nor one on an ``aws.`` source (PutEvents
refuses those to anyone but AWS).
"""

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["Example", "example"]

#: Top-level fields of an event the load action sets, and those it cannot.
_SENT = ("source", "detail-type", "detail")
_SENDERS_OWN = ("account", "region")
#: A value no literal list of a pattern is likely to hold.
_FILLER = "chaoskit"
_MISSING = object()


class Example(dict[str, Any]):
    """``{"source", "detail-type", "detail"}`` of an event the pattern matches."""


def _number_in(conditions: list[Any]) -> float | None:
    """Return a number within ``numeric`` conditions (``[">", 0, "<=", 5]``), if there is one."""
    low, high = -math.inf, math.inf
    low_open = high_open = False
    equal: float | None = None
    for op, bound in zip(conditions[::2], conditions[1::2], strict=False):
        if not isinstance(bound, int | float) or isinstance(bound, bool):
            return None
        value = float(bound)
        if op == "=":
            equal = value
        elif op in (">", ">="):
            if value > low or (value == low and op == ">"):
                low, low_open = value, op == ">"
        elif op in ("<", "<="):
            if value < high or (value == high and op == "<"):
                high, high_open = value, op == "<"
        else:
            return None
    if equal is not None:
        ok = (low < equal or (low == equal and not low_open)) and (
            equal < high or (equal == high and not high_open)
        )
        return equal if ok else None
    if low == -math.inf and high == math.inf:
        return 0.0
    if low == -math.inf:
        return high - 1 if high_open else high
    if high == math.inf:
        return low + 1 if low_open else low
    middle = (low + high) / 2
    if low < middle < high or (low == high and not (low_open or high_open)):
        return middle
    return None


def _but(excluded: Any) -> Any:
    """Return a value ``{"anything-but": excluded}`` accepts."""
    if isinstance(excluded, Mapping):
        if set(excluded) <= {"prefix", "suffix", "equals-ignore-case", "wildcard"} and all(
            isinstance(v, str) and v for v in excluded.values()
        ):
            clash = any(_FILLER.lower().startswith(v.lower()) or _FILLER.lower().endswith(v.lower())
                        for v in excluded.values())  # fmt: skip
            return _MISSING if clash else _FILLER
        return _MISSING
    values = excluded if isinstance(excluded, list) else [excluded]
    if any(isinstance(v, Mapping) for v in values):
        return _MISSING
    if values and all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return max(float(v) for v in values) + 1
    texts = {str(v) for v in values}
    candidate = _FILLER
    while candidate in texts:
        candidate += "-x"
    return candidate


def _satisfy(allowed: Any) -> Any:
    """Return a value one of a field's allowed entries matches; ``_MISSING`` when none is sure.

    ``None`` as a result means the field must be absent (``{"exists": false}``).
    """
    if not isinstance(allowed, list) or not allowed:
        return _MISSING
    for entry in allowed:
        value = _one(entry)
        if value is not _MISSING:
            return value
    return _MISSING


def _one(entry: Any) -> Any:
    if entry is None or isinstance(entry, str | bool | int | float):
        return entry if entry is not None else _NULL
    if not isinstance(entry, Mapping) or len(entry) != 1:
        return _MISSING
    ((kind, arg),) = entry.items()
    if kind in ("prefix", "suffix", "equals-ignore-case") and isinstance(arg, str):
        return arg
    if kind == "wildcard" and isinstance(arg, str):
        return arg.replace("\\*", "\0").replace("*", "").replace("\0", "*")
    if kind == "exists" and isinstance(arg, bool):
        return _FILLER if arg else None
    if kind == "numeric" and isinstance(arg, list):
        number = _number_in(arg)
        if number is None:
            return _MISSING
        return int(number) if number.is_integer() else number
    if kind == "anything-but":
        return _but(arg)
    return _MISSING  # cidr, or a filter this module does not know


#: A field whose pattern asks for JSON null: present, with the value null.
_NULL = object()


def _object(pattern: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return an object a (nested) pattern matches, ``None`` if one cannot be built for sure."""
    out: dict[str, Any] = {}
    for key, allowed in pattern.items():
        if key == "$or":
            if not isinstance(allowed, list):
                return None
            branch = next(
                (
                    b
                    for b in (_object(x) for x in allowed if isinstance(x, Mapping))
                    if b is not None
                ),
                None,
            )
            if branch is None:
                return None
            out.update(branch)
            continue
        if isinstance(allowed, Mapping):
            inner = _object(allowed)
            if inner is None:
                return None
            out[key] = inner
            continue
        value = _satisfy(allowed)
        if value is _MISSING:
            return None
        if value is _NULL:
            out[key] = None
        elif value is not None:
            out[key] = value
    return out


def example(pattern: Any) -> Example | None:
    """Return the ``source``, ``detail-type`` and ``detail`` of an event ``pattern`` matches.

    ``None`` when the pattern filters on a field ``send_events`` does not set, uses a
    filter this module cannot satisfy for sure, or is not an object.
    """
    if not isinstance(pattern, Mapping) or not pattern:
        return None
    if set(pattern) - {*_SENT, *_SENDERS_OWN}:
        return None
    built = _object({k: v for k, v in pattern.items() if k not in _SENDERS_OWN})
    if built is None:
        return None
    for key in ("source", "detail-type"):
        if key in built and not isinstance(built[key], str):
            return None
    if str(built.get("source", "")).startswith("aws."):
        return None  # AWS services' own sources: PutEvents refuses them
    detail = built.get("detail", {})
    if not isinstance(detail, dict) or "chaoskit" in detail:
        return None
    return Example({k: v for k, v in built.items() if k != "detail"}, detail=detail)
