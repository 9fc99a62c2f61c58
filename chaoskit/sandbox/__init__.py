"""The sandbox: a local AWS on 127.0.0.1, with real Lambda delivery semantics, no Docker.

LocalStack core runs natively on Python 3.13 from a venv chaoskit creates once
and caches outside the repository, with chaoskit's plugins: a Lambda executor
that runs each execution environment as a local process, Route 53 health checks
that really probe, and DynamoDB served by moto. Every service sits behind one
endpoint, ``http://127.0.0.1:<port>`` (default 4566).

Public API: :func:`ensure_up`, :func:`down`, :func:`status`, plus
:class:`SandboxOptions` (speed knobs) and :func:`log_file`.
"""

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from chaoskit import envvars
from chaoskit.sandbox.errors import PythonNotFound, SandboxError
from chaoskit.sandbox.options import FAST, SandboxOptions
from chaoskit.sandbox.paths import SandboxPaths

__all__ = [
    "DEFAULT_PORT",
    "FAST",
    "PythonNotFound",
    "SandboxError",
    "SandboxOptions",
    "down",
    "ensure_up",
    "log_file",
    "resolve_port",
    "status",
]

DEFAULT_PORT = 4566


def resolve_port(port: int | None = None) -> int:
    """Return ``port``, else ``CHAOSKIT_SANDBOX_PORT``, else 4566."""
    if port is not None:
        return int(port)
    raw = os.environ.get(envvars.SANDBOX_PORT)
    if not raw:
        return DEFAULT_PORT
    try:
        return int(raw)
    except ValueError as err:
        raise SandboxError(f"{envvars.SANDBOX_PORT}='{raw}': expected a port number") from err


@contextmanager
def _locked(paths: SandboxPaths) -> Iterator[None]:
    """Serialise installs and starts (two ``up`` at once, or parallel test sessions)."""
    paths.root.mkdir(parents=True, exist_ok=True)
    with (paths.root / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_up(
    port: int | None = None,
    progress: Callable[[str], None] | None = None,
    *,
    options: SandboxOptions | None = None,
    timeout: float = 120.0,
) -> str:
    """Install once, start if not running, and return the sandbox's endpoint URL.

    A no-op (apart from the message) when the sandbox already runs on ``port``.

    Args:
        port: gateway port on 127.0.0.1 (default ``CHAOSKIT_SANDBOX_PORT`` or 4566).
        progress: called with one line per step (install progress, "already running").
        options: speed knobs; default from ``CHAOSKIT_SANDBOX_*`` environment variables.
        timeout: seconds to wait for LocalStack to become ready.

    Raises:
        PythonNotFound: no Python 3.13 to run LocalStack core.
        SandboxError: the install or the start failed; the message says why.
    """
    from chaoskit.sandbox import install, server
    from chaoskit.sandbox.python import find_sandbox_python, interpreters_json

    say = progress or (lambda _line: None)
    paths = SandboxPaths.for_port(resolve_port(port))
    endpoint = f"http://127.0.0.1:{paths.port}"
    opts = options if options is not None else SandboxOptions.from_env()
    with _locked(paths):
        running = server.running_state(paths)
        if running is not None:
            note = ""
            if options is not None and running.get("options") != opts.as_dict():
                kept = running.get("options")
                note = f"; it keeps its options {kept}: down, then up to change them"
            say(f"sandbox already running at {endpoint} (pid {running['pid']}){note}")
            return endpoint
        python = find_sandbox_python()
        install.ensure_venv(python, install.python_version_of(python), paths.venv, say)
        install.sync_plugin(paths.venv)
        try:
            install.ensure_legacy_runtime_libs(paths.venv, say)
        except SandboxError as err:  # only python3.9 functions need them
            say(f"warning: python3.9 functions will be refused: {err}")
        say(f"starting LocalStack on {endpoint}")
        started = time.monotonic()
        env = server.localstack_env(paths, opts, interpreters_json())
        server.start(paths, install.venv_python(paths.venv), env, opts, timeout=timeout)
        say(f"sandbox ready at {endpoint} in {time.monotonic() - started:.1f} s")
    return endpoint


def down(port: int | None = None, *, purge: bool = False) -> bool:
    """Stop the sandbox on ``port``; return whether one was running.

    Args:
        port: gateway port (default ``CHAOSKIT_SANDBOX_PORT`` or 4566).
        purge: also delete its state folder (log, functions' code, data).
    """
    import shutil

    from chaoskit.sandbox import server

    paths = SandboxPaths.for_port(resolve_port(port))
    with _locked(paths):
        stopped = server.stop(paths)
        if purge:
            shutil.rmtree(paths.state, ignore_errors=True)
        return stopped


def status(port: int | None = None) -> dict[str, Any]:
    """Describe the sandbox on ``port``: running or not, pid, endpoint, services, RSS.

    Returns:
        A JSON-safe dict with ``running`` (bool), ``port``, ``endpoint``, ``pid``,
        ``uptime_s``, ``rss_mb``, ``services`` ({name: state}), ``options``, ``log``,
        ``venv`` and ``installed``.
    """
    from chaoskit.sandbox import install, server

    paths = SandboxPaths.for_port(resolve_port(port))
    state = server.running_state(paths)
    doc: dict[str, Any] = {
        "running": state is not None,
        "port": paths.port,
        "endpoint": f"http://127.0.0.1:{paths.port}",
        "pid": None,
        "uptime_s": None,
        "rss_mb": None,
        "services": {},
        "options": None,
        "log": str(paths.log_file),
        "venv": str(paths.venv),
        "installed": (paths.venv / install.STAMP).exists(),
    }
    if state is None:
        return doc
    pid = int(state["pid"])
    health = server.health(paths.port) or {}
    doc.update(
        pid=pid,
        uptime_s=round(time.time() - float(state.get("started_at", time.time())), 1),
        rss_mb=tree_rss_mb(pid),
        services=dict(health.get("services", {})),
        options=state.get("options"),
    )
    return doc


def log_file(port: int | None = None) -> Path:
    """Return the path of the sandbox's log on ``port``."""
    return SandboxPaths.for_port(resolve_port(port)).log_file


def tree_rss_mb(pid: int) -> float | None:
    """Return the resident memory in MB of ``pid`` and its descendants (Linux), else ``None``."""
    try:
        children: dict[int, list[int]] = {}
        rss: dict[int, int] = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            child = int(entry.name)
            children.setdefault(int(fields[1]), []).append(child)
            rss[child] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return None
    total, todo = 0, [pid]
    while todo:
        current = todo.pop()
        total += rss.get(current, 0)
        todo += children.get(current, [])
    return round(total / 2**20, 1)
