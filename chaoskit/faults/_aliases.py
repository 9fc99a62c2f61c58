"""The layer on a function invoked through an alias: publish $LATEST, point the alias at it.

A layer and variables change only ``$LATEST``. A function whose event source
mapping, subscription or rule invokes an alias (CDK's ``currentVersion`` with an
``Alias``, SAM's ``AutoPublishAlias``) runs the alias's published version, which
never sees them: faults would not fire and events would not be traced.

:func:`route_aliases_to_layer` makes the alias run the layer, and nothing else
different: it first checks that the alias's version is ``$LATEST`` as it was
before chaoskit (same code, handler, runtime, memory, timeout, role, layers and
variables), refusing otherwise, since moving the alias would also deploy
whatever ``$LATEST`` holds. Then, each step recorded before it is made:

1. publish ``$LATEST`` (with the layer) as a new version, described
   ``chaoskit layer, run <run id>``;
2. point the alias at that version, keeping any weighted routing as it was.

Rollback, newest first: the alias goes back to its version and routing exactly
(the canary's restorer, :mod:`chaoskit.faults.canary`), then the versions this run published
are deleted, unless an alias still routes to one. The description finds them
even after a crash between publishing and recording the version's number.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from chaoskit.aws import client
from chaoskit.errors import BadInput, expect_state
from chaoskit.functions import config as lc
from chaoskit.functions import layer_env
from chaoskit.functions.select import aws_call
from chaoskit.run_context import current_run_id
from chaoskit.undo import mutation

__all__ = [
    "check_aliases",
    "qualifier_of",
    "read_alias",
    "restore_published_versions",
    "route_aliases_to_layer",
    "update_alias",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

PUBLISH_ACTION = "publish_version_with_layer"
ALIAS_ACTION = "point_alias_at_layer_version"
#: Configuration that must match between an alias's version and $LATEST.
SAME = ("CodeSha256", "Runtime", "Handler", "MemorySize", "Timeout", "Role", "Architectures")


def qualifier_of(given: str) -> str | None:
    """Return the qualifier of ``name:qualifier`` or a qualified function ARN, if any."""
    if given.startswith("arn:"):
        parts = given.split(":")
        return parts[7] if len(parts) >= 8 and parts[7] else None
    return given.split(":", 1)[1] if ":" in given else None


def _description(run_id: str) -> str:
    return f"chaoskit layer, run {run_id}"


def _without_chaoskit(config: Mapping[str, Any]) -> dict[str, Any]:
    """A function configuration as it was before chaoskit's layer, in the fields that matter."""
    marker = layer_env.enable_marker(config)
    if marker:
        plan = layer_env.undo_plan(config, marker)
        layers, variables = list(plan.get("Layers") or []), dict(plan.get("Variables") or {})
    else:
        layers, variables = lc.layer_arns(config), dict(lc.environment_of(config) or {})
    return {
        **{f: config.get(f) for f in SAME},
        "Layers": layers,
        "Environment": variables,
    }


