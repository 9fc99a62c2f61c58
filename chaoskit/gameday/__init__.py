"""Game days: suites of experiments, run in order, reported, recorded and scheduled.

Public API (modules are imported on demand by the CLI):

- :func:`chaoskit.gameday.spec.load_gameday` -> :class:`~chaoskit.gameday.spec.GameDay`
- :func:`chaoskit.gameday.run.run_gameday` -> :class:`~chaoskit.gameday.run.GameDayResult`
- :class:`chaoskit.gameday.history.History` (SQLite trends)
- :func:`chaoskit.gameday.schedule.emit` (``cron``, ``github-actions``, ``eventbridge``)
- :func:`chaoskit.gameday.serve.serve` (APScheduler)
"""

__all__: list[str] = []
