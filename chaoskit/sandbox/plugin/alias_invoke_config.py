"""Apply an alias's async invoke config to events sent to the alias, as AWS does.

``PutFunctionEventInvokeConfig --qualifier live`` configures retries, event age
and destinations for events invoked through the alias ``live``. LocalStack
looks the config up by the *version* the alias routes an event to (``1``,
``2``...), finds none, and handles the event with the defaults: two retries and
no destination, so a failed event sent to an alias was silently dropped. The
patched poller looks up the invoked alias's config first and falls back to the
version's, so the rest of LocalStack's handling sees the config AWS would use.
"""

from __future__ import annotations

import json
from typing import Any

from localstack.utils.patch import Patch

from .patching import wrap

__all__ = ["alias_of", "patches"]


def alias_of(invoked_arn: str) -> str | None:
    """Return the alias an invoked ARN names (``None`` for a version, ``$LATEST`` or none)."""
    parts = invoked_arn.split(":")
    if len(parts) < 8:
        return None
    qualifier = parts[7]
    if not qualifier or qualifier.isdigit() or qualifier.startswith("$"):
        return None
    return qualifier


class _Delegate:
    """An object that answers every attribute of ``target`` but the ones set on it."""

    def __init__(self, target: Any, **overrides: Any) -> None:
        self.__dict__["_target"] = target
        self.__dict__.update(overrides)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["_target"], name)


def patches() -> list[Patch]:
    """Make the async event poller use the invoked alias's event invoke config."""
    from localstack.services.lambda_.invocation import event_manager as em

    def handle_message(original: Any, self: Any, message: dict[str, Any]) -> Any:
        try:
            body = json.loads(message["Body"])
            alias = alias_of(str(body["invoked_arn"]))
        except (KeyError, TypeError, ValueError):
            alias = None
        manager = self.version_manager
        configs = manager.function.event_invoke_configs
        if alias is None or alias not in configs:
            return original(self, message)
        version = manager.function_version.id.qualifier
        aliased = {**configs, version: configs[alias]}
        function = _Delegate(manager.function, event_invoke_configs=aliased)
        view = _Delegate(self, version_manager=_Delegate(manager, function=function))
        return original(view, message)

    return [wrap(em.Poller, "handle_message", handle_message)]
