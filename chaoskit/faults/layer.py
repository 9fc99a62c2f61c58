"""The chaoskit layer on a function: enable it, disable it, wait until a fault is live.

Enabling merges the layer into the function's own layers and sets the exec
wrapper and config variables; every change is snapshotted to the undo journal
first and restored exactly (the same snapshot also rides on the function in
``CHAOSKIT_ENABLE_SNAPSHOT``, so ``disable_chaoskit_layer`` is exact even
without the journal). The faults themselves are written by
:mod:`chaoskit.faults.inject`; :func:`wait_for_fault_live` waits until the
layer acknowledged the version written.
"""

import json
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaoskit import aws, envvars
from chaoskit.errors import BadInput, ChaosKitError, RollbackFailed
from chaoskit.functions import config as lc
from chaoskit.faults.inject import FaultRefused
from chaoskit.layer import runtimes
from chaoskit.layer.config import DEFAULT_MAX_FAULT_SECONDS as MAX_SECONDS
from chaoskit.ledger import store
from chaoskit.ledger.records import table_name
from chaoskit.run_context import current_run_id
from chaoskit.undo import guard, mutation, rollback_run
from chaoskit.undo.guard import max_fault_duration

__all__ = [
    "FaultNotLive",
    "LayerRefused",
    "disable_chaoskit_layer",
    "enable_chaoskit_layer",
    "wait_for_fault_live",
]

logger = logging.getLogger("chaoskit")

WRAPPER = "/opt/chaoskit-wrapper"
EXEC_WRAPPER = "AWS_LAMBDA_EXEC_WRAPPER"
DEFAULT_LAYER_NAME = "chaoskit"
MAX_LAYERS = 5
ENABLE_ACTION = "enable_chaoskit_layer"


class LayerRefused(BadInput, ActivityFailed):
    """The layer cannot be enabled on this function as asked."""


class FaultNotLive(ChaosKitError, ActivityFailed):
    """No execution environment acknowledged the fault config in time."""


# --- enabling and disabling the layer ----------------------------------------


def _restored(config: Mapping[str, Any], snap: Mapping[str, Any]) -> lc.Plan:
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


def _marker(config: Mapping[str, Any]) -> dict[str, Any] | None:
    raw = (lc.environment_of(config) or {}).get(envvars.ENABLE_SNAPSHOT)
    if not raw:
        return None
    try:
        snap = json.loads(raw)
    except ValueError:
        logger.warning("ignoring an unreadable %s on the function", envvars.ENABLE_SNAPSHOT)
        return None
    return snap if isinstance(snap, dict) else None


