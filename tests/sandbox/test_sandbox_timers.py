"""The execution environments' timers: a Timer's contract, kept by one thread.

``chaoskit/sandbox/plugin/timers.py`` is standard library only; these tests run it
here. That LocalStack's environments use it, and keep working with it, is checked in
the sandbox venv by ``tests/e2e/test_sandbox_inprocess_patches.py``.
"""

import threading
from collections.abc import Callable

import pytest

from chaoskit.sandbox.plugin import timers
from chaoskit.sandbox.plugin.timers import Deadline, Deadlines


class _Recorder:
    """Names recorded by deadlines' functions, in the order they ran, and a wait for them."""

    def __init__(self) -> None:
        self.ran: list[str] = []
        self._cond = threading.Condition()

    def record(self, name: str) -> None:
        with self._cond:
            self.ran.append(name)
            self._cond.notify_all()

    def wait_for(self, check: Callable[[list[str]], bool], timeout: float = 10) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: check(self.ran), timeout), "timed out"


def test_deadlines_run_once_each_in_order_of_when_they_are_due() -> None:
    deadlines = Deadlines()
    recorder = _Recorder()
    for name, interval in (("late", 0.3), ("early", 0.05), ("middle", 0.15)):
        Deadline(interval, recorder.record, args=(name,), deadlines=deadlines).start()

    recorder.wait_for(lambda ran: len(ran) == 3)
    assert recorder.ran == ["early", "middle", "late"]
    assert len(deadlines) == 0


def test_a_cancelled_deadline_never_runs() -> None:
    deadlines = Deadlines()
    recorder = _Recorder()
    cancelled = Deadline(0.05, recorder.record, args=("cancelled",), deadlines=deadlines)
    cancelled.start()
    never_started = Deadline(0.05, recorder.record, args=("never started",), deadlines=deadlines)
    never_started.cancel()
    never_started.start()  # as a Timer: cancelled first, started after, it never runs
    cancelled.cancel()
    Deadline(0.2, recorder.record, args=("after",), deadlines=deadlines).start()

    recorder.wait_for(lambda ran: "after" in ran)
    assert recorder.ran == ["after"]
    assert (cancelled.state, never_started.state) == ("cancelled", "cancelled")


def test_an_earlier_deadline_wakes_the_thread_waiting_for_a_later_one() -> None:
    deadlines = Deadlines()
    recorder = _Recorder()
    Deadline(3600, recorder.record, args=("in an hour",), deadlines=deadlines).start()
    Deadline(0.05, recorder.record, args=("now",), deadlines=deadlines).start()

    recorder.wait_for(lambda ran: ran == ["now"])
    assert len(deadlines) == 1


def test_a_deadline_starts_once_and_cancels_harmlessly_after_it_ran() -> None:
    deadlines = Deadlines()
    ran = threading.Event()
    deadline = Deadline(0, ran.set, deadlines=deadlines)
    deadline.start()
    with pytest.raises(RuntimeError, match="only be started once"):
        deadline.start()
    assert ran.wait(10)
    deadline.cancel()
    assert deadline.state == "fired"


def test_many_armings_use_one_thread_and_cancelled_ones_do_not_pile_up() -> None:
    """An environment's keepalive is armed after each invocation and cancelled by the next."""
    deadlines = Deadlines()
    before = {t.ident for t in threading.enumerate()}
    armed = Deadline(3600, lambda: None, deadlines=deadlines)
    armed.start()
    for _ in range(5 * timers.COMPACT_AFTER):
        armed.cancel()
        armed = Deadline(3600, lambda: None, deadlines=deadlines)
        armed.start()

    started = [t for t in threading.enumerate() if t.ident not in before]
    assert [t.name for t in started] == ["chaoskit-timers"]
    assert len(deadlines) == 1  # only the last one armed is still waiting
    assert deadlines.stored() <= 2 * timers.COMPACT_AFTER + 2
