"""The exceptions of the fault-injection layer.

Standard library only. :class:`ConfigError` is what the config parser raises;
:func:`injected_exception_type` builds the exception class an ``exception``
fault raises, named as the experiment asked, so that Lambda reports that name
as the invocation's ``errorType``.
"""

__all__ = [
    "ChaosKitInjectedError",
    "ChaosKitInjectedTimeout",
    "ConfigError",
    "injected_exception_type",
]


class ConfigError(ValueError):
    """A fault config document is not what chaoskit expects; the message names the field."""


class ChaosKitInjectedError(Exception):
    """The default exception an ``exception`` fault raises."""


class ChaosKitInjectedTimeout(Exception):
    """Raised after a ``timeout`` fault slept past the deadline and nothing stopped it.

    On Lambda the runtime kills the environment first; locally, this makes the
    invocation fail the way a timeout does.
    """


_TYPES: dict[str, type[Exception]] = {ChaosKitInjectedError.__name__: ChaosKitInjectedError}


def injected_exception_type(name: str) -> type[Exception]:
    """Return an exception class called ``name`` (created once, then reused)."""
    cls = _TYPES.get(name)
    if cls is None:
        cls = type(name, (ChaosKitInjectedError,), {"__module__": "chaoskit.layer.injected"})
        _TYPES[name] = cls
    return cls
