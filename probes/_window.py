"""The fault window of a run, from the undo journal: when harm was applied and undone."""

from typing import Any

__all__ = ["fault_window", "in_window"]


def fault_window(run_id: str) -> tuple[float, float | None] | None:
    """Return ``(first applied_at, last restored_at or None)`` of the run's changes.

    ``None`` when the run recorded no applied change (or the undo journal is
    not available). An end of ``None`` means something is still applied.
    """
    try:
        from chaoskit.undo.store import changes
    except ImportError:
        return None
    applied: list[float] = []
    restored: list[float] = []
    still_applied = False
    for change in changes(run_id):
        at: Any = change.get("applied_at")
        if not isinstance(at, int | float):
            continue
        applied.append(float(at))
        end: Any = change.get("restored_at")
        if isinstance(end, int | float):
            restored.append(float(end))
        else:
            still_applied = True
    if not applied:
        return None
    return min(applied), (None if still_applied or not restored else max(restored))


def in_window(t: float, start: float | None, end: float | None) -> bool:
    """Tell whether ``t`` falls in ``[start, end]`` (an open side is unbounded)."""
    return (start is None or t >= start) and (end is None or t <= end)
