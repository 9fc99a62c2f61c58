"""Node.js functions in the sandbox: which ``node`` runs them, and the environment Lambda gives.

A ``nodejsNN.x`` function runs as ``node node_bootstrap.mjs`` (behind its
``AWS_LAMBDA_EXEC_WRAPPER`` if it has one), talking to the environment's
Runtime API (:mod:`.runtime_api`). The binary is ``node`` on PATH, or the one
``CHAOSKIT_SANDBOX_NODE`` names. A machine without Node.js refuses such
functions when they are created, with a clear error. Nothing here may import
``chaoskit``.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from pathlib import Path

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("node_bootstrap.mjs")
#: The handler loader (a copy of chaoskit's layer loader, put beside the plugin at install).
LOADER = Path(__file__).with_name("node_loader.mjs")
SUPPORTED = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
_VERSIONS: dict[str, str] = {}


def is_node(runtime: str | None) -> bool:
    """Tell whether ``runtime`` is a Node.js runtime."""
    return bool(runtime) and str(runtime).startswith("nodejs")


def binary_for(runtime: str | None) -> str:
    """Return the ``node`` that runs ``runtime``.

    Raises:
        RuntimeError: the runtime is not one the sandbox runs, or no Node.js is installed.
    """
    if runtime not in SUPPORTED:
        raise RuntimeError(
            f"runtime '{runtime}' is not supported by the chaoskit sandbox: "
            f"Node.js functions run on {', '.join(SUPPORTED)}"
        )
    binary = os.environ.get("CHAOSKIT_SANDBOX_NODE") or shutil.which("node")
    if not binary:
        raise RuntimeError(
            f"runtime '{runtime}' needs Node.js on this machine: install it "
            "(e.g. 'apt-get install nodejs') or set CHAOSKIT_SANDBOX_NODE"
        )
    local = _VERSIONS.get(binary)
    if local is None:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        local = _VERSIONS[binary] = out.stdout.strip().lstrip("v").split(".")[0]
    wanted = runtime[len("nodejs") :].split(".")[0]
    if local != wanted:
        LOG.warning(
            "no local Node.js %s for runtime '%s': running it with Node.js %s",
            wanted,
            runtime,
            local,
        )
    return binary


def environment(runtime: str, binary: str, opt: Path, task: Path, tmp: Path) -> dict[str, str]:
    """Return the variables Lambda's Node.js runtime sets, pointed at this machine's folders."""
    major = runtime[len("nodejs") :].split(".")[0]
    node_path = [
        opt / "nodejs" / f"node{major}" / "node_modules",
        opt / "nodejs" / "node_modules",
        task,
    ]
    return {
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
        "NODE_PATH": os.pathsep.join(str(p) for p in node_path),
        "PATH": os.pathsep.join(
            [str(opt / "bin"), str(Path(binary).parent), "/usr/local/bin", "/usr/bin", "/bin"]
        ),
        "LD_LIBRARY_PATH": str(opt / "lib"),
        "TMPDIR": str(tmp),
        "HOME": str(tmp),
        "LANG": "en_US.UTF-8",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
    }
