"""Downstream throttling without the layer, each restored exactly.

- API Gateway (REST) stage throttling: a rate and burst limit on the stage's
  method settings (``*/*`` = every method), so callers get 429s;
- Lambda event source mappings: ``ScalingConfig.MaximumConcurrency`` (SQS
  sources, 2 to 1000), or the mapping disabled so nothing is polled;
- DynamoDB provisioned capacity cut (table and, by default, its global
  secondary indexes), so writes and reads get
  ``ProvisionedThroughputExceededException``.

Snapshots keep exactly what is changed: the method setting's limits (or its
absence), the mapping's state and scaling config, the table's and indexes'
read and write units. Restores send only what differs, so they are idempotent.
"""

import time
from collections.abc import Callable, Mapping
from typing import Any

from chaoslib.types import Configuration, Secrets

from chaoskit.aws import client
from chaoskit.errors import AWSActionFailed, BadInput, expect_state
from chaoskit.functions.select import aws_call, function_ref
from chaoskit.run_context import current_run_id
from chaoskit.undo import guard, mutation, rollback_run
from chaoskit.undo.settings import setting

__all__ = [
    "cut_table_capacity",
    "disable_event_source_mapping",
    "limit_event_source_concurrency",
    "restore_api_stage_throttling",
    "restore_event_source_mapping",
    "restore_table_capacity",
    "throttle_api_stage",
]

_STAGE = "throttle_api_stage"
_ESM = ("limit_event_source_concurrency", "disable_event_source_mapping")
_TABLE = "cut_table_capacity"
_MOD = "chaoskit.faults.throttle"

#: Injectable for tests: how to wait between two polls of a resource's state.
sleep: Callable[[float], None] = time.sleep
clock: Callable[[], float] = time.monotonic


