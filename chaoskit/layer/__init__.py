"""The chaoskit Lambda layer: fault injection and tracing inside the function.

Standard library only at import time: this package runs in every invocation
of a function that carries the layer. Public API: :func:`inject` (decorator),
:func:`~chaoskit.layer.config.parse_config`, :class:`ConfigError`, and
:func:`chaoskit.layer.handler.handler` as a Lambda handler.
"""

from chaoskit.layer.config import ConfigError, FaultConfig, parse_config
from chaoskit.layer.decorator import inject
from chaoskit.layer.runtime import Layer

__all__ = ["ConfigError", "FaultConfig", "Layer", "inject", "parse_config"]
