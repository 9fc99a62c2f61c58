"""chaoskit: chaos engineering for AWS serverless applications.

This package root stays import-light on purpose: the Lambda layer ships it, and
its import time counts against every cold start.
"""

__all__ = ["__version__", "discover"]

__version__ = "0.1.0"


def discover(discover_system: bool = True) -> dict[str, object]:
    """Return chaoskit's actions and probes for ``chaos discover chaoskit``."""
    from chaoskit.discovery import discover as _discover  # chaoslib only when asked

    return _discover(discover_system)
