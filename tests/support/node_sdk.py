"""The AWS SDK for JavaScript v3 that Node.js tests drive, installed once from its lock file."""

import shutil
import subprocess
from pathlib import Path

__all__ = ["SDK", "sdk_for_tests"]

#: ``package.json`` and ``package-lock.json`` pin ``@aws-sdk/client-dynamodb``.
SDK = Path(__file__).resolve().parents[1] / "layer_node" / "sdk"


def sdk_for_tests() -> Path:
    """Install the pinned SDK under :data:`SDK` unless there (``npm ci``); return its
    ``node_modules``."""
    modules = SDK / "node_modules"
    if (modules / "@aws-sdk" / "client-dynamodb").is_dir():
        return modules
    npm = shutil.which("npm")
    assert npm, "npm is needed to install the AWS SDK for JavaScript the Node.js tests drive"
    out = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--silent"],
        cwd=SDK, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return modules
