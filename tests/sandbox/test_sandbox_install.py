"""The venv install: exact pins, the stamp, and the plugin synced into the venv."""

import configparser
import shutil
from pathlib import Path

import pytest

from chaoskit.sandbox import install


def test_localstack_core_and_its_fixes_are_pinned():
    assert "localstack-core[runtime]==2026.3.0" in install.REQUIREMENTS
    for pin in ("cbor2<6", "pyopenssl==24.3.0", "cryptography>=44,<45", "joserfc<1.1"):
        assert pin in install.REQUIREMENTS


def test_constraints_pin_every_package_exactly():
    lines = [
        line
        for line in install.CONSTRAINTS.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) > 50
    assert all("==" in line for line in lines), [line for line in lines if "==" not in line]
    names = {line.split("==")[0].lower() for line in lines}
    assert {"localstack-core", "moto-ext", "boto3", "plux"} <= names
    assert "moto" not in names  # moto-ext provides the moto package; two would collide


def test_pin_key_changes_with_the_interpreter_and_the_pins():
    key = install.pin_key("3.13.0")
    assert key == install.pin_key("3.13.0")
    assert key != install.pin_key("3.13.1")
    assert key != install.pin_key("3.13.0", [*install.REQUIREMENTS, "extra==1"])


def test_a_complete_venv_with_the_same_pins_is_reused(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    (venv / install.STAMP).write_text(install.pin_key("3.13.0") + "\n")
    lines: list[str] = []
    # The interpreter does not exist: reuse must not run anything.
    assert install.ensure_venv(tmp_path / "no-python", "3.13.0", venv, lines.append) is False
    assert lines == []


def test_a_failed_install_leaves_no_venv_that_looks_complete(tmp_path):
    venv = tmp_path / "venv"
    with pytest.raises(install.SandboxError, match="could not create a venv"):
        install.ensure_venv(tmp_path / "no-python", "3.13.0", venv)
    assert not (venv / install.STAMP).exists()


def _fake_venv(tmp_path: Path) -> Path:
    venv = tmp_path / "venv"
    site = venv / "lib" / "python3.13" / "site-packages"
    for name in ("boto3", "botocore", "urllib3"):
        (site / name).mkdir(parents=True)
    (site / "six.py").write_text("")
    return venv


def test_plugin_is_installed_with_its_entry_points(tmp_path):
    venv = _fake_venv(tmp_path)
    assert install.sync_plugin(venv) is True
    site = install.site_packages(venv)
    package = site / install.PLUGIN_DIST
    assert (package / "executor.py").exists() and (package / "bootstrap.py").exists()
    (dist_info,) = site.glob(f"{install.PLUGIN_DIST}-*.dist-info")
    entry_points = configparser.ConfigParser(delimiters=("=",))
    entry_points.optionxform = str  # type: ignore[assignment,method-assign]
    entry_points.read(dist_info / "entry_points.txt")
    executors = entry_points["localstack.lambda.runtime_executor"]
    assert executors["chaoskit-process"] == f"{install.PLUGIN_DIST}.executor:ProcessExecutorPlugin"
    providers = entry_points["localstack.aws.provider"]
    assert set(providers) == {"dynamodb:chaoskit", "dynamodbstreams:chaoskit", "route53:chaoskit"}
    for target in [*executors.values(), *providers.values()]:
        module = target.split(":")[0].split(".", 1)[1]
        assert (package / f"{module}.py").exists(), target
    runtime = venv / install.RUNTIME_LIBS
    assert (runtime / "boto3").resolve() == (site / "boto3").resolve()
    assert (runtime / "six.py").exists()


def test_plugin_sync_is_idempotent_and_follows_source_changes(tmp_path, monkeypatch):
    venv = _fake_venv(tmp_path)
    source = tmp_path / "plugin"
    shutil.copytree(install.PLUGIN_SOURCE, source)
    monkeypatch.setattr(install, "PLUGIN_SOURCE", source)
    assert install.sync_plugin(venv) is True
    assert install.sync_plugin(venv) is False
    (source / "executor.py").write_text("# changed\n")
    assert install.sync_plugin(venv) is True
    site = install.site_packages(venv)
    assert (site / install.PLUGIN_DIST / "executor.py").read_text() == "# changed\n"
    assert len(list(site.glob(f"{install.PLUGIN_DIST}-*.dist-info"))) == 1
