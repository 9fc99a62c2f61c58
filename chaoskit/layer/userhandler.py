"""Load a function's own handler by Lambda's Python rules, with Lambda's own errors.

``path/to/module.function`` is imported as Lambda's Python runtime imports it,
and a handler that cannot be loaded is reported as the runtime reports it:
``Runtime.MalformedHandlerName``, ``Runtime.ImportModuleError``,
``Runtime.UserCodeSyntaxError`` or ``Runtime.HandlerNotFound``, naming the
user's module, with the same messages. The layer's handler and the sandbox's
bootstrap (which stands for Lambda's runtime) both load handlers through this
module, so the two cannot drift.

Standard library only, no chaoskit import, and Python 3.9 syntax: the sandbox
copies this file beside its bootstrap, which runs in the function's interpreter.
"""

from __future__ import annotations

import importlib
import traceback
from collections.abc import Callable
from typing import Any

__all__ = ["error_type", "load"]

Error = dict[str, Any]
_TYPES: dict[str, type[Exception]] = {}


def _error(kind: str, message: str, stack: list[str] | None = None) -> Error:
    return {"errorMessage": message, "errorType": kind, "stackTrace": stack or []}


def load(spec: str) -> tuple[Callable[..., Any] | None, Error | None]:
    """Import the handler named ``spec``; return it, or the error Lambda reports instead."""
    spec = (spec or "").strip()
    if "." not in spec:
        return None, _error(
            "Runtime.MalformedHandlerName",
            f"Bad handler '{spec}': not enough values to unpack (expected 2, got 1)",
        )
    module_name, function_name = spec.rsplit(".", 1)
    module_name = module_name.replace("/", ".")
    try:
        module = importlib.import_module(module_name)
    except SyntaxError as err:
        return None, _error(
            "Runtime.UserCodeSyntaxError",
            f"Syntax error in module '{module_name}': {err}",
            traceback.format_exception_only(type(err), err),
        )
    except ImportError as err:
        return None, _error(
            "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {err}"
        )
    except Exception as err:  # the user's init code raised: Lambda reports that error
        return None, _error(type(err).__name__, str(err), traceback.format_tb(err.__traceback__))
    handler = getattr(module, function_name, None)
    if handler is None:
        return None, _error(
            "Runtime.HandlerNotFound",
            f"Handler '{function_name}' missing on module '{module_name}'",
        )
    return handler, None


def error_type(name: str) -> type[Exception]:
    """Return an exception class called ``name`` (``Runtime.HandlerNotFound`` and so on).

    Raised from a handler, Lambda reports its class name as the ``errorType``.
    """
    cls = _TYPES.get(name)
    if cls is None:
        cls = _TYPES[name] = type(name, (Exception,), {"__module__": "lambda_runtime"})
    return cls
