"""Speed knobs of the sandbox: AWS's timings, shortened for tests on demand.

Each knob is an :func:`chaoskit.sandbox.ensure_up` keyword or an environment
variable (the keyword wins). ``None`` keeps AWS's (or LocalStack's) timing.

=====================  ====================================  ==========================
knob                   environment variable                  effect
=====================  ====================================  ==========================
``retry_base_delay``   ``CHAOSKIT_SANDBOX_RETRY_BASE_DELAY``  seconds before the first
                                                             async retry (then 2x, 3x)
``health_interval``    ``CHAOSKIT_SANDBOX_HEALTH_INTERVAL``   seconds between Route 53
                                                             health check probes
``keepalive_ms``       ``CHAOSKIT_SANDBOX_KEEPALIVE_MS``      idle time before a warm
                                                             Lambda environment stops
``poll_backoff``       ``CHAOSKIT_SANDBOX_POLL_BACKOFF``      longest pause of an idle or
                                                             failing SQS/Kinesis poller
``function_nice``      ``CHAOSKIT_SANDBOX_FUNCTION_NICE``     niceness (0 to 19) of the
                                                             functions' processes
                                                             (default 10)
=====================  ====================================  ==========================
"""

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from chaoskit import envvars
from chaoskit.errors import BadInput

__all__ = ["FAST", "SandboxOptions"]

_ENV = {
    "retry_base_delay": envvars.SANDBOX_RETRY_BASE_DELAY,
    "health_interval": envvars.SANDBOX_HEALTH_INTERVAL,
    "keepalive_ms": envvars.SANDBOX_KEEPALIVE_MS,
    "poll_backoff": envvars.SANDBOX_POLL_BACKOFF,
    "function_nice": envvars.SANDBOX_FUNCTION_NICE,
}
_INTEGERS = ("retry_base_delay", "keepalive_ms", "function_nice")

#: The functions' processes run at this niceness unless ``function_nice`` says otherwise.
#: LocalStack is one process whose threads take turns on one GIL; when a function process
#: holds the core a LocalStack thread wakes up on, every event waits behind it. Measured
#: alternately on the reference app (``benchmarks/sandbox_speed.py``, 5,000 orders, two
#: pairs each): 0: 45.3 and 50.7 s; 5: 37.4 and 42.4 s; 10: 39.2 and 36.8 s; 19: 31.2 and
#: 34.5 s. 10 still leaves a function a tenth of a core when every core is busy with
#: other work at niceness 0, where 19 leaves it almost nothing (its timeout would fire).
DEFAULT_FUNCTION_NICE = 10


@dataclass(frozen=True)
class SandboxOptions:
    """Timings of the sandbox; ``None`` keeps the default."""

    retry_base_delay: int | None = None
    health_interval: float | None = None
    keepalive_ms: int | None = None
    poll_backoff: float | None = None
    function_nice: int | None = None

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "function_nice":
                if value is not None and (int(value) != value or not 0 <= value <= 19):
                    raise BadInput(
                        f"sandbox option function_nice={value!r}: expected a whole number "
                        "from 0 (no change) to 19 (lowest priority)"
                    )
            elif value is not None and value <= 0:
                raise BadInput(f"sandbox option {item.name}={value!r}: expected a positive number")
        if (
            self.retry_base_delay is not None
            and int(self.retry_base_delay) != self.retry_base_delay
        ):
            raise BadInput(
                f"sandbox option retry_base_delay={self.retry_base_delay!r}: expected whole seconds"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "SandboxOptions":
        """Read the knobs from ``CHAOSKIT_SANDBOX_*`` environment variables."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for item in fields(cls):
            raw = env.get(_ENV[item.name])
            if raw in (None, ""):
                continue
            kind = int if item.name in _INTEGERS else float
            try:
                values[item.name] = kind(raw)
            except ValueError as err:
                raise BadInput(
                    f"{_ENV[item.name]}='{raw}': expected a {kind.__name__} number"
                ) from err
        return cls(**values)

    def overridden(self, **overrides: Any) -> "SandboxOptions":
        """Return these options with the non-``None`` ``overrides`` applied."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})

    def as_dict(self) -> dict[str, Any]:
        """Return the options as a JSON-safe dict."""
        return asdict(self)

    def localstack_env(self) -> dict[str, str]:
        """Return the environment variables that carry these options into LocalStack."""
        env: dict[str, str] = {}
        if self.retry_base_delay is not None:
            env["LAMBDA_RETRY_BASE_DELAY"] = str(int(self.retry_base_delay))
        if self.keepalive_ms is not None:
            env["LAMBDA_KEEPALIVE_MS"] = str(int(self.keepalive_ms))
        if self.poll_backoff is not None:
            env["LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_EMPTY_POLL_SEC"] = str(
                self.poll_backoff
            )
            env["LAMBDA_EVENT_SOURCE_MAPPING_MAX_BACKOFF_ON_ERROR_SEC"] = str(self.poll_backoff)
        if self.health_interval is not None:
            env[envvars.SANDBOX_HEALTH_INTERVAL] = str(self.health_interval)
        nice = DEFAULT_FUNCTION_NICE if self.function_nice is None else self.function_nice
        env[envvars.SANDBOX_FUNCTION_NICE] = str(int(nice))
        return env


#: Timings for end-to-end tests: async retries after 1 s and 2 s, health probes each second,
#: idle pollers back within a second, idle environments stopped after a minute (a long
#: suite creates many functions: keeping each warm for AWS's 10 minutes costs gigabytes).
FAST = SandboxOptions(
    retry_base_delay=1, health_interval=1.0, keepalive_ms=60_000, poll_backoff=1.0
)
