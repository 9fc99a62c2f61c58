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

Credentials come from Chaos Toolkit ``secrets`` when they hold
``aws_access_key_id`` and ``aws_secret_access_key`` (and optionally
``aws_session_token``; the same keys as chaostoolkit-aws), else from boto3's
credential chain. Activities pass their ``secrets``; the chaoskit control also
makes each activity's secrets the default for the clients built while it runs
(:func:`use_secrets`). An assumed role's credentials refresh themselves before
they expire (a ``gameday serve`` process outlives one STS session). Every
client's user agent carries ``chaoskit/<version>``, so each change chaoskit
makes is identifiable in CloudTrail.

An explicit key beats an environment variable (``CHAOSKIT_TARGET``,
``CHAOSKIT_SANDBOX_PORT``, ``AWS_DEFAULT_REGION``). On the ``aws`` target
boto3's own ``AWS_ENDPOINT_URL*`` variables still apply, which is how
``chaos run`` is pointed at an emulator without editing the experiment.
"""

import hashlib
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials

from chaoskit import __version__, envvars
from chaoskit.errors import BadInput
from chaoskit.inputs import validate_endpoint_url

__all__ = [
    "DEFAULT_REGION",
    "TARGETS",
    "Target",
    "clear_cache",
    "client",
    "resolve_target",
    "target_settings",
    "use_secrets",
]

#: Appended to every client's user agent (``user_agent_extra``): CloudTrail records it.
USER_AGENT = f"chaoskit/{__version__}"
#: The secrets keys read for credentials (those of chaostoolkit-aws).
SECRET_KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")

TARGETS = ("sandbox", "localstack", "aws")
DEFAULT_REGION = "us-east-1"
DEFAULT_SANDBOX_PORT = 4566

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], Any] = {}
_ambient: dict[str, Any] = {}


def use_secrets(secrets: Mapping[str, Any] | None) -> None:
    """Make ``secrets`` the default of :func:`client` until the next call (``None`` clears).

    The chaoskit control calls it before each activity with that activity's
    secrets, so helpers that build clients without a ``secrets`` argument
    still use the experiment's credentials.
    """
    with _lock:
        _ambient.clear()
        _ambient.update(_credentials(secrets) or {})


def _credentials(secrets: Mapping[str, Any] | None) -> dict[str, str] | None:
    found = {k: str(secrets[k]) for k in SECRET_KEYS if secrets and secrets.get(k)}
    if not found:
        return None
    if not (found.get("aws_access_key_id") and found.get("aws_secret_access_key")):
        raise BadInput(
            "secrets hold only part of the AWS credentials: expected both "
            "aws_access_key_id and aws_secret_access_key (and optionally aws_session_token)"
        )
    return found


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


def target_settings(target: str | None, endpoint_url: str | None) -> dict[str, str]:
    """Return the configuration keys a command's ``--target`` and ``--endpoint-url`` set."""
    settings = {}
    if target:
        settings["chaoskit_target"] = target
    if endpoint_url:
        settings["chaoskit_endpoint_url"] = endpoint_url
    return settings


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
        user_agent_extra=USER_AGENT,
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


def _role_refresher(base: boto3.session.Session, role_arn: str, region: str) -> Any:
    """Return a function that assumes ``role_arn`` and returns botocore's credential dict."""

    def refresh() -> dict[str, str]:
        sts = base.client("sts", region_name=region, config=Config(user_agent_extra=USER_AGENT))
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="chaoskit")["Credentials"]
        return {
            "access_key": creds["AccessKeyId"],
            "secret_key": creds["SecretAccessKey"],
            "token": creds["SessionToken"],
            "expiry_time": creds["Expiration"].isoformat(),
        }

    return refresh


def _session(target: Target, creds: Mapping[str, str] | None) -> boto3.session.Session:
    keys = {
        "aws_access_key_id": (creds or {}).get("aws_access_key_id"),
        "aws_secret_access_key": (creds or {}).get("aws_secret_access_key"),
        "aws_session_token": (creds or {}).get("aws_session_token"),
    }
    if target.is_local:
        # Emulators accept any credentials; never pick up a real profile for them.
        return boto3.session.Session(
            aws_access_key_id=keys["aws_access_key_id"]
            or os.environ.get("AWS_ACCESS_KEY_ID", "test"),
            aws_secret_access_key=keys["aws_secret_access_key"]
            or os.environ.get("AWS_SECRET_ACCESS_KEY", "test"),
            aws_session_token=keys["aws_session_token"],
            region_name=target.region,
        )
    if creds:
        base = boto3.session.Session(region_name=target.region, **keys)
    else:
        base = boto3.session.Session(profile_name=target.profile, region_name=target.region)
    if not target.role_arn:
        return base
    # Assumed lazily and again shortly before each expiry (botocore refreshes
    # DeferredRefreshableCredentials on use), so a long-lived process keeps working.
    core = botocore.session.get_session()
    core._credentials = DeferredRefreshableCredentials(
        refresh_using=_role_refresher(base, target.role_arn, target.region),
        method="assume-role",
    )
    return boto3.session.Session(botocore_session=core, region_name=target.region)


def client(
    service: str,
    configuration: Mapping[str, Any] | None = None,
    secrets: Mapping[str, Any] | None = None,
) -> Any:
    """Return a cached boto3 client for ``service`` on the configured target.

    Args:
        service: boto3 service name, e.g. ``"lambda"``.
        configuration: Chaos Toolkit configuration.
        secrets: Chaos Toolkit secrets; ``aws_access_key_id``,
            ``aws_secret_access_key`` and ``aws_session_token`` are the
            credentials (default: those of :func:`use_secrets`, else boto3's chain).

    Raises:
        BadInput: an unknown target, or secrets with only part of the credentials.
    """
    cfg = configuration or {}
    target = resolve_target(cfg)
    config = _retry_config(cfg)
    creds = _credentials(secrets)
    with _lock:
        creds = creds or (dict(_ambient) or None)
    # The cache tells credentials apart without keeping the secret key in the key.
    who = hashlib.sha256(repr(sorted(creds.items())).encode()).hexdigest() if creds else None
    key = (target, service, repr(config.retries), config.read_timeout, config.connect_timeout, who)
    with _lock:
        cached = _clients.get(key)
        if cached is None:
            cached = _session(target, creds).client(
                service, endpoint_url=target.endpoint_url, config=config
            )
            _clients[key] = cached
        return cached


def clear_cache() -> None:
    """Forget every cached client (tests use it between targets)."""
    with _lock:
        _clients.clear()
