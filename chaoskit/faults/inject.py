"""Fault injection through the chaoskit layer: write, merge and clear a function's faults.

Faults are a JSON document (contract 1) in the SSM parameter
``/chaoskit/faults/<function>`` (or whatever ``CHAOSKIT_CONFIG_PARAMETER`` on
the function names), validated by the layer's own parser before it is
written, so a bad fault is refused here rather than ignored in the function.
Every write has a fresh version, which the layer acknowledges (see
``chaoskit.faults.layer.wait_for_fault_live``), and an expiry: a dead-man
switch, so an expired document injects nothing even if no rollback ever runs.
Each ``inject_*`` journals the previous document (or its absence) first and
is restored exactly. Enable the layer first with
``chaoskit.faults.layer.enable_chaoskit_layer``.
"""

import json
import logging
import math
import time
import uuid
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from chaoslib.exceptions import ActivityFailed
from chaoslib.types import Configuration, Secrets

from chaoskit import envvars
from chaoskit.errors import BadInput, expect_state
from chaoskit.functions import config as lc
from chaoskit.layer.config import DEFAULT_MAX_FAULT_SECONDS
from chaoskit.run_context import current_run_id
from chaoskit.undo import guard, mutation, restore_newest_first
from chaoskit.undo.guard import max_fault_duration
from chaoskit.undo.store import unrestored

__all__ = [
    "DEFAULT_DURATION",
    "FaultRefused",
    "clear_faults",
    "inject_exception",
    "inject_http_fault",
    "inject_latency",
    "inject_sdk_throttle",
    "inject_status",
    "inject_timeout",
    "restore_fault_config",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

#: Seconds until an injected fault config expires on its own.
DEFAULT_DURATION = 900.0


class FaultRefused(BadInput, ActivityFailed):
    """The fault asked for is not valid; nothing was written."""


def _slot(fault: Mapping[str, Any]) -> str:
    # A new fault replaces an older one aimed at the same thing; others stay.
    key = {k: fault.get(k) for k in ("kind", "match", "service", "hosts")}
    return json.dumps(key, sort_keys=True, default=str)


def _document(
    previous: str | None,
    fault: dict[str, Any],
    duration: float,
    replace: bool,
    run_id: str,
    now: float,
) -> dict[str, Any]:
    faults: list[dict[str, Any]] = []
    if previous and not replace:
        from chaoskit.layer.config import ConfigError, parse_config

        try:
            live = parse_config(previous).expires_at > now
            old = json.loads(previous).get("faults") or []
        except (ConfigError, ValueError, AttributeError):
            live, old = False, []
        if live:
            faults = [f for f in old if _slot(f) != _slot(fault)]
    faults.append(fault)
    return {
        "version": f"v-{int(now)}-{uuid.uuid4().hex[:4]}",
        "expires_at": round(now + duration, 3),
        "run_id": run_id,
        "faults": faults,
    }


def _published_parameter(name: str, configuration: Configuration) -> tuple[str, str] | None:
    """Return (version, fault parameter) of the newest published version that reads one."""
    from chaoskit.aws import client

    found: tuple[str, str] | None = None
    try:
        pages = client("lambda", configuration).get_paginator("list_versions_by_function")
        for page in pages.paginate(FunctionName=name):
            for version in page.get("Versions") or []:
                parameter = (lc.environment_of(version) or {}).get(envvars.CONFIG_PARAMETER)
                if version.get("Version") != "$LATEST" and parameter:
                    found = (str(version["Version"]), str(parameter))
    except (BotoCoreError, ClientError) as err:
        logger.debug("cannot list the versions of '%s': %s", name, err)
    return found


def _config_parameter(name: str, config: Mapping[str, Any], configuration: Configuration) -> str:
    variables = lc.environment_of(config) or {}
    if envvars.CONFIG in variables:
        logger.warning(
            "function '%s' has an inline %s, which wins over the fault parameter",
            name,
            envvars.CONFIG,
        )
    parameter = variables.get(envvars.CONFIG_PARAMETER)
    if parameter:
        return str(parameter)
    published = _published_parameter(name, configuration)
    if published:
        # A canary: $LATEST is plain, the published candidate runs the layer.
        logger.info(
            "function '%s' ($LATEST) has no %s; writing %s, which its version %s reads",
            name,
            envvars.CONFIG_PARAMETER,
            published[1],
            published[0],
        )
        return published[1]
    default = lc.fault_parameter_name(name)
    logger.warning(
        "function '%s' ($LATEST) has no %s and no published version reads one: writing %s "
        "anyway; only versions published with the chaoskit layer enabled will read it "
        "(enable_chaoskit_layer)",
        name,
        envvars.CONFIG_PARAMETER,
        default,
    )
    return default


def _decoded(text: str | None) -> Any:
    try:
        return None if text is None else json.loads(text)
    except ValueError:
        return text


def _number(value: Any) -> Any:
    # Experiments often pass "${rate}"-style strings; the parser wants numbers.
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value.strip())
            except ValueError:
                continue
    return value


