"""Snapshot before mutating: the :func:`mutation` context manager.

Every action that changes AWS wraps the change in::

    with mutation(action="set_reserved_concurrency", resource="orders-worker",
                  restorer="chaoskit.faults.kill_switch:restore_reserved_concurrency_snapshot",
                  snapshot={"function_name": "orders-worker", "previous": None},
                  configuration=configuration) as change:
        if not change.dry_run:
            ...mutate...

Before the block runs, the change is appended to the run's journal with
status ``pending`` and fsync'd, after taking the resource for this run (a
second run on the same resource refuses). When the block ends the change is
marked ``applied``; when it raises, the restorer runs at once (restorers are
idempotent, so a half-done mutation is undone too) and the error propagates.
With ``chaoskit_dry_run`` set, nothing is recorded or locked: the change is
printed and the block receives ``change.dry_run == True``. With
``chaoskit_journal_mirror`` set, the record is also copied to the target
(:mod:`chaoskit.undo.mirror`) before the block runs.
"""

import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chaoskit.run_context import current_run_id
from chaoskit.undo import expiry, lock, mirror, store
from chaoskit.undo.restore import resolve_restorer, restore_change
from chaoskit.undo.settings import flag_setting
from chaoskit.undo.target import record_target

__all__ = ["Change", "is_dry_run", "mutation"]

logger = logging.getLogger("chaostoolkit.chaoskit")


@dataclass
class Change:
    """One recorded change, as handed to the body of :func:`mutation`."""

    id: str
    run_id: str
    action: str
    resource: str
    snapshot: dict[str, Any] = field(default_factory=dict)
    dry_run: bool = False
    #: When the change expires (epoch seconds), as journaled; ``None`` in a dry run.
    expires_at: float | None = None


def is_dry_run(configuration: Mapping[str, Any] | None) -> bool:
    """Tell whether ``chaoskit_dry_run`` is on (configuration, then settings file)."""
    return flag_setting(configuration, "chaoskit_dry_run", False)


def _announce(action: str, resource: str, snapshot: Mapping[str, Any]) -> None:
    line = f"dry run: would {action} on '{resource}' (now: {json.dumps(snapshot, default=str)})"
    logger.info(line)
    if not _shown_by_chaostoolkit():
        # Chaos Toolkit's logging is not set up (a script, chaoskit's API, chaoskit run):
        # under ``chaos run`` its handlers show the line on the console and in
        # chaostoolkit.log, so printing it too would show it twice.
        print(line, file=sys.stdout, flush=True)


def _shown_by_chaostoolkit() -> bool:
    """Tell whether Chaos Toolkit's own handlers (on ``chaostoolkit``) carry our lines.

    Handlers on the root logger (a test runner's, an application's) do not count: they
    are not where a person running chaoskit looks.
    """
    node: logging.Logger | None = logger
    while node is not None and node.name.startswith("chaostoolkit"):
        if node.handlers:
            return True
        if not node.propagate:
            return False
        node = node.parent
    return False


def _tag_targets(
    function_arn: str | None, tagged: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    pairs = ([("lambda", function_arn)] if function_arn else []) + [
        (str(kind), str(arn)) for kind, arn in tagged
    ]
    for kind, _ in pairs:
        if kind not in expiry.KINDS:
            raise ValueError(f"unknown tagged kind '{kind}': expected one of {expiry.KINDS}")
    return list(dict.fromkeys(pairs))


@contextmanager
def mutation(
    action: str,
    resource: str,
    restorer: str,
    snapshot: Mapping[str, Any],
    configuration: Mapping[str, Any] | None = None,
    lock_key: str | None = None,
    function_arn: str | None = None,
    tagged: Sequence[tuple[str, str]] = (),
) -> Iterator[Change]:
    """Record a change durably, then let the block make it; undo it if the block fails.

    Args:
        action: the action's name, e.g. ``"set_reserved_concurrency"``.
        resource: the resource's name (function name, health check id...).
        restorer: ``"package.module:function"`` taking ``(snapshot, configuration)``.
        snapshot: JSON-safe state the restorer needs to put things back exactly.
        configuration: Chaos Toolkit configuration (run id, target, guardrails).
        lock_key: what one run at a time may change, default ``resource``;
            e.g. the function name for a change to one of its aliases.
        function_arn: the Lambda function the change harms, tagged with the
            change's deadline while it is live (:mod:`chaoskit.undo.expiry`).
        tagged: other resources the change harms, tagged the same way, as
            ``(kind, arn)`` pairs (kinds in :data:`chaoskit.undo.expiry.KINDS`).

    Raises:
        BadInput: the restorer cannot be imported (nothing was changed).
        SafetyAbort: another run holds the resource (nothing was changed).
    """
    run_id = current_run_id(configuration)
    change = Change(
        id=uuid.uuid4().hex[:16],
        run_id=run_id,
        action=action,
        resource=resource,
        snapshot=dict(snapshot),
    )
    if is_dry_run(configuration):
        change.dry_run = True
        _announce(action, resource, snapshot)
        yield change
        return
    resolve_restorer(restorer)  # a typo must fail before the mutation, not at rollback
    target = record_target(configuration)  # where it happens, environment resolved
    recorded_at = time.time()
    expires_at = expiry.deadline(configuration, recorded_at)
    change.expires_at = expires_at
    targets = _tag_targets(function_arn, tagged)
    # What the tags were before, journaled before they change.
    expiry_tags: list[dict[str, Any]] = [
        {"kind": kind, "arn": arn, "previous": expiry.read_tags(arn, configuration, kind)}
        for kind, arn in targets
    ]
    record: dict[str, Any] = {
        "id": change.id,
        "run_id": run_id,
        "action": action,
        "resource": resource,
        "restorer": restorer,
        "snapshot": change.snapshot,
        "target": target,
        "lock": lock_key or resource,
        "status": "pending",
        "recorded_at": recorded_at,
        "expires_at": expires_at,
    }
    if expiry_tags:
        record["expiry_tags"] = expiry_tags
    key = lock_key or resource
    with store.exclusive():
        lock.check_local(run_id, key, configuration)
        record["remote_lock"] = lock.remote_locking(configuration)
        if mirror.enabled(configuration):
            record["mirrored"] = True
        # Journal first: a crash after this line leaves a record whose rollback
        # releases the lock and deletes the mirror copy; before it, neither exists.
        store.append(run_id, record)
        try:
            if record["remote_lock"]:
                lock.acquire_remote(run_id, key, configuration)
            if record.get("mirrored"):
                mirror.put(record, configuration)
            for entry in expiry_tags:
                expiry.tag(entry["arn"], run_id, expires_at, configuration, entry["kind"])
        except BaseException as err:
            if record["remote_lock"]:
                lock.release(run_id, [key], configuration)  # only a lock this run holds
            if record.get("mirrored"):
                mirror.forget(record, configuration)
            for entry in expiry_tags:
                try:
                    expiry.remove(entry["arn"], entry["previous"], configuration, entry["kind"])
                except Exception as tag_err:  # the original error wins; rollback retries
                    logger.error("could not remove the expiry tags of '%s': %s", resource, tag_err)
            store.append(run_id, {"id": change.id, "status": "not-applied", "error": str(err)})
            raise
    try:
        yield change
    except BaseException:
        # Undo whatever part of the mutation happened; the original error wins.
        result = restore_change(record, configuration, status="not-applied")
        if result["status"] != "not-applied":
            logger.error("the failed %s on '%s' is not restored", action, resource)
        raise
    store.append(run_id, {"id": change.id, "status": "applied", "applied_at": time.time()})
