"""The pacer of the sandbox's log loop and metric batcher: at once when idle, spaced when busy."""

from chaoskit.sandbox.plugin.pacing import Pacer


class FakeTime:
    """A clock that only moves when slept on (or told to)."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_the_first_send_goes_at_once():
    fake = FakeTime()
    Pacer(0.2, fake.clock, fake.sleep).wait()
    assert fake.slept == []


def test_a_send_right_after_another_waits_out_the_interval():
    fake = FakeTime()
    pacer = Pacer(0.2, fake.clock, fake.sleep)
    pacer.wait()
    fake.now += 0.05  # the send took 50 ms; more came meanwhile
    pacer.wait()
    assert len(fake.slept) == 1 and abs(fake.slept[0] - 0.15) < 1e-9
    pacer.wait()  # and the next one is spaced from this one's start
    assert len(fake.slept) == 2 and abs(fake.slept[1] - 0.2) < 1e-9


def test_a_send_after_a_quiet_spell_goes_at_once():
    fake = FakeTime()
    pacer = Pacer(0.2, fake.clock, fake.sleep)
    pacer.wait()
    fake.now += 5.0
    pacer.wait()
    assert fake.slept == []
