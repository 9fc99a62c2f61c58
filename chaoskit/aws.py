"""The one place that builds boto3 clients.

A client is cached per target, endpoint, region, profile, role and service,
and always carries an explicit botocore retry configuration. No other module
calls ``boto3.client``: actions and probes call :func:`client`.

Configuration keys (Chaos Toolkit ``configuration``, same names as
chaostoolkit-aws where they overlap):

- ``chaoskit_target``: ``sandbox`` (default), ``localstack`` or ``aws``;
- ``chaoskit_endpoint_url``: explicit endpoint for every service;
- ``chaoskit_sandbox_port``: sandbox gateway port (default 4566);
- ``aws_region``, ``aws_profile_name``, ``aws_assume_role_arn``.

An explicit key beats an environment variable (``CHAOSKIT_TARGET``,
``CHAOSKIT_SANDBOX_PORT``, ``AWS_DEFAULT_REGION``). On the ``aws`` target
boto3's own ``AWS_ENDPOINT_URL*`` variables still apply, which is how
``chaos run`` is pointed at an emulator without editing the experiment.
"""

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config

from chaoskit import envvars
from chaoskit.errors import BadInput
from chaoskit.inputs import validate_endpoint_url

__all__ = [
    "DEFAULT_REGION",
    "TARGETS",
    "Target",
    "clear_cache",
    "client",
    "resolve_target",
]

TARGETS = ("sandbox", "localstack", "aws")
DEFAULT_REGION = "us-east-1"
DEFAULT_SANDBOX_PORT = 4566

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}


@dataclass(frozen=True)
class Target:
    """Where AWS calls go, resolved from configuration and the environment."""

    name: str
    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    role_arn: str | None = None

    @property
    def is_local(self) -> bool:
        """Tell whether the target is an emulator on this machine."""
        return self.name in ("sandbox", "localstack")


def _localstack_endpoint() -> str:
    # localstack-client's conventions: LOCALSTACK_HOST (host[:port]) and EDGE_PORT.
    host = os.environ.get("LOCALSTACK_HOST", "localhost")
    if ":" not in host:
        host = f"{host}:{os.environ.get('EDGE_PORT', '4566')}"
    return f"http://{host}"


def resolve_target(configuration: Mapping[str, Any] | None = None) -> Target:
    """Resolve the target of AWS calls.

    Args:
        configuration: Chaos Toolkit configuration, or ``None``.

    Raises:
        BadInput: the target name is not one of ``sandbox``, ``localstack``, ``aws``.
    """
    cfg = configuration or {}
    name = str(cfg.get("chaoskit_target") or os.environ.get(envvars.TARGET) or "sandbox").lower()
    if name not in TARGETS:
        raise BadInput(f"unknown target '{name}': expected one of {', '.join(TARGETS)}")
    region = str(
        cfg.get("aws_region")
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or DEFAULT_REGION
    )
    endpoint = cfg.get("chaoskit_endpoint_url")
    if not endpoint and name == "sandbox":
        port = cfg.get("chaoskit_sandbox_port") or os.environ.get(envvars.SANDBOX_PORT)
        if port and not (str(port).isdigit() and 0 < int(port) < 65536):
            raise BadInput(
                f"sandbox port {port!r} (chaoskit_sandbox_port or {envvars.SANDBOX_PORT}): "
                "expected a port number 1-65535"
            )
        endpoint = f"http://127.0.0.1:{port or DEFAULT_SANDBOX_PORT}"
    elif not endpoint and name == "localstack":
        endpoint = _localstack_endpoint()
    if endpoint:
        validate_endpoint_url(endpoint, "endpoint URL")
    return Target(
        name=name,
        region=region,
        endpoint_url=str(endpoint) if endpoint else None,
        profile=cfg.get("aws_profile_name"),
        role_arn=cfg.get("aws_assume_role_arn"),
    )


def _retry_config(cfg: Mapping[str, Any]) -> Config:
    return Config(
        retries={
            "mode": str(cfg.get("chaoskit_retry_mode", "standard")),
            # total attempts, the first included (botocore's "max_attempts" counts retries only)
            "total_max_attempts": int(cfg.get("chaoskit_max_attempts", 5)),
        },
        connect_timeout=float(cfg.get("chaoskit_connect_timeout", 5)),
        # Parallel reads of the ledger and parallel sends of the load action.
        max_pool_connections=int(cfg.get("chaoskit_max_pool_connections", 32)),
        # Sync Lambda invokes can legitimately last up to the function timeout.
        read_timeout=float(cfg.get("chaoskit_read_timeout", 120)),
    )


def _session(target: Target) -> boto3.session.Session:
    if target.is_local:
        # Emulators accept any credentials; never pick up a real profile for them.
        return boto3.session.Session(
            aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            region_name=target.region,
        )
    session = boto3.session.Session(profile_name=target.profile, region_name=target.region)
    if not target.role_arn:
        return session
    creds = session.client("sts").assume_role(RoleArn=target.role_arn, RoleSessionName="chaoskit")[
        "Credentials"
    ]
    return boto3.session.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=target.region,
    )


def client(
    service: str,
    configuration: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> Any:
    """Return a cached boto3 client for ``service`` on the configured target.

    Args:
        service: boto3 service name, e.g. ``"lambda"``.
        configuration: Chaos Toolkit configuration.
        secrets: Chaos Toolkit secrets (unused; kept for the activity signature).
    """
    cfg = configuration or {}
    target = resolve_target(cfg)
    config = _retry_config(cfg)
    key = (target, service, repr(config.retries), config.read_timeout, config.connect_timeout)
    with _lock:
        cached = _clients.get(key)
        if cached is None:
            cached = _session(target).client(
                service, endpoint_url=target.endpoint_url, config=config
            )
            _clients[key] = cached
        return cached


def clear_cache() -> None:
    """Forget every cached client (tests use it between targets)."""
    with _lock:
        _clients.clear()