def _inject(
    function_name: str,
    kind: str,
    params: Mapping[str, Any],
    rate: float,
    match: dict[str, Any] | None,
    duration: float,
    replace: bool,
    configuration: Configuration,
) -> dict[str, Any]:
    from chaoskit.layer.config import ConfigError, parse_config

    name = lc.function_name_of(function_name)
    seconds = _number(duration)
    ceiling = max_fault_duration(configuration, DEFAULT_MAX_FAULT_SECONDS)
    if (
        not isinstance(seconds, int | float)
        or isinstance(seconds, bool)
        or not math.isfinite(seconds)
        or seconds <= 0
    ):
        raise FaultRefused(f"invalid duration {duration!r} for '{name}': expected seconds > 0")
    if seconds > ceiling:
        raise FaultRefused(
            f"invalid duration {duration!r} for '{name}': beyond the ceiling of {ceiling:g} s "
            "(chaoskit_max_fault_duration)"
        )
    fault: dict[str, Any] = {"kind": kind, "rate": _number(rate)}
    fault.update({k: _number(v) for k, v in params.items() if v is not None})
    if match:
        fault["match"] = match
    function = lc.get_function(name, configuration)
    guard(name, function["Tags"], configuration)
    parameter = _config_parameter(name, function["Configuration"], configuration)
    previous = lc.read_fault_parameter(parameter, configuration)
    document = _document(
        previous, fault, float(seconds), replace, current_run_id(configuration), time.time()
    )
    # Rate rolls are a function of this seed, the fault and the event: same seed, same faults.
    document["seed"] = str((configuration or {}).get("chaoskit_seed") or document["run_id"])
    try:
        parse_config(document)
    except ConfigError as err:
        raise FaultRefused(f"invalid {kind} fault for '{name}': {err}") from err
    with mutation(
        action="inject_http_fault" if kind == "http" else f"inject_{kind}",
        resource=name,
        restorer="chaoskit.functions.config:restore_fault_parameter",
        snapshot={"function_name": name, "parameter": parameter, "previous": previous},
        configuration=configuration,
        function_arn=str(function["Configuration"]["FunctionArn"]),
    ) as change:
        if not change.dry_run:
            text = json.dumps(document)
            lc.write_fault_parameter(parameter, text, configuration)
            found = lc.read_fault_parameter(parameter, configuration)
            expect_state("ssm:PutParameter", parameter, document, _decoded(found))
    return {
        "function_name": name,
        "parameter": parameter,
        "version": document["version"],
        "expires_at": document["expires_at"],
        "faults": document["faults"],
        "dry_run": change.dry_run,
    }