def _read_when(
    what: str,
    read: Callable[[], dict[str, Any]],
    ready: Callable[[dict[str, Any]], bool],
    configuration: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Return ``read()`` once ``ready`` holds for it, reading every second until the timeout."""
    deadline = clock() + float(setting(configuration, "chaoskit_wait_timeout", 300))
    found = read()
    while not ready(found):
        if clock() > deadline:
            raise AWSActionFailed("wait", what, "Timeout", "still updating after the timeout")
        sleep(1.0)
        found = read()
    return found


# --- API Gateway stage -------------------------------------------------------------


def _method_setting(
    rest_api_id: str, stage_name: str, key: str, configuration: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    apig = client("apigateway", configuration)
    stage = aws_call(
        "apigateway:GetStage",
        f"{rest_api_id}/{stage_name}",
        apig.get_stage,
        restApiId=rest_api_id,
        stageName=stage_name,
    )
    found = (stage.get("methodSettings") or {}).get(key)
    if found is None:
        return None
    return {"rate": found.get("throttlingRateLimit"), "burst": found.get("throttlingBurstLimit")}


def _patch_stage(
    rest_api_id: str, stage_name: str, ops: list[dict[str, str]], configuration: Any
) -> None:
    apig = client("apigateway", configuration)
    aws_call(
        "apigateway:UpdateStage",
        f"{rest_api_id}/{stage_name}",
        apig.update_stage,
        restApiId=rest_api_id,
        stageName=stage_name,
        patchOperations=ops,
    )


def _limits(found: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if found is None or found.get("rate") is None or found.get("burst") is None:
        return None if found is None else dict(found)
    return {"rate": float(found["rate"]), "burst": int(found["burst"])}


def _limit_ops(key: str, rate: Any, burst: Any) -> list[dict[str, str]]:
    return [
        {"op": "replace", "path": f"/{key}/throttling/rateLimit", "value": str(rate)},
        {"op": "replace", "path": f"/{key}/throttling/burstLimit", "value": str(burst)},
    ]


def restore_api_stage_snapshot(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Put a stage's method-setting limits back, or remove the setting it lacked (restorer)."""
    api, stage, key = snapshot["rest_api_id"], snapshot["stage_name"], snapshot["key"]
    current = _method_setting(api, stage, key, configuration)
    previous = snapshot.get("previous")
    if previous is None:
        if current is not None:
            _patch_stage(api, stage, [{"op": "remove", "path": f"/{key}"}], configuration)
    elif current != previous:
        _patch_stage(
            api, stage, _limit_ops(key, previous["rate"], previous["burst"]), configuration
        )


def throttle_api_stage(
    rest_api_id: str,
    stage_name: str,
    rate_limit: float,
    burst_limit: int,
    method_key: str = "*/*",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Throttle a REST API stage: callers beyond the limits get 429 Too Many Requests.

    Args:
        rest_api_id: the REST API id.
        stage_name: the stage, e.g. ``prod``.
        rate_limit: steady-state requests per second.
        burst_limit: the bucket size for bursts.
        method_key: the method setting to change: ``*/*`` (every method) or
            ``<resource path with / as ~1>/<METHOD>``, e.g. ``~1orders/POST``.

    Returns:
        ``rest_api_id``, ``stage_name``, ``method_key``, ``previous`` (limits,
        or ``None`` when the stage had no such setting), ``dry_run``.
    """
    if float(rate_limit) < 0 or int(burst_limit) < 0:
        raise BadInput(f"invalid limits {rate_limit}/{burst_limit}: expected 0 or more")
    resource = f"{rest_api_id}/{stage_name}"
    apig = client("apigateway", configuration)
    arn = f"arn:aws:apigateway:{apig.meta.region_name}::/restapis/{rest_api_id}/stages/{stage_name}"
    tags = (
        aws_call("apigateway:GetTags", resource, apig.get_tags, resourceArn=arn).get("tags") or {}
    )
    guard(resource, tags, configuration)
    previous = _method_setting(rest_api_id, stage_name, method_key, configuration)
    snapshot = {
        "rest_api_id": rest_api_id,
        "stage_name": stage_name,
        "key": method_key,
        "previous": previous,
    }
    restorer = f"{_MOD}:restore_api_stage_snapshot"
    tagged = [("apigateway", arn)]
    with mutation(_STAGE, resource, restorer, snapshot, configuration, tagged=tagged) as change:
        if not change.dry_run:
            ops = _limit_ops(method_key, float(rate_limit), int(burst_limit))
            _patch_stage(rest_api_id, stage_name, ops, configuration)
            found = _method_setting(rest_api_id, stage_name, method_key, configuration)
            wanted = {"rate": float(rate_limit), "burst": int(burst_limit)}
            expect_state("apigateway:UpdateStage", resource, wanted, _limits(found))
    return {
        "rest_api_id": rest_api_id,
        "stage_name": stage_name,
        "method_key": method_key,
        "previous": previous,
        "dry_run": change.dry_run,
    }


def restore_api_stage_throttling(
    rest_api_id: str | None = None,
    stage_name: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Restore the stage throttling this run set, exactly as it was.

    Args:
        rest_api_id: only this API (with ``stage_name``); default every stage this run throttled.
        stage_name: the stage.
    """
    resource = f"{rest_api_id}/{stage_name}" if rest_api_id and stage_name else None
    return rollback_run(current_run_id(configuration), configuration, _STAGE, resource)


# --- Lambda event source mappings --------------------------------------------------

_SETTLED = ("Enabled", "Disabled")


def _mapping(uuid: str, configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    lam = client("lambda", configuration)
    missing = f"event source mapping '{uuid}' not found"
    return dict(
        aws_call(
            "lambda:GetEventSourceMapping", uuid, lam.get_event_source_mapping, missing, UUID=uuid
        )
    )


def _mapping_state(found: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "enabled": found.get("State") in ("Enabled", "Enabling"),
        "scaling": dict(found.get("ScalingConfig") or {}),
    }


def _settled(uuid: str, configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    return _read_when(
        f"event source mapping {uuid}",
        lambda: _mapping(uuid, configuration),
        lambda found: found.get("State") in _SETTLED,
        configuration,
    )


def _set_mapping(uuid: str, wanted: Mapping[str, Any], configuration: Any) -> None:
    current = _mapping_state(_settled(uuid, configuration))
    changes: dict[str, Any] = {}
    if current["enabled"] != wanted["enabled"]:
        changes["Enabled"] = bool(wanted["enabled"])
    if current["scaling"] != dict(wanted["scaling"]):
        changes["ScalingConfig"] = dict(wanted["scaling"])
    if changes:
        lam = client("lambda", configuration)
        aws_call(
            "lambda:UpdateEventSourceMapping",
            uuid,
            lam.update_event_source_mapping,
            UUID=uuid,
            **changes,
        )
        after = _mapping_state(_settled(uuid, configuration))
        wanted_state = {"enabled": bool(wanted["enabled"]), "scaling": dict(wanted["scaling"])}
        expect_state("lambda:UpdateEventSourceMapping", uuid, wanted_state, after)


def restore_event_source_mapping_snapshot(
    snapshot: dict[str, Any], configuration: dict[str, Any]
) -> None:
    """Put a mapping's enabled state and scaling config back (restorer)."""
    wanted = {"enabled": snapshot["enabled"], "scaling": snapshot.get("scaling") or {}}
    _set_mapping(str(snapshot["uuid"]), wanted, configuration)


def _select_mappings(
    uuid: str | None,
    function_name: str | None,
    event_source_arn: str | None,
    configuration: Mapping[str, Any] | None,
) -> list[dict[str, Any]]:
    if uuid:
        return [_mapping(uuid, configuration)]
    if not function_name:
        raise BadInput("no event source mapping selected: give uuid or function_name")
    ref = function_ref(function_name, configuration)
    kwargs: dict[str, Any] = {"FunctionName": ref.name}
    if event_source_arn:
        kwargs["EventSourceArn"] = event_source_arn
    lam = client("lambda", configuration)
    found = []
    pages = lam.get_paginator("list_event_source_mappings").paginate(**kwargs)
    for page in aws_call("lambda:ListEventSourceMappings", ref.name, lambda: list(pages)):
        found.extend(page.get("EventSourceMappings", []))
    if not found:
        raise BadInput(
            f"function '{function_name}' has no event source mapping"
            + (f" from '{event_source_arn}'" if event_source_arn else "")
        )
    return found


def _mapping_arn(function_arn: str, uuid: str) -> str:
    # arn:aws:lambda:<region>:<account>:event-source-mapping:<uuid>
    return ":".join([*function_arn.split(":")[:5], "event-source-mapping", uuid])


def _change_mappings(
    action: str, wanted: Callable[[dict[str, Any]], dict[str, Any]], selected: list[dict], cfg: Any
) -> list[dict[str, Any]]:
    refs = {}
    for m in selected:  # refuse before the first mutation, not halfway through
        ref = function_ref(str(m["FunctionArn"]), cfg)
        guard(ref.name, ref.tags, cfg)
        refs[m["UUID"]] = ref
    rows = []
    for m in selected:
        uuid, ref = str(m["UUID"]), refs[m["UUID"]]
        previous = _mapping_state(_settled(uuid, cfg))
        snapshot = {"uuid": uuid, **previous}
        restorer = f"{_MOD}:restore_event_source_mapping_snapshot"
        target = wanted(previous)
        esm_arn = str(m.get("EventSourceMappingArn") or _mapping_arn(ref.arn, uuid))
        with mutation(
            action,
            uuid,
            restorer,
            snapshot,
            cfg,
            lock_key=ref.name,
            function_arn=ref.arn,
            tagged=[("lambda", esm_arn)],
        ) as change:
            if not change.dry_run:
                _set_mapping(uuid, target, cfg)
        rows.append(
            {
                "uuid": uuid,
                "function_name": ref.name,
                "event_source_arn": m.get("EventSourceArn"),
                "previous": previous,
                "now": target,
                "dry_run": change.dry_run,
            }
        )
    return rows


def limit_event_source_concurrency(
    maximum_concurrency: int = 2,
    function_name: str | None = None,
    event_source_arn: str | None = None,
    uuid: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Cap how many concurrent invocations an SQS event source mapping may drive.

    Args:
        maximum_concurrency: the cap, 2 to 1000 (Lambda's limits).
        function_name: select the function's mappings (name or ARN) ...
        event_source_arn: ... only the one from this source.
        uuid: or select one mapping by its UUID.

    Returns:
        One row per mapping: ``uuid``, ``function_name``, ``previous`` and
        ``now`` (``enabled``, ``scaling``), ``dry_run``.
    """
    if not 2 <= int(maximum_concurrency) <= 1000:
        raise BadInput(f"invalid maximum_concurrency {maximum_concurrency}: expected 2 to 1000")
    selected = _select_mappings(uuid, function_name, event_source_arn, configuration)
    cap = {"MaximumConcurrency": int(maximum_concurrency)}
    return _change_mappings(_ESM[0], lambda p: {**p, "scaling": cap}, selected, configuration)


def disable_event_source_mapping(
    function_name: str | None = None,
    event_source_arn: str | None = None,
    uuid: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Disable event source mappings: records wait in the source, nothing is polled.

    Args:
        function_name: select the function's mappings (name or ARN) ...
        event_source_arn: ... only the one from this source.
        uuid: or select one mapping by its UUID.

    Returns:
        One row per mapping: ``uuid``, ``function_name``, ``previous``, ``now``, ``dry_run``.
    """
    selected = _select_mappings(uuid, function_name, event_source_arn, configuration)
    return _change_mappings(_ESM[1], lambda p: {**p, "enabled": False}, selected, configuration)


def restore_event_source_mapping(
    uuid: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Restore the event source mappings this run limited or disabled, exactly.

    Args:
        uuid: only this mapping; default every mapping this run changed.
    """
    return rollback_run(current_run_id(configuration), configuration, _ESM, uuid)


# --- DynamoDB provisioned capacity -------------------------------------------------


def _table(table_name: str, configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    ddb = client("dynamodb", configuration)
    missing = f"table '{table_name}' not found on the target"
    found = aws_call(
        "dynamodb:DescribeTable", table_name, ddb.describe_table, missing, TableName=table_name
    )
    return dict(found["Table"])


def _units(pt: Mapping[str, Any]) -> dict[str, int]:
    return {"read": int(pt["ReadCapacityUnits"]), "write": int(pt["WriteCapacityUnits"])}


def _active_table(table_name: str, configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    def ready(found: dict[str, Any]) -> bool:
        indexes = found.get("GlobalSecondaryIndexes") or []
        return found.get("TableStatus") == "ACTIVE" and all(
            i.get("IndexStatus", "ACTIVE") == "ACTIVE" for i in indexes
        )

    return _read_when(
        f"table {table_name}", lambda: _table(table_name, configuration), ready, configuration
    )


def _capacity(table: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "table": _units(table["ProvisionedThroughput"]),
        "indexes": {
            str(i["IndexName"]): _units(i["ProvisionedThroughput"])
            for i in table.get("GlobalSecondaryIndexes") or []
        },
    }


def _set_capacity(table_name: str, wanted: Mapping[str, Any], configuration: Any) -> None:
    current = _capacity(_active_table(table_name, configuration))
    kwargs: dict[str, Any] = {}
    if current["table"] != wanted["table"]:
        kwargs["ProvisionedThroughput"] = {
            "ReadCapacityUnits": wanted["table"]["read"],
            "WriteCapacityUnits": wanted["table"]["write"],
        }
    updates = [
        {
            "Update": {
                "IndexName": name,
                "ProvisionedThroughput": {
                    "ReadCapacityUnits": units["read"],
                    "WriteCapacityUnits": units["write"],
                },
            }
        }
        for name, units in sorted(wanted["indexes"].items())
        if name in current["indexes"] and current["indexes"][name] != units
    ]
    if updates:
        kwargs["GlobalSecondaryIndexUpdates"] = updates
    if kwargs:  # DynamoDB refuses an update that changes nothing
        ddb = client("dynamodb", configuration)
        aws_call(
            "dynamodb:UpdateTable", table_name, ddb.update_table, TableName=table_name, **kwargs
        )
        after = _capacity(_active_table(table_name, configuration))
        expected = {
            "table": dict(wanted["table"]),
            "indexes": {n: wanted["indexes"].get(n, u) for n, u in after["indexes"].items()},
        }
        expect_state("dynamodb:UpdateTable", table_name, expected, after)


def restore_table_capacity_snapshot(
    snapshot: dict[str, Any], configuration: dict[str, Any]
) -> None:
    """Put a table's and its indexes' read and write units back (restorer)."""
    wanted = {"table": snapshot["table"], "indexes": snapshot.get("indexes") or {}}
    _set_capacity(str(snapshot["table_name"]), wanted, configuration)


def cut_table_capacity(
    table_name: str,
    read_capacity: int = 1,
    write_capacity: int = 1,
    include_indexes: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Cut a provisioned DynamoDB table's capacity so requests get throttled.

    Args:
        table_name: the table (provisioned billing mode; on-demand tables are refused).
        read_capacity: read capacity units to set.
        write_capacity: write capacity units to set.
        include_indexes: cut the global secondary indexes too.

    Returns:
        ``table_name``, ``previous`` and ``now`` (``table`` and ``indexes``
        read/write units), ``dry_run``.
    """
    if int(read_capacity) < 1 or int(write_capacity) < 1:
        raise BadInput(f"invalid capacity {read_capacity}/{write_capacity}: expected 1 or more")
    table = _active_table(table_name, configuration)
    mode = (table.get("BillingModeSummary") or {}).get("BillingMode", "PROVISIONED")
    if mode != "PROVISIONED":
        raise BadInput(f"table '{table_name}' is {mode}: a capacity cut needs provisioned capacity")
    ddb = client("dynamodb", configuration)
    tags = (
        aws_call(
            "dynamodb:ListTagsOfResource",
            table_name,
            ddb.list_tags_of_resource,
            ResourceArn=table["TableArn"],
        ).get("Tags")
        or []
    )
    guard(table_name, {t["Key"]: t["Value"] for t in tags}, configuration)
    previous = _capacity(table)
    cut = {"read": int(read_capacity), "write": int(write_capacity)}
    indexes = {n: (cut if include_indexes else u) for n, u in previous["indexes"].items()}
    wanted = {"table": cut, "indexes": indexes}
    snapshot = {"table_name": table_name, **previous}
    restorer = f"{_MOD}:restore_table_capacity_snapshot"
    tagged = [("dynamodb", str(table["TableArn"]))]
    with mutation(_TABLE, table_name, restorer, snapshot, configuration, tagged=tagged) as change:
        if not change.dry_run:
            _set_capacity(table_name, wanted, configuration)
    return {
        "table_name": table_name,
        "previous": previous,
        "now": previous if change.dry_run else wanted,
        "dry_run": change.dry_run,
    }


def restore_table_capacity(
    table_name: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Restore the table capacity this run cut, table and indexes exactly.

    Args:
        table_name: only this table; default every table this run cut.
    """
    return rollback_run(current_run_id(configuration), configuration, _TABLE, table_name)
