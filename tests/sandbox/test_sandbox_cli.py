"""``chaoskit sandbox``: messages and exit codes when nothing runs or input is wrong."""

import subprocess
import sys
from pathlib import Path


def _chaoskit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chaoskit.cli.main", "sandbox", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    return {**os.environ, "CHAOSKIT_CACHE_DIR": str(tmp_path / "cache"), **extra}


def test_status_when_not_running_exits_1(tmp_path):
    result = _chaoskit("status", "--port", "45991", env=_env(tmp_path))
    assert result.returncode == 1
    assert "not running on port 45991" in result.stdout
    assert "not installed yet" in result.stdout


def test_status_json_is_machine_readable(tmp_path):
    import json

    result = _chaoskit("status", "--json", "--port", "45992", env=_env(tmp_path))
    doc = json.loads(result.stdout)
    assert doc["running"] is False and doc["port"] == 45992
    assert doc["endpoint"] == "http://127.0.0.1:45992"


def test_down_when_not_running_says_so(tmp_path):
    result = _chaoskit("down", "--port", "45993", env=_env(tmp_path))
    assert result.returncode == 0
    assert "was not running" in result.stdout


def test_logs_without_a_log_is_an_error_naming_the_fix(tmp_path):
    result = _chaoskit("logs", "--port", "45994", env=_env(tmp_path))
    assert result.returncode == 2
    assert "chaoskit sandbox up" in result.stderr


def test_up_without_python_313_is_bad_input_naming_the_variable(tmp_path):
    fake = tmp_path / "python3.12"
    fake.write_text("#!/bin/sh\necho 3.12\n")
    fake.chmod(0o755)
    env = _env(tmp_path, CHAOSKIT_SANDBOX_PYTHON=str(fake))
    result = _chaoskit("up", "--port", "45995", env=env)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1  # one line a person can act on
    assert "CHAOSKIT_SANDBOX_PYTHON" in result.stderr and "3.13" in result.stderr


def test_bad_speed_knob_is_bad_input(tmp_path):
    env = _env(tmp_path, CHAOSKIT_SANDBOX_RETRY_BASE_DELAY="later")
    result = _chaoskit("up", "--port", "45996", env=env)
    assert result.returncode == 2
    assert "CHAOSKIT_SANDBOX_RETRY_BASE_DELAY='later'" in result.stderr
