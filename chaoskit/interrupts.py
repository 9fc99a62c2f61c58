"""Ctrl-C stops a run once; pressing it again does not lose the run's record.

chaoslib turns the first ``KeyboardInterrupt`` into an interrupted run, plays
the rollbacks and returns the journal. A second Ctrl-C shortly after (people
press it twice) landed while chaoslib was still handling the first one,
escaped ``run_experiment`` and ended the process: no summary, no journal,
exit 130. :func:`one_interrupt` wraps a run: the first SIGINT raises
``KeyboardInterrupt`` as usual, later ones only log a line; once the run has
returned (:func:`defer`), any SIGINT waits until the journal is written.
The undo control also holds signals while it restores changes.

:func:`signalled` tells a caller running several experiments (a game day) that the
last one was stopped by the operator's Ctrl-C or a SIGTERM, so it stops too.
"""

import functools
import logging
import signal
import threading
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["defer", "note_signal", "one_interrupt", "signalled"]

logger = logging.getLogger("chaostoolkit.chaoskit")

F = TypeVar("F", bound=Callable[..., Any])


class _State:
    def __init__(self) -> None:
        self.received = 0
        self.deferred = False


_state: _State | None = None
#: Whether a SIGINT (or a SIGTERM, see :func:`note_signal`) reached the last wrapped run.
_signalled = False


def _handler(signum: int, frame: Any) -> None:
    note_signal()
    state = _state
    if state is None:
        raise KeyboardInterrupt
    state.received += 1
    if state.received == 1 and not state.deferred:
        raise KeyboardInterrupt
    logger.warning("interrupted again: finishing the rollbacks and writing the journal first")


def note_signal() -> None:
    """Record that a signal is stopping the current run (the undo control's SIGTERM)."""
    global _signalled
    _signalled = True


def signalled() -> bool:
    """Whether the last run :func:`one_interrupt` wrapped was stopped by a signal."""
    return _signalled


def defer() -> None:
    """From now until the wrapped call returns, SIGINT only logs (the journal is being written)."""
    if _state is not None:
        _state.deferred = True


def one_interrupt(func: F) -> F:
    """Run ``func`` with SIGINT raising ``KeyboardInterrupt`` once, then only logging.

    Only in the main thread (signal handlers live there); elsewhere ``func`` runs as is.
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        global _state, _signalled
        if threading.current_thread() is not threading.main_thread() or _state is not None:
            return func(*args, **kwargs)
        _state = _State()
        _signalled = False
        previous = signal.signal(signal.SIGINT, _handler)
        try:
            return func(*args, **kwargs)
        finally:
            signal.signal(signal.SIGINT, previous)
            _state = None

    return wrapper  # type: ignore[return-value]
