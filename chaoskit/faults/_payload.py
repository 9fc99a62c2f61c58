"""App-shaped payloads for the load action: templates and sample events.

A template is any JSON value whose strings may hold placeholders, filled in
per event:

==========================  ==================================================
``{{index}}``               the event's number in the load, from 0
``{{event_id}}``            the chaoskit event id
``{{run_id}}``              the run id
``{{uuid}}``                a UUID4 drawn from the run's seeded RNG
``{{now}}``                 epoch seconds (float); ``{{now_ms}}`` milliseconds
``{{now_iso}}``             ISO-8601 UTC time
``{{int:LOW:HIGH}}``        an integer from LOW to HIGH (seeded RNG)
``{{choice:a|b|c}}``        one of the options (seeded RNG)
==========================  ==================================================

A string that is exactly one placeholder takes the placeholder's type (an
integer stays an integer); otherwise the values are written into the text.
Sample events come from a JSON lines file, a JSON file (an object or a list),
or a folder of ``*.json`` files (the ``events/`` folders apps keep); events
take the samples in turn, each one a template too, with ``payload`` fields
merged over it. The RNG is seeded from the run's seed, so the same seed gives
the same payloads.
"""

import json
import random
import re
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaoskit.errors import BadInput

__all__ = ["PLACEHOLDER", "Renderer", "key_at", "load_samples"]

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)(?::([^}]*))?\s*\}\}")
_NAMES = ("index", "event_id", "run_id", "uuid", "now", "now_ms", "now_iso", "int", "choice")


def load_samples(path: str | Path) -> list[Any]:
    """Return the sample events in ``path`` (JSON lines, JSON, or a folder of JSON files).

    Raises:
        BadInput: the path is missing, empty, or a file does not parse; the
            message names the file (and line, for JSON lines).
    """
    source = Path(path)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*.json") if p.is_file())
        if not files:
            raise BadInput(f"no *.json sample events in folder '{source}'")
        return [_read_json(p) for p in files]
    if not source.is_file():
        raise BadInput(f"cannot read sample events '{source}': no such file or folder")
    text = source.read_text(encoding="utf-8")
    if source.suffix.lower() in (".jsonl", ".ndjson"):
        out = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    out.append(json.loads(line))
                except json.JSONDecodeError as err:
                    raise BadInput(
                        f"sample events '{source}' line {number} is not JSON: {err.msg}"
                    ) from err
        if not out:
            raise BadInput(f"sample events '{source}' holds no event")
        return out
    value = _read_json(source)
    samples = value if isinstance(value, list) else [value]
    if not samples:
        raise BadInput(f"sample events '{source}' holds no event")
    return samples


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise BadInput(f"sample event file '{path}' is not valid JSON: {err}") from err


def key_at(payload: Any, path: str) -> Any:
    """Return the value at dotted ``path`` in ``payload`` (``None`` if absent)."""
    node = payload
    for part in path.split("."):
        if isinstance(node, Mapping) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _check(template: Any, where: str) -> None:
    if isinstance(template, str):
        for match in PLACEHOLDER.finditer(template):
            name, arg = match.group(1), match.group(2)
            if name not in _NAMES:
                raise BadInput(
                    f"unknown placeholder '{match.group(0)}' in {where}: expected one of "
                    + ", ".join("{{" + n + "}}" for n in _NAMES)
                )
            if name == "int":
                parts = (arg or "").split(":")
                if len(parts) != 2 or not all(p.strip().lstrip("-").isdigit() for p in parts):
                    raise BadInput(f"invalid '{match.group(0)}' in {where}: expected int:LOW:HIGH")
            if name == "choice" and not arg:
                raise BadInput(f"invalid '{match.group(0)}' in {where}: expected choice:a|b|c")
    elif isinstance(template, Mapping):
        for value in template.values():
            _check(value, where)
    elif isinstance(template, list):
        for value in template:
            _check(value, where)


class Renderer:
    """Makes each event's payload from the samples and the template.

    Args:
        payload: template fields (merged over each sample).
        samples: sample events (each a JSON object).
        seed: seeds the RNG of ``uuid``, ``int`` and ``choice``.
        wall: epoch clock.
    """

    def __init__(
        self,
        payload: Mapping[str, Any] | None,
        samples: list[Any] | None,
        seed: str,
        wall: Callable[[], float] = time.time,
    ) -> None:
        for index, sample in enumerate(samples or []):
            if not isinstance(sample, Mapping):
                raise BadInput(
                    f"sample event {index} is {type(sample).__name__}: expected a JSON object"
                )
        _check(dict(payload or {}), "payload")
        _check(list(samples or []), "sample events")
        self.payload = dict(payload or {})
        self.samples = list(samples or [])
        self.rng = random.Random(seed)
        self.wall = wall

    def __call__(self, index: int, event_id: str, run_id: str) -> dict[str, Any]:
        """Return the payload of event ``index``."""
        base: dict[str, Any] = {}
        if self.samples:
            base.update(self.samples[index % len(self.samples)])
        base.update(self.payload)
        now = self.wall()
        context = {"index": index, "event_id": event_id, "run_id": run_id, "now": now}
        rendered = self._render(base, context)
        assert isinstance(rendered, dict)
        return rendered

    def _value(self, name: str, arg: str | None, context: Mapping[str, Any]) -> Any:
        if name in ("index", "event_id", "run_id", "now"):
            return context[name]
        if name == "now_ms":
            return int(context["now"] * 1000)
        if name == "now_iso":
            return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(context["now"])) + "Z"
        if name == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if name == "int":
            low, high = (int(p) for p in str(arg).split(":"))
            return self.rng.randint(min(low, high), max(low, high))
        options = str(arg).split("|")
        return self.rng.choice(options)

    def _render(self, node: Any, context: Mapping[str, Any]) -> Any:
        if isinstance(node, str):
            if "{{" not in node:
                return node
            whole = PLACEHOLDER.fullmatch(node.strip())
            if whole:
                return self._value(whole.group(1), whole.group(2), context)
            return PLACEHOLDER.sub(
                lambda m: str(self._value(m.group(1), m.group(2), context)), node
            )
        if isinstance(node, Mapping):
            return {k: self._render(v, context) for k, v in node.items()}
        if isinstance(node, list):
            return [self._render(v, context) for v in node]
        return node
