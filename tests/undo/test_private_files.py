"""Journals, the undo store and the game day history are 0600 in 0700 folders.

Real files under a umask of 022 (the usual default, which leaves files 0644 and
folders 0755 unless chaoskit asks for less).
"""

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from chaoskit.gameday.history import History
from chaoskit.runner import run_experiment_file
from chaoskit.undo import store


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    previous = os.umask(0o022)
    home = tmp_path / "work" / ".chaoskit"
    monkeypatch.setenv("CHAOSKIT_HOME", str(home))
    try:
        yield home
    finally:
        os.umask(previous)


def test_undo_store_journal_and_lock(home: Path) -> None:
    store.append("run-1", {"event": "pending", "id": "c1"})
    journal = store.journal_path("run-1")
    assert journal.is_file()
    assert mode(journal) == 0o600
    assert mode(journal.parent) == 0o700
    assert mode(home) == 0o700
    with store.exclusive():
        pass
    assert mode(journal.parent / ".lock") == 0o600


def test_existing_home_and_files_are_tightened(home: Path) -> None:
    home.mkdir(parents=True, mode=0o755)
    os.chmod(home, 0o755)
    journal = store.journal_path("run-2")
    journal.parent.mkdir(mode=0o755)
    os.chmod(journal.parent, 0o755)
    journal.write_text("")
    os.chmod(journal, 0o644)
    store.append("run-2", {"event": "pending", "id": "c1"})
    assert (mode(home), mode(journal.parent), mode(journal)) == (0o700, 0o700, 0o600)


EXPERIMENT = """\
title: private journal
description: a run with no AWS activity
method:
  - type: probe
    name: cwd
    provider: {type: python, module: os, func: getcwd}
"""


def test_run_journal_default_and_explicit_paths(home: Path, tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT, encoding="utf-8")
    result = run_experiment_file(path)
    assert result.journal_path is not None
    assert result.journal_path.parent == home / "journals"
    assert mode(result.journal_path) == 0o600
    assert mode(result.journal_path.parent) == 0o700
    assert mode(home) == 0o700

    explicit = tmp_path / "out" / "nested" / "j.json"
    result = run_experiment_file(path, journal_path=explicit)
    assert mode(explicit) == 0o600
    assert mode(explicit.parent) == 0o700 and mode(explicit.parent.parent) == 0o700
    # A folder the user already had is theirs: left as it was.
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    run_experiment_file(path, journal_path=shared / "j.json")
    assert mode(shared) == 0o755 and mode(shared / "j.json") == 0o600


def test_history_database(home: Path) -> None:
    history = History(home / "history.sqlite")
    history.record("day", 1.0, 2.0, [])
    assert mode(home / "history.sqlite") == 0o600
    assert mode(home) == 0o700
    elsewhere = home.parent / "db" / "h.sqlite"
    History(elsewhere).record("day", 1.0, 2.0, [])
    assert mode(elsewhere) == 0o600 and mode(elsewhere.parent) == 0o700