def inject_latency(
    function_name: str,
    ms: float | None = None,
    min_ms: float | None = None,
    max_ms: float | None = None,
    rate: float = 1.0,
    match: dict[str, Any] | None = None,
    duration: float = DEFAULT_DURATION,
    replace: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Inject latency before the function's handler runs.

    Give ``ms`` for a fixed delay, or ``min_ms`` and ``max_ms`` for a uniform one.
    Like every ``inject_*`` action, the fault is added to the function's fault
    config (replacing an older fault of the same kind and match unless
    ``replace`` drops all others), expires after ``duration`` seconds even if
    nothing restores it, and is undone exactly on rollback.

    Args:
        function_name: function name or ARN.
        ms: fixed delay in milliseconds.
        min_ms: lower bound of a random delay.
        max_ms: upper bound of a random delay.
        rate: share of invocations affected, 0 to 1.
        match: optional ``{"qualifier", "source", "fields"}`` restricting the fault.
        duration: seconds until the fault config expires (default 900).
        replace: drop every other fault of the function's config.

    Returns:
        ``{"function_name", "parameter", "version", "expires_at", "faults", "dry_run"}``.
    """
    params = {"ms": ms, "min_ms": min_ms, "max_ms": max_ms}
    return _inject(function_name, "latency", params, rate, match, duration, replace, configuration)


def inject_exception(
    function_name: str,
    exception_type: str = "ChaosKitInjectedError",
    message: str = "injected by chaoskit",
    rate: float = 1.0,
    match: dict[str, Any] | None = None,
    duration: float = DEFAULT_DURATION,
    replace: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Make invocations fail with an exception instead of running the handler.

    Args:
        function_name: function name or ARN.
        exception_type: the name of the raised error type, as Lambda reports it.
        message: the error message.
        rate: share of invocations affected, 0 to 1.
        match: optional ``{"qualifier", "source", "fields"}`` restricting the fault.
        duration: seconds until the fault config expires (default 900).
        replace: drop every other fault of the function's config.

    Returns:
        The written config's version and faults (see ``inject_latency``).
    """
    params = {"type": exception_type, "message": message}
    return _inject(
        function_name, "exception", params, rate, match, duration, replace, configuration
    )


def inject_status(
    function_name: str,
    status_code: int = 503,
    body: str | None = None,
    headers: dict[str, str] | None = None,
    rate: float = 1.0,
    match: dict[str, Any] | None = None,
    duration: float = DEFAULT_DURATION,
    replace: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Answer invocations with an HTTP status (API Gateway proxy shape) without the handler.

    Args:
        function_name: function name or ARN.
        status_code: the HTTP status code returned.
        body: the response body.
        headers: response headers.
        rate: share of invocations affected, 0 to 1.
        match: optional ``{"qualifier", "source", "fields"}`` restricting the fault.
        duration: seconds until the fault config expires (default 900).
        replace: drop every other fault of the function's config.

    Returns:
        The written config's version and faults (see ``inject_latency``).
    """
    params = {"status_code": status_code, "body": body, "headers": headers}
    return _inject(function_name, "status", params, rate, match, duration, replace, configuration)


def inject_timeout(
    function_name: str,
    margin_ms: float = 50,
    rate: float = 1.0,
    match: dict[str, Any] | None = None,
    duration: float = DEFAULT_DURATION,
    replace: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Make invocations run into the function's timeout.

    Args:
        function_name: function name or ARN.
        margin_ms: how far past the remaining time the injected wait reaches.
        rate: share of invocations affected, 0 to 1.
        match: optional ``{"qualifier", "source", "fields"}`` restricting the fault.
        duration: seconds until the fault config expires (default 900).
        replace: drop every other fault of the function's config.

    Returns:
        The written config's version and faults (see ``inject_latency``).
    """
    params = {"margin_ms": margin_ms}
    return _inject(function_name, "timeout", params, rate, match, duration, replace, configuration)


def inject_sdk_throttle(
    function_name: str,
    service: str,
    operations: list[str] | None = None,
    error_code: str | None = None,
    http_status: int | None = None,
    latency_ms: float = 0,
    rate: float = 1.0,
    match: dict[str, Any] | None = None,
    duration: float = DEFAULT_DURATION,
    replace: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Throttle the function's own AWS SDK calls to a service, as AWS would.

    The layer answers matching boto3 calls with a real AWS error response, so
    the SDK's retries and backoff engage exactly as under real throttling.

    Args:
        function_name: function name or ARN.
        service: boto3 service name, e.g. ``dynamodb``.
        operations: operation names (e.g. ``["PutItem"]``); empty means all.
        error_code: the AWS error code; by default the service's natural throttling code.
        http_status: the HTTP status of the error response.
        latency_ms: delay before the error is returned.
        rate: share of calls affected, 0 to 1.
        match: optional ``{"qualifier", "source", "fields"}`` restricting the fault.
        duration: seconds until the fault config expires (default 900).
        replace: drop every other fault of the function's config.

    Returns:
        The written config's version and faults (see ``inject_latency``).
    """
    params = {
        "service": service,
        "operations": operations,
        "error_code": error_code,
        "http_status": http_status,
        "latency_ms": latency_ms,
    }
    return _inject(
        function_name, "sdk_throttle", params, rate, match, duration, replace, configuration
    )


def inject_http_fault(
    function_name: str,
    hosts: list[str],
    status: int | None = 503,
    retry_after: float | None = None,
    latency_ms: float = 0,
    connection_refused: bool = False,
    rate: float = 1.0,
    match: dict[str, Any] | None = None,
    duration: float = DEFAULT_DURATION,
    replace: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Fail the function's outgoing HTTP calls to third-party hosts.

    Args:
        function_name: function name or ARN.
        hosts: host names or patterns, e.g. ``["payments.example.com", "*.stripe.com"]``.
        status: HTTP status answered instead of calling the host (e.g. 429 or 503).
        retry_after: ``Retry-After`` seconds sent with the status.
        latency_ms: delay before the answer.
        connection_refused: refuse the connection instead of answering.
        rate: share of calls affected, 0 to 1.
        match: optional ``{"qualifier", "source", "fields"}`` restricting the fault.
        duration: seconds until the fault config expires (default 900).
        replace: drop every other fault of the function's config.

    Returns:
        The written config's version and faults (see ``inject_latency``).
    """
    params = {
        "hosts": hosts,
        "status": status,
        "retry_after": retry_after,
        "latency_ms": latency_ms,
        "connection_refused": connection_refused,
    }
    return _inject(function_name, "http", params, rate, match, duration, replace, configuration)


def clear_faults(
    function_name: str, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Clear every fault of a function, with a new config version the layer acknowledges.

    Each environment stops injecting when it next reads the store, within the
    function's ``CHAOSKIT_CONFIG_TTL``.

    Clearing only removes harm, so it is not journaled; a rollback still puts
    the fault config back exactly as it was before the run.

    Args:
        function_name: function name or ARN.

    Returns:
        ``{"function_name", "parameter", "cleared", "version"}``.
    """
    name = lc.function_name_of(function_name)
    config = lc.get_configuration(name, configuration)
    parameter = (lc.environment_of(config) or {}).get(envvars.CONFIG_PARAMETER)
    parameter = parameter or lc.fault_parameter_name(name)
    if lc.read_fault_parameter(parameter, configuration) is None:
        return {"function_name": name, "parameter": parameter, "cleared": False, "version": None}
    now = time.time()
    document = {
        "version": f"v-{int(now)}-{uuid.uuid4().hex[:4]}",
        "expires_at": round(now + DEFAULT_DURATION, 3),
        "faults": [],
    }
    lc.write_fault_parameter(parameter, json.dumps(document), configuration)
    return {
        "function_name": name,
        "parameter": parameter,
        "cleared": True,
        "version": document["version"],
    }


def restore_fault_config(
    function_name: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Restore the fault configs this run wrote, exactly as they were (or absent).

    Args:
        function_name: only this function (name or ARN); default every function
            this run injected faults into.

    Returns:
        One row per restored change (``action``, ``resource``, ``status``...);
        empty when nothing was left to restore, so running it twice is harmless.
    """
    name = lc.function_name_of(function_name) if function_name else None
    todo = [
        change
        for change in unrestored(current_run_id(configuration))
        if str(change.get("action", "")).startswith("inject_")
        and (name is None or change.get("resource") == name)
    ]
    # Newest first, across fault kinds, so the oldest snapshot's value wins.
    return restore_newest_first(todo, configuration)
