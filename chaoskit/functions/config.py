"""Shared Lambda plumbing for actions: read a function, wait for updates, change it by merging.

Every action that changes a function's configuration goes through
:func:`update_configuration`, which

- waits until the function is not being updated (``LastUpdateStatus``) before
  and after the change, since Lambda refuses a second update while one is in
  progress;
- reads the current configuration, lets the caller compute the desired layers
  and variables from it, and sends only what differs (so running an action or
  a restore twice makes no second call);
- guards the read-modify-write with ``RevisionId`` and re-plans when another
  writer got in between.

Layers and environment variables belong to the user: callers merge into them,
never replace them. ``None`` as the desired variables means "no environment".

The function's fault config lives here too: the SSM parameter
``/chaoskit/faults/<function>`` (contract 1), read, written and restored by
:func:`read_fault_parameter`, :func:`write_fault_parameter`, the restorer
:func:`restore_fault_parameter` and :func:`settle_fault_parameter`, which waits
until no warm environment still serves what the restore replaced.
"""

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws, envvars
from chaoskit.errors import AWSActionFailed, BadInput, aws_failure

__all__ = [
    "Plan",
    "ensure_layer_version",
    "environment_of",
    "fault_parameter_name",
    "function_name_of",
    "get_configuration",
    "get_function",
    "layer_arns",
    "layer_name_of",
    "read_fault_parameter",
    "restore_fault_parameter",
    "settle_fault_parameter",
    "update_configuration",
    "wait_until_updated",
    "write_fault_parameter",
]

#: What a planner returns: ``{"Layers": [...]}`` and/or ``{"Variables": {...} | None}``.
Plan = dict[str, Any]

logger = logging.getLogger("chaostoolkit.chaoskit")

_UPDATE = "lambda:UpdateFunctionConfiguration"
_RETRYABLE = ("ResourceConflictException", "PreconditionFailedException")


def function_name_of(name_or_arn: str) -> str:
    """Return the bare function name of a name, a ``name:qualifier`` or a function ARN.

    Raises:
        BadInput: the value is empty or an ARN of something other than a function.
    """
    value = (name_or_arn or "").strip()
    if value.startswith("arn:"):
        parts = value.split(":")
        if len(parts) < 7 or parts[5] != "function" or not parts[6]:
            raise BadInput(
                f"'{name_or_arn}' is not a Lambda function ARN: expected "
                "arn:aws:lambda:<region>:<account>:function:<name>"
            )
        return parts[6]
    name = value.split(":", 1)[0]
    if not name:
        raise BadInput("empty function name: expected a Lambda function name or ARN")
    return name


def layer_name_of(layer_version_arn: str) -> str:
    """Return the layer ARN without its version (``...:layer:name``)."""
    head, _, version = layer_version_arn.rpartition(":")
    return head if version.isdigit() else layer_version_arn


def layer_arns(config: Mapping[str, Any]) -> list[str]:
    """Return the layer version ARNs of a function configuration, in order."""
    return [str(layer["Arn"]) for layer in config.get("Layers") or []]


def environment_of(config: Mapping[str, Any]) -> dict[str, str] | None:
    """Return a copy of a configuration's variables, or ``None`` when it has no environment."""
    env = config.get("Environment")
    if not isinstance(env, Mapping) or "Variables" not in env:
        return None
    return dict(env.get("Variables") or {})


