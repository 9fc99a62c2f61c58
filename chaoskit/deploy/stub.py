"""The payments stand-in for local targets: started once, reused by later deploys."""

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from chaoskit import envvars
from chaoskit.errors import ChaosKitError

__all__ = ["DEFAULT_PORT", "ensure_payments_stub", "is_serving", "stop_payments_stub"]

DEFAULT_PORT = 4590


def is_serving(port: int) -> bool:
    """Tell whether a payments stub answers on ``127.0.0.1:port``."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _state_dir() -> Path:
    path = Path(os.environ.get(envvars.HOME) or ".chaoskit")
    path.mkdir(parents=True, exist_ok=True)
    return path


def ensure_payments_stub(
    app: Path,
    port: int = DEFAULT_PORT,
    timeout: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> str:
    """Start ``payments_stub.py`` in the background unless it already serves; return its URL.

    The URL names ``localhost`` while AWS calls go to ``127.0.0.1``: an HTTP
    fault on host ``localhost`` then hits the payments API and nothing else.

    Raises:
        ChaosKitError: the stub did not answer within ``timeout`` seconds.
    """
    url = f"http://localhost:{port}/charge"
    if is_serving(port):
        return url
    state = _state_dir()
    log = (state / "payments-stub.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, str(app / "payments_stub.py"), "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    (state / "payments-stub.pid").write_text(str(process.pid))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if is_serving(port):
            return url
        if process.poll() is not None:
            break
        sleep(0.1)
    raise ChaosKitError(
        f"the payments stub did not start on port {port}: see {state / 'payments-stub.log'}"
    )


def stop_payments_stub() -> bool:
    """Stop the stub this machine started (by its recorded PID); tell whether one was stopped."""
    pid_file = _state_dir() / "payments-stub.pid"
    if not pid_file.is_file():
        return False
    pid = int(pid_file.read_text().strip() or 0)
    pid_file.unlink()
    try:
        os.kill(pid, 15)
    except ProcessLookupError:
        return False
    return True
