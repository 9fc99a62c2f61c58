"""Package the reference app's code: one zip for every function, dependencies vendored.

The zip holds the ``orders`` package plus the pure-Python distributions it
imports (tenacity, pybreaker), copied from the installed distributions. Entries
are sorted and time-stamped alike, so the same sources always give the same
bytes: an unchanged app has an unchanged ``CodeSha256`` and a redeploy updates
nothing.
"""

import base64
import hashlib
import importlib.metadata
import io
import zipfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import chaoskit
from chaoskit.errors import BadInput

__all__ = [
    "BREAKER_LISTENER",
    "VENDORED",
    "app_dir",
    "build_code_zip",
    "code_sha256",
    "listener_files",
    "vendored_files",
]

#: Distributions vendored into the function code (pure Python).
VENDORED = ("tenacity", "pybreaker")
#: chaoskit's breaker listener (``probes.breaker``) and what it imports from ``probes``;
#: the ``chaoskit.ledger`` modules it also needs come with chaoskit's layer.
BREAKER_LISTENER = ("__init__.py", "breaker.py", "_window.py")

_EPOCH = (1980, 1, 1, 0, 0, 0)


def app_dir(configuration: Mapping[str, Any] | None = None) -> Path:
    """Return the folder of the reference app (``experiments/app``).

    Configuration ``orders_app_dir`` wins; else the checkout chaoskit runs from,
    else the current directory.

    Raises:
        BadInput: no folder with an ``orders`` package was found.
    """
    explicit = (configuration or {}).get("orders_app_dir")
    candidates = (
        [Path(str(explicit))]
        if explicit
        else [
            Path(chaoskit.__file__).resolve().parent.parent / "experiments" / "app",
            Path.cwd() / "experiments" / "app",
        ]
    )
    for candidate in candidates:
        if (candidate / "orders" / "__init__.py").is_file():
            return candidate
    raise BadInput(
        f"cannot find the reference app: expected an 'orders' package in "
        f"{', '.join(str(c) for c in candidates)}"
    )


def vendored_files(names: Iterable[str] = VENDORED) -> list[tuple[str, Path]]:
    """Return ``(archive name, source path)`` for every file of the vendored packages.

    Raises:
        BadInput: a distribution is not installed.
    """
    out: list[tuple[str, Path]] = []
    for name in names:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError as err:
            raise BadInput(
                f"cannot vendor '{name}' into the app: it is not installed (pip install {name})"
            ) from err
        for file in dist.files or []:
            parts = file.parts
            if not parts or parts[0].endswith((".dist-info", ".egg-info")) or ".." in parts:
                continue
            if "__pycache__" in parts or file.suffix == ".pyc":
                continue
            out.append(("/".join(parts), Path(str(file.locate()))))
    return sorted(out)


def listener_files() -> list[tuple[str, Path]]:
    """Return ``(archive name, source path)`` for chaoskit's breaker listener modules.

    In the function, ``from probes.breaker import LedgerListener`` then works
    whenever chaoskit's layer is enabled (it brings ``chaoskit.ledger``), and
    fails with ImportError otherwise, which the app treats as "no listener".
    """
    import probes

    folder = Path(probes.__file__).resolve().parent
    return [
        (f"probes/{name}", folder / name) for name in BREAKER_LISTENER if (folder / name).is_file()
    ]


def _app_files(app: Path) -> list[tuple[str, Path]]:
    package = app / "orders"
    return sorted(
        (path.relative_to(app).as_posix(), path)
        for path in package.rglob("*.py")
        if "__pycache__" not in path.parts
    )


def build_code_zip(app: Path, vendor: Iterable[str] = VENDORED) -> bytes:
    """Return the function code zip: ``orders``, the vendored packages, the breaker listener."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, source in [*_app_files(app), *vendored_files(vendor), *listener_files()]:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def code_sha256(data: bytes) -> str:
    """Return the ``CodeSha256`` Lambda reports for a zip: base64 of its SHA-256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()
