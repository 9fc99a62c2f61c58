"""The journal files: one append-only, fsync'd JSON-lines file per run.

``<home>/journal/<run id>.jsonl`` holds events. The first event of a change
is its full record (``id, run_id, action, resource, restorer, snapshot,
target, status="pending", recorded_at``); later events carry the same ``id``
and a new ``status`` (``applied``, ``restored``, ``not-applied``,
``restore_failed``) with ``applied_at``, ``restored_at`` or ``error``.
Folding the events gives each change's current state (the read side,
:func:`changes`, lives in :mod:`chaoskit.runs` and is re-exported here). A line torn by a crash
is ignored: every complete line before it still counts.
"""

import fcntl
import json
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chaoskit.files import append_private, touch_private
from chaoskit.runs import changes, journal_path, read_events
from chaoskit.undo.settings import journal_dir

__all__ = [
    "UNRESTORED",
    "append",
    "changes",
    "exclusive",
    "journal_path",
    "read_events",
    "run_ids",
    "unrestored",
]

#: Statuses of a change that may still be live on the target.
UNRESTORED = frozenset({"pending", "applied", "restore_failed"})

_thread_lock = threading.RLock()


def append(run_id: str, event: dict[str, Any]) -> None:
    """Append one event to the run's journal and fsync it before returning."""
    path = journal_path(run_id)
    created = not path.exists()
    line = json.dumps(event, sort_keys=True, default=str) + "\n"
    with _thread_lock, append_private(path) as fh:
        fh.write(line)
        fh.flush()
        os.fsync(fh.fileno())
    if created:
        # Make the new directory entry durable too, or a crash could lose the file.
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def unrestored(run_id: str) -> list[dict[str, Any]]:
    """Return the run's changes that may still be live, in recording order."""
    return [c for c in changes(run_id) if c.get("status") in UNRESTORED]


def run_ids() -> list[str]:
    """Return the run ids that have a journal, sorted."""
    folder = journal_dir()
    if not folder.is_dir():
        return []
    out = []
    for path in sorted(folder.glob("*.jsonl")):
        first = _first_event(path)
        if first is not None:
            # The recorded id, unless it does not name this file (a corrupt line).
            run_id = first.get("run_id")
            ok = isinstance(run_id, str) and bool(run_id) and journal_path(run_id) == path
            out.append(str(run_id) if ok else path.stem)
    return out


def _first_event(path: Path) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    event = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(event, dict):
                    return event
    except OSError:
        return None
    return None


@contextmanager
def exclusive() -> Iterator[None]:
    """Hold the journal folder's lock (threads of this process and other processes)."""
    folder = journal_dir()
    touch_private(folder / ".lock")
    with _thread_lock, open(folder / ".lock", "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
