"""Circuit breakers: record transitions and fallbacks in the ledger, then probe them.

The application adds :class:`LedgerListener` to its pybreaker breaker::

    breaker = pybreaker.CircuitBreaker(name="payments", listeners=[LedgerListener("payments")])

Each state change becomes a ``breaker`` record (detail ``name``, ``from``,
``to``) under the run of the event being processed when it happened: the
listener reads the chaoskit trace mark from the arguments of the protected
call. Fallbacks are recorded with :func:`record_fallback`. Inside a function
the records go through the chaoskit layer's ledger writer (standard library
and boto3 only, never raises); elsewhere through ``chaoskit.ledger.store``.

This module imports neither pybreaker nor chaoslib at import time, so that
it also loads inside a Lambda function that vendors chaoskit.
"""

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from chaoskit.ledger.records import BREAKER, FALLBACK, Record
from chaoskit.ledger.trace import Trace, find_traces
from probes._window import fault_window, in_window

__all__ = [
    "LedgerListener",
    "count_fallbacks",
    "get_breaker_state",
    "get_breaker_transitions",
    "is_breaker_closed_after_recovery",
    "is_breaker_opened_during_fault",
    "record_fallback",
]

logger = logging.getLogger("chaoskit")

# Activity signatures use the same shapes as chaoslib.types, without importing it.
Configuration = dict[str, Any] | None
Secrets = dict[str, Any] | None

_current = threading.local()


def _listener_base() -> type:
    try:
        import pybreaker
    except ImportError:  # pybreaker calls listeners by duck typing: a plain base works
        return object
    return pybreaker.CircuitBreakerListener


def _state_name(state: Any) -> str | None:
    if state is None:
        return None
    name = getattr(state, "name", state)
    return str(name)


def _run_for(event_id: str | None, run_id: str | None) -> tuple[str | None, str | None]:
    trace: Trace | None = getattr(_current, "trace", None)
    if run_id:
        return run_id, event_id or (trace.event_id if trace else None)
    if trace is not None:
        # An open breaker calls no listener before refusing: the last traced call's
        # run is this execution environment's run.
        return trace.run_id, event_id or trace.event_id
    from chaoskit import envvars

    return os.environ.get(envvars.RUN_ID) or None, event_id


def _write(records: list[Record], configuration: Mapping[str, Any] | None) -> None:
    if configuration is not None:
        from chaoskit.ledger import store

        store.write(records, configuration)
        return
    from chaoskit.layer.tracing import write_records  # never raises: one warning instead

    write_records(records)


class LedgerListener(_listener_base()):  # type: ignore[misc]
    """A pybreaker listener that records the breaker's transitions in the ledger."""

    def __init__(self, name: str, configuration: Mapping[str, Any] | None = None) -> None:
        """Record transitions of the breaker ``name``.

        Args:
            name: the breaker's name in the ledger (``source`` of its records).
            configuration: write through ``chaoskit.ledger.store`` with this
                configuration; ``None`` (inside a function) uses the layer's writer.
        """
        self.name = name
        self.configuration = configuration

    def before_call(self, cb: Any, func: Any, *args: Any, **kwargs: Any) -> None:
        """Remember which traced event the protected call is serving."""
        traces = find_traces([list(args), kwargs])
        _current.trace = traces[0] if traces else getattr(_current, "trace", None)

    def success(self, cb: Any) -> None:
        """Nothing to record on success."""

    def failure(self, cb: Any, exc: BaseException) -> None:
        """Nothing to record on failure: transitions tell the story."""

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        """Record one transition (``from`` -> ``to``) in the ledger."""
        run_id, event_id = _run_for(None, None)
        if not run_id:
            logger.warning("breaker '%s' changed state outside a chaoskit run", self.name)
            return
        detail = {"name": self.name, "from": _state_name(old_state), "to": _state_name(new_state)}
        record = Record(
            run_id, event_id or f"breaker:{self.name}", BREAKER, time.time(), self.name, detail
        )
        _write([record], self.configuration)


def record_fallback(
    event_id: str,
    name: str,
    run_id: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> bool:
    """Record that the fallback of breaker ``name`` served ``event_id``.

    Called by the application (not an experiment) when its fallback answers
    instead of the protected call.

    Args:
        event_id: the chaoskit event id served by the fallback.
        name: the breaker.
        run_id: the run (default: the run of the event the breaker last saw,
            else ``CHAOSKIT_RUN_ID``).

    Returns:
        Whether a record was written (no run known: nothing is written).
    """
    run, event = _run_for(event_id, run_id)
    if not run or not event:
        return False
    _write([Record(run, event, FALLBACK, time.time(), name, {"name": name})], configuration)
    return True


def _records(run_id: str | None, configuration: Configuration) -> list[Record]:
    from chaoskit.ledger import store
    from chaoskit.run_context import current_run_id

    return store.read_run(run_id or current_run_id(configuration), configuration)


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
