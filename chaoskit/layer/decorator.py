"""``chaoskit.layer.inject``: the code-level way to put a handler behind the fault layer."""

import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

from chaoskit.layer.context import LambdaContext
from chaoskit.layer.runtime import Layer

__all__ = ["inject"]

F = TypeVar("F", bound=Callable[[Any, Any], Any])


@overload
def inject(handler: F) -> F: ...


@overload
def inject(handler: None = None, *, layer: Layer | None = None) -> Callable[[F], F]: ...


def inject(handler: Any = None, *, layer: Layer | None = None) -> Any:
    """Wrap a Lambda handler so the fault config applies to it.

    Use as ``@inject`` or ``@inject(layer=Layer(...))``; each decorated handler
    gets its own :class:`~chaoskit.layer.runtime.Layer` (one per execution
    environment) unless one is given.
    """

    def decorate(func: F) -> F:
        own = layer or Layer()

        @functools.wraps(func)
        def wrapper(event: Any, context: LambdaContext | None) -> Any:
            return own.invoke(func, event, context)

        wrapper.chaoskit_layer = own  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    if handler is not None:
        return decorate(handler)
    return decorate
