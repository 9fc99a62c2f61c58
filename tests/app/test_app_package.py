"""The reference app's code as `chaoskit deploy` packages it; its deploy script's checks."""

import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
import reference_app

from chaoskit.deploy import artifacts
from chaoskit.deploy.template import load_template
from chaoskit.errors import BadInput

SRC = reference_app.APP / "src"


@pytest.fixture(scope="module")
def code(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The functions' zip: the app's code plus its requirements, installed for python3.12."""
    template = load_template(reference_app.APP / "template.yaml")
    (found,) = {a.path for a in artifacts.find_artifacts(template, reference_app.APP)} - {
        reference_app.APP / "workflow.asl.json",
        reference_app.APP / "node",  # the Node.js notifier's own folder
    }
    assert found == SRC
    deps = artifacts.install_requirements(
        SRC / "requirements.txt", "python3.12", "x86_64", tmp_path_factory.mktemp("cache")
    )
    return artifacts.zip_folder([deps, SRC])


def test_the_zip_holds_the_app_and_its_requirements(code: bytes) -> None:
    names = set(zipfile.ZipFile(BytesIO(code)).namelist())
    assert {"orders/worker.py", "orders/broken.py", "orders/payments.py"} <= names
    assert any(n.startswith("pybreaker") for n in names)
    assert any(n.startswith("tenacity/") for n in names)
    assert not any("__pycache__" in n or n.startswith("probes/") for n in names)


def _import_listener(paths: list[Path]) -> subprocess.CompletedProcess[str]:
    # -S -I: no site-packages, no environment: only the function's code and /opt/python.
    script = (
        "import sys; sys.path[:0] = sys.argv[1:]\n"
        "from orders import payments\n"
        "print([type(l).__name__ for l in payments.breaker.listeners])\n"
    )
    return subprocess.run(
        [sys.executable, "-S", "-I", "-c", script, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_breaker_listener_comes_with_the_layer(code: bytes, tmp_path: Path) -> None:
    from chaoskit.layer.build import vendor_into

    task = tmp_path / "task"
    zipfile.ZipFile(BytesIO(code)).extractall(task)
    opt_python = tmp_path / "opt" / "python"
    opt_python.mkdir(parents=True)
    vendor_into(opt_python)  # the layer's python/ tree, as Lambda mounts it

    with_layer = _import_listener([task, opt_python])
    without_layer = _import_listener([task])

    assert with_layer.returncode == 0, with_layer.stderr
    assert with_layer.stdout.strip() == "['LedgerListener']"
    assert without_layer.returncode == 0, without_layer.stderr
    assert without_layer.stdout.strip() == "[]"


def test_an_unknown_variant_is_refused_before_anything_is_deployed() -> None:
    app = reference_app.load()
    with pytest.raises(BadInput, match="unknown variant 'evil'"):
        app.deploy({"chaoskit_target": "sandbox", "chaoskit_sandbox_port": 9}, variant="evil")
    done = subprocess.run(
        [sys.executable, str(reference_app.APP / "deploy.py"), "--variant", "evil"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "evil" in done.stderr
