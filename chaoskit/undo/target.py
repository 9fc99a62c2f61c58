"""Where a change was made: the resolved target journaled with it, and checked before a restore.

A change is recorded with the target its action really talked to, resolved
from configuration *and* the environment (``CHAOSKIT_TARGET``,
``CHAOSKIT_SANDBOX_PORT``, ``AWS_REGION``/``AWS_DEFAULT_REGION``,
``AWS_PROFILE``, ``AWS_ENDPOINT_URL``): target name, endpoint, region,
profile, role and, on AWS, the account id (STS ``GetCallerIdentity``).
A restore uses that record, never the environment of the rollback, and on
AWS first checks that the credentials at hand still reach the same account;
if they do not, it refuses instead of restoring (or "not finding") the
resource somewhere else.
"""

import os
import threading
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import Target, client, resolve_target
from chaoskit.errors import SafetyAbort, aws_failure

__all__ = [
    "ACCOUNT_KEY",
    "TargetMismatch",
    "account_id",
    "describe",
    "record_target",
    "resolved_target",
    "verify_target",
]

#: Journal key of the account id a change was made in (not a client setting).
ACCOUNT_KEY = "chaoskit_account_id"

_lock = threading.Lock()
_accounts: dict[Target, str] = {}


class TargetMismatch(SafetyAbort):
    """The target a change was made on cannot be reached as recorded: nothing is restored."""


def resolved_target(configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the target of ``configuration`` with the environment resolved (no network call).

    Keys are configuration keys, so the record can be handed back to
    :func:`chaoskit.aws.client` as is.
    """
    target = resolve_target(configuration)
    endpoint = target.endpoint_url
    profile = target.profile
    if not target.is_local:
        # boto3 reads these itself on the aws target: pin them for the restore.
        endpoint = endpoint or os.environ.get("AWS_ENDPOINT_URL") or None
        profile = profile or os.environ.get("AWS_PROFILE") or None
    out: dict[str, Any] = {"chaoskit_target": target.name, "aws_region": target.region}
    if endpoint:
        out["chaoskit_endpoint_url"] = endpoint
    if profile:
        out["aws_profile_name"] = profile
    if target.role_arn:
        out["aws_assume_role_arn"] = target.role_arn
    return out


def account_id(configuration: Mapping[str, Any] | None) -> str:
    """Return the account id the configured credentials reach (cached per target).

    Raises:
        AWSActionFailed: STS ``GetCallerIdentity`` failed.
    """
    target = resolve_target(configuration)
    with _lock:
        known = _accounts.get(target)
    if known:
        return known
    try:
        found = str(client("sts", configuration).get_caller_identity()["Account"])
    except (ClientError, BotoCoreError) as err:
        raise aws_failure("sts:GetCallerIdentity", target.region, err) from err
    with _lock:
        _accounts[target] = found
    return found


def record_target(configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the target to journal with a change; on AWS it names the account.

    Raises:
        AWSActionFailed: on AWS, the account could not be read (nothing is changed then).
    """
    out = resolved_target(configuration)
    if out["chaoskit_target"] == "aws":
        out[ACCOUNT_KEY] = account_id(out)
    return out


def describe(target: Mapping[str, Any]) -> str:
    """Return a short human description of a recorded target."""
    parts = [str(target.get("chaoskit_target") or "?")]
    for key in ("chaoskit_endpoint_url", "aws_region", ACCOUNT_KEY, "aws_profile_name"):
        if target.get(key):
            parts.append(str(target[key]))
    if target.get("aws_assume_role_arn"):
        parts.append(f"role {target['aws_assume_role_arn']}")
    return " ".join(parts)


def verify_target(recorded: Mapping[str, Any], config: Mapping[str, Any]) -> None:
    """Refuse a restore that would not reach the target the change was made on.

    Args:
        recorded: the change's journaled target.
        config: the configuration the restorer will get (recorded target plus overrides).

    Raises:
        TargetMismatch: the change has no recorded target, or on AWS the
            credentials reach another account (or none).
    """
    if not recorded.get("chaoskit_target") or not recorded.get("aws_region"):
        raise TargetMismatch(
            "the change has no recorded target (a journal from before targets were "
            "recorded): say where it was made with 'chaoskit rollback --target T --region R "
            "[--endpoint-url URL]'"
        )
    wanted = recorded.get(ACCOUNT_KEY)
    if resolve_target(config).name != "aws" or not wanted:
        return
    try:
        reached = account_id(config)
    except Exception as err:
        raise TargetMismatch(
            f"cannot reach account {wanted} ({describe(recorded)}) to restore: {err}"
        ) from err
    if reached != str(wanted):
        raise TargetMismatch(
            f"the credentials at hand reach account {reached}, but the change was made in "
            f"account {wanted} ({describe(recorded)}): refusing to restore elsewhere; use "
            "credentials (or --profile) for that account"
        )
