"""Canary: shift part of an alias's traffic to another version, and restore it exactly.

An alias can route a weight of its invocations to a second version
(``RoutingConfig.AdditionalVersionWeights``). Shifting weight to a bad
version is how a canary deployment goes wrong; the restore puts back the
alias's version and routing exactly as they were (no routing at all, if it
had none).
"""

from typing import Any

from chaoslib.types import Configuration, Secrets

from chaoskit.errors import BadInput
from chaoskit.faults._aliases import read_alias, update_alias
from chaoskit.functions.config import function_name_of
from chaoskit.functions.select import function_ref
from chaoskit.run_context import current_run_id
from chaoskit.undo import changes, guard, mutation, rollback_run

__all__ = ["restore_alias_traffic", "shift_alias_traffic"]

ACTION = "shift_alias_traffic"
RESTORER = "chaoskit.faults.canary:restore_alias_snapshot"


def restore_alias_snapshot(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Put an alias's version and routing weights back (restorer)."""
    update_alias(
        str(snapshot["function_name"]),
        str(snapshot["alias"]),
        str(snapshot["function_version"]),
        {str(k): float(v) for k, v in (snapshot.get("weights") or {}).items()},
        configuration,
    )


def shift_alias_traffic(
    function_name: str,
    alias: str,
    version: str,
    weight: float,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Route ``weight`` (0 to 1) of an alias's invocations to ``version``.

    Args:
        function_name: the function's name or ARN.
        alias: the alias to shift, e.g. ``live``.
        version: the version that receives the weight (not the alias's own version).
        weight: the share of invocations, from 0.0 to 1.0.

    Returns:
        ``function_name``, ``alias``, ``previous`` (``function_version`` and
        ``weights``), ``weights`` now, ``dry_run``.
    """
    weight = float(weight)
    if not 0.0 <= weight <= 1.0:
        raise BadInput(f"invalid weight {weight}: expected a number from 0.0 to 1.0")
    ref = function_ref(function_name, configuration)
    guard(ref.name, ref.tags, configuration)
    previous = read_alias(ref.name, alias, configuration)
    version = str(version)
    if version == previous["function_version"]:
        raise BadInput(
            f"version '{version}' is already the version of alias '{alias}': "
            "expected another version to shift traffic to"
        )
    weights = {version: weight}
    snapshot = {"function_name": ref.name, "alias": alias, **previous}
    resource = f"{ref.name}:{alias}"
    with mutation(
        ACTION, resource, RESTORER, snapshot, configuration, lock_key=ref.name, function_arn=ref.arn
    ) as ch:
        if not ch.dry_run:
            update_alias(ref.name, alias, previous["function_version"], weights, configuration)
    return {
        "function_name": ref.name,
        "alias": alias,
        "previous": previous,
        "weights": previous["weights"] if ch.dry_run else weights,
        "dry_run": ch.dry_run,
    }


def restore_alias_traffic(
    function_name: str | None = None,
    alias: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Restore the aliases this run shifted, version and weights exactly as they were.

    Args:
        function_name: only this function's aliases (name or ARN); default all.
        alias: only this alias (with ``function_name``).

    Returns:
        One row per restored change; empty when nothing was left to restore.
    """
    run_id = current_run_id(configuration)
    if not function_name:
        return rollback_run(run_id, configuration, action=ACTION)
    name = function_name_of(function_name)
    if alias:
        return rollback_run(run_id, configuration, action=ACTION, resource=f"{name}:{alias}")
    resources = {
        str(c["resource"])
        for c in changes(run_id)
        if c.get("action") == ACTION and str(c.get("resource", "")).startswith(f"{name}:")
    }
    rows = []
    for resource in sorted(resources):
        rows.extend(rollback_run(run_id, configuration, action=ACTION, resource=resource))
    return rows
