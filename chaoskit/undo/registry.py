"""The fixed registry of restorers, and the schema of each one's snapshot.

A journal names its restorer (``"chaoskit.faults.kill_switch:restore_..."``).
A change read from the target (``chaoskit rollback --from-target``) is data
from somewhere else: its restorer must be one of :data:`BUILTIN` (the module
imported is the one written here, never one named by the entry), and its
snapshot must match that restorer's schema, so a planted entry cannot make
the operator's machine import code or set arbitrary variables on a function.

Changes the local journal recorded itself may also name a restorer registered
in this process with :func:`register_restorer`, or (local journal only) any
importable ``package.module:function``: the local journal is written by this
machine's own actions.
"""

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chaoskit.errors import BadInput

__all__ = [
    "BUILTIN",
    "SETTLERS",
    "Restorer",
    "SnapshotSchema",
    "check_snapshot",
    "register_restorer",
    "registered",
    "resolve_restorer",
    "resource_of",
    "settler_of",
]

Restorer = Callable[[dict[str, Any], dict[str, Any]], None]
#: ``settler(snapshot, configuration, restored_at) -> seconds waited``.
Settler = Callable[[dict[str, Any], dict[str, Any], float], float]

_STR = (str,)
_OPT_STR = (str, type(None))
_BOOL = (bool,)
_DICT = (dict,)


@dataclass(frozen=True)
class SnapshotSchema:
    """The keys a restorer's snapshot holds, the JSON types each may take, and its resource."""

    fields: Mapping[str, tuple[type, ...]]
    resource: Callable[[Mapping[str, Any]], str]
    check: Callable[[Mapping[str, Any]], str | None] = lambda snap: None
    #: Keys a snapshot may hold or leave out, and their types.
    optional: Mapping[str, tuple[type, ...]] = field(default_factory=dict)


def _layer_env(snap: Mapping[str, Any]) -> str | None:
    # The enable action only ever records chaoskit's own variables and the exec wrapper.
    for name, value in (snap.get("environment") or {}).items():
        if name != "AWS_LAMBDA_EXEC_WRAPPER" and not str(name).startswith("CHAOSKIT_"):
            return f"variable '{name}' is not one the layer action changes"
        if value is not None and not isinstance(value, str):
            return f"variable '{name}' must be a string or null"
    for key in ("layers",):
        if not all(isinstance(v, str) for v in snap.get(key) or []):
            return f"'{key}' must be a list of layer ARNs"
    return None


def _weights(snap: Mapping[str, Any]) -> str | None:
    for version, weight in (snap.get("weights") or {}).items():
        if not isinstance(weight, int | float) or not 0 <= float(weight) <= 1:
            return f"weight of version '{version}' must be a number from 0 to 1"
    return None


def _messages(snap: Mapping[str, Any]) -> str | None:
    for message in snap.get("messages") or []:
        if not isinstance(message, dict) or not isinstance(message.get("message_id"), str):
            return "'messages' must be a list of records with a 'message_id'"
    return None


def _schedule(snap: Mapping[str, Any]) -> str | None:
    schedule = snap.get("schedule")
    if schedule is None:
        return None
    from chaoskit.undo.scheduled import PREFIX

    name = schedule.get("name")
    if not isinstance(name, str) or not name.startswith(PREFIX):
        return f"'schedule' must name a schedule starting with '{PREFIX}'"
    if set(schedule) - {"name", "group", "role"}:
        return "'schedule' holds only 'name', 'group' and 'role'"
    return None


def _fn(snap: Mapping[str, Any]) -> str:
    return str(snap["function_name"])


_MODULES = {
    "kill_switch": "chaoskit.faults.kill_switch",
    "route53": "chaoskit.faults.route53",
    "layer": "chaoskit.faults.layer",
    "functions_config": "chaoskit.functions.config",
    "canary": "chaoskit.faults.canary",
    "throttle": "chaoskit.faults.throttle",
    "dlq": "chaoskit.faults.dlq",
}

