"""Events a filter lets through, so generated load reaches the function behind it.

:func:`example` builds the least event an EventBridge rule's pattern accepts,
field by field, from what each field's list allows: a literal, ``prefix``,
``suffix``, ``equals-ignore-case``, ``wildcard``, ``exists``, ``numeric``
ranges, ``cidr`` and ``anything-but`` (values, prefixes or suffixes), in nested
objects and ``$or`` branches. What it cannot satisfy for sure (filters it does
not know, a ``numeric`` range with no room, values chaoskit's own fields would
break) gives ``None``: the rule is then reported not covered rather than sent
events it would drop.

Only ``source``, ``detail-type`` and ``detail`` are sent by ``send_events``
(``account`` and ``region`` are the sender's own), so a pattern on any other
top-level field is not satisfied, nor one on an ``aws.`` source (PutEvents
refuses those to anyone but AWS).

The same rules filter elsewhere, on other shapes: :func:`record_example` reads
an event source mapping's ``FilterCriteria`` (an SQS message's ``body``, a
Kinesis record's ``data``, a DynamoDB stream record's
``NewImage`` and ``eventName``), where what the filters drop never reaches the
function (SQS deletes it); :func:`policy_example` reads an SNS subscription's
``FilterPolicy`` on message attributes or on the body.
"""

import ipaddress
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Example", "Fields", "example", "policy_example", "record_example"]

#: Top-level fields of an event the load action sets, and those it cannot.
_SENT = ("source", "detail-type", "detail")
_SENDERS_OWN = ("account", "region")
#: A value no literal list of a pattern is likely to hold.
_FILLER = "chaoskit"
_MISSING = object()
#: Field names from the top of an object down to one field.
Path = tuple[str, ...]


class Example(dict[str, Any]):
    """``{"source", "detail-type", "detail"}`` of an event the pattern matches.

    ``absent``: paths in ``detail`` the pattern wants missing (``{"exists": false}``),
    which a sample payload merged under it must not fill.
    """

    absent: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Fields:
    """What ``send_events`` sets so a filter lets each event through.

    ``payload``: the fields the filter names (a sample merged under it loses what is in
    ``absent``); ``send``: other ``send_events`` arguments (``message_attributes``).
    """

    payload: dict[str, Any]
    send: dict[str, Any] = field(default_factory=dict)
    absent: tuple[Path, ...] = ()


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
    if kind == "cidr" and isinstance(arg, str):
        try:
            network = ipaddress.ip_network(arg, strict=False)
        except ValueError:
            return _MISSING
        return str(next(iter(network.hosts()), network.network_address))
    return _MISSING  # a filter this module does not know


#: A field whose pattern asks for JSON null: present, with the value null.
_NULL = object()


def _object(
    pattern: Mapping[str, Any], absent: list[Path] | None = None, at: Path = ()
) -> dict[str, Any] | None:
    """Return an object a (nested) pattern matches, ``None`` if one cannot be built for sure.

    Paths the pattern wants missing are appended to ``absent``.
    """
    out: dict[str, Any] = {}
    for key, allowed in pattern.items():
        if key == "$or":
            if not isinstance(allowed, list):
                return None
            branch = None
            for option in allowed:
                missing: list[Path] = []
                if isinstance(option, Mapping):
                    branch = _object(option, missing, at)
                if branch is not None:
                    break
            if branch is None:
                return None
            if absent is not None:
                absent.extend(missing)
            out.update(branch)
            continue
        if isinstance(allowed, Mapping):
            inner = _object(allowed, absent, (*at, key))
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
        elif absent is not None:
            absent.append((*at, key))
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
    absent: list[Path] = []
    built = _object({k: v for k, v in pattern.items() if k not in _SENDERS_OWN}, absent)
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
    found = Example({k: v for k, v in built.items() if k != "detail"}, detail=detail)
    found.absent = tuple(p[1:] for p in absent if p[:1] == ("detail",))
    return found


def _payload(pattern: Any) -> tuple[dict[str, Any], tuple[Path, ...]] | None:
    """Return (a JSON object ``pattern`` matches, paths it wants missing), or ``None``."""
    if not isinstance(pattern, Mapping):
        return None
    absent: list[Path] = []
    built = _object(pattern, absent)
    if built is None or "chaoskit" in built:
        return None
    return built, tuple(absent)


def _accepts(allowed: Any, text: str) -> bool:
    """Whether a field's list of allowed entries surely accepts the string ``text``."""
    for entry in allowed if isinstance(allowed, list) else []:
        if entry == text:
            return True
        if not isinstance(entry, Mapping) or len(entry) != 1:
            continue
        ((kind, arg),) = entry.items()
        if kind == "exists" and arg is True:
            return True
        if kind == "prefix" and isinstance(arg, str) and text.startswith(arg):
            return True
        if kind == "suffix" and isinstance(arg, str) and text.endswith(arg):
            return True
        if kind == "equals-ignore-case" and isinstance(arg, str) and arg.lower() == text.lower():
            return True
        excluded = arg if isinstance(arg, list) else [arg]
        if kind == "anything-but" and isinstance(arg, str | list) and text not in excluded:
            return True
    return False


#: The JSON value ``send_events`` writes as each DynamoDB attribute type a filter names.
_WRITTEN_AS: dict[str, type | tuple[type, ...]] = {"S": str, "BOOL": bool, "N": (int, float)}


