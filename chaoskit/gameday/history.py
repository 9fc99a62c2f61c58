"""Game day history: every run appended to a local SQLite file.

One row per game day run and one per experiment result, so trends per
experiment (lost events, time to recover) can be read across runs. The
default file is ``$CHAOSKIT_HOME/history.sqlite`` (``./.chaoskit``).
"""

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from chaoskit import envvars
from chaoskit.errors import BadInput
from chaoskit.files import touch_private
from chaoskit.report.model import ExperimentView

__all__ = ["ExperimentTrend", "History", "default_history_path"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    gameday TEXT NOT NULL,
    started REAL NOT NULL,
    finished REAL NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    folder TEXT NOT NULL DEFAULT '',
    passed INTEGER NOT NULL,
    total INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS results (
    run INTEGER NOT NULL REFERENCES runs(id),
    position INTEGER NOT NULL,
    experiment TEXT NOT NULL,
    outcome TEXT NOT NULL,
    run_id TEXT NOT NULL DEFAULT '',
    sent INTEGER,
    processed INTEGER,
    dead_lettered INTEGER,
    lost INTEGER,
    time_to_recover REAL,
    duration REAL,
    unrestored INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run, position)
);
"""


def default_history_path() -> Path:
    """Return ``$CHAOSKIT_HOME/history.sqlite``."""
    return Path(os.environ.get(envvars.HOME) or ".chaoskit") / "history.sqlite"


@dataclass(frozen=True)
class ExperimentTrend:
    """One experiment's result in one game day run."""

    run: int
    started: float
    gameday: str
    experiment: str
    outcome: str
    lost: int | None
    time_to_recover: float | None
    duration: float | None
    sent: int | None


class History:
    """The SQLite store of game day runs."""

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path else default_history_path()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            touch_private(self.path)  # sqlite's journal files take the database's mode
            conn = sqlite3.connect(self.path)
        except (sqlite3.Error, OSError) as err:
            raise BadInput(f"cannot open history database '{self.path}': {err}") from err
        try:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn
        except sqlite3.DatabaseError as err:
            raise BadInput(f"history database '{self.path}' is not usable: {err}") from err
        finally:
            conn.close()

    def record(
        self,
        gameday: str,
        started: float,
        finished: float,
        views: Sequence[ExperimentView],
        target: str = "",
        folder: str = "",
    ) -> int:
        """Append one game day run and its experiment results; return the run's number."""
        with self._connect() as conn:
            cur = conn.execute(
                "INSERT INTO runs (gameday, started, finished, target, folder, passed, total) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (gameday, started, finished, target, folder, sum(v.ok for v in views), len(views)),
            )
            run = int(cur.lastrowid or 0)
            conn.executemany(
                "INSERT INTO results (run, position, experiment, outcome, run_id, sent, processed,"
                " dead_lettered, lost, time_to_recover, duration, unrestored)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        run,
                        i,
                        v.title,
                        v.outcome,
                        v.run_id,
                        v.counts.sent if v.counts else None,
                        v.counts.processed if v.counts else None,
                        v.counts.dead_lettered if v.counts else None,
                        v.counts.lost if v.counts else None,
                        v.time_to_recover,
                        v.duration,
                        len(v.unrestored),
                    )
                    for i, v in enumerate(views)
                ],
            )
        return run

    def trends(
        self, gameday: str | None = None, limit: int = 20
    ) -> dict[str, list[ExperimentTrend]]:
        """Return each experiment's results across the last ``limit`` runs, oldest first."""
        query = (
            "SELECT r.id, r.started, r.gameday, x.experiment, x.outcome, x.lost,"
            " x.time_to_recover, x.duration, x.sent FROM results x JOIN runs r ON r.id = x.run"
            " WHERE r.id IN (SELECT id FROM runs WHERE (? IS NULL OR gameday = ?)"
            " ORDER BY id DESC LIMIT ?) ORDER BY x.experiment, r.id"
        )
        out: dict[str, list[ExperimentTrend]] = {}
        with self._connect() as conn:
            for row in conn.execute(query, (gameday, gameday, limit)):
                trend = ExperimentTrend(*row)
                out.setdefault(trend.experiment, []).append(trend)
        return out

    def run_count(self, gameday: str | None = None) -> int:
        """Return how many game day runs are recorded."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT COUNT(*) FROM runs WHERE (? IS NULL OR gameday = ?)", (gameday, gameday)
            ).fetchone()
        return int(row[0])
