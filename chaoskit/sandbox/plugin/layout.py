"""Lay out a function version like Lambda does: code at /var/task, layers merged at /opt.

Runs inside LocalStack. Nothing here may import ``chaoskit``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)

_LOCK = threading.Lock()
_PATH_PATTERNS = {
    "/opt": re.compile(r"(?<![\w.~-])/opt(?=/|:|$)"),
    "/var/task": re.compile(r"(?<![\w.~-])/var/task(?=/|:|$)"),
}


def state_dir() -> Path:
    """Return the sandbox state folder LocalStack was started with."""
    explicit = os.environ.get("CHAOSKIT_SANDBOX_STATE_DIR")
    return Path(explicit) if explicit else Path(os.environ.get("TMPDIR", "/tmp")) / "chaoskit"


def rewrite_paths(env: dict[str, str], opt: Path, task: Path) -> dict[str, str]:
    """Point ``/opt/...`` and ``/var/task/...`` in env var values at this machine's folders."""
    out = {}
    for key, value in env.items():
        text = str(value)
        text = _PATH_PATTERNS["/opt"].sub(str(opt).replace("\\", "\\\\"), text)
        text = _PATH_PATTERNS["/var/task"].sub(str(task).replace("\\", "\\\\"), text)
        out[key] = text
    return out


def _layer_codes(function_version: Any) -> list[Any]:
    return [layer.code for layer in (function_version.config.layers or []) if layer.code]


def prepare(function_version: Any) -> None:
    """Unzip the function's code and its layers (LocalStack caches them on disk)."""
    if function_version.config.code:
        function_version.config.code.prepare_for_execution()
    for code in _layer_codes(function_version):
        code.prepare_for_execution()


def opt_dir(function_version: Any) -> Path:
    """Return the merged /opt of the function version's layers, built once per layer set."""
    codes = _layer_codes(function_version)
    sources = [Path(code.get_unzipped_code_location()) for code in codes]
    key = hashlib.sha256(json.dumps([str(s) for s in sources]).encode()).hexdigest()[:16]
    target = state_dir() / "lambda" / "opt" / key
    with _LOCK:
        if target.is_dir():
            return target
        staging = target.with_name(key + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for source in sources:  # later layers win, as in Lambda
            if not source.is_dir():
                for code in codes:
                    code.prepare_for_execution()
            shutil.copytree(source, staging, symlinks=True, dirs_exist_ok=True)
        staging.rename(target)
    return target


def code_dir(function_version: Any) -> Path:
    """Return the unzipped function code (its /var/task)."""
    code = function_version.config.code
    if code is None:
        raise RuntimeError("image-based functions are not supported by the chaoskit sandbox")
    return Path(code.get_unzipped_code_location())


#: The oldest Python the AWS SDK given to functions (boto3 1.42) imports on.
OLDEST_PYTHON = (3, 9)
#: Python versions that need the legacy libraries (urllib3 1.26) ahead of the others.
LEGACY_BELOW = (3, 10)


def _python_tuple(version: str) -> tuple[int, ...] | None:
    parts = version.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return (int(parts[0]), int(parts[1]))


def runtime_libs(runtime: str | None, libs: Path) -> list[Path]:
    """Return the folders of AWS-provided libraries for a runtime, first wins.

    ``libs`` is the runtime libraries folder (boto3, botocore, urllib3 2.x);
    Python 3.9 gets ``libs``'s ``-py39`` sibling (urllib3 1.26) ahead of it.
    """
    found = _python_tuple((runtime or "")[len("python") :])
    if found is not None and found < LEGACY_BELOW:
        return [libs.with_name(libs.name + "-py39"), libs]
    return [libs]


def _unsupported_python(runtime: str, version: str) -> str | None:
    found = _python_tuple(version)
    if found is None:
        return None
    if found < OLDEST_PYTHON:
        return (
            f"runtime '{runtime}' is not supported by the chaoskit sandbox: the AWS SDK it "
            "gives functions (boto3 1.42) needs Python 3.9 or newer, and AWS no longer "
            "creates functions on it either: set the function's Runtime to python3.10 or newer"
        )
    if found < LEGACY_BELOW:
        legacy = Path(sys.prefix) / "chaoskit-lambda-runtime-py39"
        if not (legacy / "urllib3").is_dir():
            return (
                f"runtime '{runtime}' cannot run in this sandbox: the urllib3 1.26 it needs "
                f"is missing from '{legacy}' (its install failed when the sandbox started; "
                "see 'chaoskit sandbox up'): set the function's Runtime to python3.10 or newer"
            )
    return None


def interpreter_for(runtime: str | None) -> tuple[str, str | None]:
    """Return the interpreter for a ``pythonX.Y`` runtime and a warning if it is a fallback.

    Raises:
        RuntimeError: the runtime is not a Python runtime.
    """
    if not runtime or not runtime.startswith("python"):
        raise RuntimeError(
            f"runtime '{runtime}' is not supported by the chaoskit sandbox: "
            "only python3.x functions run locally"
        )
    version = runtime[len("python") :]
    refusal = _unsupported_python(runtime, version)
    if refusal:
        raise RuntimeError(refusal)
    try:
        known = json.loads(os.environ.get("CHAOSKIT_SANDBOX_INTERPRETERS") or "{}")
    except ValueError:
        known = {}
    if version in known and Path(known[version]).exists():
        return known[version], None
    fallback = getattr(sys, "_base_executable", None) or sys.executable
    ours = f"{sys.version_info[0]}.{sys.version_info[1]}"
    return fallback, (
        f"no local Python {version} for runtime '{runtime}': running it with Python {ours} "
        f"(install it, e.g. 'pyenv install {version}', for a faithful runtime)"
    )
