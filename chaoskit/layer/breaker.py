"""Record a circuit breaker's transitions and fallbacks in the ledger, from inside a function.

The application adds :class:`LedgerListener` to its pybreaker breaker::

    try:
        from chaoskit.layer.breaker import LedgerListener
    except ImportError:  # chaoskit's layer is not on the function
        listeners = []
    else:
        listeners = [LedgerListener("payments")]
    breaker = pybreaker.CircuitBreaker(name="payments", listeners=listeners)

Each state change becomes a ``breaker`` record (detail ``name``, ``from``,
``to``) under the run of the event being processed when it happened: the
listener reads the chaoskit trace mark from the arguments of the protected
call. Fallbacks are recorded with :func:`record_fallback`. Inside a function
the records go through the layer's ledger writer (standard library and boto3
only, never raises); with a ``configuration``, through ``chaoskit.ledger.store``.
``probes.breaker`` reads them back.

Ships with the layer, so it imports the standard library and the layer's own
modules only: pybreaker is looked up lazily (listeners are duck-typed).
"""

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from chaoskit.ledger.records import BREAKER, FALLBACK, Record
from chaoskit.ledger.trace import Trace, find_traces

__all__ = ["LedgerListener", "record_fallback"]

logger = logging.getLogger("chaoskit")

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
    configuration: Mapping[str, Any] | None = None,
) -> bool:
    """Record that the fallback of breaker ``name`` served ``event_id``.

    Called by the application when its fallback answers instead of the
    protected call.

    Args:
        event_id: the chaoskit event id served by the fallback.
        name: the breaker.
        run_id: the run (default: the run of the event the breaker last saw,
            else ``CHAOSKIT_RUN_ID``).
        configuration: write through ``chaoskit.ledger.store`` with this
            configuration; ``None`` (inside a function) uses the layer's writer.

    Returns:
        Whether a record was written (no run known: nothing is written).
    """
    run, event = _run_for(event_id, run_id)
    if not run or not event:
        return False
    _write([Record(run, event, FALLBACK, time.time(), name, {"name": name})], configuration)
    return True
