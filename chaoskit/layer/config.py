"""The fault config document: parse and validate it (contract 1).

One parser for both sides: the layer reads the document inside the function,
and the runner-side actions validate with :func:`parse_config` before writing,
so a bad fault is refused at the action rather than ignored in the function.
Standard library only.
"""

import json
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

from chaoskit import envvars
from chaoskit.layer.exceptions import ConfigError

__all__ = [
    "DEFAULT_MAX_FAULT_SECONDS",
    "KINDS",
    "SOURCES",
    "ConfigError",
    "Fault",
    "FaultConfig",
    "Match",
    "max_fault_seconds",
    "natural_throttle",
    "parse_config",
]

SOURCES = ("sqs", "sns", "eventbridge", "kinesis", "dynamodb", "apigateway", "direct")

#: kind -> {field: (accepted types, required)}; ``rate`` and ``match`` are common to all.
_NUM = (int, float)
_FIELDS: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "latency": {"ms": (_NUM, False), "min_ms": (_NUM, False), "max_ms": (_NUM, False)},
    "exception": {"type": ((str,), False), "message": ((str,), False)},
    "status": {"status_code": ((int,), True), "body": ((str, dict, list), False),
               "headers": ((dict,), False)},
    "timeout": {"margin_ms": (_NUM, False)},
    "sdk_throttle": {"service": ((str,), True), "operations": ((list,), False),
                     "error_code": ((str,), False), "http_status": ((int,), False),
                     "latency_ms": (_NUM, False), "message": ((str,), False)},
    "http": {"hosts": ((list,), True), "status": ((int,), False), "retry_after": (_NUM, False),
             "latency_ms": (_NUM, False), "connection_refused": ((bool,), False),
             "body": ((str,), False)},
}  # fmt: skip
KINDS = tuple(_FIELDS)

#: boto3 service name or service id -> (natural throttling code, HTTP status).
_THROTTLES = {
    "dynamodb": ("ProvisionedThroughputExceededException", 400),
    "kinesis": ("ProvisionedThroughputExceededException", 400),
    "s3": ("SlowDown", 503),
    "ec2": ("RequestLimitExceeded", 503),
    "lambda": ("TooManyRequestsException", 429),
    "apigateway": ("TooManyRequestsException", 429),
    "api-gateway": ("TooManyRequestsException", 429),
    "sns": ("Throttling", 400),
    "sts": ("Throttling", 400),
    "cloudwatch": ("Throttling", 400),
}
_DEFAULT_THROTTLE = ("ThrottlingException", 400)


def natural_throttle(service: str) -> tuple[str, int]:
    """Return the throttling error code and HTTP status ``service`` really answers with."""
    return _THROTTLES.get(service.lower(), _DEFAULT_THROTTLE)


class Match(NamedTuple):
    """Which invocations a fault applies to; an empty member matches everything."""

    qualifiers: tuple[str, ...] = ()
    source: str | None = None
    fields: tuple[tuple[str, Any], ...] = ()


class Fault(NamedTuple):
    """One fault: its kind, its probability per roll, its parameters and its match."""

    kind: str
    rate: float
    params: dict[str, Any]
    match: Match | None = None
    position: int = 0


class FaultConfig(NamedTuple):
    """A parsed fault config document."""

    version: str
    expires_at: float
    faults: tuple[Fault, ...]
    run_id: str | None = None
    #: The run's seed: rate rolls become a function of (seed, fault, event).
    seed: str | None = None

    def is_expired(self, now: float) -> bool:
        """Tell whether the dead-man switch has tripped at epoch ``now``."""
        return now >= self.expires_at


