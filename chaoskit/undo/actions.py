"""Chaos Toolkit actions of the undo journal, for an experiment's ``rollbacks`` section.

Example::

    rollbacks:
      - type: action
        name: undo-everything
        provider:
          type: python
          module: chaoskit.undo.actions
          func: rollback_current_run
"""

from typing import Any

from chaoslib.types import Configuration, Secrets

from chaoskit.run_context import current_run_id
from chaoskit.undo.restore import pending_runs, rollback_run

__all__ = ["list_pending_runs", "rollback_current_run"]


def rollback_current_run(
    configuration: Configuration = None, secrets: Secrets = None
) -> list[dict[str, Any]]:
    """Restore every change this run made, newest first.

    Idempotent: changes already restored are skipped, so running it twice,
    or before the chaoskit control's final sweep, does no harm.

    Returns:
        One row per change restored: ``action``, ``resource``, ``status``
        (``restored`` or ``restore_failed``) and ``restored_at`` or ``error``.
    """
    return rollback_run(current_run_id(configuration), configuration)


def list_pending_runs(configuration: Configuration = None, secrets: Secrets = None) -> list[str]:
    """List the run ids whose journal still has changes that were not restored."""
    return pending_runs()
