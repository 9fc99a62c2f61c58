"""Helpers of the layer tests: a recording sleep, sample events, a layer to test.

The fake Lambda context is :class:`tests.support.lambda_context.FakeContext`.
"""

import json
import random
import time
from pathlib import Path
from typing import Any

from chaoskit.layer.loader import ConfigLoader
from chaoskit.layer.runtime import Layer

EVENTS = Path(__file__).parent / "events"
# A config that does not expire during the tests, within the layer's 4-hour ceiling.
FAR = time.time() + 3 * 3600


class Sleeps(list[float]):
    """A sleep that records what it was asked to wait, and waits for nothing."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def load_event(name: str) -> Any:
    return json.loads((EVENTS / f"{name}.json").read_text())


def config(*faults: dict[str, Any], version: str = "v-1", expires_at: Any = FAR) -> str:
    return json.dumps({"version": version, "expires_at": expires_at, "faults": list(faults)})


def make_layer(
    environ: dict[str, str], seed: int = 7, sleep: Sleeps | None = None, clock: Any = None
) -> Layer:
    loader = ConfigLoader(environ, clock=clock) if clock else ConfigLoader(environ)
    return Layer(
        environ, loader=loader, rng=random.Random(seed), sleep=Sleeps() if sleep is None else sleep
    )


class Calls:
    """A handler that counts its calls and returns a fixed result."""

    def __init__(self, result: Any = "ok", error: BaseException | None = None) -> None:
        self.count = 0
        self.result = result
        self.error = error

    def __call__(self, event: Any, context: Any) -> Any:
        self.count += 1
        if self.error is not None:
            raise self.error
        return self.result
