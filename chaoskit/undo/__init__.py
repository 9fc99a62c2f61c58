"""The undo journal: snapshot before mutating, exact restore, crash recovery.

Public API (see ``docs/undo.md``):

- :func:`mutation` records a change durably before an action makes it;
- :func:`rollback_run` restores what a run changed, newest first, then
  :func:`settle` waits until each restore took effect where that comes later;
- :func:`pending_runs` lists runs that left changes behind;
- :func:`guard` refuses resources outside the allowlist.

The Chaos Toolkit control is ``chaoskit.undo.control``; the rollback action
is ``chaoskit.undo.actions.rollback_current_run``.
"""

from chaoskit.undo.guard import guard
from chaoskit.undo.journal import Change, is_dry_run, mutation
from chaoskit.undo.restore import (
    pending_runs,
    restore_change,
    restore_newest_first,
    rollback_run,
    settle,
)
from chaoskit.undo.store import changes

__all__ = [
    "Change",
    "changes",
    "guard",
    "is_dry_run",
    "mutation",
    "pending_runs",
    "restore_change",
    "restore_newest_first",
    "rollback_run",
    "settle",
]
