"""The run id of the experiment in progress, shared by actions, probes and controls.

Precedence: ``chaoskit_run_id`` in the Chaos Toolkit configuration, then the
``CHAOSKIT_RUN_ID`` environment variable, then one id generated for this
process (and exported to ``CHAOSKIT_RUN_ID`` so child processes agree).
"""

import os
from collections.abc import Mapping
from typing import Any

from chaoskit import envvars
from chaoskit.ledger.trace import new_run_id

__all__ = ["current_run_id", "set_run_id"]


def current_run_id(configuration: Mapping[str, Any] | None = None) -> str:
    """Return the run id for this configuration, creating one if none is set."""
    explicit = (configuration or {}).get("chaoskit_run_id")
    if explicit:
        return str(explicit)
    existing = os.environ.get(envvars.RUN_ID)
    if existing:
        return existing
    return set_run_id(new_run_id())


def set_run_id(run_id: str) -> str:
    """Make ``run_id`` the current run id of this process and its children."""
    os.environ[envvars.RUN_ID] = run_id
    return run_id
