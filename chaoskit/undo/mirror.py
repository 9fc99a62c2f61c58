"""An optional copy of the journal on the target, for when the local journal is lost.

With ``chaoskit_journal_mirror: true``, every change is also written, before
the mutation, to the SSM parameter ``/chaoskit/journal/<run id>/<change id>``
(the full record, JSON), and the parameter is deleted once the change is
restored. A parameter that exists is therefore a change that may still be
live. ``chaoskit rollback --from-target`` copies them into the local journal
and restores them: a run whose machine died can be rolled back from another.

A mirrored entry is data from the target, and anyone who can write SSM
parameters there could plant one. So before an entry is copied it must:

- carry a valid HMAC-SHA256 (``sig``) over its canonical JSON, made with the
  mirror key kept on the operator's side (``$CHAOSKIT_HOME/mirror.key``,
  0600, or the file named by ``CHAOSKIT_MIRROR_KEY_FILE``), never on the target;
- name one of chaoskit's built-in restorers (:mod:`chaoskit.undo.registry`:
  no module named by an entry is ever imported) with a snapshot matching its
  schema, sit under the parameter name its ids give, and record a target;
- change a resource the rollback's allowlist admits (settings file), if one is set.

Entries that fail are refused, listed, and never copied.
"""

import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit import envvars
from chaoskit.aws import client
from chaoskit.errors import BadInput, ChaosKitError, aws_failure
from chaoskit.undo import store
from chaoskit.undo.registry import check_snapshot, registered, resource_of
from chaoskit.undo.settings import flag_setting, home

