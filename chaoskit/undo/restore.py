"""Restore what a run changed, from its journal, newest change first.

A restorer is ``def restorer(snapshot: dict, configuration: dict) -> None``,
named ``"package.module:function"`` in the journal, idempotent and exact: it
puts the resource back as the snapshot says, whatever state it finds. It is
called with the target recorded with the change, so ``chaoskit rollback``
needs no configuration to find the resource again.
"""

import json
import logging
import time
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from chaoskit.undo import lock, mirror, registry, store
from chaoskit.undo.settings import TARGET_KEYS
from chaoskit.undo.target import ACCOUNT_KEY, verify_target

__all__ = [
    "Restorer",
    "expiry_tags_of",
    "pending_runs",
    "resolve_restorer",
    "restore_change",
    "restore_newest_first",
    "rollback_run",
    "settle",
    "target_of",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

Restorer = registry.Restorer


def resolve_restorer(spec: str, builtin_only: bool = False) -> Restorer:
    """Return the restorer named ``"package.module:function"`` (see :mod:`.registry`).

    Raises:
        BadInput: the name is malformed, not allowed, or the function is missing.
    """
    return registry.resolve_restorer(spec, builtin_only=builtin_only)


def _where(change: Mapping[str, Any], configuration: Mapping[str, Any] | None) -> dict:
    # The resource lives where it was changed: the recorded target, unless the
    # caller says the target moved (``chaoskit rollback --endpoint-url``).
    where = dict(change.get("target") or {})
    where.update((configuration or {}).get("chaoskit_target_override") or {})
    return where


def target_of(change: Mapping[str, Any], configuration: Mapping[str, Any] | None) -> dict:
    """Return where a change is restored: its recorded target, with the rollback's overrides."""
    return _where(change, configuration)


def _config_for(change: Mapping[str, Any], configuration: Mapping[str, Any] | None) -> dict:
    # Where the rollback itself points (its configuration, its environment) never
    # decides where a change is restored: only the record and an explicit override.
    config = {
        k: v for k, v in (configuration or {}).items() if k not in (*TARGET_KEYS, ACCOUNT_KEY)
    }
    config.pop("chaoskit_target_override", None)
    config.update(_where(change, configuration))
    config["chaoskit_run_id"] = change.get("run_id")
    return config


def expiry_tags_of(change: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the resources a change tagged: ``{"kind", "arn", "previous"}`` each.

    Journals written before other kinds were tagged hold one Lambda function
    under ``expiry_tag``.
    """
    found = []
    entries = change.get("expiry_tags")
    old = change.get("expiry_tag")
    if isinstance(old, Mapping):
        entries = [{"kind": "lambda", **old}, *(entries if isinstance(entries, list) else [])]
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, Mapping) and entry.get("arn") and entry.get("kind", "lambda"):
            previous = entry.get("previous")
            found.append(
                {
                    "kind": str(entry.get("kind") or "lambda"),
                    "arn": str(entry["arn"]),
                    "previous": dict(previous) if isinstance(previous, Mapping) else {},
                }
            )
    return found


def _tags_same(change: Mapping[str, Any], kind: str, arn: str) -> bool:
    return any(t["kind"] == kind and t["arn"] == arn for t in expiry_tags_of(change))


def _untag_if_last(change: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Put back the expiry tags of each resource no other live change of the run still tags."""
    from chaoskit.undo import expiry

    run_id = str(change["run_id"])
    for tagged in expiry_tags_of(change):
        kind, arn = tagged["kind"], tagged["arn"]
        others = [
            c
            for c in store.unrestored(run_id)
            if c.get("id") != change.get("id") and _tags_same(c, kind, arn)
        ]
        if others:
            continue
        # The oldest change of the run on this resource saw the tags as the user had them.
        oldest = min(
            [c for c in store.changes(run_id) if _tags_same(c, kind, arn)] or [dict(change)],
            key=lambda c: float(c.get("recorded_at") or 0),
        )
        previous = next(
            (t["previous"] for t in expiry_tags_of(oldest) if (t["kind"], t["arn"]) == (kind, arn)),
            tagged["previous"],
        )
        expiry.remove(arn, previous, config, kind)


def restore_change(
    change: Mapping[str, Any],
    configuration: Mapping[str, Any] | None = None,
    status: str = "restored",
) -> dict[str, Any]:
    """Run one change's restorer and journal the outcome; return a result row.

    Never raises for a failing restorer: the failure is journaled as
    ``restore_failed`` with its error, and returned, so one bad change does
    not stop the others from being restored.
    """
    run_id = str(change["run_id"])
    row = {
        "id": change["id"],
        "run_id": run_id,
        "action": change.get("action"),
        "resource": change.get("resource"),
    }
    try:
        # A change read from the target is data: only built-in restorers, schema-checked.
        from_target = change.get("source") == "target"
        restorer = resolve_restorer(str(change.get("restorer")), builtin_only=from_target)
        if from_target:
            registry.check_snapshot(str(change.get("restorer")), change.get("snapshot"))
        config = _config_for(change, configuration)
        verify_target(_where(change, configuration), config)
        restorer(dict(change.get("snapshot") or {}), config)
        _untag_if_last(change, config)
    except Exception as err:
        error = f"{type(err).__name__}: {err}"
        logger.error("could not restore %s on '%s': %s", row["action"], row["resource"], error)
        store.append(run_id, {"id": change["id"], "status": "restore_failed", "error": error})
        return {**row, "status": "restore_failed", "error": error}
    now = time.time()
    store.append(run_id, {"id": change["id"], "status": status, "restored_at": now})
    if change.get("mirrored"):
        mirror.forget(change, _config_for(change, configuration))
    logger.info("restored %s on '%s'", row["action"], row["resource"])
    return {**row, "status": status, "restored_at": now}


def settle(
    done: Collection[tuple[Mapping[str, Any], Mapping[str, Any]]],
    configuration: Mapping[str, Any] | None = None,
) -> None:
    """Wait until each restored change has taken effect, where that comes later.

    A fault config restored in the store still fires in warm environments until
    they reread it (``registry.SETTLERS``). Called once the whole batch is
    restored, so a layer the same rollback removed is already gone and costs no
    wait; several changes of one resource (faults injected one after the other)
    are settled once, from the last restore. ``done`` pairs each change with its
    :func:`restore_change` row, in the order restored; a failed wait is logged,
    never raised: the change itself is restored.
    """
    last: dict[tuple[str, str, str], tuple[registry.Settler, Mapping, Mapping]] = {}
    for change, row in done:
        restorer = str(change.get("restorer"))
        settler = registry.settler_of(restorer)
        if settler is not None and row.get("status") == "restored":
            where = json.dumps(_where(change, configuration), sort_keys=True, default=str)
            last[(restorer, str(change.get("resource")), where)] = (settler, change, row)
    for settler, change, row in last.values():
        try:
            snapshot = dict(change.get("snapshot") or {})
            settler(snapshot, _config_for(change, configuration), float(row["restored_at"]))
        except Exception as err:
            logger.warning(
                "restored %s on '%s', but could not wait until it took effect: %s: %s",
                change.get("action"), change.get("resource"), type(err).__name__, err,
            )  # fmt: skip


def restore_newest_first(
    todo: Sequence[Mapping[str, Any]], configuration: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Restore ``todo`` (changes in journal order) newest first, then :func:`settle` them.

    Returns:
        One :func:`restore_change` row per change, in the order restored.
    """
    ordered = list(reversed(todo))
    rows = [restore_change(change, configuration) for change in ordered]
    settle(list(zip(ordered, rows, strict=True)), configuration)
    return rows


def rollback_run(
    run_id: str,
    configuration: Mapping[str, Any] | None = None,
    action: str | Collection[str] | None = None,
    resource: str | None = None,
    expired_before: float | None = None,
) -> list[dict[str, Any]]:
    """Restore every change of ``run_id`` not yet restored, newest first.

    Args:
        run_id: the run whose journal to replay.
        configuration: base configuration for the restorers (the target
            recorded with each change wins over it).
        action: only restore changes made by this action (or these actions).
        resource: only restore changes on this resource.
        expired_before: only restore changes whose ``expires_at`` is before this
            epoch time (``chaoskit rollback --expired``).

    Returns:
        One row per change it tried: ``id, run_id, action, resource, status``
        (``restored`` or ``restore_failed``) and ``restored_at`` or ``error``.
        Changes already restored are skipped, so a second call returns ``[]``.
    """
    actions = {action} if isinstance(action, str) else None if action is None else set(action)
    todo = [
        c
        for c in store.unrestored(run_id)
        if (actions is None or c.get("action") in actions)
        and (resource is None or c.get("resource") == resource)
        and (expired_before is None or float(c.get("expires_at") or 0) < expired_before)
    ]
    results = restore_newest_first(todo, configuration)
    if not store.unrestored(run_id):
        locked = [c for c in store.changes(run_id) if c.get("remote_lock")]
        if locked:
            keys = [str(c.get("lock") or c.get("resource")) for c in locked]
            lock.release(run_id, keys, _config_for(locked[-1], configuration))
    return results


def pending_runs() -> list[str]:
    """Return the ids of runs whose journal has changes not yet restored."""
    return [run_id for run_id in store.run_ids() if store.unrestored(run_id)]
