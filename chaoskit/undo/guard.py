"""The allowlist: actions refuse resources outside it, before any mutation.

Configured once, as ``chaoskit_allow`` in the experiment's configuration or in
the settings file (``.chaoskit/settings.yaml``)::

    chaoskit_allow:
      names: ["orders-*", "payments-worker"]   # shell-style patterns
      tags: {chaos: "allowed"}                 # every pair must match

A resource is allowed when its name matches one of ``names``, or when
``tags`` is given and the resource carries every one of those tags. With no
``chaoskit_allow`` at all, everything is allowed.
"""

import fnmatch
from collections.abc import Mapping
from typing import Any

from chaoskit.errors import BadInput, SafetyAbort
from chaoskit.undo.settings import setting

__all__ = ["allowlist", "guard"]


def allowlist(configuration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Return the effective allowlist, or ``None`` when none is configured.

    Raises:
        BadInput: ``chaoskit_allow`` is not a mapping of ``names`` and ``tags``.
    """
    allow = setting(configuration, "chaoskit_allow")
    if allow is None:
        return None
    if not isinstance(allow, Mapping):
        raise BadInput(
            f"invalid chaoskit_allow {allow!r}: expected a mapping with 'names' and/or 'tags'"
        )
    unknown = set(allow) - {"names", "tags"}
    if unknown:
        raise BadInput(
            f"invalid chaoskit_allow key(s) {', '.join(sorted(map(str, unknown)))}: "
            "expected 'names' and/or 'tags'"
        )
    names = allow.get("names") or []
    if isinstance(names, str):
        names = [names]
    tags = allow.get("tags") or {}
    if not isinstance(names, list) or not isinstance(tags, Mapping):
        raise BadInput(
            f"invalid chaoskit_allow {dict(allow)!r}: 'names' must be a list, 'tags' a mapping"
        )
    return {"names": [str(n) for n in names], "tags": {str(k): str(v) for k, v in tags.items()}}


def guard(
    resource_name: str,
    tags: Mapping[str, str] | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> None:
    """Refuse ``resource_name`` unless the allowlist admits it.

    Args:
        resource_name: the resource's name (function name, health check id...).
        tags: the resource's tags; ``None`` when the resource has none.
        configuration: Chaos Toolkit configuration carrying ``chaoskit_allow``.

    Raises:
        SafetyAbort: an allowlist is configured and the resource is outside it.
    """
    allow = allowlist(configuration)
    if allow is None:
        return
    if any(fnmatch.fnmatchcase(resource_name, pattern) for pattern in allow["names"]):
        return
    have = {str(k): str(v) for k, v in (tags or {}).items()}
    wanted = allow["tags"]
    if wanted and all(have.get(k) == v for k, v in wanted.items()):
        return
    described = []
    if allow["names"]:
        described.append(f"names {allow['names']}")
    if wanted:
        described.append(f"tags {wanted}")
    raise SafetyAbort(
        f"'{resource_name}' is outside the allowlist ({' or '.join(described) or 'empty'}); "
        "add it to chaoskit_allow to let chaoskit change it"
    )
