"""Fixtures for the game day tests: the fixture experiments and a private CHAOSKIT_HOME."""

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def fixtures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Make the fixture activities importable; keep journals and run ids out of the repo."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("CHAOSKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHAOSKIT_RUN_ID", "unset")
    monkeypatch.delenv("CHAOSKIT_RUN_ID")
    return FIXTURES
