"""An optional copy of the journal on the target, for when the local journal is lost.

With ``chaoskit_journal_mirror: true``, every change is also written, before
the mutation, to the SSM parameter ``/chaoskit/journal/<run id>/<change id>``
(the full record, JSON), and the parameter is deleted once the change is
restored. A parameter that exists is therefore a change that may still be
live. ``chaoskit rollback --from-target`` copies them into the local journal
and restores them: a run whose machine died can be rolled back from another.
"""

import json
import logging
import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import aws_failure
from chaoskit.undo import store
from chaoskit.undo.settings import setting

__all__ = ["PREFIX", "enabled", "forget", "parameter_name", "pull", "put"]

logger = logging.getLogger("chaoskit")

PREFIX = "/chaoskit/journal/"


def enabled(configuration: Mapping[str, Any] | None) -> bool:
    """Tell whether ``chaoskit_journal_mirror`` is on (default off)."""
    value = setting(configuration, "chaoskit_journal_mirror", False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def parameter_name(run_id: str, change_id: str) -> str:
    """Return the SSM parameter that mirrors one change."""
    safe = re.sub(r"[^A-Za-z0-9_.\-]", "_", run_id)
    return f"{PREFIX}{safe}/{change_id}"


def put(record: Mapping[str, Any], configuration: Mapping[str, Any] | None) -> None:
    """Write one change record to the target.

    Raises:
        AWSActionFailed: SSM refused it (the caller then does not mutate).
    """
    name = parameter_name(str(record["run_id"]), str(record["id"]))
    body = {k: v for k, v in record.items() if k != "status"}
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


def pull(configuration: Mapping[str, Any] | None) -> dict[str, int]:
    """Copy the changes mirrored on the target into the local journal.

    Changes the local journal already knows are left as they are. Returns
    ``{run id: number of changes copied}``.

    Raises:
        AWSActionFailed: the parameters could not be listed.
    """
    ssm = client("ssm", configuration)
    copied: dict[str, int] = {}
    try:
        pages = ssm.get_paginator("get_parameters_by_path").paginate(Path=PREFIX, Recursive=True)
        params = [p for page in pages for p in page.get("Parameters", [])]
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("ssm:GetParametersByPath", PREFIX, err) from err
    for param in params:
        try:
            record = json.loads(param["Value"])
        except json.JSONDecodeError:
            logger.warning("ignoring %s: not a journal record", param["Name"])
            continue
        if not isinstance(record, dict) or not record.get("id") or not record.get("run_id"):
            continue
        run_id = str(record["run_id"])
        with store.exclusive():
            if any(c["id"] == record["id"] for c in store.changes(run_id)):
                continue
            store.append(run_id, {**record, "status": "pending", "mirrored": True})
        copied[run_id] = copied.get(run_id, 0) + 1
    return copied
