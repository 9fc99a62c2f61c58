"""One thread for the execution environments' timers, not a thread for each arming.

LocalStack arms a ``threading.Timer`` each time an execution environment finishes an
invocation (its keepalive: after ``LAMBDA_KEEPALIVE_MS`` without one, the environment
stops) and cancels it when the next invocation takes the environment. That is a thread
started, woken and ended for every invocation: about 3% of LocalStack's CPU under the
reference app's orders (a ``perf`` profile), before the kernel's share.

:func:`patches` makes ``execution_environment.Timer`` a :class:`Deadline`: a Timer's
contract as LocalStack uses it (``Deadline(interval, function)``, ``start()``,
``cancel()``; cancelled before it is due, the function never runs), kept in one heap by
one thread. A deadline that passes runs its function on a thread of its own, as a
Timer's does: stopping an environment may wait for its process. Standard library only
at import (tested without LocalStack).
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # importable without LocalStack: the timers are tested on their own
    from localstack.utils.patch import Patch

__all__ = ["Deadline", "Deadlines", "patches"]

#: Cancelled deadlines kept in the heap (each invocation cancels one) before it is compacted.
COMPACT_AFTER = 1024


class Deadlines:
    """Deadlines ordered by when they are due, run out by one thread (started on first use)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._cancelled = 0  # cancelled deadlines still in the heap
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def __len__(self) -> int:
        """Deadlines waiting to pass (not cancelled, not yet run)."""
        with self._cond:
            return len(self._heap) - self._cancelled

    def stored(self) -> int:
        """Entries in the heap, cancelled ones not yet dropped included."""
        with self._cond:
            return len(self._heap)

    def start(self, deadline: Deadline) -> None:
        with self._cond:
            if deadline.state != "new":
                if deadline.state == "cancelled":
                    return  # cancelled before it started: a Timer then never runs
                raise RuntimeError("a deadline can only be started once")
            deadline.state = "waiting"
            due = self._clock() + deadline.interval
            heapq.heappush(self._heap, (due, next(self._order), deadline))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="chaoskit-timers", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is deadline:
                self._cond.notify()  # due before what the thread waits for

    def cancel(self, deadline: Deadline) -> None:
        with self._cond:
            if deadline.state == "new":
                deadline.state = "cancelled"
            elif deadline.state == "waiting":
                deadline.state = "cancelled"
                self._cancelled += 1
                if self._cancelled > COMPACT_AFTER and 2 * self._cancelled > len(self._heap):
                    self._heap = [e for e in self._heap if e[2].state != "cancelled"]
                    heapq.heapify(self._heap)
                    self._cancelled = 0

    def _next(self) -> Deadline:
        with self._cond:
            while True:
                if not self._heap:
                    self._cond.wait()
                    continue
                due, _, deadline = self._heap[0]
                if deadline.state == "cancelled":
                    heapq.heappop(self._heap)
                    self._cancelled -= 1
                    continue
                wait = due - self._clock()
                if wait > 0:
                    self._cond.wait(wait)
                    continue
                heapq.heappop(self._heap)
                deadline.state = "fired"
                return deadline

    def _run(self) -> None:
        while True:
            deadline = self._next()
            threading.Thread(
                target=deadline.function,
                args=deadline.args,
                kwargs=deadline.kwargs,
                name="chaoskit-timer",
                daemon=True,
            ).start()


DEADLINES = Deadlines()


class Deadline:
    """``threading.Timer``'s contract on :data:`DEADLINES`: ``function`` runs once, ``interval``
    seconds after :meth:`start`, unless :meth:`cancel` comes first."""

    def __init__(
        self,
        interval: float,
        function: Callable[..., Any],
        args: Any = None,
        kwargs: Any = None,
        *,
        deadlines: Deadlines | None = None,
    ) -> None:
        self.interval = float(interval)
        self.function = function
        self.args = tuple(args) if args is not None else ()
        self.kwargs = dict(kwargs) if kwargs is not None else {}
        self.state = "new"  # new, waiting, fired or cancelled; changed under the heap's lock
        self._deadlines = DEADLINES if deadlines is None else deadlines

    def start(self) -> None:
        self._deadlines.start(self)

    def cancel(self) -> None:
        self._deadlines.cancel(self)


def patches() -> list[Patch]:
    """Make the execution environments' keepalive and startup timers :class:`Deadline` s."""
    from localstack.services.lambda_.invocation import execution_environment

    from .patching import replace

    return [replace(execution_environment, "Timer", Deadline)]
