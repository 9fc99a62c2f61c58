"""chaoskit's pytest plugin, run as a real pytest process on experiment files."""

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

HOLDS = """\
title: root holds
description: The root folder is there before and after.
steady-state-hypothesis:
  title: root exists
  probes:
    - type: probe
      name: root-exists
      tolerance: true
      provider: {type: python, module: os.path, func: isdir, arguments: {s: /}}
method:
  - type: action
    name: join-paths
    provider: {type: python, module: os.path, func: join, arguments: {a: x}}
"""

DEVIATES = """\
title: folder appears
description: The method creates the folder the hypothesis says is absent.
configuration:
  folder: "{folder}"
steady-state-hypothesis:
  title: the folder is absent
  probes:
    - type: probe
      name: folder-absent
      tolerance: false
      provider: {{type: python, module: os.path, func: isdir, arguments: {{s: "${{folder}}"}}}}
method:
  - type: action
    name: create-folder
    provider: {{type: python, module: os, func: makedirs, arguments: {{name: "${{folder}}"}}}}
"""

TEST_FILE = """\
import pytest
from chaoskit.pytest_plugin import experiments_in

@pytest.mark.parametrize("path", experiments_in("{folder}"))
def test_experiment(chaoskit_experiment, path):
    chaoskit_experiment(path)

def test_deviation_expected(chaoskit_experiment):
    other = "{folder}/../made-again"
    result = chaoskit_experiment("{folder}/deviates.yaml", {{"folder": other}}, expect="deviated")
    assert result.deviated

def test_configuration(chaoskit_configuration):
    assert chaoskit_configuration == {{"chaoskit_target": "localstack", "extra": 3}}
"""


def _write(tmp_path: Path) -> Path:
    folder = tmp_path / "experiments"
    folder.mkdir()
    (folder / "holds.yaml").write_text(HOLDS)
    (folder / "deviates.yaml").write_text(DEVIATES.format(folder=tmp_path / "made"))
    (folder / "gameday.yaml").write_text("name: not an experiment\nexperiments: []\n")
    return folder


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHAOSKIT_HOME": str(tmp_path / "home")}
    env.pop("CHAOSKIT_RUN_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_fixture_runs_each_experiment_and_fails_with_the_summary(tmp_path: Path) -> None:
    folder = _write(tmp_path)
    (tmp_path / "test_chaos.py").write_text(TEST_FILE.format(folder=folder))

    done = _pytest(
        tmp_path,
        "test_chaos.py",
        "--chaoskit-target",
        "localstack",
        "--chaoskit-var",
        "extra=3",
        "--junitxml",
        "report.xml",
    )

    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    assert "experiment deviated, expected it to hold" in out
    assert "folder appears: DEVIATED" in out  # the run summary is the failure message
    assert "1 failed, 3 passed" in out
    assert "During handling" not in out
    cases = ET.parse(tmp_path / "report.xml").getroot().iter("testcase")
    assert {c.get("name") for c in cases} == {
        "test_experiment[deviates]",
        "test_experiment[holds]",
        "test_deviation_expected",
        "test_configuration",
    }


def test_collect_option_turns_experiment_files_into_items(tmp_path: Path) -> None:
    _write(tmp_path)

    done = _pytest(
        tmp_path, "experiments", "--chaoskit-collect", "--chaoskit-target", "localstack", "-v"
    )

    assert "experiments/holds.yaml::holds PASSED" in done.stdout, done.stdout
    assert "experiments/deviates.yaml::deviates FAILED" in done.stdout
    assert "gameday" not in done.stdout
    assert done.returncode == 1


def test_without_the_collect_option_experiment_files_are_ignored(tmp_path: Path) -> None:
    _write(tmp_path)

    done = _pytest(tmp_path, "experiments")

    assert done.returncode == 5  # no tests collected
