"""Stop conditions: CloudWatch alarms that abort the run when they go to ALARM.

An :class:`AlarmWatcher` polls the alarms in a background thread every
``interval`` seconds and calls ``on_alarm(name)`` once, the first time one of
them is in ``ALARM``. The control turns that into an interrupted run whose
changes are then rolled back.
"""

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chaoskit.aws import client
from chaoskit.errors import BadInput, aws_failure

__all__ = ["DEFAULT_INTERVAL", "AlarmWatcher", "alarm_names", "alarm_states"]

logger = logging.getLogger("chaostoolkit.chaoskit")

#: Seconds between two polls of the stop alarms.
DEFAULT_INTERVAL = 10.0


def alarm_names(value: Any) -> list[str]:
    """Normalise ``chaoskit_stop_alarms`` (a name, a comma-separated string or a list).

    Raises:
        BadInput: the value is neither a string nor a list of strings.
    """
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
        return [v.strip() for v in value if v.strip()]
    raise BadInput(f"invalid chaoskit_stop_alarms {value!r}: expected a list of alarm names")


def alarm_states(
    names: Sequence[str], configuration: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """Return ``{alarm name: state}`` for the alarms that exist (metric and composite).

    Raises:
        AWSActionFailed: CloudWatch refused the call.
    """
    states: dict[str, str] = {}
    cw = client("cloudwatch", configuration)
    for start in range(0, len(names), 100):  # DescribeAlarms takes up to 100 names
        chunk = list(names[start : start + 100])
        try:
            found = cw.describe_alarms(
                AlarmNames=chunk, AlarmTypes=["MetricAlarm", "CompositeAlarm"]
            )
        except (ClientError, BotoCoreError) as err:
            raise aws_failure("cloudwatch:DescribeAlarms", ", ".join(chunk), err) from err
        for alarm in [*found.get("MetricAlarms", []), *found.get("CompositeAlarms", [])]:
            states[str(alarm["AlarmName"])] = str(alarm["StateValue"])
    return states


class AlarmWatcher:
    """Poll stop alarms in a daemon thread; report the first one found in ALARM."""

    def __init__(
        self,
        names: Sequence[str],
        on_alarm: Callable[[str], None],
        configuration: Mapping[str, Any] | None = None,
        interval: float = DEFAULT_INTERVAL,
        states: Callable[[Sequence[str]], dict[str, str]] | None = None,
    ) -> None:
        self.names = list(names)
        self.on_alarm = on_alarm
        self.interval = float(interval)
        self.tripped: str | None = None
        self._states = states or (lambda n: alarm_states(n, configuration))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> str | None:
        """Poll once; return the first alarm in ALARM, or ``None``."""
        states = self._states(self.names)
        for name in self.names:
            if states.get(name) == "ALARM":
                return name
        return None

    def missing(self) -> list[str]:
        """Return the stop alarms that do not exist on the target."""
        states = self._states(self.names)
        return [n for n in self.names if n not in states]

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                name = self.check()
            except Exception as err:  # a failed poll must not kill the watcher
                logger.warning("could not poll stop alarms %s: %s", self.names, err)
                continue
            if name:
                self.tripped = name
                logger.error("stop alarm '%s' is in ALARM: aborting the run", name)
                self.on_alarm(name)
                return

    def start(self) -> None:
        """Start polling in the background."""
        if self._thread is None and self.names:
            self._thread = threading.Thread(target=self._loop, name="chaoskit-alarms", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Stop polling and wait for the thread to end."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)
