"""Which Lambda runtimes the chaoskit layer supports, and what to do about the others.

One place: :data:`SUPPORTED_RUNTIMES` lists the runtimes whose handler the
layer's exec wrapper can wrap (a runtime is added here when the layer learns
it). :func:`refusal` returns why a function cannot carry the layer, or
``None`` when it can. Standard library only (this package ships in the layer).
"""

from collections.abc import Mapping
from typing import Any

__all__ = ["SUPPORTED_RUNTIMES", "refusal"]

#: Runtimes the layer supports. The layer uses Python 3.10 syntax and library
#: features, so python3.9 and older import it and fail on every invocation.
#: python3.14 and nodejs24.x use nothing those releases removed; this machine's
#: tests run them on Python 3.13 and Node.js 20 (the sandbox's fallback).
SUPPORTED_RUNTIMES: tuple[str, ...] = (
    "python3.10",
    "python3.11",
    "python3.12",
    "python3.13",
    "python3.14",
    "nodejs18.x",
    "nodejs20.x",
    "nodejs22.x",
    "nodejs24.x",
)

_NO_LAYER_NEEDED = (
    "faults that need no layer still work on it: set_reserved_concurrency, "
    "limit_event_source_concurrency, disable_event_source_mapping, cut_table_capacity"
)


def _supported() -> str:
    return ", ".join(SUPPORTED_RUNTIMES)


def refusal(name: str, config: Mapping[str, Any]) -> str | None:
    """Return why the layer cannot be enabled on a function, or ``None`` if it can.

    Args:
        name: the function's name, for the message.
        config: its configuration (``Runtime``, ``PackageType``), as Lambda returns it.
    """
    if str(config.get("PackageType") or "Zip") != "Zip":
        return (
            f"function '{name}' is a container image (PackageType Image), which cannot use "
            "layers: vendor chaoskit into the image ('chaoskit layer build --vendor DIR' "
            "into the image's code folder, '--runtime nodejs20.x' for Node.js) and either "
            "wrap the handler in code (the decorator chaoskit.layer.inject, or inject from "
            "'chaoskit-layer' in Node.js) or point the image's handler at the vendored "
            "handler with CHAOSKIT_ORIGINAL_HANDLER set to its own (an image started as "
            "'python -m awslambdaric HANDLER' ignores exec wrappers: give it "
            "chaoskit.layer.handler.handler as HANDLER); " + _NO_LAYER_NEEDED
        )
    runtime = str(config.get("Runtime") or "")
    if runtime in SUPPORTED_RUNTIMES:
        return None
    for family in ("python", "nodejs"):
        known = [r for r in SUPPORTED_RUNTIMES if r.startswith(family)]
        if not runtime.startswith(family):
            continue
        if _version(runtime) < _version(known[0]):
            return (
                f"function '{name}' runs on '{runtime}', which the chaoskit layer does not "
                f"support (it supports {_supported()}): set the function's Runtime to "
                f"{known[0]} or newer, then enable the layer; " + _NO_LAYER_NEEDED
            )
        return (
            f"function '{name}' runs on '{runtime}', which this chaoskit's layer does not "
            f"know yet (it supports {_supported()}): upgrade chaoskit, or set the "
            f"function's Runtime to {known[-1]}; " + _NO_LAYER_NEEDED
        )
    family = runtime.rstrip("0123456789.x") or "an unknown runtime"
    return (
        f"function '{name}' runs on '{runtime or 'no runtime'}': the chaoskit layer wraps "
        f"handlers of {_supported()} only, not {family}; " + _NO_LAYER_NEEDED
    )


def _version(runtime: str) -> tuple[int, ...]:
    """``python3.9`` -> (3, 9); ``nodejs16.x`` -> (16,)."""
    digits = runtime.lstrip("abcdefghijklmnopqrstuvwxyz").removesuffix(".x")
    return tuple(int(part) for part in digits.split(".") if part.isdigit())
