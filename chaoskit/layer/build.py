"""Build the Lambda layer zip, or vendor the same files into a function's code.

The layer holds the standard-library-only subset of chaoskit the function
needs: ``chaoskit/__init__.py``, ``envvars.py``, ``ledger/{__init__,trace,records}.py``
and ``layer/**``. In the zip they sit under ``python/`` (``/opt/python`` is on
``sys.path`` in Lambda); the Node.js layer (``layer/node``, dependency-free ES
modules) sits under ``nodejs/node_modules/chaoskit-layer/`` (on Node.js's module
path in Lambda); the exec wrapper sits at the root, so that
``AWS_LAMBDA_EXEC_WRAPPER=/opt/chaoskit-wrapper`` serves both runtimes. The zip
is reproducible: fixed timestamps and a sorted file order.
"""

import importlib.util
import py_compile
import shutil
import tempfile
import zipfile
from pathlib import Path

import chaoskit

__all__ = [
    "LAYER_FILES",
    "NODE_PACKAGE",
    "WRAPPER",
    "build_layer_zip",
    "layer_files",
    "node_files",
    "vendor_into",
]

WRAPPER = "chaoskit-wrapper"
LAYER_FILES = (
    "__init__.py",
    "envvars.py",
    "ledger/__init__.py",
    "ledger/trace.py",
    "ledger/records.py",
)
_EPOCH = (1980, 1, 1, 0, 0, 0)
#: Where the Node.js layer sits, in the zip and in a vendored function.
NODE_PACKAGE = "node_modules/chaoskit-layer"


def _package_root() -> Path:
    return Path(chaoskit.__file__).resolve().parent


def layer_files() -> list[tuple[Path, str]]:
    """Return ``(source file, path relative to the chaoskit package)`` for every layer file."""
    root = _package_root()
    files = [(root / name, name) for name in LAYER_FILES]
    for path in sorted((root / "layer").rglob("*")):
        relative = path.relative_to(root)
        if relative.parts[:2] == ("layer", "node"):
            continue
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            files.append((path, relative.as_posix()))
    return files


def node_files() -> list[tuple[Path, str]]:
    """Return ``(source file, name)`` for every file of the Node.js layer package."""
    folder = _package_root() / "layer" / "node"
    return [(path, path.name) for path in sorted(folder.iterdir()) if path.is_file()]


def _write(archive: zipfile.ZipFile, name: str, data: bytes, mode: int) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)


def _bytecode(source: Path, relative: str) -> bytes:
    # Unchecked-hash pycs: Lambda's /opt is read-only, so without them every cold
    # start compiles the layer from source; unchecked, because zip mtimes are fixed.
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.pyc"
        py_compile.compile(
            str(source),
            cfile=str(out),
            dfile=f"/opt/python/chaoskit/{relative}",
            doraise=True,
            invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
        )
        return out.read_bytes()


def build_layer_zip(dest: Path, precompile: bool = False) -> Path:
    """Write the layer zip to ``dest`` (a file, or a directory to put ``chaoskit-layer.zip`` in).

    Args:
        dest: the zip file, or a directory.
        precompile: also ship bytecode for the Python running the build (a function on
            that Python version skips compiling the layer at every cold start; other
            versions ignore it).

    Returns:
        The path of the zip written.
    """
    dest = Path(dest)
    if dest.is_dir():
        dest = dest / "chaoskit-layer.zip"
    dest.parent.mkdir(parents=True, exist_ok=True)
    files = layer_files()
    tmp = dest.with_name(dest.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        wrapper = _package_root() / "layer" / WRAPPER
        _write(archive, WRAPPER, wrapper.read_bytes(), 0o755)
        for source, relative in files:
            mode = 0o755 if relative.endswith(WRAPPER) else 0o644
            _write(archive, f"python/chaoskit/{relative}", source.read_bytes(), mode)
            if precompile and relative.endswith(".py"):
                cached = Path(importlib.util.cache_from_source(relative)).as_posix()
                _write(archive, f"python/chaoskit/{cached}", _bytecode(source, relative), 0o644)
        for source, name in node_files():
            _write(archive, f"nodejs/{NODE_PACKAGE}/{name}", source.read_bytes(), 0o644)
    tmp.replace(dest)
    return dest


def vendor_into(directory: Path, runtime: str = "python") -> Path:
    """Copy the layer's files into a function's code directory.

    Python (the default): as ``<directory>/chaoskit``; the function's handler then
    becomes ``chaoskit.layer.handler.handler`` with ``CHAOSKIT_ORIGINAL_HANDLER``
    set to its own, or the code decorates its handler with ``chaoskit.layer.inject``.
    Node.js (``runtime`` starting with ``nodejs``): as
    ``<directory>/node_modules/chaoskit-layer``; the handler becomes
    ``node_modules/chaoskit-layer/handler.handler``, or the code wraps its handler
    with ``inject`` from ``chaoskit-layer``. A previous vendored copy is replaced.

    Returns:
        The vendored package directory.
    """
    node = runtime.startswith("nodejs")
    target = Path(directory) / (NODE_PACKAGE if node else "chaoskit")
    if target.exists():
        shutil.rmtree(target)
    files = node_files() if node else layer_files()
    for source, relative in files:
        out = target / relative
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, out)
    return target
