"""Find Python interpreters: 3.13 for LocalStack core, 3.x for Lambda runtimes.

LocalStack core 2026.3 needs Python 3.13 exactly (3.11 fails on PEP 695 syntax,
3.12 on ``warnings.deprecated``). Search order: ``CHAOSKIT_SANDBOX_PYTHON``,
then ``python3.13`` on ``PATH``, then pyenv's ``versions/3.13*``.
"""

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

from chaoskit import envvars
from chaoskit.sandbox.errors import PythonNotFound

__all__ = [
    "REQUIRED",
    "find_runtime_interpreters",
    "find_sandbox_python",
    "interpreter_version",
    "pyenv_root",
]

#: The (major, minor) LocalStack core needs.
REQUIRED = (3, 13)

_VERSION_CODE = "import sys; print('%d.%d' % sys.version_info[:2])"


def interpreter_version(path: str | Path) -> tuple[int, int] | None:
    """Return the (major, minor) of the interpreter at ``path``, or ``None`` if it does not run."""
    try:
        out = subprocess.run(
            [str(path), "-c", _VERSION_CODE],
            capture_output=True,
            text=True,
            timeout=20,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.fullmatch(r"(\d+)\.(\d+)", out)
    return (int(match.group(1)), int(match.group(2))) if match else None


def pyenv_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """Return pyenv's root folder (``PYENV_ROOT``, ``pyenv root``, ``~/.pyenv``) if it exists."""
    env = os.environ if environ is None else environ
    if env.get("PYENV_ROOT"):
        return Path(env["PYENV_ROOT"])
    exe = shutil.which("pyenv", path=env.get("PATH"))
    if exe:
        try:
            out = subprocess.run(
                [exe, "root"], capture_output=True, text=True, timeout=20, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            return Path(out)
    default = Path.home() / ".pyenv"
    return default if default.is_dir() else None


def _pyenv_versions(root: Path | None) -> list[Path]:
    """Return pyenv interpreters, newest patch release first."""
    if root is None or not (root / "versions").is_dir():
        return []

    def key(path: Path) -> tuple[int, ...]:
        return tuple(int(p) for p in re.findall(r"\d+", path.name)[:3])

    found = [
        v / "bin" / "python"
        for v in (root / "versions").iterdir()
        if re.fullmatch(r"\d+\.\d+\.\d+", v.name) and (v / "bin" / "python").exists()
    ]
    return sorted(found, key=lambda p: key(p.parent.parent), reverse=True)


def find_sandbox_python(
    environ: Mapping[str, str] | None = None,
    version_of: Callable[[str | Path], tuple[int, int] | None] = interpreter_version,
) -> Path:
    """Return a Python 3.13 interpreter to run LocalStack core.

    Raises:
        PythonNotFound: none was found; the message says what to install or set.
    """
    env = os.environ if environ is None else environ
    explicit = env.get(envvars.SANDBOX_PYTHON)
    if explicit:
        found = version_of(explicit)
        if found != REQUIRED:
            got = "it does not run" if found is None else f"it is {found[0]}.{found[1]}"
            raise PythonNotFound(
                f"{envvars.SANDBOX_PYTHON}='{explicit}' is not a Python 3.13 interpreter "
                f"({got}): point it at python3.13"
            )
        return Path(explicit)
    candidates: list[str | Path] = []
    on_path = shutil.which("python3.13", path=env.get("PATH"))
    if on_path:
        candidates.append(on_path)
    root = pyenv_root(env)
    candidates += [p for p in _pyenv_versions(root) if p.parent.parent.name.startswith("3.13.")]
    for candidate in candidates:
        if version_of(candidate) == REQUIRED:
            return Path(candidate)
    raise PythonNotFound(
        "the sandbox needs Python 3.13 (LocalStack core does not run on other versions) and "
        "none was found on PATH (python3.13) or in pyenv: install it with "
        f"'pyenv install 3.13' or your package manager, or set {envvars.SANDBOX_PYTHON}"
    )


def find_runtime_interpreters(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Map Lambda Python versions (``"3.12"``) to local interpreters.

    pyenv's newest patch release of each minor version wins; ``pythonX.Y`` on
    ``PATH`` fills the gaps. The Lambda executor falls back, with a warning, to
    the sandbox's own interpreter for a runtime missing here.
    """
    env = os.environ if environ is None else environ
    found: dict[str, str] = {}
    for path in _pyenv_versions(pyenv_root(env)):
        found.setdefault(".".join(path.parent.parent.name.split(".")[:2]), str(path))
    for minor in range(8, 20):
        key = f"3.{minor}"
        if key not in found:
            exe = shutil.which(f"python{key}", path=env.get("PATH"))
            if exe:
                found[key] = exe
    return dict(sorted(found.items()))


def interpreters_json(environ: Mapping[str, str] | None = None) -> str:
    """Return :func:`find_runtime_interpreters` as JSON (handed to the Lambda executor)."""
    return json.dumps(find_runtime_interpreters(environ), sort_keys=True)
