"""Pace a sender that drains a queue: at once when idle, at most once per interval when busy.

The log loop and the metric batcher each take what is queued and send it with
one internal call. Sent as soon as anything is queued, a busy sandbox made one
call per invocation (every call goes through LocalStack's whole request chain:
a fifth of its CPU in a profile of the reference app). A :class:`Pacer` lets a
sender go at once after a quiet spell, and otherwise waits until ``interval``
has passed since its last send, so what arrives meanwhile goes in the same call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["Pacer"]


class Pacer:
    """Spaces sends at least ``interval`` seconds apart; never delays the first after a pause.

    Args:
        interval: the least seconds between the starts of two sends.
        clock: monotonic seconds (tests pass their own).
        sleep: how to wait (tests pass their own).
    """

    def __init__(
        self,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = interval
        self.clock = clock
        self.sleep = sleep
        self._last: float | None = None

    def wait(self) -> None:
        """Wait until the next send may start (at once if the last was long enough ago)."""
        if self._last is not None:
            remaining = self._last + self.interval - self.clock()
            if remaining > 0:
                self.sleep(remaining)
        self._last = self.clock()
