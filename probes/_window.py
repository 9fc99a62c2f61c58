"""The fault window of a run, read back from its undo journal (:mod:`chaoskit.runs`)."""

from chaoskit.runs import fault_window

__all__ = ["fault_window", "in_window"]


def in_window(t: float, start: float | None, end: float | None) -> bool:
    """Tell whether ``t`` falls in ``[start, end]`` (an open side is unbounded)."""
    return (start is None or t >= start) and (end is None or t <= end)