#: restorer name -> (module key, function name, snapshot schema).
BUILTIN: dict[str, tuple[str, str, SnapshotSchema]] = {
    "chaoskit.faults.kill_switch:restore_reserved_concurrency_snapshot": (
        "kill_switch",
        "restore_reserved_concurrency_snapshot",
        SnapshotSchema(
            {"function_name": _STR, "previous": (int, type(None))},
            _fn,
            _schedule,
            optional={"schedule": _DICT},
        ),
    ),
    "chaoskit.faults.route53:restore_health_check_snapshot": (
        "route53",
        "restore_health_check_snapshot",
        SnapshotSchema(
            {"health_check_id": _STR, "inverted": _BOOL, "disabled": _BOOL},
            lambda s: str(s["health_check_id"]),
        ),
    ),
    "chaoskit.faults.layer:restore_layer_snapshot": (
        "layer",
        "restore_layer_snapshot",
        SnapshotSchema(
            {
                "function_name": _STR,
                "added_layer": _OPT_STR,
                "replaced_layer": _OPT_STR,
                "environment": _DICT,
                "environment_present": _BOOL,
                "layers": (list,),
            },
            _fn,
            _layer_env,
        ),
    ),
    "chaoskit.functions.config:restore_fault_parameter": (
        "functions_config",
        "restore_fault_parameter",
        SnapshotSchema({"function_name": _STR, "parameter": _STR, "previous": _OPT_STR}, _fn),
    ),
    # The name journals written before the plumbing left chaoskit.faults carry.
    "chaoskit.faults.lambda_config:restore_fault_parameter": (
        "functions_config",
        "restore_fault_parameter",
        SnapshotSchema({"function_name": _STR, "parameter": _STR, "previous": _OPT_STR}, _fn),
    ),
    "chaoskit.faults.canary:restore_alias_snapshot": (
        "canary",
        "restore_alias_snapshot",
        SnapshotSchema(
            {"function_name": _STR, "alias": _STR, "function_version": _STR, "weights": _DICT},
            _fn,
            _weights,
        ),
    ),
    "chaoskit.faults.throttle:restore_api_stage_snapshot": (
        "throttle",
        "restore_api_stage_snapshot",
        SnapshotSchema(
            {"rest_api_id": _STR, "stage_name": _STR, "key": _STR, "previous": (dict, type(None))},
            lambda s: f"{s['rest_api_id']}/{s['stage_name']}",
        ),
    ),
    "chaoskit.faults.throttle:restore_event_source_mapping_snapshot": (
        "throttle",
        "restore_event_source_mapping_snapshot",
        SnapshotSchema({"uuid": _STR, "enabled": _BOOL, "scaling": _DICT}, lambda s: s["uuid"]),
    ),
    # A redrive is not moved back: its restorer only reports what the journal keeps.
    "chaoskit.faults.dlq:restore_redrive_snapshot": (
        "dlq",
        "restore_redrive_snapshot",
        SnapshotSchema(
            {"dlq_url": _STR, "source_url": _STR, "messages": (list,)},
            lambda s: str(s["dlq_url"]).rstrip("/").rsplit("/", 1)[-1],
            _messages,
        ),
    ),
    "chaoskit.faults.throttle:restore_table_capacity_snapshot": (
        "throttle",
        "restore_table_capacity_snapshot",
        SnapshotSchema(
            {"table_name": _STR, "table": _DICT, "indexes": _DICT},
            lambda s: str(s["table_name"]),
        ),
    ),
}

#: restorer name -> (module key, function name) of what waits, after a rollback's
#: restores, until that restore has taken effect where it takes effect only later.
SETTLERS: dict[str, tuple[str, str]] = {
    name: ("functions_config", "settle_fault_parameter")
    for name in (
        "chaoskit.functions.config:restore_fault_parameter",
        "chaoskit.faults.lambda_config:restore_fault_parameter",
    )
}

_extra: dict[str, Restorer] = {}


def register_restorer(name: str, func: Restorer) -> None:
    """Register a restorer for changes this process records (not for mirrored ones)."""
    _extra[name] = func


def settler_of(spec: str) -> Settler | None:
    """Return what waits until a restore by the restorer ``spec`` took effect, if anything."""
    if spec not in SETTLERS:
        return None
    module_key, func_name = SETTLERS[spec]
    settler: Settler = getattr(importlib.import_module(_MODULES[module_key]), func_name)
    return settler


def registered(name: str) -> bool:
    """Tell whether ``name`` is a built-in restorer."""
    return name in BUILTIN


def resolve_restorer(spec: str, builtin_only: bool = False) -> Restorer:
    """Return the restorer named ``spec``.

    Args:
        spec: ``"package.module:function"`` as journaled.
        builtin_only: accept only :data:`BUILTIN` restorers (changes read from the target).

    Raises:
        BadInput: the name is malformed, not allowed here, or cannot be found.
    """
    spec = str(spec)
    if spec in BUILTIN:
        module_key, func_name, _ = BUILTIN[spec]
        func = getattr(importlib.import_module(_MODULES[module_key]), func_name)
        restorer: Restorer = func
        return restorer
    if builtin_only:
        raise BadInput(f"restorer '{spec}' is not one of chaoskit's restorers: refused")
    if spec in _extra:
        return _extra[spec]
    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise BadInput(f"invalid restorer '{spec}': expected 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise BadInput(f"could not import module '{module_name}' of restorer '{spec}'") from err
    found = getattr(module, func_name, None)
    if not callable(found):
        raise BadInput(f"module '{module_name}' has no function '{func_name}' (restorer '{spec}')")
    restorer = found
    return restorer


def check_snapshot(spec: str, snapshot: Any) -> None:
    """Check a built-in restorer's snapshot against its schema.

    Raises:
        BadInput: unknown restorer, missing or unknown keys, wrong types.
    """
    if spec not in BUILTIN:
        raise BadInput(f"restorer '{spec}' is not one of chaoskit's restorers")
    schema = BUILTIN[spec][2]
    if not isinstance(snapshot, dict):
        raise BadInput(f"snapshot of '{spec}' must be a mapping")
    missing = sorted(set(schema.fields) - set(snapshot))
    unknown = sorted(set(snapshot) - set(schema.fields) - set(schema.optional))
    if missing or unknown:
        raise BadInput(
            f"snapshot of '{spec}' has missing key(s) {missing} or unknown key(s) {unknown}"
        )
    present = {k: t for k, t in schema.optional.items() if k in snapshot}
    for key, types in {**schema.fields, **present}.items():
        value = snapshot[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            raise BadInput(f"snapshot key '{key}' of '{spec}' has the wrong type")
    problem = schema.check(snapshot)
    if problem:
        raise BadInput(f"snapshot of '{spec}': {problem}")


def resource_of(spec: str, snapshot: Mapping[str, Any]) -> str:
    """Return the name of the resource a built-in restorer would change."""
    return BUILTIN[spec][2].resource(snapshot)
