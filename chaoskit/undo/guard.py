"""The allowlist: actions refuse resources outside it, before any mutation.

Configured as ``chaoskit_allow`` in the settings file (``.chaoskit/settings.yaml``)
and/or in the experiment's configuration (or ``--var``)::

    chaoskit_allow:
      names: ["orders-*", "payments-worker"]   # shell-style patterns
      tags: {chaos: "allowed"}                 # every pair must match

A resource is allowed by one allowlist when its name matches one of
``names``, or when ``tags`` is given and the resource carries every one of
those tags. Settings only narrow: when both the settings file and the
experiment hold an allowlist, a resource must be allowed by **both**, so an
experiment's ``names: ["*"]`` can never widen what the operator's settings allow.

With no allowlist at all, a local target (the sandbox, or any endpoint on
127.0.0.1/localhost) allows everything; any other target (real AWS) refuses
every mutation, unless the operator allows unlisted resources explicitly:
``chaoskit_allow_unlisted: true`` in the settings file, or
``CHAOSKIT_ALLOW_UNLISTED=1`` (``chaoskit run --allow-unlisted``). An
experiment's own configuration cannot say so.
"""

import fnmatch
import math
import os
import urllib.parse
from collections.abc import Mapping
from typing import Any

from chaoskit import envvars
from chaoskit.aws import resolve_target
from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.undo.settings import load_settings

__all__ = ["allowlist", "allowlists", "guard", "is_local_target", "max_fault_duration"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _parse(allow: Any, where: str) -> dict[str, Any]:
    if not isinstance(allow, Mapping):
        raise BadInput(
            f"invalid chaoskit_allow {allow!r} in {where}: expected a mapping with "
            "'names' and/or 'tags'"
        )
    unknown = set(allow) - {"names", "tags"}
    if unknown:
        raise BadInput(
            f"invalid chaoskit_allow key(s) {', '.join(sorted(map(str, unknown)))} in {where}: "
            "expected 'names' and/or 'tags'"
        )
    names = allow.get("names") or []
    if isinstance(names, str):
        names = [names]
    tags = allow.get("tags") or {}
    if not isinstance(names, list) or not isinstance(tags, Mapping):
        raise BadInput(
            f"invalid chaoskit_allow {dict(allow)!r} in {where}: 'names' must be a list, "
            "'tags' a mapping"
        )
    return {"names": [str(n) for n in names], "tags": {str(k): str(v) for k, v in tags.items()}}


def allowlists(configuration: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Return every allowlist in force: the settings file's, then the experiment's.

    Raises:
        BadInput: a ``chaoskit_allow`` is not a mapping of ``names`` and ``tags``.
    """
    found = []
    from_settings = load_settings().get("chaoskit_allow")
    if from_settings is not None:
        found.append(_parse(from_settings, "the settings file"))
    from_config = (configuration or {}).get("chaoskit_allow")
    if from_config is not None:
        found.append(_parse(from_config, "the experiment's configuration"))
    return found


def allowlist(configuration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the narrowest allowlist in force (settings first), or ``None`` when none is set.

    Kept for callers that show one allowlist; :func:`guard` checks all of them.
    """
    found = allowlists(configuration)
    return found[0] if found else None


def is_local_target(configuration: Mapping[str, Any] | None) -> bool:
    """Tell whether calls go to this machine (an endpoint on 127.0.0.1, localhost or ::1)."""
    target = resolve_target(configuration)
    endpoint = target.endpoint_url
    if not endpoint and target.name == "aws":
        endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint:
        return False
    try:
        host = urllib.parse.urlsplit(str(endpoint)).hostname
    except ValueError:
        return False
    return host in _LOCAL_HOSTS


def _unlisted_allowed() -> bool:
    if envvars.is_truthy(os.environ.get(envvars.ALLOW_UNLISTED)):
        return True
    value = load_settings().get("chaoskit_allow_unlisted")
    return value is True or (isinstance(value, str) and envvars.is_truthy(value))


def _admits(allow: Mapping[str, Any], name: str, tags: Mapping[str, str] | None) -> bool:
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in allow["names"]):
        return True
    have = {str(k): str(v) for k, v in (tags or {}).items()}
    wanted = allow["tags"]
    return bool(wanted) and all(have.get(k) == v for k, v in wanted.items())


def _describe(allow: Mapping[str, Any]) -> str:
    described = []
    if allow["names"]:
        described.append(f"names {allow['names']}")
    if allow["tags"]:
        described.append(f"tags {allow['tags']}")
    return " or ".join(described) or "empty"


def guard(
    resource_name: str,
    tags: Mapping[str, str] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> None:
    """Refuse ``resource_name`` unless every allowlist in force admits it.

    Args:
        resource_name: the resource's name (function name, health check id...).
        tags: the resource's tags; ``None`` when the resource has none.
        configuration: Chaos Toolkit configuration carrying ``chaoskit_allow``.

    Raises:
        SafetyAbort: an allowlist refuses the resource, or the target is not
            local and no allowlist is set (and unlisted resources are not allowed).
    """
    found = allowlists(configuration)
    if not found:
        if is_local_target(configuration) or _unlisted_allowed():
            return
        target = resolve_target(configuration)
        raise SafetyAbort(
            f"refusing to change '{resource_name}' on target '{target.name}' "
            f"({target.endpoint_url or target.region}): no allowlist is set; add "
            "chaoskit_allow to .chaoskit/settings.yaml, or allow every resource explicitly "
            "with 'chaoskit run --allow-unlisted' (or chaoskit_allow_unlisted: true in settings)"
        )
    for allow in found:
        if not _admits(allow, resource_name, tags):
            raise SafetyAbort(
                f"'{resource_name}' is outside the allowlist ({_describe(allow)}); "
                "add it to chaoskit_allow to let chaoskit change it"
            )


def max_fault_duration(configuration: Mapping[str, Any] | None, default: float) -> float:
    """Return the ceiling on a fault's duration: the lowest of settings and configuration.

    Raises:
        BadInput: ``chaoskit_max_fault_duration`` is not a positive number of seconds.
    """
    ceiling = float(default)
    for where, value in (
        ("the settings file", load_settings().get("chaoskit_max_fault_duration")),
        ("the configuration", (configuration or {}).get("chaoskit_max_fault_duration")),
    ):
        if value is None:
            continue
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            seconds = math.nan
        if isinstance(value, bool) or not math.isfinite(seconds) or seconds <= 0:
            raise BadInput(
                f"invalid chaoskit_max_fault_duration {value!r} in {where}: expected seconds > 0"
            )
        ceiling = min(ceiling, seconds)
    return ceiling
