"""Node.js functions in the sandbox: which ``node`` runs them, and the environment Lambda gives.

A ``nodejsNN.x`` function runs as ``node node_bootstrap.mjs`` (behind its
``AWS_LAMBDA_EXEC_WRAPPER`` if it has one), talking to the environment's
Runtime API (:mod:`.runtime_api`). The binary is ``node`` on PATH, or the one
``CHAOSKIT_SANDBOX_NODE`` names. A machine without Node.js refuses such
functions when they are created, with a clear error. Nothing here may import
``chaoskit``.

Lambda's Node.js runtimes (18 and later) give every function the AWS SDK for
JavaScript v3: an app may leave ``@aws-sdk/*`` out of its bundle (esbuild's
``External``, as SAM's templates do) and still import it. The sandbox does the
same for the packages a function's code names (:func:`provide_sdk`): installed
with npm, once, as published by :data:`SDK_DATE`, into a folder the sandbox keeps
(beside LocalStack's interpreter), and linked beside the function's code, where
both ``require`` and ``import`` find them after the function's own ``node_modules``.
``CHAOSKIT_SANDBOX_NODE_SDK`` names folders already holding packages (a machine
without the registry), looked in first and never installed into.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("node_bootstrap.mjs")
#: The handler loader (a copy of chaoskit's layer loader, put beside the plugin at install).
LOADER = Path(__file__).with_name("node_loader.mjs")
SUPPORTED = ("nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x")
#: The AWS SDK for JavaScript v3 given to functions: its packages as published that day
#: (Lambda's runtimes ship one release of the SDK, not the newest).
SDK_DATE = "2026-11-01"
#: Folders already holding the SDK's packages (each holds ``node_modules``), looked in first.
SDK_ENV = "CHAOSKIT_SANDBOX_NODE_SDK"
#: An ``@aws-sdk/*`` package that code loads: ``require("...")``, ``import ... from "..."``,
#: ``import "..."``, ``import("...")``, ``export ... from "..."`` (minified too). Not one
#: named in a message: the SDK's own bundled code says "register the package by calling
#: [require("@aws-sdk/signature-v4-crt");]", hence no ``[`` or word character before.
_SDK_NAME = re.compile(
    r"""(?<![\w$.\[])(?<!\[ )(?:from|import|require)\s*\(?\s*["'](@aws-sdk/[a-z0-9][a-z0-9._-]*)"""
    r"""(?:/[^"'\s]*)?["']"""
)
#: Packages npm could not install in this process: not tried again for every function.
_FAILED: set[str] = set()
_SOURCES = (".js", ".mjs", ".cjs")
_LARGEST_SOURCE = 20 * 1024 * 1024
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


def sdk_folder() -> Path:
    """Return the folder npm installs the SDK's packages in (it holds ``node_modules``)."""
    return Path(sys.prefix) / "chaoskit-lambda-node-sdk"


def given_sdk() -> list[Path]:
    """Return the ``node_modules`` folders ``CHAOSKIT_SANDBOX_NODE_SDK`` names (folders
    holding ``node_modules``, separated by ``os.pathsep``): looked in first, never
    installed into (npm would prune what their ``package.json`` does not list)."""
    named = os.environ.get(SDK_ENV, "")
    return [Path(p) / "node_modules" for p in named.split(os.pathsep) if p]


def sdk_packages(code: Path) -> set[str]:
    """Return the ``@aws-sdk/*`` packages the JavaScript under ``code`` names (its own
    ``node_modules`` left out: what is bundled there brings its own)."""
    found: set[str] = set()
    for folder, dirs, files in os.walk(code):
        dirs[:] = [d for d in dirs if d != "node_modules"]
        for name in files:
            path = Path(folder) / name
            if not name.endswith(_SOURCES) or path.stat().st_size > _LARGEST_SOURCE:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            found.update(m.group(1) for m in _SDK_NAME.finditer(text))
    return found


def provide_sdk(code: Path, opt: Path | None = None, folder: Path | None = None) -> list[str]:
    """Make the SDK packages the function's code names loadable from it, as Lambda's
    runtime does; return the packages linked.

    Packages the function bundles (``code/node_modules``) or a layer brings
    (``opt/nodejs/node_modules``) are left to those, as Lambda's module path puts them
    first. The others are taken from :func:`given_sdk`, else from ``folder`` (default
    :func:`sdk_folder`), installed there first when missing, and linked one by one into
    a ``node_modules`` beside ``code``. A failed install is logged; the function then
    fails to load them, as it would on a runtime without.
    """
    layers = [opt / "nodejs" / "node_modules"] if opt is not None else []
    wanted = sorted(
        name
        for name in sdk_packages(code)
        if not any((base / name).is_dir() for base in [code / "node_modules", *layers])
    )
    if not wanted:
        return []
    folder = folder or sdk_folder()
    places = [*given_sdk(), folder / "node_modules"]

    def found(name: str) -> Path | None:
        return next((p / name for p in places if (p / name / "package.json").is_file()), None)

    missing = [name for name in wanted if found(name) is None and name not in _FAILED]
    if missing:
        _install(folder, missing)
    linked = []
    beside = code.parent / "node_modules"
    for name in wanted:
        target, link = found(name), beside / name
        if target is None or link.exists():
            continue
        try:
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(target, target_is_directory=True)
        except OSError as err:  # the function is created all the same, as without the SDK
            LOG.warning("could not give the function in %s %s: %s", code, name, err)
            continue
        linked.append(name)
    return linked


def _install(folder: Path, names: list[str]) -> None:
    """Install ``names`` into ``folder`` with npm, one install at a time per folder."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = folder / "package.json"
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        names = [n for n in names if not (folder / "node_modules" / n / "package.json").is_file()]
        if not names:
            return
        if not manifest.is_file():
            manifest.write_text(json.dumps({"name": "chaoskit-lambda-node-sdk", "private": True}))
        npm = shutil.which("npm")
        if not npm:
            LOG.warning("no npm on this machine: cannot give functions %s", ", ".join(names))
            return
        LOG.info("installing the AWS SDK for JavaScript for functions: %s", " ".join(names))
        if _npm_install(npm, folder, names):
            return
        if len(names) == 1:
            _FAILED.update(names)
            return
        for name in names:  # one name npm does not know fails them all: each on its own
            if not _npm_install(npm, folder, [name]):
                _FAILED.add(name)


def _npm_install(npm: str, folder: Path, names: list[str]) -> bool:
    command = [npm, "install", "--no-audit", "--no-fund", "--no-update-notifier", "--save"]
    command.append(f"--before={SDK_DATE}")
    try:
        done = subprocess.run(
            [*command, *(f"{n}@^3" for n in names)],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        LOG.warning("could not install %s for Node.js functions: %s", ", ".join(names), err)
        return False
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        LOG.warning(
            "could not install %s for Node.js functions (npm exit %s): %s",
            ", ".join(names),
            done.returncode,
            " | ".join(tail),
        )
    return done.returncode == 0
