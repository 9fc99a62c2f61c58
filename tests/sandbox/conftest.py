"""Helpers for the sandbox unit tests: fake interpreters and a private cache dir."""

import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private CHAOSKIT_CACHE_DIR."""
    path = tmp_path / "cache"
    monkeypatch.setenv("CHAOSKIT_CACHE_DIR", str(path))
    return path


@pytest.fixture
def fake_python(tmp_path: Path) -> Callable[[str, str], Path]:
    """Make an executable that answers the version probe like Python ``version`` would."""

    def make(relative: str, version: str) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"#!/bin/sh\necho {version}\n")
        path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return path

    return make


@pytest.fixture
def real_python() -> str:
    """The interpreter running the tests (for real child processes)."""
    return sys.executable


os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")
