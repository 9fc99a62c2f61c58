"""The Lambda entry point chaoskit puts in front of the function's own handler.

The exec wrapper (``/opt/chaoskit-wrapper``) sets ``_HANDLER`` to
``chaoskit.layer.handler.handler`` and keeps the function's handler in
``CHAOSKIT_ORIGINAL_HANDLER``; vendored functions set both by hand. The
original handler is loaded the way Lambda's Python runtime loads ``_HANDLER``
(``path/to/module.function``), at import time when the variable is set, so
the function's own init code still runs in the init phase. Then, in Lambda,
the ledger's internal extension registers (:mod:`chaoskit.layer.extension`),
so that traced records are written after each response.

Standard library only at import time.
"""

import importlib
import os
from collections.abc import Callable
from typing import Any

from chaoskit import envvars
from chaoskit.layer import extension
from chaoskit.layer.runtime import Layer

__all__ = ["handler", "layer", "load_handler", "reset"]

layer: Layer | None = None
_original: Callable[[Any, Any], Any] | None = None


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    """Import ``module.function`` (``/`` allowed in the module path), as Lambda does."""
    module_name, _, function_name = spec.strip().rpartition(".")
    if not module_name or not function_name:
        raise ValueError(f"bad handler {spec!r}: expected 'module.function'")
    module = importlib.import_module(module_name.replace("/", "."))
    func = getattr(module, function_name, None)
    if not callable(func):
        raise AttributeError(f"handler {function_name!r} missing on module {module_name!r}")
    return func


def _original_handler() -> Callable[[Any, Any], Any]:
    global _original
    if _original is None:
        spec = os.environ.get(envvars.ORIGINAL_HANDLER)
        if not spec:
            raise RuntimeError(
                f"{envvars.ORIGINAL_HANDLER} is not set: "
                "chaoskit does not know which handler to run"
            )
        _original = load_handler(spec)
    return _original


def handler(event: Any, context: Any) -> Any:
    """Run the function's own handler through the fault layer."""
    global layer
    if layer is None:
        layer = Layer()
    try:
        return layer.invoke(_original_handler(), event, context)
    finally:
        extension.finished(getattr(context, "aws_request_id", None))


def reset() -> None:
    """Forget the loaded handler and the layer state (tests, and a changed environment)."""
    global layer, _original
    layer, _original = None, None


if os.environ.get(envvars.ORIGINAL_HANDLER):
    _original_handler()
    if not envvars.is_truthy(os.environ.get(envvars.DISABLED)):
        extension.register()