def _expires_at(value: Any) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"'expires_at' must be epoch seconds or ISO-8601, got {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value):
            raise ConfigError(f"'expires_at' must be finite, got {value!r}")
        return float(value)
    if isinstance(value, str):
        from datetime import datetime, timezone  # only for string timestamps

        try:
            stamp = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(
                f"'expires_at' must be epoch seconds or ISO-8601, got {value!r}"
            ) from None
        if stamp.tzinfo is None:
            # timezone.utc, not datetime.UTC: the layer also runs on Lambda's Python 3.10.
            stamp = stamp.replace(tzinfo=timezone.utc)  # noqa: UP017
        return stamp.timestamp()
    raise ConfigError(f"'expires_at' is required: epoch seconds or ISO-8601, got {value!r}")


def _match(where: str, value: Any) -> Match | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}.match must be an object, got {value!r}")
    unknown = sorted(set(value) - {"qualifier", "source", "fields"})
    if unknown:
        raise ConfigError(
            f"{where}.match has unknown field(s) {', '.join(unknown)}: "
            "expected qualifier, source, fields"
        )
    qualifier = value.get("qualifier")
    if qualifier is None:
        qualifiers: tuple[str, ...] = ()
    elif isinstance(qualifier, str | int) and not isinstance(qualifier, bool):
        qualifiers = (str(qualifier),)
    elif isinstance(qualifier, list) and all(isinstance(q, str | int) for q in qualifier):
        qualifiers = tuple(str(q) for q in qualifier)
    else:
        raise ConfigError(
            f"{where}.match.qualifier must be a version or alias name, got {qualifier!r}"
        )
    source = value.get("source")
    if source is not None and source not in SOURCES:
        raise ConfigError(f"{where}.match.source {source!r} is not one of {', '.join(SOURCES)}")
    fields = value.get("fields") or {}
    if not isinstance(fields, Mapping) or not all(isinstance(k, str) for k in fields):
        raise ConfigError(f"{where}.match.fields must map dotted paths to values, got {fields!r}")
    return Match(qualifiers, source, tuple(fields.items()))


def _check_number(where: str, name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(
            f"{where}.{name} must be a number from {low:g} to {high:g}, got {value!r}"
        )


def _fault(index: int, raw: Any) -> Fault:
    where = f"faults[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be an object, got {raw!r}")
    kind = raw.get("kind")
    if kind not in _FIELDS:
        raise ConfigError(f"{where}.kind {kind!r} is not one of {', '.join(KINDS)}")
    where = f"{where} ({kind})"
    fields = _FIELDS[kind]
    unknown = sorted(set(raw) - set(fields) - {"kind", "rate", "match"})
    if unknown:
        raise ConfigError(
            f"{where} has unknown field(s) {', '.join(unknown)}: expected "
            f"{', '.join(['rate', 'match', *fields])}"
        )
    if "rate" not in raw:
        raise ConfigError(f"{where}.rate is required: a number from 0 to 1")
    _check_number(where, "rate", raw["rate"], 0.0, 1.0)
    params: dict[str, Any] = {}
    for name, (types, required) in fields.items():
        if name not in raw or raw[name] is None:
            if required:
                raise ConfigError(f"{where}.{name} is required")
            continue
        value = raw[name]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            expected = " or ".join(t.__name__ for t in types)
            raise ConfigError(f"{where}.{name} must be {expected}, got {value!r}")
        if types is _NUM:
            _check_number(where, name, value, 0.0, 900_000.0)
        params[name] = value
    _check_kind(where, kind, params)
    return Fault(kind, float(raw["rate"]), params, _match(where, raw.get("match")), index)