__all__ = [
    "PREFIX",
    "canonical",
    "enabled",
    "forget",
    "key_path",
    "parameter_name",
    "pull",
    "pull_checked",
    "put",
    "sign",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

PREFIX = "/chaoskit/journal/"
_ID = re.compile(r"^[0-9a-f]{16}$")


def enabled(configuration: Mapping[str, Any] | None) -> bool:
    """Tell whether ``chaoskit_journal_mirror`` is on (default off)."""
    return flag_setting(configuration, "chaoskit_journal_mirror", False)


def parameter_name(run_id: str, change_id: str) -> str:
    """Return the SSM parameter that mirrors one change."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", run_id)
    return f"{PREFIX}{safe}/{change_id}"


def key_path() -> Path:
    """Return the mirror key file (``CHAOSKIT_MIRROR_KEY_FILE`` or ``<home>/mirror.key``)."""
    return Path(os.environ.get(envvars.MIRROR_KEY_FILE) or home() / "mirror.key")


def _key(create: bool) -> bytes | None:
    path = key_path()
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        if not create:
            return None
    except ValueError as err:
        raise BadInput(f"mirror key file '{path}' is not a hex key") from err
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _key(create=False)  # another process made it first
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(secrets.token_hex(32) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    return _key(create=False)


def canonical(record: Mapping[str, Any]) -> bytes:
    """Return the bytes a signature covers: the record without ``sig`` and ``status``."""
    body = {k: v for k, v in record.items() if k not in ("sig", "status", "mirrored")}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign(record: Mapping[str, Any]) -> str:
    """Return the HMAC-SHA256 (hex) of a record with the mirror key (made on first use)."""
    key = _key(create=True)
    assert key is not None
    return hmac.new(key, canonical(record), hashlib.sha256).hexdigest()


def put(record: Mapping[str, Any], configuration: Mapping[str, Any] | None) -> None:
    """Write one signed change record to the target.

    Raises:
        AWSActionFailed: SSM refused it (the caller then does not mutate).
    """
    name = parameter_name(str(record["run_id"]), str(record["id"]))
    body = {k: v for k, v in record.items() if k not in ("status", "mirrored")}
    body["sig"] = sign(body)
    try:
        client("ssm", configuration).put_parameter(
            Name=name,
            Value=json.dumps(body, sort_keys=True, default=str),
            Type="String",
            Tier="Intelligent-Tiering",  # records of layer changes may pass 4 KB
            Overwrite=True,
        )
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("ssm:PutParameter", name, err) from err


def forget(change: Mapping[str, Any], configuration: Mapping[str, Any] | None) -> None:
    """Delete a restored change's copy; failures are logged, never raised."""
    name = parameter_name(str(change["run_id"]), str(change["id"]))
    try:
        client("ssm", configuration).delete_parameter(Name=name)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ParameterNotFound":
            logger.warning("could not delete the journal copy %s: %s", name, err)
    except BotoCoreError as err:
        logger.warning("could not delete the journal copy %s: %s", name, err)


def _check(name: str, record: Any, key: bytes | None, configuration: Any) -> str | None:
    """Return why a mirrored entry is refused, or ``None`` when it may be copied."""
    if not isinstance(record, dict):
        return "not a journal record"
    if key is None:
        return (
            f"no mirror key at {key_path()} to authenticate it (copy the key of the run's machine)"
        )
    given = record.get("sig")
    wanted = hmac.new(key, canonical(record), hashlib.sha256).hexdigest()
    if not isinstance(given, str) or not hmac.compare_digest(given, wanted):
        return "bad or missing signature (not written by a holder of the mirror key)"
    for field in ("id", "run_id", "action", "resource", "restorer"):
        if not isinstance(record.get(field), str) or not record[field]:
            return f"field '{field}' is missing or not a string"
    if not _ID.match(record["id"]) or name != parameter_name(record["run_id"], record["id"]):
        return "its ids do not match the parameter it sits in"
    if not registered(record["restorer"]):
        return f"restorer '{record['restorer']}' is not one of chaoskit's restorers"
    if not isinstance(record.get("target"), dict) or not record["target"].get("chaoskit_target"):
        return "it records no target"
    try:
        check_snapshot(record["restorer"], record.get("snapshot"))
        from chaoskit.undo.guard import guard

        resource = resource_of(record["restorer"], record["snapshot"])
        guard(resource, None, configuration)
        if record.get("lock") and record["lock"] != resource:
            guard(str(record["lock"]), None, configuration)
    except ChaosKitError as err:
        return str(err)
    return None


def pull_checked(
    configuration: Mapping[str, Any] | None,
) -> tuple[dict[str, int], list[str]]:
    """Copy the authenticated, valid changes mirrored on the target into the local journal.

    Changes the local journal already knows are left as they are.

    Returns:
        ``({run id: number of changes copied}, [one line per refused entry])``.

    Raises:
        AWSActionFailed: the parameters could not be listed.
    """
    ssm = client("ssm", configuration)
    try:
        pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=PREFIX, Recursive=True)
        params = [p for page in pages for p in page.get("Parameters", [])]
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("ssm:GetParametersByPath", PREFIX, err) from err
    key = _key(create=False)
    copied: dict[str, int] = {}
    refused: list[str] = []
    for param in params:
        try:
            record = json.loads(param["Value"])
        except json.JSONDecodeError:
            record = None
        problem = _check(str(param["Name"]), record, key, configuration)
        if problem:
            refused.append(f"{param['Name']}: {problem}")
            logger.error("refusing the mirrored change %s: %s", param["Name"], problem)
            continue
        run_id = str(record["run_id"])
        with store.exclusive():
            if any(c["id"] == record["id"] for c in store.changes(run_id)):
                continue
            entry = {k: v for k, v in record.items() if k != "sig"}
            store.append(
                run_id, {**entry, "status": "pending", "mirrored": True, "source": "target"}
            )
        copied[run_id] = copied.get(run_id, 0) + 1
    return copied, refused


def pull(configuration: Mapping[str, Any] | None) -> dict[str, int]:
    """Copy the valid mirrored changes (see :func:`pull_checked`); refusals are logged."""
    return pull_checked(configuration)[0]
