"""Every ``CHAOSKIT_*`` environment variable, declared once.

Standard library only: the Lambda layer imports this module. Append new names
here rather than spelling a variable name anywhere else.
"""

__all__ = [
    "ACK",
    "ALLOW_UNLISTED",
    "CACHE_DIR",
    "CONFIG",
    "CONFIG_PARAMETER",
    "CONFIG_TTL",
    "DISABLED",
    "E2E_SAVE_EVENTS",
    "ENABLE_SNAPSHOT",
    "FALSY",
    "HOME",
    "LEDGER_FLUSH",
    "LEDGER_TABLE",
    "LIVE_AWS",
    "MAX_FAULT_SECONDS",
    "MIRROR_KEY_FILE",
    "ORIGINAL_EXEC_WRAPPER",
    "ORIGINAL_HANDLER",
    "RUN_ID",
    "SANDBOX_FUNCTION_NICE",
    "SANDBOX_HEALTH_INTERVAL",
    "SANDBOX_INTERPRETERS",
    "SANDBOX_KEEPALIVE_MS",
    "SANDBOX_POLL_BACKOFF",
    "SANDBOX_PORT",
    "SANDBOX_PYTHON",
    "SANDBOX_RETRY_BASE_DELAY",
    "SANDBOX_STATE_DIR",
    "TARGET",
    "TRUTHY",
    "is_falsy",
    "is_truthy",
    "parse_flag",
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
#: Longest a fault config may stay live, in seconds from now (default 14400, 4 hours):
#: a config that expires later is ignored by the layer and refused by the actions.
MAX_FAULT_SECONDS = "CHAOSKIT_MAX_FAULT_SECONDS"
#: Any truthy value makes the layer acknowledge the config version it applied.
ACK = "CHAOSKIT_ACK"
#: DynamoDB table of the event ledger (default ``chaoskit-ledger``).
LEDGER_TABLE = "CHAOSKIT_LEDGER_TABLE"
#: When the layer writes the ledger: ``after-response`` (default, through a Lambda
#: internal extension) or ``inline`` (before the handler's result is returned).
LEDGER_FLUSH = "CHAOSKIT_LEDGER_FLUSH"
#: Set by the enable action: JSON of what it changed, so the layer can be removed exactly
#: even without the run's journal. The layer ignores it.
ENABLE_SNAPSHOT = "CHAOSKIT_ENABLE_SNAPSHOT"

# --- the runner (CLI, actions, probes) --------------------------------------
#: Run id of the experiment in progress.
RUN_ID = "CHAOSKIT_RUN_ID"
#: Any truthy value lets actions change resources on a non-local target without an
#: allowlist (``chaoskit run --allow-unlisted``); an experiment cannot set it.
ALLOW_UNLISTED = "CHAOSKIT_ALLOW_UNLISTED"
#: Target: ``sandbox``, ``localstack`` or ``aws``.
TARGET = "CHAOSKIT_TARGET"
#: Directory for journals and run state (default ``./.chaoskit``).
HOME = "CHAOSKIT_HOME"
#: Directory for caches kept outside the repository (default ``~/.cache/chaoskit``).
CACHE_DIR = "CHAOSKIT_CACHE_DIR"
#: File holding the key that signs and authenticates the journal mirror
#: (default ``<CHAOSKIT_HOME>/mirror.key``).
MIRROR_KEY_FILE = "CHAOSKIT_MIRROR_KEY_FILE"
#: Port of the sandbox gateway (default 4566).
SANDBOX_PORT = "CHAOSKIT_SANDBOX_PORT"
#: Python 3.13 interpreter used to run the sandbox.
SANDBOX_PYTHON = "CHAOSKIT_SANDBOX_PYTHON"
#: Sandbox speed knob: base delay in seconds of Lambda async retries (AWS: about 60).
SANDBOX_RETRY_BASE_DELAY = "CHAOSKIT_SANDBOX_RETRY_BASE_DELAY"
#: Sandbox speed knob: seconds between Route 53 health check probes (default: the check's own).
SANDBOX_HEALTH_INTERVAL = "CHAOSKIT_SANDBOX_HEALTH_INTERVAL"
#: Sandbox speed knob: idle milliseconds before a warm Lambda environment is stopped.
SANDBOX_KEEPALIVE_MS = "CHAOSKIT_SANDBOX_KEEPALIVE_MS"
#: Sandbox speed knob: longest pause in seconds of an idle event source mapping poller.
SANDBOX_POLL_BACKOFF = "CHAOSKIT_SANDBOX_POLL_BACKOFF"
#: Sandbox speed knob: niceness (0 to 19) of the functions' processes (default 10).
SANDBOX_FUNCTION_NICE = "CHAOSKIT_SANDBOX_FUNCTION_NICE"
#: Set by the sandbox for its plugin: JSON map of Python versions to local interpreters.
SANDBOX_INTERPRETERS = "CHAOSKIT_SANDBOX_INTERPRETERS"
#: Set by the sandbox for its plugin: the state folder of the running sandbox.
SANDBOX_STATE_DIR = "CHAOSKIT_SANDBOX_STATE_DIR"
#: Set to 1 to run the opt-in tests against real AWS.
LIVE_AWS = "CHAOSKIT_LIVE_AWS"
#: Set to 1 to let the end-to-end DLQ tests save the messages they capture as sample events.
E2E_SAVE_EVENTS = "CHAOSKIT_E2E_SAVE_EVENTS"

#: The one table of flag spellings (case and surrounding spaces ignored).
TRUTHY = frozenset({"1", "true", "yes", "on"})
FALSY = frozenset({"0", "false", "no", "off"})


def is_truthy(value: object) -> bool:
    """Tell whether a flag's value means "on": ``True``, or 1/true/yes/on as text.

    Anything else is "off", so an unreadable environment variable never turns
    a fault on (the layer relies on this).
    """
    if isinstance(value, bool):
        return value
    return value is not None and str(value).strip().lower() in TRUTHY


def is_falsy(value: object) -> bool:
    """Tell whether a flag that is on by default was turned off: ``False``, or 0/false/no/off.

    The mirror of :func:`is_truthy`, for settings whose safe side is "on".
    """
    if isinstance(value, bool):
        return not value
    return value is not None and str(value).strip().lower() in FALSY


def parse_flag(value: object, default: bool = False, name: str = "flag") -> bool:
    """Return a setting's value as a boolean, refusing what is neither on nor off.

    ``None`` and empty text give ``default``; booleans are themselves; text is
    read with the :data:`TRUTHY` and :data:`FALSY` tables.

    Raises:
        ValueError: the value is not one of those spellings.
    """
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if not text:
        return default
    if text in TRUTHY:
        return True
    if text in FALSY:
        return False
    raise ValueError(
        f"invalid value {value!r} for '{name}': expected true or false (also 1/0, yes/no, on/off)"
    )
