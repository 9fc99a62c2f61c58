"""The game day file: which experiments to run, where, in what order, and when.

Example::

    name: orders-gameday
    target: sandbox            # sandbox | localstack | aws (optional)
    vars: {aws_region: us-east-1}   # configuration for every experiment
    order: listed              # listed (default) | shuffled (with optional seed)
    on_deviation: continue     # continue (default) | stop
    schedule: "0 9 * * 1"      # five-field cron, UTC (optional)
    experiments:
      - path: kill-switch.yaml # relative to this file
        vars: {duration: 30}

:func:`load_gameday` validates everything (including each experiment file,
with chaoslib) before anything runs; errors name the file and the field.
"""

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from croniter import CroniterBadDateError, croniter

from chaoskit.aws import TARGETS
from chaoskit.errors import BadInput
from chaoskit.inputs import check_text_value, load_document
from chaoskit.runner import load_experiment_file

__all__ = ["GameDay", "GameDayExperiment", "load_gameday", "validate_cron"]

_KEYS = {
    "name",
    "description",
    "target",
    "endpoint_url",
    "vars",
    "order",
    "seed",
    "on_deviation",
    "schedule",
    "experiments",
}
_EXPERIMENT_KEYS = {"path", "vars", "name"}


@dataclass(frozen=True)
class GameDayExperiment:
    """One experiment of a game day."""

    path: Path
    name: str
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GameDay:
    """A validated game day."""

    source: Path
    name: str
    experiments: tuple[GameDayExperiment, ...]
    description: str = ""
    target: str | None = None
    endpoint_url: str | None = None
    vars: dict[str, Any] = field(default_factory=dict)
    order: str = "listed"
    seed: int | None = None
    on_deviation: str = "continue"
    schedule: str | None = None

    def ordered(self) -> list[GameDayExperiment]:
        """Return the experiments in the order they run."""
        items = list(self.experiments)
        if self.order == "shuffled":
            random.Random(self.seed).shuffle(items)
        return items


def validate_cron(expression: str, where: str) -> str:
    """Return ``expression`` if it is a valid five-field cron expression.

    Raises:
        BadInput: naming ``where`` and what was expected.
    """
    fields = expression.split()
    if len(fields) != 5 or not croniter.is_valid(expression):
        raise BadInput(
            f"{where}: invalid cron expression '{expression}': expected five fields "
            "'minute hour day-of-month month day-of-week', e.g. '0 9 * * 1'"
        )
    try:
        # From a leap year's start, so that February 29 counts as a day that exists.
        croniter(expression, datetime(2028, 1, 1, tzinfo=UTC)).get_next(datetime)
    except CroniterBadDateError as err:
        raise BadInput(
            f"{where}: cron expression '{expression}' never fires (no such date, e.g. "
            "February 30): expected a day that exists"
        ) from err
    return " ".join(fields)


def _fail(source: Path, key: str, message: str) -> BadInput:
    return BadInput(f"game day file '{source}': field '{key}': {message}")


def _mapping(source: Path, key: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(source, key, f"expected a mapping of names to values, got {value!r}")
    return dict(value)


def _choice(source: Path, key: str, value: Any, choices: tuple[str, ...], default: str) -> str:
    if value is None:
        return default
    if value not in choices:
        raise _fail(source, key, f"got {value!r}, expected one of {', '.join(choices)}")
    return str(value)


def _experiment(source: Path, index: int, item: Any) -> GameDayExperiment:
    key = f"experiments[{index}]"
    if isinstance(item, str):
        item = {"path": item}
    if not isinstance(item, Mapping):
        raise _fail(source, key, f"expected a path or a mapping with 'path', got {item!r}")
    unknown = sorted(set(item) - _EXPERIMENT_KEYS)
    if unknown:
        raise _fail(source, key, f"unknown key {unknown[0]!r}: expected path, vars, name")
    raw = item.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise _fail(source, f"{key}.path", "expected the path of an experiment file")
    path = Path(raw) if os.path.isabs(raw) else source.parent / raw
    if not path.is_file():
        raise _fail(source, f"{key}.path", f"experiment file '{path}' does not exist")
    try:
        experiment = load_experiment_file(path)
    except BadInput as err:
        raise _fail(source, f"{key}.path", str(err)) from err
    name = item.get("name") or experiment.get("title") or path.stem
    return GameDayExperiment(
        path=path, name=str(name), vars=_mapping(source, f"{key}.vars", item.get("vars"))
    )


def load_gameday(path: str | os.PathLike[str]) -> GameDay:
    """Load and validate a game day file, and every experiment file it lists.

    Raises:
        BadInput: the file, a field, or a listed experiment is invalid.
    """
    source = Path(path)
    data = load_document(source, "game day file")
    if not isinstance(data, Mapping):
        raise BadInput(f"game day file '{source}' must be a mapping with 'experiments'")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise _fail(
            source, unknown[0], f"unknown field: expected one of {', '.join(sorted(_KEYS))}"
        )
    items = data.get("experiments")
    if not isinstance(items, list) or not items:
        raise _fail(source, "experiments", "expected a non-empty list of experiments")
    target = data.get("target")
    if target is not None and target not in TARGETS:
        raise _fail(source, "target", f"got {target!r}, expected one of {', '.join(TARGETS)}")
    seed = data.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise _fail(source, "seed", f"got {seed!r}, expected an integer")
    schedule = data.get("schedule")
    if schedule is not None:
        if not isinstance(schedule, str):
            raise _fail(source, "schedule", f"got {schedule!r}, expected a cron expression")
        schedule = validate_cron(schedule, f"game day file '{source}': field 'schedule'")
    endpoint = data.get("endpoint_url")
    if endpoint is not None and not isinstance(endpoint, str):
        raise _fail(source, "endpoint_url", f"got {endpoint!r}, expected a URL")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise _fail(source, "name", f"got {name!r}, expected a string")
    # The name goes into crontab lines, workflow names and schedule names: one line only.
    check_text_value(name or source.stem, f"game day file '{source}': field 'name'")
    return GameDay(
        source=source,
        name=str(name or source.stem),
        description=str(data.get("description") or ""),
        experiments=tuple(_experiment(source, i, item) for i, item in enumerate(items)),
        target=target,
        endpoint_url=endpoint,
        vars=_mapping(source, "vars", data.get("vars")),
        order=_choice(source, "order", data.get("order"), ("listed", "shuffled"), "listed"),
        seed=seed,
        on_deviation=_choice(
            source, "on_deviation", data.get("on_deviation"), ("continue", "stop"), "continue"
        ),
        schedule=schedule,
    )
