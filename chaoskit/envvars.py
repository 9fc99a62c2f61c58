"""Every ``CHAOSKIT_*`` environment variable, declared once.

Standard library only: the Lambda layer imports this module. Append new names
here rather than spelling a variable name anywhere else.
"""

__all__ = [
    "ACK",
    "CACHE_DIR",
    "CONFIG",
    "CONFIG_PARAMETER",
    "CONFIG_TTL",
    "DISABLED",
    "ENABLE_SNAPSHOT",
    "HOME",
    "LEDGER_TABLE",
    "LIVE_AWS",
    "ORIGINAL_EXEC_WRAPPER",
    "ORIGINAL_HANDLER",
    "RUN_ID",
    "SANDBOX_PORT",
    "SANDBOX_PYTHON",
    "TARGET",
    "is_truthy",
]

# --- inside the function (the layer) ---------------------------------------
#: Kill switch: any truthy value disables every fault and all tracing.
DISABLED = "CHAOSKIT_DISABLED"
#: Inline fault config, a JSON document (takes precedence over CONFIG_PARAMETER).
CONFIG = "CHAOSKIT_CONFIG"
#: Name of the SSM parameter that holds the fault config.
CONFIG_PARAMETER = "CHAOSKIT_CONFIG_PARAMETER"
#: Seconds a fetched config is cached per execution environment.
CONFIG_TTL = "CHAOSKIT_CONFIG_TTL"
#: The handler the chaoskit wrapper calls (set by the exec wrapper script).
ORIGINAL_HANDLER = "CHAOSKIT_ORIGINAL_HANDLER"
#: An exec wrapper the function had before chaoskit's, chained after ours.
ORIGINAL_EXEC_WRAPPER = "CHAOSKIT_ORIGINAL_EXEC_WRAPPER"
#: Any truthy value makes the layer acknowledge the config version it applied.
ACK = "CHAOSKIT_ACK"
#: DynamoDB table of the event ledger (default ``chaoskit-ledger``).
LEDGER_TABLE = "CHAOSKIT_LEDGER_TABLE"
#: Set by the enable action: JSON of what it changed, so the layer can be removed exactly
#: even without the run's journal. The layer ignores it.
ENABLE_SNAPSHOT = "CHAOSKIT_ENABLE_SNAPSHOT"

# --- the runner (CLI, actions, probes) --------------------------------------
#: Run id of the experiment in progress.
RUN_ID = "CHAOSKIT_RUN_ID"
#: Target: ``sandbox``, ``localstack`` or ``aws``.
TARGET = "CHAOSKIT_TARGET"
#: Directory for journals and run state (default ``./.chaoskit``).
HOME = "CHAOSKIT_HOME"
#: Directory for caches kept outside the repository (default ``~/.cache/chaoskit``).
CACHE_DIR = "CHAOSKIT_CACHE_DIR"
#: Port of the sandbox gateway (default 4566).
SANDBOX_PORT = "CHAOSKIT_SANDBOX_PORT"
#: Python 3.13 interpreter used to run the sandbox.
SANDBOX_PYTHON = "CHAOSKIT_SANDBOX_PYTHON"
#: Set to 1 to run the opt-in tests against real AWS.
LIVE_AWS = "CHAOSKIT_LIVE_AWS"

_TRUTHY = frozenset({"1", "true", "yes", "on"})


def is_truthy(value: str | None) -> bool:
    """Tell whether an environment value means "on"."""
    return value is not None and value.strip().lower() in _TRUTHY