def _check_kind(where: str, kind: str, params: dict[str, Any]) -> None:
    if kind == "latency":
        if "ms" not in params and not ("min_ms" in params and "max_ms" in params):
            raise ConfigError(f"{where} needs 'ms', or both 'min_ms' and 'max_ms'")
        if "min_ms" in params and "max_ms" in params and params["min_ms"] > params["max_ms"]:
            raise ConfigError(
                f"{where}.min_ms ({params['min_ms']}) is greater than max_ms ({params['max_ms']})"
            )
    elif kind == "status":
        if not 100 <= params["status_code"] <= 599:
            raise ConfigError(f"{where}.status_code must be 100-599, got {params['status_code']}")
    elif kind == "sdk_throttle":
        ops = params.get("operations", [])
        if not all(isinstance(op, str) and op for op in ops):
            raise ConfigError(f"{where}.operations must be operation names, got {ops!r}")
        status = params.get("http_status")
        if status is not None and not 400 <= status <= 599:
            raise ConfigError(f"{where}.http_status must be 400-599, got {status}")
    elif kind == "http":
        hosts = params["hosts"]
        if not hosts or not all(isinstance(h, str) and h for h in hosts):
            raise ConfigError(f"{where}.hosts must be a non-empty list of host patterns")
        status = params.get("status")
        if status is not None and not 100 <= status <= 599:
            raise ConfigError(f"{where}.status must be 100-599, got {status}")
        if status is None and not params.get("connection_refused") and not params.get("latency_ms"):
            raise ConfigError(f"{where} needs 'status', 'latency_ms' or 'connection_refused'")


#: Longest a fault config may stay live, in seconds from when it is read (4 hours).
DEFAULT_MAX_FAULT_SECONDS = 4 * 3600.0


def max_fault_seconds(environ: Mapping[str, str]) -> float:
    """Return the ceiling on a config's remaining life (``CHAOSKIT_MAX_FAULT_SECONDS``)."""
    try:
        value = float(environ.get(envvars.MAX_FAULT_SECONDS) or DEFAULT_MAX_FAULT_SECONDS)
    except ValueError:
        return DEFAULT_MAX_FAULT_SECONDS
    return value if math.isfinite(value) and value > 0 else DEFAULT_MAX_FAULT_SECONDS


def parse_config(
    document: str | bytes | Mapping[str, Any],
    now: float | None = None,
    max_seconds: float = DEFAULT_MAX_FAULT_SECONDS,
) -> FaultConfig:
    """Parse and validate a fault config document.

    Args:
        document: the JSON text, or the already decoded object.
        now: epoch seconds; when given, a config expiring more than
            ``max_seconds`` later is refused (a fault cannot be made near-permanent).
        max_seconds: the ceiling on the config's remaining life.

    Raises:
        ConfigError: the document is malformed; the message names the field.
    """
    if isinstance(document, bytes | str):
        try:
            raw = json.loads(document)
        except ValueError as err:
            raise ConfigError(f"fault config is not valid JSON: {err}") from None
    else:
        raw = document
    if not isinstance(raw, Mapping):
        raise ConfigError(f"fault config must be a JSON object, got {type(raw).__name__}")
    version = raw.get("version")
    if not isinstance(version, str) or not version:
        raise ConfigError(f"'version' is required: a non-empty string, got {version!r}")
    if "expires_at" not in raw:
        raise ConfigError("'expires_at' is required: epoch seconds or ISO-8601")
    expires_at = _expires_at(raw["expires_at"])
    if now is not None and expires_at - now > max_seconds:
        raise ConfigError(
            f"'expires_at' is {expires_at - now:.0f} s away, beyond the {max_seconds:g} s "
            "ceiling on a fault's life (CHAOSKIT_MAX_FAULT_SECONDS)"
        )
    run_id = raw.get("run_id")
    if run_id is not None and not isinstance(run_id, str):
        raise ConfigError(f"'run_id' must be a string, got {run_id!r}")
    faults = raw.get("faults", [])
    if faults is None:
        faults = []
    if not isinstance(faults, list):
        raise ConfigError(f"'faults' must be a list, got {type(faults).__name__}")
    parsed = tuple(_fault(i, f) for i, f in enumerate(faults))
    seed = raw.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, str | int)):
        raise ConfigError(f"'seed' must be a string or an integer, got {seed!r}")
    return FaultConfig(version, expires_at, parsed, run_id, None if seed is None else str(seed))
