"""What this machine knows about runs, read-only: where run state lives and each run's changes.

The undo journal (:mod:`chaoskit.undo`) writes ``<home>/journal/<run id>.jsonl``;
this module only reads it back, so that probes and reports can learn what a
run changed, and when, without importing the machinery that changes things.
The home folder is ``$CHAOSKIT_HOME`` (default ``./.chaoskit``).
"""

import json
import os
from pathlib import Path
from typing import Any

from chaoskit import envvars

__all__ = [
    "INSTRUMENTATION",
    "changes",
    "fault_window",
    "home",
    "journal_dir",
    "journal_path",
    "read_events",
]


#: Changes that instrument a function rather than harm it (the layer on $LATEST, a version
#: published with it, an alias moved to that version). They last the whole run, so they
#: are left out of its fault window: probes judge "during" and "after" the faults, the
#: report shades the faults, and time to recover counts from the last fault's end.
INSTRUMENTATION = frozenset(
    {"enable_chaoskit_layer", "publish_version_with_layer", "point_alias_at_layer_version"}
)


def home() -> Path:
    """Return chaoskit's home folder for run state (``$CHAOSKIT_HOME`` or ``.chaoskit``)."""
    return Path(os.environ.get(envvars.HOME) or ".chaoskit")


def journal_dir() -> Path:
    """Return the folder of undo journals, ``<home>/journal``."""
    return home() / "journal"


def journal_path(run_id: str) -> Path:
    """Return the journal file of ``run_id``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    return journal_dir() / f"{safe}.jsonl"


def read_events(run_id: str) -> list[dict[str, Any]]:
    """Return every complete event of the run's journal, oldest first."""
    path = journal_path(run_id)
    try:
        # A line that is not UTF-8 is as unreadable as a torn one: skipped below.
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a crash
        if isinstance(event, dict) and event.get("id") and isinstance(event["id"], str):
            events.append(event)
    return events


def changes(run_id: str) -> list[dict[str, Any]]:
    """Return the run's changes, each folded to its latest state, in recording order."""
    folded: dict[str, dict[str, Any]] = {}
    for event in read_events(run_id):
        if not _well_formed(event):
            continue  # a corrupt line: read_events already skips torn ones
        current = folded.get(event["id"])
        if current is None:
            if "action" not in event:
                continue  # an update whose record was lost: nothing to restore from
            folded[event["id"]] = dict(event)
            continue
        for key, value in event.items():
            if key != "id":
                current[key] = value
        if event.get("status") in ("restored", "not-applied"):
            current.pop("error", None)
    return list(folded.values())


def _well_formed(event: dict[str, Any]) -> bool:
    """Tell whether an event has the types the restore code reads (strings where named)."""
    for key in ("action", "resource", "status", "run_id"):
        if key in event and not isinstance(event[key], str):
            return False
    return "action" not in event or "resource" in event


def fault_window(run_id: str) -> tuple[float, float | None] | None:
    """Return ``(first applied_at, last restored_at or None)`` of the run's faults.

    ``None`` when the run recorded no applied fault. An end of ``None`` means
    something is still applied. :data:`INSTRUMENTATION` changes are not faults.
    """
    applied: list[float] = []
    restored: list[float] = []
    still_applied = False
    for change in changes(run_id):
        at: Any = change.get("applied_at")
        if not isinstance(at, int | float) or change.get("action") in INSTRUMENTATION:
            continue
        applied.append(float(at))
        end: Any = change.get("restored_at")
        if isinstance(end, int | float):
            restored.append(float(end))
        else:
            still_applied = True
    if not applied:
        return None
    return min(applied), (None if still_applied or not restored else max(restored))
