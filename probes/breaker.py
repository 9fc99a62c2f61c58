"""Circuit breakers: probe the transitions and fallbacks the app recorded in the ledger.

The records are written from inside the function by
:class:`chaoskit.layer.breaker.LedgerListener` and
:func:`chaoskit.layer.breaker.record_fallback` (they ship with chaoskit's layer);
these probes read them back.
"""

import logging
from typing import Any

from chaoskit.ledger.records import BREAKER, FALLBACK, Record
from probes._window import fault_window, in_window

__all__ = [
    "count_fallbacks",
    "get_breaker_state",
    "get_breaker_transitions",
    "is_breaker_closed_after_recovery",
    "is_breaker_opened_during_fault",
]

logger = logging.getLogger("chaostoolkit.chaoskit")

# Activity signatures use the same shapes as chaoslib.types, without importing it.
Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None


def _records(run_id: str | None, configuration: Configuration) -> list[Record]:
    from chaoskit.ledger import store
    from chaoskit.run_context import current_run_id

    return store.read_run(run_id or current_run_id(configuration), configuration, missing_ok=True)


def get_breaker_transitions(
    name: str | None = None,
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> list[dict[str, Any]]:
    """Return the breaker transitions recorded during the run, oldest first.

    Args:
        name: only this breaker (default: every breaker).
        run_id: the run (default: the current run).

    Returns:
        ``[{"t", "name", "from", "to", "event_id"}]``.
    """
    out = []
    for r in sorted(_records(run_id, configuration), key=lambda r: r.at):
        if r.kind != BREAKER or (name and r.source != name):
            continue
        detail = r.detail or {}
        out.append(
            {
                "t": r.at,
                "name": r.source,
                "from": detail.get("from"),
                "to": detail.get("to"),
                "event_id": None if r.event_id.startswith("breaker:") else r.event_id,
            }
        )
    return out


def get_breaker_state(
    name: str,
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> str:
    """Return the breaker's last recorded state in the run (``closed`` if it never moved).

    Args:
        name: the breaker.
        run_id: the run (default: the current run).
    """
    transitions = get_breaker_transitions(name, run_id, configuration)
    return str(transitions[-1]["to"]) if transitions else "closed"


def _window(
    run_id: str | None, start: float | None, end: float | None, cfg: Any
) -> tuple[Any, Any]:
    if start is not None or end is not None:
        return start, end
    from chaoskit.run_context import current_run_id

    window = fault_window(run_id or current_run_id(cfg))
    return window if window else (None, None)


def is_breaker_opened_during_fault(
    name: str,
    run_id: str | None = None,
    start: float | None = None,
    end: float | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """Tell whether the breaker opened while the fault was applied.

    The fault window is read from the run's undo journal (first change applied
    to last change restored) unless ``start``/``end`` (epoch seconds) are given.

    Args:
        name: the breaker.
        run_id: the run (default: the current run).
        start: window start, epoch seconds.
        end: window end, epoch seconds.
    """
    lo, hi = _window(run_id, start, end, configuration)
    return any(
        t["to"] == "open" and in_window(t["t"], lo, hi)
        for t in get_breaker_transitions(name, run_id, configuration)
    )


def is_breaker_closed_after_recovery(
    name: str,
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """Tell whether the breaker ended the run closed, having closed after the fault ended.

    A breaker that never moved counts as closed. With a fault window in the
    undo journal, the last transition to ``closed`` must come after it ended.

    Args:
        name: the breaker.
        run_id: the run (default: the current run).
    """
    transitions = get_breaker_transitions(name, run_id, configuration)
    if not transitions:
        return True
    if transitions[-1]["to"] != "closed":
        return False
    _, hi = _window(run_id, None, None, configuration)
    return hi is None or transitions[-1]["t"] >= hi


def count_fallbacks(
    name: str | None = None,
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Return how many times a breaker's fallback was served during the run.

    Args:
        name: only this breaker's fallbacks (default: every breaker).
        run_id: the run (default: the current run).
    """
    return sum(
        1
        for r in _records(run_id, configuration)
        if r.kind == FALLBACK and (name is None or r.source == name)
    )
