"""Start, watch and stop the LocalStack process of a sandbox.

LocalStack runs as ``python -m localstack.runtime.main`` from the sandbox venv,
bound to 127.0.0.1, in its own session (so stopping it stops the Lambda
processes it spawned), with every state path inside the sandbox's state folder
and DNS off. A JSON PID file records what runs; ``stop`` signals by that PID
after checking the process is still ours.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from chaoskit import envvars
from chaoskit.sandbox.errors import SandboxError
from chaoskit.sandbox.options import SandboxOptions
from chaoskit.sandbox.paths import SandboxPaths

__all__ = [
    "health",
    "localstack_env",
    "port_in_use",
    "read_state",
    "running_state",
    "start",
    "stop",
]

#: Services loaded on the first request rather than at start keep ``up`` fast.
SERVICES = (
    "lambda,sqs,sns,events,kinesis,dynamodb,dynamodbstreams,ssm,route53,cloudwatch,"
    "stepfunctions,apigateway,logs,iam,sts,s3,scheduler,cloudformation"
)


def port_in_use(port: int) -> bool:
    """Tell whether something accepts TCP connections on 127.0.0.1:``port``."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def health(port: int, timeout: float = 2.0) -> dict[str, Any] | None:
    """Return LocalStack's ``/_localstack/health`` document, or ``None`` if it does not answer."""
    url = f"http://127.0.0.1:{port}/_localstack/health"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            doc: dict[str, Any] = json.loads(response.read() or b"{}")
            return doc
    except (OSError, urllib.error.URLError, ValueError):
        return None


def read_state(paths: SandboxPaths) -> dict[str, Any] | None:
    """Return the PID file's content, or ``None``."""
    try:
        state: dict[str, Any] = json.loads(paths.pid_file.read_text())
        return state
    except (OSError, ValueError):
        return None


def _is_ours(pid: int) -> bool:
    """Tell whether ``pid`` is alive and runs LocalStack (guards against PID reuse)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc (macOS): trust the PID
    return b"localstack.runtime.main" in cmdline


def running_state(paths: SandboxPaths) -> dict[str, Any] | None:
    """Return the PID file's content if its process is still running, else ``None``."""
    state = read_state(paths)
    if state and _is_ours(int(state.get("pid", 0))):
        return state
    return None


def localstack_env(
    paths: SandboxPaths,
    options: SandboxOptions,
    interpreters_json: str,
    base: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Return the environment LocalStack runs with: bound to 127.0.0.1, state in ``paths``."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(("AWS_", "LOCALSTACK_", "PYTHON")) and k not in ("VIRTUAL_ENV",)
    }
    port = paths.port
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "DNS_ADDRESS": "0",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DISABLE_EVENTS": "1",
            "LOCALSTACK_VOLUME_DIR": str(paths.volume),
            "FILESYSTEM_ROOT": str(paths.filesystem),
            "TMPDIR": str(paths.tmp),
            "HOME": str(paths.home),
            "PERSISTENCE": "0",
            "SERVICES": SERVICES,
            "LAMBDA_RUNTIME_EXECUTOR": "chaoskit-process",
            "PROVIDER_OVERRIDE_DYNAMODB": "chaoskit",
            "PROVIDER_OVERRIDE_DYNAMODBSTREAMS": "chaoskit",
            "PROVIDER_OVERRIDE_ROUTE53": "chaoskit",
            # Like AWS's pollers, poll again at once while a source has messages
            # (LocalStack waits a second after every batch: 10 events/s at most).
            "LAMBDA_EVENT_SOURCE_MAPPING_POLL_INTERVAL_SEC": "0.05",
            # LocalStack's own calls between services (a poller's ReceiveMessage and
            # Invoke, an async invoke, logs, metrics) go to its gateway in memory, not
            # over HTTP to itself: a fifth less CPU per event through SQS -> Lambda.
            "IN_MEMORY_CLIENT": "1",
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            "AWS_DEFAULT_REGION": "us-east-1",
            envvars.SANDBOX_INTERPRETERS: interpreters_json,
            envvars.SANDBOX_STATE_DIR: str(paths.state),
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(options.localstack_env())
    return env


def _log_tail(paths: SandboxPaths, lines: int = 15) -> str:
    try:
        text = paths.log_file.read_text(errors="replace").splitlines()
    except OSError:
        return "(no log)"
    return "\n".join(text[-lines:])


def start(
    paths: SandboxPaths,
    python: Path,
    env: Mapping[str, str],
    options: SandboxOptions,
    timeout: float = 120.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Start LocalStack and wait until it answers its health endpoint.

    Raises:
        SandboxError: the port is taken, LocalStack exited, or it was not ready in time.
    """
    if port_in_use(paths.port):
        raise SandboxError(
            f"port {paths.port} on 127.0.0.1 is in use by another program: stop it or "
            f"pick another port (--port or {envvars.SANDBOX_PORT})"
        )
    paths.make()
    log = paths.log_file.open("ab")
    try:
        proc = subprocess.Popen(
            [str(python), "-m", "localstack.runtime.main"],
            env=dict(env),
            cwd=str(paths.state),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    finally:
        log.close()
    state = {
        "pid": proc.pid,
        "port": paths.port,
        "endpoint": f"http://127.0.0.1:{paths.port}",
        "started_at": time.time(),
        "options": options.as_dict(),
        "log": str(paths.log_file),
        "state_dir": str(paths.state),
    }
    paths.pid_file.write_text(json.dumps(state, indent=2))
    deadline = clock() + timeout
    while clock() < deadline:
        if proc.poll() is not None:
            paths.pid_file.unlink(missing_ok=True)
            raise SandboxError(
                f"LocalStack exited with code {proc.returncode} while starting; "
                f"log {paths.log_file}:\n{_log_tail(paths)}"
            )
        if health(paths.port, timeout=1.0) is not None:
            return state
        sleep(0.2)
    stop(paths)
    raise SandboxError(
        f"LocalStack was not ready on port {paths.port} after {timeout:.0f} s; "
        f"log {paths.log_file}:\n{_log_tail(paths)}"
    )


def stop(paths: SandboxPaths, timeout: float = 20.0) -> bool:
    """Stop the sandbox by its PID (SIGTERM, then SIGKILL); return whether one was running."""
    state = running_state(paths)
    if state is None:
        paths.pid_file.unlink(missing_ok=True)
        return False
    pid = int(state["pid"])
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.1)
    # SIGKILL what is left of the session: LocalStack and any Lambda process it spawned.
    _signal_group(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    paths.pid_file.unlink(missing_ok=True)
    return True


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def _alive(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        status = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except (OSError, IndexError):
        return True
    return status != "Z"
