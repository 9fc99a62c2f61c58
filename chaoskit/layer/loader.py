"""Load the fault config, inline or from SSM, cached per execution environment.

At most one config-store call per TTL per environment, whatever happens: a
failed fetch is cached as "no faults" for the same TTL, so an unreachable
store cannot multiply calls (or warnings) under load. Inline config
(``CHAOSKIT_CONFIG``) is parsed once per distinct value.
"""

import os
import time
from collections.abc import Callable, Mapping

from chaoskit import envvars
from chaoskit.layer import _aws, log
from chaoskit.layer.config import ConfigError, FaultConfig, max_fault_seconds, parse_config

__all__ = ["DEFAULT_TTL", "ConfigLoader", "fetch_ssm"]

DEFAULT_TTL = 5.0


def fetch_ssm(name: str) -> str | None:
    """Return the SSM parameter's value, or ``None`` if it does not exist."""
    try:
        out = _aws.call("ssm", "get_parameter", Name=name, WithDecryption=True)
    except Exception as err:
        code = getattr(err, "response", {}).get("Error", {}).get("Code")
        if code == "ParameterNotFound":
            return None
        raise
    return str(out["Parameter"]["Value"])


class ConfigLoader:
    """Hand out the current :class:`FaultConfig`, or ``None`` when no faults apply.

    Args:
        environ: where to read ``CHAOSKIT_*`` settings (default ``os.environ``).
        fetch: how to read the SSM parameter (default :func:`fetch_ssm`).
        clock: monotonic clock for the TTL.
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        fetch: Callable[[str], str | None] = fetch_ssm,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.fetch = fetch
        self.clock = clock
        self.fetches = 0
        self._inline: tuple[str, FaultConfig | None] | None = None
        self._cached: FaultConfig | None = None
        self._fetched_at: float | None = None
        self._source: str | None = None

    def ttl(self) -> float:
        """Return the cache TTL in seconds from ``CHAOSKIT_CONFIG_TTL`` (default 5)."""
        raw = self.environ.get(envvars.CONFIG_TTL)
        if not raw:
            return DEFAULT_TTL
        try:
            return max(0.0, float(raw))
        except ValueError:
            return DEFAULT_TTL

    def load(self) -> FaultConfig | None:
        """Return the config in force, fetching it at most once per TTL."""
        inline = self.environ.get(envvars.CONFIG)
        if inline:
            if self._inline is None or self._inline[0] != inline:
                self._inline = (inline, self._parse(inline, "inline config"))
            return self._inline[1]
        name = self.environ.get(envvars.CONFIG_PARAMETER)
        if not name:
            return None
        now = self.clock()
        if (
            self._source == name
            and self._fetched_at is not None
            and now - self._fetched_at < self.ttl()
        ):
            return self._cached
        self._source, self._fetched_at = name, now
        self._cached = None
        self.fetches += 1
        try:
            text = self.fetch(name)
        except Exception as err:  # an unreachable store means no faults
            log.warning(
                f"could not read fault config parameter {name!r}: {type(err).__name__}: {err}",
                parameter=name,
            )
            return None
        if text is not None:
            self._cached = self._parse(text, f"parameter {name!r}")
        return self._cached

    def _parse(self, text: str, where: str) -> FaultConfig | None:
        try:
            ceiling = max_fault_seconds(self.environ)
            return parse_config(text, now=time.time(), max_seconds=ceiling)
        except ConfigError as err:
            log.warning(f"ignoring malformed fault config in {where}: {err}")
            return None
