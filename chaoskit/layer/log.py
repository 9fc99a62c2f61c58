"""The layer's log lines: one JSON object per line on stdout (CloudWatch Logs in Lambda).

Standard library only. Tests swap :data:`sink` for a list's ``append``.
"""

import json
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = [
    "fault", "fired", "first_fired", "gave_up", "gave_ups", "set_sink", "sink", "warning",
]  # fmt: skip


def _stdout(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


sink: Callable[[str], None] = _stdout
#: While an invocation runs, the faults that fired in it, as ``(kind, rate)``;
#: ``None`` outside an invocation. The runtime turns them into ledger records.
fired: list[tuple[str, float]] | None = None
#: While an invocation runs, called with ``(kind, rate)`` the first time each fault
#: fires in it, before the fault acts: the runtime puts that firing on record at once,
#: so an invocation killed at its timeout (a throttled call retrying past it) still
#: leaves it. ``None`` outside an invocation.
first_fired: Callable[[str, float], None] | None = None
#: While an invocation runs, how many of its calls ended on an injected fault (the
#: client gave up after its retries), per fault kind; ``None`` outside an invocation.
gave_ups: dict[str, int] | None = None


def set_sink(new_sink: Callable[[str], None] | None) -> Callable[[str], None]:
    """Send log lines to ``new_sink`` (``None``: back to stdout); return the previous sink."""
    global sink
    previous, sink = sink, new_sink or _stdout
    return previous


def _emit(record: dict[str, Any]) -> None:
    # Logging must never break an invocation. (No contextlib.suppress: importing
    # contextlib would add to every cold start.)
    try:  # noqa: SIM105
        sink(json.dumps(record, sort_keys=True, default=str))
    except Exception:
        pass


def fault(kind: str, version: str, roll: float, rate: float, **detail: Any) -> None:
    """Log one injected fault: its kind, the config version and the rate roll."""
    record: dict[str, Any] = {
        "chaoskit": "fault",
        "level": "INFO",
        "kind": kind,
        "version": version,
    }
    record.update(roll=round(roll, 6), rate=rate, at=round(time.time(), 3), **detail)
    if fired is not None:
        first = (kind, rate) not in fired
        fired.append((kind, rate))
        if first and first_fired is not None:
            first_fired(kind, rate)
    _emit(record)


def gave_up(kind: str, version: str, **detail: Any) -> None:
    """Log one call that failed for good on an injected fault: its client retried no more."""
    record: dict[str, Any] = {
        "chaoskit": "gave_up",
        "level": "WARNING",
        "kind": kind,
        "version": version,
        "at": round(time.time(), 3),
        **detail,
    }
    if gave_ups is not None:
        gave_ups[kind] = gave_ups.get(kind, 0) + 1
    _emit(record)


def warning(message: str, **detail: Any) -> None:
    """Log one warning: something in the layer failed, so it did nothing (fail-open)."""
    _emit({"chaoskit": "warning", "level": "WARNING", "message": message, **detail})
