"""Fixtures for the undo tests: a private CHAOSKIT_HOME and a file-backed resource."""

from collections.abc import Iterator
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def undo_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Keep journals, settings and run ids of the test in ``tmp_path``."""
    home = tmp_path / "home"
    monkeypatch.setenv("CHAOSKIT_HOME", str(home))
    monkeypatch.setenv("CHAOSKIT_RUN_ID", "unset")
    monkeypatch.delenv("CHAOSKIT_RUN_ID")
    monkeypatch.chdir(tmp_path)
    yield home


@pytest.fixture
def file_state(undo_home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Make ``ck_undo_steps`` importable, its state file in ``tmp_path``."""
    monkeypatch.syspath_prepend(str(FIXTURES))
    state = tmp_path / "state.json"
    monkeypatch.setenv("CK_UNDO_STATE", str(state))
    return state