def _clean(response: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def get_function(
    function_name: str, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return ``{"Configuration": {...}, "Tags": {...}}`` of a function (one GetFunction call)."""
    try:
        out = aws.client("lambda", configuration).get_function(FunctionName=function_name)
    except ClientError as err:
        raise aws_failure("lambda:GetFunction", function_name, err) from err
    return {"Configuration": _clean(out["Configuration"]), "Tags": dict(out.get("Tags") or {})}


def get_configuration(
    function_name: str, configuration: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """Return a function's configuration (GetFunctionConfiguration, without metadata)."""
    try:
        out = aws.client("lambda", configuration).get_function_configuration(
            FunctionName=function_name
        )
    except ClientError as err:
        raise aws_failure("lambda:GetFunctionConfiguration", function_name, err) from err
    return _clean(out)


def wait_until_updated(
    function_name: str,
    configuration: Mapping[str, Any] | None = None,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Wait until no update is in progress on a function; return its configuration.

    Raises:
        AWSActionFailed: the last update failed, or the function is still updating
            after ``timeout`` seconds.
    """
    deadline = clock() + timeout
    delay = 0.25
    while True:
        config = get_configuration(function_name, configuration)
        status = config.get("LastUpdateStatus") or "Successful"
        if status == "Failed":
            raise AWSActionFailed(
                _UPDATE,
                function_name,
                str(config.get("LastUpdateStatusReasonCode") or "UpdateFailed"),
                str(config.get("LastUpdateStatusReason") or "the last update failed"),
            )
        if status != "InProgress" and config.get("State") != "Pending":
            return config
        if clock() >= deadline:
            raise AWSActionFailed(
                _UPDATE,
                function_name,
                "UpdateTimeout",
                f"still {status} after {timeout:g} s (LastUpdateStatus)",
            )
        sleep(delay)
        delay = min(delay * 2, 2.0)


def _changes(config: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if "Layers" in plan and list(plan["Layers"]) != layer_arns(config):
        kwargs["Layers"] = list(plan["Layers"])
    if "Variables" in plan:
        wanted = plan["Variables"]
        current = environment_of(config)
        if (wanted or {}) != (current or {}):
            kwargs["Environment"] = {"Variables": dict(wanted or {})}
    return kwargs


def update_configuration(
    function_name: str,
    planner: Callable[[dict[str, Any]], Plan],
    configuration: Mapping[str, Any] | None = None,
    timeout: float = 120.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Change a function's layers and/or variables to what ``planner`` wants.

    ``planner`` receives the current configuration and returns a :data:`Plan`;
    keys it leaves out are not touched. Nothing is sent when the plan equals
    the current state. Returns the configuration after the update settled.

    Raises:
        AWSActionFailed: the update (or the wait for it) failed.
    """
    lam = aws.client("lambda", configuration)
    for attempt in range(5):
        config = wait_until_updated(function_name, configuration, timeout, sleep, clock)
        kwargs = _changes(config, planner(config))
        if not kwargs:
            return config
        if config.get("RevisionId"):
            kwargs["RevisionId"] = config["RevisionId"]
        try:
            lam.update_function_configuration(FunctionName=function_name, **kwargs)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code")
            if code in _RETRYABLE and attempt < 4:
                # Someone else updated the function in between: read again and re-plan.
                sleep(0.5 * (attempt + 1))
                continue
            raise aws_failure(_UPDATE, function_name, err) from err
        return wait_until_updated(function_name, configuration, timeout, sleep, clock)
    raise AssertionError("unreachable")  # pragma: no cover


def ensure_layer_version(
    zip_path: Path,
    layer_name: str,
    configuration: Mapping[str, Any] | None = None,
    runtimes: tuple[str, ...] = (),
) -> str:
    """Return the ARN of a layer version with exactly this zip, publishing one if needed.

    The zip's SHA-256 is kept in the version's description (``sha256:<hex>``),
    so an identical build reuses the existing version instead of piling up new ones.
    """
    content = Path(zip_path).read_bytes()
    digest = "sha256:" + hashlib.sha256(content).hexdigest()
    lam = aws.client("lambda", configuration)
    kwargs: dict[str, Any] = {"LayerName": layer_name}
    try:
        while True:
            page = lam.list_layer_versions(**kwargs)
            for version in page.get("LayerVersions", []):
                if digest in str(version.get("Description") or ""):
                    return str(version["LayerVersionArn"])
            if not page.get("NextMarker"):
                break
            kwargs["Marker"] = page["NextMarker"]
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise aws_failure("lambda:ListLayerVersions", layer_name, err) from err
    publish: dict[str, Any] = {
        "LayerName": layer_name,
        "Description": f"chaoskit fault injection layer {digest}",
        "Content": {"ZipFile": content},
    }
    if runtimes:
        publish["CompatibleRuntimes"] = list(runtimes)
    try:
        out = lam.publish_layer_version(**publish)
    except ClientError as err:
        raise aws_failure("lambda:PublishLayerVersion", layer_name, err) from err
    return str(out["LayerVersionArn"])


# --- the fault config parameter ------------------------------------------------

FAULT_PARAMETER_PREFIX = "/chaoskit/faults/"


def fault_parameter_name(function_name: str) -> str:
    """Return the SSM parameter that holds a function's fault config."""
    return FAULT_PARAMETER_PREFIX + function_name_of(function_name)


def read_fault_parameter(
    parameter: str, configuration: Mapping[str, Any] | None = None
) -> str | None:
    """Return the parameter's value, or ``None`` when it does not exist."""
    try:
        out = aws.client("ssm", configuration).get_parameter(Name=parameter)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return None
        raise aws_failure("ssm:GetParameter", parameter, err) from err
    return str(out["Parameter"]["Value"])


def write_fault_parameter(
    parameter: str, value: str | None, configuration: Mapping[str, Any] | None = None
) -> None:
    """Write the parameter, or delete it when ``value`` is ``None`` (absent stays absent)."""
    ssm = aws.client("ssm", configuration)
    try:
        if value is None:
            ssm.delete_parameter(Name=parameter)
        else:
            ssm.put_parameter(Name=parameter, Value=value, Type="String", Overwrite=True)
    except ClientError as err:
        if value is None and err.response.get("Error", {}).get("Code") == "ParameterNotFound":
            return
        op = "ssm:DeleteParameter" if value is None else "ssm:PutParameter"
        raise aws_failure(op, parameter, err) from err


def restore_fault_parameter(snapshot: dict[str, Any], configuration: dict[str, Any]) -> None:
    """Put a fault config parameter back as it was: its previous value, or absent.

    Idempotent: the restorer of every ``inject_*`` action.
    """
    parameter = str(snapshot["parameter"])
    previous = snapshot.get("previous")
    if read_fault_parameter(parameter, configuration) == previous:
        return
    write_fault_parameter(parameter, previous, configuration)


#: The longest a restore waits for warm environments to reread the fault config: a
#: function whose ``CHAOSKIT_CONFIG_TTL`` is longer is warned about instead.
SETTLE_LIMIT = 60.0

#: Injectable for tests: how :func:`settle_fault_parameter` waits.
_sleep: Callable[[float], None] = time.sleep


def settle_fault_parameter(
    snapshot: dict[str, Any], configuration: dict[str, Any], restored_at: float
) -> float:
    """Wait until no warm environment still injects the faults a restore replaced.

    The layer reads the store at most once per ``CHAOSKIT_CONFIG_TTL``, so an
    environment that read it just before the restore keeps the old faults for
    that long. Where the function still reads this parameter (the layer stays:
    installed by the user), wait until ``restored_at`` plus its TTL; where it no
    longer does (the rollback removed the layer, and Lambda replaced its
    environments with the update), or the function is gone, there is nothing to
    wait for.

    Returns:
        The seconds waited.
    """
    from chaoskit.layer.loader import ConfigLoader

    name = str(snapshot["function_name"])
    try:
        variables = environment_of(get_configuration(name, configuration)) or {}
    except AWSActionFailed as err:
        if err.code == "ResourceNotFoundException":
            return 0.0
        raise
    reads = variables.get(envvars.CONFIG_PARAMETER) == snapshot["parameter"]
    disabled = envvars.is_truthy(variables.get(envvars.DISABLED))
    if not reads or disabled or variables.get(envvars.CONFIG):  # inline config wins
        return 0.0
    ttl = ConfigLoader(variables).ttl()
    if ttl > SETTLE_LIMIT:
        logger.warning(
            "'%s' caches its fault config for %g s (%s): its warm environments may inject "
            "the restored faults for that long; waiting %g s",
            name, ttl, envvars.CONFIG_TTL, SETTLE_LIMIT,
        )  # fmt: skip
    left = restored_at + min(ttl, SETTLE_LIMIT) - time.time()
    if left <= 0:
        return 0.0
    logger.info(
        "waiting %.1f s until every warm environment of '%s' has reread its fault config (%s)",
        left, name, envvars.CONFIG_TTL,
    )  # fmt: skip
    _sleep(left)
    return left
