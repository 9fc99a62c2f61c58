"""Where the sandbox keeps its virtual environment, state and logs.

Everything lives under the cache directory (``CHAOSKIT_CACHE_DIR``, default
``~/.cache/chaoskit``), outside any repository: ``sandbox/venv`` holds LocalStack
core and our plugin, ``sandbox/run-<port>`` the state of the sandbox serving
that port (PID file, log, LocalStack's volume, filesystem root and temp dir,
and one directory per Lambda execution environment).
"""

import os
from dataclasses import dataclass
from pathlib import Path

from chaoskit import envvars

__all__ = ["SandboxPaths", "cache_dir", "sandbox_root"]


def cache_dir(environ: dict[str, str] | None = None) -> Path:
    """Return the cache directory chaoskit owns outside the repository."""
    env = os.environ if environ is None else environ
    explicit = env.get(envvars.CACHE_DIR)
    if explicit:
        return Path(explicit).expanduser().absolute()
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser().absolute() / "chaoskit"


def sandbox_root(environ: dict[str, str] | None = None) -> Path:
    """Return the sandbox's folder in the cache directory."""
    return cache_dir(environ) / "sandbox"


@dataclass(frozen=True)
class SandboxPaths:
    """The files of one sandbox, identified by the port it serves."""

    root: Path
    port: int

    @classmethod
    def for_port(cls, port: int, environ: dict[str, str] | None = None) -> "SandboxPaths":
        """Return the paths of the sandbox serving ``port``."""
        return cls(root=sandbox_root(environ), port=port)

    @property
    def venv(self) -> Path:
        """The virtual environment with LocalStack core (shared by every port)."""
        return self.root / "venv"

    @property
    def state(self) -> Path:
        """The state folder of this sandbox."""
        return self.root / f"run-{self.port}"

    @property
    def pid_file(self) -> Path:
        """JSON file with the PID, port and options of the running sandbox."""
        return self.state / "sandbox.json"

    @property
    def log_file(self) -> Path:
        """LocalStack's log (stdout and stderr)."""
        return self.state / "localstack.log"

    @property
    def volume(self) -> Path:
        """LOCALSTACK_VOLUME_DIR."""
        return self.state / "volume"

    @property
    def filesystem(self) -> Path:
        """FILESYSTEM_ROOT."""
        return self.state / "fs"

    @property
    def tmp(self) -> Path:
        """TMPDIR of LocalStack and of every function process."""
        return self.state / "tmp"

    @property
    def home(self) -> Path:
        """HOME of LocalStack, so nothing lands in the user's home."""
        return self.state / "home"

    @property
    def environments(self) -> Path:
        """One folder per Lambda execution environment (its /opt and /tmp)."""
        return self.state / "lambda"

    def make(self) -> None:
        """Create the state folders."""
        for path in (self.volume, self.filesystem, self.tmp, self.home, self.environments):
            path.mkdir(parents=True, exist_ok=True)