def _alias_versions(name: str, configuration: Mapping[str, Any] | None) -> set[str]:
    lam = client("lambda", configuration)
    used: set[str] = set()
    for page in lam.get_paginator("list_aliases").paginate(FunctionName=name):
        for alias in page.get("Aliases") or []:
            used.add(str(alias["FunctionVersion"]))
            weights = (alias.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
            used.update(str(v) for v in weights)
    return used


def read_alias(function_name: str, alias: str, configuration: Mapping[str, Any] | None) -> dict:
    """Return an alias's ``{"function_version", "weights"}`` (BadInput if it does not exist)."""
    lam = client("lambda", configuration)
    missing = f"alias '{alias}' of function '{function_name}' not found"
    found = aws_call(
        "lambda:GetAlias",
        f"{function_name}:{alias}",
        lam.get_alias,
        missing,
        FunctionName=function_name,
        Name=alias,
    )
    weights = (found.get("RoutingConfig") or {}).get("AdditionalVersionWeights") or {}
    return {
        "function_version": str(found["FunctionVersion"]),
        "weights": {str(k): float(v) for k, v in weights.items()},
    }


def update_alias(
    function_name: str,
    alias: str,
    version: str,
    weights: Mapping[str, float],
    configuration: Mapping[str, Any] | None,
) -> None:
    """Point an alias at ``version`` with these routing ``weights``, and read back that it took."""
    current = read_alias(function_name, alias, configuration)
    if current == {"function_version": version, "weights": dict(weights)}:
        return
    lam = client("lambda", configuration)
    aws_call(
        "lambda:UpdateAlias",
        f"{function_name}:{alias}",
        lam.update_alias,
        FunctionName=function_name,
        Name=alias,
        FunctionVersion=version,
        RoutingConfig={"AdditionalVersionWeights": dict(weights)},
    )
    wanted = {"function_version": version, "weights": {k: float(v) for k, v in weights.items()}}
    found = read_alias(function_name, alias, configuration)
    expect_state("lambda:UpdateAlias", f"{function_name}:{alias}", wanted, found)


def check_aliases(
    name: str,
    aliases: list[str],
    latest: Mapping[str, Any],
    configuration: Mapping[str, Any] | None,
) -> dict[str, dict[str, Any]]:
    """Read each alias; refuse one whose version is not ``$LATEST`` as it was before chaoskit.

    Returns:
        ``{alias: {"function_version", "weights"}}`` for the aliases to move
        (those already on ``$LATEST`` see the layer as they are).

    Raises:
        BadInput: no such alias, or its version differs from ``$LATEST``.
    """
    wanted = _without_chaoskit(latest)
    moving: dict[str, dict[str, Any]] = {}
    for alias in aliases:
        current = read_alias(name, alias, configuration)
        version = current["function_version"]
        if version == "$LATEST":
            continue
        published = lc.get_configuration(f"{name}:{version}", configuration)
        if published.get("Description") == _description(current_run_id(configuration)):
            continue  # this run already moved it (the layer enabled twice)
        found = _without_chaoskit(published)
        differ = [k for k in wanted if wanted[k] != found[k]]
        if differ:
            raise BadInput(
                f"alias '{alias}' of function '{name}' runs version {version}, which differs "
                f"from $LATEST in {', '.join(differ)}: the layer reaches an alias only through "
                "a version published from $LATEST, which would also change what the alias "
                "runs; deploy so that $LATEST matches the alias's version first"
            )
        moving[alias] = current
    return moving


def restore_published_versions(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Delete the versions a run published for the layer (restorer), unless an alias uses one."""
    name = str(snapshot["function_name"])
    description = str(snapshot["description"])
    lam = client("lambda", configuration)
    try:
        versions = [
            str(v["Version"])
            for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
            for v in page.get("Versions") or []
            if v.get("Description") == description and v.get("Version") != "$LATEST"
        ]
    except lam.exceptions.ResourceNotFoundException:
        logger.warning("function '%s' no longer exists: no version to delete", name)
        return
    used = _alias_versions(name, configuration)
    for version in versions:
        if version in used:
            logger.warning(
                "version %s of '%s' (published by chaoskit) is kept: an alias routes to it",
                version,
                name,
            )
            continue
        aws_call(
            "lambda:DeleteFunction",
            f"{name}:{version}",
            lam.delete_function,
            FunctionName=name,
            Qualifier=version,
        )
    left = {
        str(v["Version"])
        for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=name)
        for v in page.get("Versions") or []
    }
    expect_state(
        "lambda:DeleteFunction",
        name,
        sorted(v for v in versions if v in used),
        sorted(v for v in versions if v in left),
    )


def route_aliases_to_layer(
    name: str,
    function_arn: str,
    moving: Mapping[str, Mapping[str, Any]],
    configuration: Mapping[str, Any] | None,
) -> dict[str, str]:
    """Publish ``$LATEST`` (layer enabled) and point each alias of ``moving`` at it.

    Returns:
        ``{alias: version}`` now routed (empty on a dry run or with nothing to move).
    """
    if not moving:
        return {}
    description = _description(current_run_id(configuration))
    lam = client("lambda", configuration)
    snapshot = {"function_name": name, "description": description}
    version = "(a version published from $LATEST)"  # what a dry run announces
    with mutation(
        PUBLISH_ACTION,
        f"{name}:versions",
        "chaoskit.faults._aliases:restore_published_versions",
        snapshot,
        configuration,
        lock_key=name,
    ) as change:
        if not change.dry_run:
            lc.wait_until_updated(name, configuration)
            published = aws_call(
                "lambda:PublishVersion",
                name,
                lam.publish_version,
                FunctionName=name,
                Description=description,
            )
            version = str(published["Version"])
            if published.get("Description") != description:
                # Lambda answered an existing version: $LATEST had not changed since it.
                logger.info("'%s': $LATEST with the layer is already version %s", name, version)
    routed: dict[str, str] = {}
    for alias, previous in moving.items():
        snap = {"function_name": name, "alias": alias, **previous}
        with mutation(
            ALIAS_ACTION,
            f"{name}:{alias}",
            "chaoskit.faults.canary:restore_alias_snapshot",
            snap,
            configuration,
            lock_key=name,
            function_arn=function_arn,
        ) as change:
            if not change.dry_run:
                update_alias(name, alias, version, previous["weights"], configuration)
                routed[alias] = version
    return routed
