"""Where the undo machinery keeps its files, and the settings file.

The home folder is ``$CHAOSKIT_HOME`` (default ``./.chaoskit``): journals of
changes live in ``journal/<run id>.jsonl``, and ``settings.yaml`` may hold the
same guardrail keys an experiment's ``configuration`` takes
(``chaoskit_allow``, ``chaoskit_dry_run``, ``chaoskit_stop_alarms``...).
Precedence: the experiment's configuration beats the settings file.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaoskit import envvars
from chaoskit.errors import BadInput
from chaoskit.inputs import load_document
from chaoskit.runs import home, journal_dir

__all__ = [
    "TARGET_KEYS",
    "flag_setting",
    "home",
    "journal_dir",
    "load_settings",
    "setting",
    "target_of",
]

#: Configuration keys that say where a resource lives; recorded with every change.
TARGET_KEYS = (
    "chaoskit_target",
    "chaoskit_endpoint_url",
    "chaoskit_sandbox_port",
    "aws_region",
    "aws_profile_name",
    "aws_assume_role_arn",
)


def load_settings(path: Path | None = None) -> dict[str, Any]:
    """Read the settings file (``<home>/settings.yaml``); a missing file is empty.

    Raises:
        BadInput: the file is not YAML or does not hold a mapping.
    """
    file = path or home() / "settings.yaml"
    if not file.exists():
        return {}
    data = load_document(file, "settings file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadInput(f"settings file '{file}' must hold a mapping, got {type(data).__name__}")
    return data


def setting(configuration: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """Return ``key`` from the configuration, else from the settings file, else ``default``."""
    cfg = configuration or {}
    if key in cfg and cfg[key] is not None:
        return cfg[key]
    value = load_settings().get(key)
    return default if value is None else value


def flag_setting(configuration: Mapping[str, Any] | None, key: str, default: bool) -> bool:
    """Return a yes/no setting (:func:`setting`), read by the one flag parser.

    Raises:
        BadInput: the value is neither on nor off (``envvars.parse_flag``).
    """
    try:
        return envvars.parse_flag(setting(configuration, key, None), default, key)
    except ValueError as err:
        raise BadInput(str(err)) from err


def target_of(configuration: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the keys of ``configuration`` that say where AWS calls go."""
    cfg = configuration or {}
    return {k: cfg[k] for k in TARGET_KEYS if cfg.get(k) is not None}