def restore_layer_snapshot(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Undo an ``enable_chaoskit_layer``: put layers and variables back as they were.

    Idempotent: what is already restored is left alone, and nothing is sent
    when there is nothing to change. A function that no longer exists has
    nothing to restore.
    """
    name = str(snapshot["function_name"])
    try:
        lc.update_configuration(name, lambda config: _restored(config, snapshot), configuration)
    except ChaosKitError as err:
        if getattr(err, "code", "") == "ResourceNotFoundException":
            logger.warning("function '%s' no longer exists: nothing to restore", name)
            return
        raise


def _published_layer(configuration: Mapping[str, Any] | None) -> str:
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


def _check_runtime(name: str, config: Mapping[str, Any]) -> None:
    # The wrapper swaps the handler for chaoskit's own: on a runtime the layer does
    # not support that breaks every invocation, and images ignore layers altogether.
    reason = runtimes.refusal(name, config)
    if reason:
        raise LayerRefused(reason)


def _warn_about(given: str, name: str, config: Mapping[str, Any]) -> None:
    qualifier = given.split(":")[7] if given.startswith("arn:") and given.count(":") >= 7 else (
        given.split(":", 1)[1] if not given.startswith("arn:") and ":" in given else None
    )  # fmt: skip
    if qualifier and qualifier != "$LATEST":
        logger.warning(
            "layers and variables change only $LATEST of '%s', not '%s': invocations through "
            "a published version or an alias on one do not see the layer until it is republished",
            name,
            qualifier,
        )
    if envvars.is_truthy((lc.environment_of(config) or {}).get(envvars.DISABLED)):
        logger.warning(
            "function '%s' has %s set: the layer will inject nothing", name, envvars.DISABLED
        )


def _default_ttl(configuration: Mapping[str, Any] | None) -> int:
    configured = (configuration or {}).get("chaoskit_config_ttl")
    if configured is not None:
        return int(configured)
    # Emulators are for fast feedback; real functions should not hammer SSM.
    return 1 if aws.resolve_target(configuration).is_local else 5


def enable_chaoskit_layer(
    function_name: str,
    layer_arn: str | None = None,
    config_ttl: int | None = None,
    on_existing_wrapper: str = "chain",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Enable chaoskit's fault injection layer on a Lambda function.

    Merges the layer into the function's own layers (never replacing them), sets
    ``AWS_LAMBDA_EXEC_WRAPPER=/opt/chaoskit-wrapper`` and the chaoskit variables
    (config parameter ``/chaoskit/faults/<function>``, acknowledgements, config
    TTL, ledger table), then waits until the update is done. The previous layers
    and variables are recorded first and restored exactly on rollback or by
    ``disable_chaoskit_layer``. Enabling twice is harmless.

    Args:
        function_name: function name or ARN.
        layer_arn: layer version ARN to use; by default the chaoskit layer is built
            and published (an identical existing version is reused).
        config_ttl: seconds the layer caches the fault config (default 1 on the
            sandbox and LocalStack, 5 on AWS, or configuration ``chaoskit_config_ttl``).
        on_existing_wrapper: when the function already has an exec wrapper:
            ``chain`` runs it after chaoskit's, ``refuse`` raises an error.

    Returns:
        ``{"function_name", "layer_arn", "layers", "variables", "dry_run"}``.
    """
    if on_existing_wrapper not in ("chain", "refuse"):
        raise BadInput(
            f"invalid on_existing_wrapper '{on_existing_wrapper}': expected 'chain' or 'refuse'"
        )
    name = lc.function_name_of(function_name)
    function = lc.get_function(name, configuration)
    guard(name, function["Tags"], configuration)
    current = function["Configuration"]
    _check_runtime(name, current)
    _warn_about(function_name, name, current)
    marker = _marker(current)
    base = _restored(current, marker) if marker else {}
    base_layers: list[str] = list(base.get("Layers", lc.layer_arns(current)))
    base_env: dict[str, str] | None = (
        base.get("Variables") if marker else lc.environment_of(current)
    )
    base_vars: dict[str, str] = dict(base_env or {})

    existing = base_vars.get(EXEC_WRAPPER)
    wanted: dict[str, str] = {
        EXEC_WRAPPER: WRAPPER,
        envvars.CONFIG_PARAMETER: lc.fault_parameter_name(name),
        envvars.ACK: "1",
        envvars.CONFIG_TTL: str(_default_ttl(configuration) if config_ttl is None else config_ttl),
        envvars.LEDGER_TABLE: str(
            (configuration or {}).get("chaoskit_ledger_table") or table_name()
        ),
        # The layer ignores a fault config that would outlive the run's ceiling.
        envvars.MAX_FAULT_SECONDS: f"{max_fault_duration(configuration, MAX_SECONDS):g}",
    }
    if existing and existing != WRAPPER:
        if on_existing_wrapper == "refuse":
            raise LayerRefused(
                f"function '{name}' already has {EXEC_WRAPPER}='{existing}': pass "
                "on_existing_wrapper='chain' to run it after chaoskit's wrapper"
            )
        wanted[envvars.ORIGINAL_EXEC_WRAPPER] = existing

    arn = layer_arn or _published_layer(configuration)
    layers, layer_change = _merge_layer(base_layers, arn, name)
    snapshot: dict[str, Any] = {
        "function_name": name,
        **layer_change,
        "environment": {k: base_vars.get(k) for k in [*wanted, envvars.ENABLE_SNAPSHOT]},
        "environment_present": base_env is not None,
        "layers": base_layers,
    }
    marker_doc = {k: v for k, v in snapshot.items() if k != "layers"}
    variables = {**base_vars, **wanted, envvars.ENABLE_SNAPSHOT: json.dumps(marker_doc)}

    with mutation(
        action=ENABLE_ACTION,
        resource=name,
        restorer="chaoskit.faults.layer:restore_layer_snapshot",
        snapshot=snapshot,
        configuration=configuration,
    ) as change:
        if not change.dry_run:
            # The layer writes its acknowledgements and traces there.
            store.ensure_table(configuration)
            lc.update_configuration(
                name, lambda config: {"Layers": layers, "Variables": variables}, configuration
            )
    return {
        "function_name": name,
        "layer_arn": arn,
        "layers": layers,
        "variables": wanted,
        "dry_run": change.dry_run,
    }


def disable_chaoskit_layer(
    function_name: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Disable chaoskit's layer on a function, restoring its layers and variables exactly.

    Restores what this run's ``enable_chaoskit_layer`` recorded; without a
    journal entry (a later run, by hand) it uses the record the enable action
    left on the function. A function chaoskit did not enable is left untouched.

    Args:
        function_name: function name or ARN.

    Returns:
        ``{"function_name", "restored", "layers"}``.
    """
    name = lc.function_name_of(function_name)
    rows = rollback_run(
        current_run_id(configuration), configuration, action=ENABLE_ACTION, resource=name
    )
    failed = [r for r in rows if r["status"] != "restored"]
    if failed:
        raise RollbackFailed(
            f"could not disable the chaoskit layer on '{name}': {failed[0]['error']}"
        )
    current = lc.get_configuration(name, configuration)
    snap = _marker(current)
    if snap is None:
        return {"function_name": name, "restored": bool(rows), "layers": lc.layer_arns(current)}
    after = lc.update_configuration(name, lambda config: _restored(config, snap), configuration)
    return {"function_name": name, "restored": True, "layers": lc.layer_arns(after)}


# --- waiting until a fault is live -------------------------------------------------


def _wait_live(
    name: str,
    version: str,
    timeout: float,
    ping: bool,
    configuration: Configuration,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    start = clock()
    delay = 0.25
    while True:
        if ping:
            _ping(name, configuration)
        acks = _acks(name, configuration)
        live = sorted(a["environment"] for a in acks if a.get("version") == version)
        waited = round(clock() - start, 3)
        if live:
            return {
                "function_name": name,
                "version": version,
                "live": True,
                "environments": len(live),
                "waited_s": waited,
            }
        if waited >= timeout:
            seen = sorted({str(a.get("version")) for a in acks}) or ["none"]
            raise FaultNotLive(
                f"fault config version '{version}' on '{name}' not acknowledged within "
                f"{timeout:g} s (acknowledged versions: {', '.join(seen)}): is the chaoskit "
                "layer enabled with CHAOSKIT_ACK, and is the function being invoked?"
            )
        sleep(delay)
        delay = min(delay * 2, 2.0)


def _acks(name: str, configuration: Configuration) -> list[dict[str, Any]]:
    try:
        return store.read_acks(name, configuration)
    except ChaosKitError as err:
        if getattr(err, "code", "") == "ResourceNotFoundException":
            return []  # no ledger table yet: nothing acknowledged
        raise


def _ping(name: str, configuration: Configuration) -> None:
    try:
        aws.client("lambda", configuration).invoke(
            FunctionName=name,
            InvocationType="RequestResponse",
            Payload=json.dumps({"chaoskit_ping": True}).encode(),
        )
    except Exception as err:  # a failed ping only means no ack from it
        logger.debug("ping of '%s' failed: %s", name, err)


def wait_for_fault_live(
    function_name: str,
    timeout: float = 60,
    version: str | None = None,
    ping: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Wait until the function's layer has applied the current fault config.

    Polls the layer's acknowledgements in the ledger instead of sleeping a fixed
    time: the fault is live once an execution environment acknowledged the
    written version. Something must invoke the function meanwhile (the load
    action does), or set ``ping`` to invoke it with a ``chaoskit_ping`` event the
    layer answers without running the handler or any fault.

    Args:
        function_name: function name or ARN.
        timeout: seconds to wait before failing.
        version: the config version to wait for; by default the one now written.
        ping: invoke the function with a ping event on every poll.

    Returns:
        ``{"function_name", "version", "live", "environments", "waited_s"}``.
    """
    name = lc.function_name_of(function_name)
    if version is None:
        config = lc.get_configuration(name, configuration)
        parameter = (lc.environment_of(config) or {}).get(envvars.CONFIG_PARAMETER)
        parameter = parameter or lc.fault_parameter_name(name)
        raw = lc.read_fault_parameter(parameter, configuration)
        try:
            version = json.loads(raw)["version"] if raw else None
        except (ValueError, KeyError, TypeError):
            version = None
        if not version:
            raise FaultRefused(
                f"no readable fault config in '{parameter}' for '{name}': inject a fault first"
            )
    return _wait_live(name, str(version), float(timeout), ping, configuration)
