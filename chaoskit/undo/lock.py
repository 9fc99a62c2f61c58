"""One run per resource: a second run that targets a held resource refuses.

Two layers:

- **Journal-level** (always): a resource is held by any other run whose
  journal still has an unrestored change on the same resource of the same
  target. A run killed with ``kill -9`` therefore keeps holding what it
  changed until ``chaoskit rollback`` restores it, which is the point.
- **On the target** (``chaoskit_remote_lock``, default on): an SSM parameter
  ``/chaoskit/locks/<resource>`` holding ``{"run_id", "expires_at", "host",
  "pid"}``, created with ``Overwrite=False`` so two machines cannot both take
  it. An expired lock (``chaoskit_lock_ttl`` seconds, default 6 hours) is
  taken over. Rollback of the whole run deletes the run's parameters.
"""

import json
import os
import re
import socket
import time
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import AWSActionFailed, SafetyAbort, aws_failure
from chaoskit.undo import store
from chaoskit.undo.settings import flag_setting, setting
from chaoskit.undo.target import resolved_target

__all__ = [
    "DEFAULT_LOCK_TTL",
    "LOCK_PREFIX",
    "acquire",
    "acquire_remote",
    "check_local",
    "lock_parameter",
    "release",
    "remote_locking",
]

LOCK_PREFIX = "/chaoskit/locks/"
DEFAULT_LOCK_TTL = 6 * 3600


def lock_parameter(resource: str) -> str:
    """Return the SSM parameter name that locks ``resource``."""
    return LOCK_PREFIX + re.sub(r"[^A-Za-z0-9_.\-/]", "_", resource).strip("/")


def _same_target(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    # The account id is only in journal records; compare where the calls go.
    keys = ("chaoskit_target", "chaoskit_endpoint_url", "aws_region", "aws_assume_role_arn")
    return all(a.get(k) == b.get(k) for k in keys)


def _local_holder(run_id: str, resource: str, target: Mapping[str, Any]) -> str | None:
    for other in store.run_ids():
        if other == run_id:
            continue
        for change in store.unrestored(other):
            held = change.get("lock") or change.get("resource")
            if held == resource and _same_target(change.get("target") or {}, target):
                return other
    return None


def _held(resource: str, holder: str, where: str) -> SafetyAbort:
    return SafetyAbort(
        f"'{resource}' is held by run '{holder}' ({where}): one run per resource; "
        f"wait for it to end, or run 'chaoskit rollback --run-id {holder}' if it died"
    )


def acquire(run_id: str, resource: str, configuration: Mapping[str, Any] | None = None) -> bool:
    """Take ``resource`` for ``run_id``, or refuse naming the run that holds it.

    Returns whether a lock was taken on the target (to be released by rollback).

    Call with :func:`chaoskit.undo.store.exclusive` held so that the check and
    the journal append that follows it are atomic on this machine.

    Raises:
        SafetyAbort: another run holds the resource.
        AWSActionFailed: the lock parameter could not be read or written.
    """
    check_local(run_id, resource, configuration)
    if not remote_locking(configuration):
        return False
    _acquire_remote(run_id, resource, configuration)
    return True


def check_local(run_id: str, resource: str, configuration: Mapping[str, Any] | None) -> None:
    """Refuse when another run's journal still holds ``resource`` on the same target.

    Raises:
        SafetyAbort: another run holds the resource.
    """
    holder = _local_holder(run_id, resource, resolved_target(configuration))
    if holder:
        raise _held(resource, holder, "unrestored changes in its journal")


def acquire_remote(run_id: str, resource: str, configuration: Mapping[str, Any] | None) -> None:
    """Take the lock parameter of ``resource`` on the target for ``run_id``.

    Raises:
        SafetyAbort: a run on another machine holds it.
        AWSActionFailed: the lock parameter could not be read or written.
    """
    _acquire_remote(run_id, resource, configuration)


def remote_locking(configuration: Mapping[str, Any] | None) -> bool:
    """Tell whether locks are also taken on the target (``chaoskit_remote_lock``)."""
    return flag_setting(configuration, "chaoskit_remote_lock", True)


def _acquire_remote(run_id: str, resource: str, configuration: Mapping[str, Any] | None) -> None:
    ssm = client("ssm", configuration)
    name = lock_parameter(resource)
    ttl = float(setting(configuration, "chaoskit_lock_ttl", DEFAULT_LOCK_TTL))
    value = json.dumps(
        {
            "run_id": run_id,
            "expires_at": time.time() + ttl,
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
    )
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=False)
        return
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ParameterAlreadyExists":
            raise aws_failure("ssm:PutParameter", name, err) from err
    except BotoCoreError as err:
        raise aws_failure("ssm:PutParameter", name, err) from err
    current = _read(ssm, name)
    if current.get("run_id") == run_id:
        return
    if float(current.get("expires_at") or 0) > time.time():
        raise _held(resource, str(current.get("run_id") or "?"), f"lock {name}")
    try:
        ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True)
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("ssm:PutParameter", name, err) from err
    # Two runs may both have seen the expired lock: the last writer wins, the other refuses.
    current = _read(ssm, name)
    if current.get("run_id") != run_id:
        raise _held(resource, str(current.get("run_id") or "?"), f"lock {name}")


def _read(ssm: Any, name: str) -> dict[str, Any]:
    try:
        raw = ssm.get_parameter(Name=name)["Parameter"]["Value"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return {}
        raise aws_failure("ssm:GetParameter", name, err) from err
    except BotoCoreError as err:
        raise aws_failure("ssm:GetParameter", name, err) from err
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def release(
    run_id: str, resources: Iterable[str], configuration: Mapping[str, Any] | None = None
) -> list[str]:
    """Delete the lock parameters ``run_id`` holds on ``resources``; return their names.

    Locks held by another run are left alone. Errors are not fatal: an
    unreleased lock expires on its own.
    """
    released = []
    ssm = client("ssm", configuration)
    for resource in sorted(set(resources)):
        name = lock_parameter(resource)
        try:
            if _read(ssm, name).get("run_id") != run_id:
                continue
            ssm.delete_parameter(Name=name)
            released.append(name)
        except (ClientError, BotoCoreError, AWSActionFailed):
            continue  # the lock expires on its own
    return released
