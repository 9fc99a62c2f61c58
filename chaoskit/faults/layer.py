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
import time
from collections.abc import Callable, Mapping
from typing import Any

from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaoskit import aws, envvars
from chaoskit.errors import BadInput, ChaosKitError, RollbackFailed, expect_state
from chaoskit.faults import _aliases
from chaoskit.faults.inject import FaultRefused
from chaoskit.functions import config as lc
from chaoskit.functions import layer_env
from chaoskit.functions.layer_env import LayerRefused
from chaoskit.ledger import store
from chaoskit.run_context import current_run_id
from chaoskit.undo import changes, guard, mutation, rollback_run

__all__ = [
    "FaultNotLive",
    "LayerRefused",
    "disable_chaoskit_layer",
    "enable_chaoskit_layer",
    "wait_for_fault_live",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

ENABLE_ACTION = "enable_chaoskit_layer"


class FaultNotLive(ChaosKitError, ActivityFailed):
    """No execution environment acknowledged the fault config in time."""


# --- enabling and disabling the layer ----------------------------------------


def restore_layer_snapshot(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Undo an ``enable_chaoskit_layer``: put layers and variables back as they were.

    Idempotent: what is already restored is left alone, and nothing is sent
    when there is nothing to change. A function that no longer exists has
    nothing to restore.
    """
    name = str(snapshot["function_name"])
    try:
        lc.update_configuration(
            name, lambda config: layer_env.undo_plan(config, snapshot), configuration
        )
    except ChaosKitError as err:
        if getattr(err, "code", "") == "ResourceNotFoundException":
            logger.warning("function '%s' no longer exists: nothing to restore", name)
            return
        raise


def _warn_about(given: str, name: str, config: Mapping[str, Any]) -> None:
    qualifier = _aliases.qualifier_of(given)
    if qualifier and qualifier.isdigit():
        logger.warning(
            "layers and variables change only $LATEST of '%s', not its version %s: invocations "
            "of that version do not see the layer (name an alias on it instead: the alias is "
            "moved to a version with the layer)",
            name,
            qualifier,
        )
    if envvars.is_truthy((lc.environment_of(config) or {}).get(envvars.DISABLED)):
        logger.warning(
            "function '%s' has %s set: the layer will inject nothing", name, envvars.DISABLED
        )


def _alias_list(function_name: str, aliases: list[str] | str | None) -> list[str]:
    given = [aliases] if isinstance(aliases, str) else list(aliases or [])
    qualifier = _aliases.qualifier_of(function_name)
    if qualifier and qualifier != "$LATEST" and not qualifier.isdigit():
        given.append(qualifier)
    names: list[str] = []
    for alias in given:
        if not isinstance(alias, str) or not alias:
            raise BadInput(f"invalid alias {alias!r}: expected an alias name such as 'live'")
        if alias not in names:
            names.append(alias)
    return names


def enable_chaoskit_layer(
    function_name: str,
    layer_arn: str | None = None,
    config_ttl: int | None = None,
    on_existing_wrapper: str = "chain",
    aliases: list[str] | str | None = None,
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
        aliases: aliases the function is invoked through (an event source
            mapping on ``name:live``); an alias in ``function_name``
            (``name:live``, an alias ARN) counts too. Each is moved to a version
            published from ``$LATEST`` with the layer, and moved back on
            rollback (:mod:`chaoskit.faults._aliases`); one whose version
            differs from ``$LATEST`` is refused before anything changes.

    Returns:
        ``{"function_name", "layer_arn", "layers", "variables", "aliases", "dry_run"}``;
        ``aliases`` maps each moved alias to its new version.
    """
    if on_existing_wrapper not in ("chain", "refuse"):
        raise BadInput(
            f"invalid on_existing_wrapper '{on_existing_wrapper}': expected 'chain' or 'refuse'"
        )
    name = lc.function_name_of(function_name)
    function = lc.get_function(name, configuration)
    guard(name, function["Tags"], configuration)
    current = function["Configuration"]
    layer_env.check_runtime(name, current)
    _warn_about(function_name, name, current)
    moving = _aliases.check_aliases(
        name, _alias_list(function_name, aliases), current, configuration
    )
    plan = layer_env.plan_enable(
        name,
        current,
        layer_arn or (lambda: layer_env.publish_layer(configuration)),
        configuration,
        config_ttl,
        on_existing_wrapper,
    )
    layers, variables = plan.layers, plan.variables

    with mutation(
        action=ENABLE_ACTION,
        resource=name,
        restorer="chaoskit.faults.layer:restore_layer_snapshot",
        snapshot=plan.snapshot,
        configuration=configuration,
        function_arn=str(current["FunctionArn"]),
    ) as change:
        if not change.dry_run:
            # The layer writes its acknowledgements and traces there.
            store.ensure_table(configuration)
            after = lc.update_configuration(
                name, lambda config: {"Layers": layers, "Variables": variables}, configuration
            )
            expect_state(
                "lambda:UpdateFunctionConfiguration",
                name,
                {"layers": layers, "variables": variables},
                {"layers": lc.layer_arns(after), "variables": lc.environment_of(after)},
            )
    routed = _aliases.route_aliases_to_layer(
        name, str(current["FunctionArn"]), moving, configuration
    )
    return {
        "function_name": name,
        "layer_arn": plan.layer_arn,
        "layers": layers,
        "variables": plan.wanted,
        "aliases": routed,
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
    run_id = current_run_id(configuration)

    def mine(change: Mapping[str, Any], action: str) -> bool:
        resource = str(change.get("resource", ""))
        if change.get("action") != action:
            return False
        return resource == name if action == ENABLE_ACTION else resource.startswith(f"{name}:")

    rows = []  # the aliases back first, then the versions published for them, then $LATEST
    for action in (_aliases.ALIAS_ACTION, _aliases.PUBLISH_ACTION, ENABLE_ACTION):
        for resource in sorted({str(c["resource"]) for c in changes(run_id) if mine(c, action)}):
            rows.extend(rollback_run(run_id, configuration, action=action, resource=resource))
    failed = [r for r in rows if r["status"] != "restored"]
    if failed:
        raise RollbackFailed(
            f"could not disable the chaoskit layer on '{name}': {failed[0]['error']}"
        )
    current = lc.get_configuration(name, configuration)
    snap = layer_env.enable_marker(current)
    if snap is None:
        return {"function_name": name, "restored": bool(rows), "layers": lc.layer_arns(current)}
    after = lc.update_configuration(
        name, lambda config: layer_env.undo_plan(config, snap), configuration
    )
    return {"function_name": name, "restored": True, "layers": lc.layer_arns(after)}


# --- waiting until a fault is live -------------------------------------------------


def _wait_live(
    name: str,
    version: str,
    timeout: float,
    ping: bool,
    configuration: Configuration,
    ttl: float = 0.0,
    written: bool = True,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Wait for the first acknowledgement of ``version``, then until every cache has expired.

    One acknowledgement proves one environment: another one warm may still hold what it
    read before the write for up to ``ttl`` seconds (the layer reads the store at most
    once per TTL). So the fault is live once an environment acknowledged it and ``ttl``
    seconds have passed since the write was known done: the start of the wait when the
    store already held ``version`` (``written``), else the first acknowledgement.
    """
    start = clock()
    delay = 0.25
    settled_from = start if written else None
    while True:
        if ping:
            _ping(name, configuration)
        acks = _acks(name, configuration)
        live = sorted(a["environment"] for a in acks if a.get("version") == version)
        now = clock()
        waited = round(now - start, 3)
        if live:
            settled_from = now if settled_from is None else settled_from
            left = settled_from + ttl - now
            if left > 0:  # until what environments read before the write has expired
                sleep(left)
            return {
                "function_name": name,
                "version": version,
                "live": True,
                "environments": len(live),
                "waited_s": round(clock() - start, 3),
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
    written version and the layer's config TTL (``CHAOSKIT_CONFIG_TTL``) has
    passed since the write, so no other warm environment still serves what it
    read before. Something must invoke the function meanwhile (the load
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
    from chaoskit.layer.loader import ConfigLoader

    name = lc.function_name_of(function_name)
    variables = lc.environment_of(lc.get_configuration(name, configuration)) or {}
    parameter = variables.get(envvars.CONFIG_PARAMETER) or lc.fault_parameter_name(name)
    raw = lc.read_fault_parameter(parameter, configuration)
    try:
        stored = json.loads(raw)["version"] if raw else None
    except (ValueError, KeyError, TypeError):
        stored = None
    if version is None and not stored:
        raise FaultRefused(
            f"no readable fault config in '{parameter}' for '{name}': inject a fault first"
        )
    version = str(version or stored)
    # How long an environment may keep what it read before the write: the layer's TTL.
    ttl = min(ConfigLoader(variables).ttl(), float(timeout))
    return _wait_live(
        name, version, float(timeout), ping, configuration, ttl=ttl, written=stored == version
    )
