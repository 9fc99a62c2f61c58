"""History: runs appended to SQLite; trends per experiment across runs."""

import sqlite3
from pathlib import Path

import pytest

from chaoskit.errors import BadInput
from chaoskit.gameday.history import History
from chaoskit.report.model import view_journal


def _journal(title: str, lost: int, recovered_at: float) -> dict[str, object]:
    return {
        "experiment": {"title": title},
        "status": "completed",
        "deviated": lost > 0,
        "duration": 12.5,
        "chaoskit": {
            "run_id": f"r-{title}-{lost}",
            "ledger": {"sent": 10, "processed": 10 - lost, "dead_lettered": 0, "lost": lost},
            "fault_windows": [{"start": 100.0, "end": 110.0, "label": "kill switch"}],
            "timeline": [
                {"t": 100.0, "sent": 10, "processed": 0, "dead_lettered": 0, "lost": 10},
                {"t": recovered_at, "sent": 10, "processed": 10, "dead_lettered": 0, "lost": 0},
            ],
        },
    }


def test_trends_show_lost_events_and_time_to_recover_per_run(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    first = history.record("day", 1.0, 2.0, [view_journal(_journal("kill", 0, 113.0))])
    second = history.record("day", 3.0, 4.0, [view_journal(_journal("kill", 2, 125.0))])
    assert (first, second) == (1, 2)
    trends = history.trends("day")
    assert list(trends) == ["kill"]
    kill = trends["kill"]
    assert [t.run for t in kill] == [1, 2]
    assert [t.lost for t in kill] == [0, 2]
    assert [t.time_to_recover for t in kill] == [3.0, 15.0]
    assert [t.outcome for t in kill] == ["passed", "deviated"]


def test_trends_filter_by_gameday_and_limit(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    for i in range(4):
        history.record("a", float(i), float(i), [view_journal(_journal("x", i, 111.0))])
    history.record("b", 9.0, 9.0, [view_journal(_journal("y", 0, 111.0))])
    assert history.run_count() == 5 and history.run_count("a") == 4
    assert [t.lost for t in history.trends("a", limit=2)["x"]] == [2, 3]
    assert list(history.trends("b")) == ["y"]


def test_an_unusable_database_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "not-a-db.sqlite"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(BadInput, match=r"not-a-db\.sqlite"):
        History(bad).run_count()


def test_schema_is_plain_sqlite(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite")
    history.record("day", 1.0, 2.0, [view_journal(_journal("kill", 1, 120.0))])
    with sqlite3.connect(tmp_path / "h.sqlite") as conn:
        assert conn.execute("SELECT gameday, passed, total FROM runs").fetchall() == [("day", 0, 1)]
        assert conn.execute("SELECT experiment, lost FROM results").fetchall() == [("kill", 1)]
