"""Check the settings file and the guardrail keys of a run before anything runs.

The undo control and the guardrails read these values while the run goes on;
a malformed settings file or a mistyped guardrail found then would interrupt
a run that has already changed the target. :func:`check_guardrails` reads
every one of them once, up front, through the same functions the run uses, so
each problem is one ``BadInput`` (exit 2) naming the key and the file.
"""

import math
from collections.abc import Mapping
from typing import Any

from chaoskit.errors import BadInput

__all__ = ["check_guardrails"]


def _positive(value: Any, key: str) -> None:
    if value is None:
        return
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number <= 0:
        raise BadInput(f"invalid {key} {value!r}: expected a positive number of seconds")


def check_guardrails(configuration: Mapping[str, Any] | None) -> None:
    """Refuse a malformed settings file or guardrail value (configuration, then settings).

    Raises:
        BadInput: naming the key, the value and what was expected.
    """
    from chaoskit.undo.alarms import alarm_names
    from chaoskit.undo.guard import allowlists, max_fault_duration
    from chaoskit.undo.settings import load_settings, setting

    load_settings()  # the file itself: size, encoding, YAML, a mapping
    alarm_names(setting(configuration, "chaoskit_stop_alarms"))
    for key in ("chaoskit_stop_alarm_interval", "chaoskit_lock_ttl"):
        _positive(setting(configuration, key), key)
    allowlists(configuration)
    max_fault_duration(configuration, math.inf)
