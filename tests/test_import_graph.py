"""One job per package, checked on the import graph.

``probes`` only reads: it imports neither the undo machinery, nor the layer
(code that runs inside functions), nor the actions. ``chaoskit.deploy``
imports no action module. Checked twice: statically (every import statement,
function-level ones included) and at run time (what importing every probe
module loads, in a fresh interpreter).
"""

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: package -> modules it must not import (the module itself or anything below it).
FORBIDDEN = {
    "probes": ("chaoskit.undo", "chaoskit.layer", "chaoskit.faults"),
    "chaoskit/deploy": ("chaoskit.faults",),
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            # ``from chaoskit import undo`` imports chaoskit.undo too.
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from chaoskit import undo\n    import chaoskit.layer.x\n")
    found = _imports(source)
    assert any(_under(n, "chaoskit.undo") for n in found)
    assert any(_under(n, "chaoskit.layer") for n in found)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_module_imports_what_its_package_must_not(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}"
    bad = [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in files
        for name in sorted(_imports(path))
        if any(_under(name, prefix) for prefix in FORBIDDEN[package])
    ]
    assert bad == []


def test_importing_every_probe_module_loads_neither_undo_nor_layer_nor_actions() -> None:
    script = (
        "import importlib, json, pkgutil, sys\n"
        "import probes\n"
        "for info in pkgutil.iter_modules(probes.__path__, 'probes.'):\n"
        "    importlib.import_module(info.name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert out.returncode == 0, out.stderr
    loaded = json.loads(out.stdout)
    assert "probes.dlq" in loaded and "probes.breaker" in loaded
    bad = [name for name in loaded if any(_under(name, p) for p in FORBIDDEN["probes"])]
    assert bad == []
