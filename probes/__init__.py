"""chaoskit's verification probes, called from experiments as ``probes.<module>``."""

__all__ = ["discover"]


def discover(discover_system: bool = True) -> dict[str, object]:
    """Return chaoskit's actions and probes for ``chaos discover`` (same as ``chaoskit``)."""
    from chaoskit.discovery import discover as _discover

    return _discover(discover_system)