def _plain_image(pattern: Any) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """Turn a filter on a typed DynamoDB image into one on plain values, ``None`` if unsure.

    ``{"code": {"N": ["300"]}, "tags": {"M": {...}}}`` becomes
    ``{"code": [300], "tags": {...}}``, with the types (``{"code": "N", "tags": {...}}``)
    each value built must have: ``send_events`` writes JSON numbers as ``N``, strings as
    ``S``, objects as ``M``, ``true``/``false`` as ``BOOL``.
    """
    if not isinstance(pattern, Mapping):
        return None
    plain: dict[str, Any] = {}
    types: dict[str, Any] = {}
    for name, spec in pattern.items():
        if isinstance(spec, list):
            # A filter without the type names the attribute's map, not a value: AWS
            # matches {"exists": false} on it always, and anything else never
            # (AWS-recorded: LocalStack's test_dynamodb_event_filter).
            if spec != [{"exists": False}]:
                return None
            continue
        if not isinstance(spec, Mapping) or len(spec) != 1:
            return None
        ((kind, allowed),) = spec.items()
        if kind == "M":
            inner = _plain_image(allowed)
            if inner is None:
                return None
            plain[name], types[name] = inner
        elif kind == "N" and isinstance(allowed, list):
            # The record carries numbers as text: only literal values can match, and only
            # a number DynamoDB writes back as the same text.
            numbers = [_number_text(value) for value in allowed]
            if any(n is None for n in numbers):
                return None
            plain[name], types[name] = numbers, kind
        elif kind in _WRITTEN_AS and isinstance(allowed, list):
            plain[name], types[name] = allowed, kind
        else:
            return None  # B, NULL, sets and lists: not written from a JSON payload for sure
    return plain, types


def _number_text(value: Any) -> int | float | None:
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if number.is_integer() and str(int(number)) == value:
        return int(number)
    return number if repr(number) == value else None


def _typed_ok(built: Mapping[str, Any], types: Mapping[str, Any]) -> bool:
    """Whether each value built for a typed attribute is written as that type."""
    for name, kind in types.items():
        if name not in built:
            continue
        value = built[name]
        if isinstance(kind, Mapping):
            if not isinstance(value, Mapping) or not _typed_ok(value, kind):
                return False
        elif not isinstance(value, _WRITTEN_AS[kind]) or (
            kind != "BOOL" and isinstance(value, bool)
        ):
            return False
    return True


def record_example(
    source_kind: str, patterns: list[Any], item_keys: list[str] | tuple[str, ...] = ()
) -> Fields | None:
    """Return what each event needs to pass an event source mapping's filters, or ``None``.

    ``patterns`` are the mapping's ``FilterCriteria`` patterns (any one passing lets a
    record through). ``item_keys``: a DynamoDB table's key attributes, which
    ``send_events`` fills from each event's id, so a filter on them is not satisfied.
    ``None`` when no pattern is surely satisfied by a generated event.
    """
    for pattern in patterns:
        found = _record(source_kind, pattern, tuple(item_keys))
        if found is not None:
            return found
    return None


def _record(kind: str, pattern: Any, item_keys: tuple[str, ...]) -> Fields | None:
    if not isinstance(pattern, Mapping) or not pattern:
        return None
    if kind == "sqs":  # message attributes and system attributes are not the load's to set
        if set(pattern) != {"body"}:
            return None
        built = _payload(pattern["body"])
        return Fields(built[0], absent=built[1]) if built else None
    if kind == "kinesis":
        # AWS documents filtering on ``data`` only; LocalStack matches a pattern on
        # ``partitionKey`` against nothing. Such a pattern is not sure to pass.
        if set(pattern) != {"data"}:
            return None
        built = _payload(pattern["data"])
        return Fields(built[0], absent=built[1]) if built else None
    if kind == "dynamodb":
        # Each event writes a new item: its record is an INSERT with a NewImage.
        if not set(pattern) <= {"dynamodb", "eventName"}:
            return None
        if "eventName" in pattern and not _accepts(pattern["eventName"], "INSERT"):
            return None
        image = pattern.get("dynamodb", {})
        if not isinstance(image, Mapping) or not set(image) <= {"NewImage"}:
            return None  # Keys are each event's own; OldImage and the rest are not written
        typed = _plain_image(image.get("NewImage", {}))
        built = _payload(typed[0]) if typed is not None else None
        if built is None or typed is None or not _typed_ok(built[0], typed[1]):
            return None
        if set(built[0]) & set(item_keys):
            return None  # the key is each event's own, filled from its id
        return Fields(built[0], absent=built[1])
    return None


def policy_example(policy: Any, scope: str | None = None) -> Fields | None:
    """Return what each message needs to pass an SNS subscription's filter policy.

    ``scope``: ``MessageAttributes`` (the default) matches message attributes, set
    through ``send_events``'s ``message_attributes`` (a string, a number, or a list
    of strings); ``MessageBody`` matches the JSON message, the payload. ``None`` when
    no message is surely accepted.
    """
    if not isinstance(policy, Mapping) or not policy:
        return None
    if scope == "MessageBody":
        built = _payload(policy)
        return Fields(built[0], absent=built[1]) if built else None
    if scope not in (None, "", "MessageAttributes"):
        return None
    if any(isinstance(v, Mapping) for k, v in policy.items() if k != "$or"):
        return None  # attributes are flat: nesting only filters bodies
    built = _payload(policy)
    if built is None:
        return None
    attributes = built[0]
    for value in attributes.values():
        if value is None or isinstance(value, bool | Mapping):
            return None  # an attribute is a string, a number or a list of strings
    return Fields({}, {"message_attributes": attributes} if attributes else {})
