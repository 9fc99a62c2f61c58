"""The Lambda entry point chaoskit puts in front of the function's own handler.

The exec wrapper (``/opt/chaoskit-wrapper``) sets ``_HANDLER`` to
``chaoskit.layer.handler.handler`` and keeps the function's handler in
``CHAOSKIT_ORIGINAL_HANDLER``; vendored functions set both by hand. The
original handler is loaded the way Lambda's Python runtime loads ``_HANDLER``
(:mod:`chaoskit.layer.userhandler`), at import time when the variable is set,
so the function's own init code still runs in the init phase. A handler that
cannot be loaded does not break this module's import (Lambda would then report
``Unable to import module 'chaoskit.layer.handler'``): each invocation fails
with the error Lambda reports without the layer (``Runtime.HandlerNotFound``,
``Runtime.ImportModuleError`` naming the user's module, ...), through the layer, so
the events are on record as attempted and failed with it. Then, in Lambda,
the ledger's internal extension registers (:mod:`chaoskit.layer.extension`),
so that traced records are written after each response.

Standard library only at import time.
"""

import os
import sys
from collections.abc import Callable
from typing import Any

from chaoskit import envvars
from chaoskit.layer import extension, userhandler
from chaoskit.layer.context import LambdaContext
from chaoskit.layer.runtime import Layer

__all__ = ["handler", "layer", "load_handler", "reset"]

layer: Layer | None = None
_original: Callable[[Any, Any], Any] | None = None


def load_handler(spec: str) -> Callable[[Any, Any], Any]:
    """Import ``module.function`` (``/`` allowed in the module path), as Lambda does.

    Raises:
        Exception: named as Lambda names the failure (``Runtime.HandlerNotFound``, ...).
    """
    func, error = userhandler.load(spec)
    if error is not None or func is None:
        error = error or {"errorType": "Runtime.HandlerNotFound", "errorMessage": spec}
        raise userhandler.error_type(error["errorType"])(error["errorMessage"])
    return func


def _original_handler() -> Callable[[Any, Any], Any]:
    global _original
    if _original is None:
        spec = os.environ.get(envvars.ORIGINAL_HANDLER)
        if not spec:
            raise userhandler.error_type("Runtime.HandlerNotFound")(
                f"{envvars.ORIGINAL_HANDLER} is not set: "
                "chaoskit does not know which handler to run"
            )
        _original = load_handler(spec)
    return _original


def handler(event: Any, context: LambdaContext | None) -> Any:
    """Run the function's own handler through the fault layer."""
    global layer
    if layer is None:
        layer = Layer()
    try:
        try:
            original = _original_handler()
        except Exception as err:
            original = _failing(err)
        return layer.invoke(original, event, context)
    finally:
        extension.finished(getattr(context, "aws_request_id", None))


def _failing(err: Exception) -> Callable[[Any, Any], Any]:
    """Return a stand-in for a handler that could not be loaded: it raises that error.

    Run through the layer, the events are then on record as attempted and failed with
    Lambda's own error (``Runtime.ImportModuleError`` ...), not as never delivered.
    """

    def cannot_load(event: Any, context: Any) -> Any:
        raise err

    return cannot_load


def reset() -> None:
    """Forget the loaded handler and the layer state (tests, and a changed environment)."""
    global layer, _original
    layer, _original = None, None


if os.environ.get(envvars.ORIGINAL_HANDLER):
    try:
        _original_handler()
    except Exception as err:  # reported by every invocation, as Lambda reports a failed init
        sys.stdout.write(f"[ERROR] {type(err).__name__}: {err}\n")
    if not envvars.is_truthy(os.environ.get(envvars.DISABLED)):
        extension.register()
