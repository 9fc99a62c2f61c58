"""The one builder of the chaoskit layer's layers and environment for a function.

``enable_chaoskit_layer`` and ``chaoskit deploy`` (a canary version published
with the layer) both call :func:`plan_enable`, so the variables a function
gets (wrapper, fault config parameter, acknowledgements, config TTL, ledger
table, fault ceiling) and the enable snapshot riding on the function
(``CHAOSKIT_ENABLE_SNAPSHOT``, what ``disable_chaoskit_layer`` restores from)
are the same whoever enables the layer.
"""

import json
import logging
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed

from chaoskit import aws, envvars
from chaoskit.errors import BadInput
from chaoskit.functions import config as lc
from chaoskit.layer import runtimes
from chaoskit.layer.config import DEFAULT_MAX_FAULT_SECONDS
from chaoskit.ledger.records import table_name
from chaoskit.undo.guard import max_fault_duration

__all__ = [
    "DEFAULT_LAYER_NAME",
    "EXEC_WRAPPER",
    "MAX_LAYERS",
    "WRAPPER",
    "EnablePlan",
    "LayerRefused",
    "check_runtime",
    "default_config_ttl",
    "enable_marker",
    "plan_enable",
    "publish_layer",
    "undo_plan",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

WRAPPER = "/opt/chaoskit-wrapper"
EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
DEFAULT_LAYER_NAME = "chaoskit"
MAX_LAYERS = 5


class LayerRefused(BadInput, ActivityFailed):
    """The layer cannot be enabled on this function as asked."""


@dataclass(frozen=True)
class EnablePlan:
    """What enabling the layer on one function sets, and what it records to undo it.

    Attributes:
        layer_arn: the chaoskit layer version merged in.
        layers: the function's layers with chaoskit's merged in.
        variables: the function's whole environment with the layer's variables set.
        layer_variables: only the variables the layer owns, marker included.
        wanted: the layer's variables without the marker (what the action reports).
        snapshot: the undo journal's snapshot (``restore_layer_snapshot`` takes it).
    """

    layer_arn: str
    layers: list[str]
    variables: dict[str, str]
    layer_variables: dict[str, str]
    wanted: dict[str, str]
    snapshot: dict[str, Any]


def undo_plan(config: Mapping[str, Any], snap: Mapping[str, Any]) -> lc.Plan:
    """Return the layers and variables of ``config`` with the enable in ``snap`` undone."""
    added, replaced = snap.get("added_layer"), snap.get("replaced_layer")
    layers = []
    for arn in lc.layer_arns(config):
        if added and arn == added:
            if replaced:
                layers.append(replaced)
        else:
            layers.append(arn)
    variables = lc.environment_of(config) or {}
    for name, previous in (snap.get("environment") or {}).items():
        if previous is None:
            variables.pop(name, None)
        else:
            variables[name] = previous
    present = variables or snap.get("environment_present")
    return {"Layers": layers, "Variables": variables if present else None}


def enable_marker(config: Mapping[str, Any]) -> dict[str, Any] | None:
    """Return the enable snapshot a function carries in ``CHAOSKIT_ENABLE_SNAPSHOT``, if any."""
    raw = (lc.environment_of(config) or {}).get(envvars.ENABLE_SNAPSHOT)
    if not raw:
        return None
    try:
        snap = json.loads(raw)
    except ValueError:
        logger.warning("ignoring an unreadable %s on the function", envvars.ENABLE_SNAPSHOT)
        return None
    return snap if isinstance(snap, dict) else None


def check_runtime(name: str, config: Mapping[str, Any]) -> None:
    """Refuse a function whose runtime or package type the layer cannot serve.

    Raises:
        LayerRefused: a container image, or a runtime the layer does not support.
    """
    # The wrapper swaps the handler for chaoskit's own: on a runtime the layer does
    # not support that breaks every invocation, and images ignore layers altogether.
    reason = runtimes.refusal(name, config)
    if reason:
        raise LayerRefused(reason)


def default_config_ttl(configuration: Mapping[str, Any] | None) -> int:
    """Return the seconds the layer caches its fault config: ``chaoskit_config_ttl`` or 1/5."""
    configured = (configuration or {}).get("chaoskit_config_ttl")
    if configured is not None:
        return int(configured)
    # Emulators are for fast feedback; real functions should not hammer SSM.
    return 1 if aws.resolve_target(configuration).is_local else 5


def publish_layer(configuration: Mapping[str, Any] | None) -> str:
    """Build the layer zip and return the ARN of a layer version holding exactly it.

    The name is configuration ``chaoskit_layer_name`` (default ``chaoskit``);
    an identical existing version is reused.
    """
    from chaoskit.layer.build import build_layer_zip

    layer_name = str((configuration or {}).get("chaoskit_layer_name") or DEFAULT_LAYER_NAME)
    with tempfile.TemporaryDirectory(prefix="chaoskit-layer-") as tmp:
        path = build_layer_zip(Path(tmp) / "chaoskit-layer.zip")
        return lc.ensure_layer_version(path, layer_name, configuration, runtimes.SUPPORTED_RUNTIMES)


def _merge_layer(layers: list[str], arn: str, function_name: str) -> tuple[list[str], dict]:
    if arn in layers:
        return layers, {"added_layer": None, "replaced_layer": None}
    same = [i for i, have in enumerate(layers) if lc.layer_name_of(have) == lc.layer_name_of(arn)]
    if same:
        merged = list(layers)
        merged[same[0]] = arn
        return merged, {"added_layer": arn, "replaced_layer": layers[same[0]]}
    if len(layers) >= MAX_LAYERS:
        raise LayerRefused(
            f"function '{function_name}' already has {len(layers)} layers, the Lambda maximum: "
            "remove one, or vendor chaoskit into the function's code"
        )
    return [*layers, arn], {"added_layer": arn, "replaced_layer": None}


def plan_enable(
    name: str,
    current: Mapping[str, Any],
    layer_arn: str | Callable[[], str],
    configuration: Mapping[str, Any] | None = None,
    config_ttl: int | None = None,
    on_existing_wrapper: str = "chain",
) -> EnablePlan:
    """Plan enabling the layer on a function whose configuration is ``current``.

    An earlier enable (its marker on the function) is undone first, so enabling
    twice records the function as it was before chaoskit, not chaoskit's own
    variables.

    Args:
        name: the bare function name.
        current: the function's configuration (GetFunctionConfiguration).
        layer_arn: the chaoskit layer version to merge in, or a function returning
            it (e.g. :func:`publish_layer`), called only once the checks passed.
        configuration: Chaos Toolkit configuration (``chaoskit_config_ttl``,
            ``chaoskit_ledger_table``, ``chaoskit_max_fault_duration``, target).
        config_ttl: overrides the config TTL.
        on_existing_wrapper: ``chain`` or ``refuse`` an exec wrapper already there.

    Raises:
        BadInput: invalid ``on_existing_wrapper``.
        LayerRefused: a wrapper is there and ``refuse`` was asked, or no room for a layer.
    """
    if on_existing_wrapper not in ("chain", "refuse"):
        raise BadInput(
            f"invalid on_existing_wrapper '{on_existing_wrapper}': expected 'chain' or 'refuse'"
        )
    marker = enable_marker(current)
    base = undo_plan(current, marker) if marker else {}
    base_layers: list[str] = list(base.get("Layers", lc.layer_arns(current)))
    base_env: dict[str, str] | None = (
        base.get("Variables") if marker else lc.environment_of(current)
    )
    base_vars: dict[str, str] = dict(base_env or {})

    ttl = default_config_ttl(configuration) if config_ttl is None else config_ttl
    ceiling = max_fault_duration(configuration, DEFAULT_MAX_FAULT_SECONDS)
    wanted: dict[str, str] = {
        EXEC_WRAPPER: WRAPPER,
        envvars.CONFIG_PARAMETER: lc.fault_parameter_name(name),
        envvars.ACK: "1",
        envvars.CONFIG_TTL: str(ttl),
        envvars.LEDGER_TABLE: str(
            (configuration or {}).get("chaoskit_ledger_table") or table_name()
        ),
        # The layer ignores a fault config that would outlive the run's ceiling.
        envvars.MAX_FAULT_SECONDS: f"{ceiling:g}",
    }
    existing = base_vars.get(EXEC_WRAPPER)
    if existing and existing != WRAPPER:
        if on_existing_wrapper == "refuse":
            raise LayerRefused(
                f"function '{name}' already has {EXEC_WRAPPER}='{existing}': pass "
                "on_existing_wrapper='chain' to run it after chaoskit's wrapper"
            )
        wanted[envvars.ORIGINAL_EXEC_WRAPPER] = existing

    arn = layer_arn if isinstance(layer_arn, str) else layer_arn()
    layers, layer_change = _merge_layer(base_layers, arn, name)
    snapshot: dict[str, Any] = {
        "function_name": name,
        **layer_change,
        "environment": {k: base_vars.get(k) for k in [*wanted, envvars.ENABLE_SNAPSHOT]},
        "environment_present": base_env is not None,
        "layers": base_layers,
    }
    marker_doc = {k: v for k, v in snapshot.items() if k != "layers"}
    owned = {**wanted, envvars.ENABLE_SNAPSHOT: json.dumps(marker_doc)}
    return EnablePlan(
        layer_arn=arn,
        layers=layers,
        variables={**base_vars, **owned},
        layer_variables=owned,
        wanted=wanted,
        snapshot=snapshot,
    )
