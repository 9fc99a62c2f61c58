"""Finding Python 3.13 for LocalStack and local interpreters for Lambda runtimes."""

from pathlib import Path

import pytest

from chaoskit.sandbox.errors import PythonNotFound
from chaoskit.sandbox.python import (
    find_runtime_interpreters,
    find_sandbox_python,
    interpreter_version,
    pyenv_root,
)


def test_interpreter_version_runs_the_interpreter(fake_python, real_python):
    assert interpreter_version(fake_python("bin/py", "3.13")) == (3, 13)
    assert interpreter_version(fake_python("bin/odd", "not-a-version")) is None
    assert interpreter_version("/nonexistent/python") is None
    major, minor = interpreter_version(real_python)
    assert major == 3 and minor >= 11


def test_explicit_env_var_wins(fake_python, tmp_path):
    exe = fake_python("custom/python", "3.13")
    env = {"CHAOSKIT_SANDBOX_PYTHON": str(exe), "PATH": "", "PYENV_ROOT": str(tmp_path / "none")}
    assert find_sandbox_python(env) == exe


def test_explicit_env_var_of_the_wrong_version_is_refused(fake_python, tmp_path):
    exe = fake_python("custom/python", "3.12")
    env = {"CHAOSKIT_SANDBOX_PYTHON": str(exe), "PATH": ""}
    with pytest.raises(PythonNotFound, match=r"CHAOSKIT_SANDBOX_PYTHON=.*it is 3\.12"):
        find_sandbox_python(env)


def test_python313_on_path_is_found(fake_python, tmp_path):
    exe = fake_python("path/python3.13", "3.13")
    env = {"PATH": str(exe.parent), "PYENV_ROOT": str(tmp_path / "none")}
    assert find_sandbox_python(env) == exe


def test_pyenv_newest_313_is_found(fake_python, tmp_path):
    fake_python("pyenv/versions/3.12.1/bin/python", "3.12")
    fake_python("pyenv/versions/3.13.0/bin/python", "3.13")
    newest = fake_python("pyenv/versions/3.13.2/bin/python", "3.13")
    env = {"PATH": "", "PYENV_ROOT": str(tmp_path / "pyenv")}
    assert find_sandbox_python(env) == newest


def test_no_python313_names_what_to_install(fake_python, tmp_path):
    fake_python("pyenv/versions/3.12.1/bin/python", "3.12")
    env = {"PATH": "", "PYENV_ROOT": str(tmp_path / "pyenv")}
    with pytest.raises(PythonNotFound) as caught:
        find_sandbox_python(env)
    message = str(caught.value)
    assert "Python 3.13" in message and "pyenv install 3.13" in message
    assert "CHAOSKIT_SANDBOX_PYTHON" in message
    assert caught.value.exit_code == 2


def test_pyenv_root_from_env(tmp_path):
    assert pyenv_root({"PYENV_ROOT": str(tmp_path)}) == Path(tmp_path)


def test_runtime_interpreters_map_minor_versions(fake_python, tmp_path):
    fake_python("pyenv/versions/3.12.1/bin/python", "3.12")
    newer = fake_python("pyenv/versions/3.12.9/bin/python", "3.12")
    py311 = fake_python("pyenv/versions/3.11.7/bin/python", "3.11")
    py310 = fake_python("path/python3.10", "3.10")
    env = {"PATH": str(py310.parent), "PYENV_ROOT": str(tmp_path / "pyenv")}
    assert find_runtime_interpreters(env) == {
        "3.10": str(py310),
        "3.11": str(py311),
        "3.12": str(newer),
    }
