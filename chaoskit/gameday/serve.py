"""Run due game days from a local scheduler, for teams without a CI cron.

``chaoskit gameday serve FILE...`` keeps an APScheduler scheduler with one
cron job per game day (UTC). A run that is still going when its next fire
time comes is not started twice, and fire times missed while the machine
slept are coalesced into one run.
"""

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.base import BaseTrigger
from croniter import croniter

from chaoskit.errors import BadInput
from chaoskit.gameday.spec import GameDay

__all__ = ["CronExpressionTrigger", "add_jobs", "is_due", "next_fire", "serve", "trigger_for"]

#: Seconds after a fire time during which a late run still starts.
MISFIRE_GRACE = 600


class CronExpressionTrigger(BaseTrigger):
    """An APScheduler trigger with standard cron semantics, computed by croniter.

    APScheduler 3's own ``CronTrigger.from_crontab`` numbers days of the week
    from Monday (``1-5`` would mean Tuesday to Saturday) and ANDs the two day
    fields; croniter follows cron: ``0``/``7`` is Sunday, and the day fields OR.
    """

    def __init__(self, expression: str) -> None:
        self.expression = expression

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        # Strictly after the previous fire time; at or after ``now`` on the first call.
        start = previous_fire_time or now - timedelta(microseconds=1)
        fire: datetime = croniter(self.expression, start.astimezone(UTC)).get_next(datetime)
        return fire

    def __str__(self) -> str:
        return f"cron[{self.expression}] UTC"


def trigger_for(gameday: GameDay) -> CronExpressionTrigger:
    """Return the APScheduler trigger of a game day's cron (UTC).

    Raises:
        BadInput: the game day has no schedule.
    """
    if not gameday.schedule:
        raise BadInput(f"game day file '{gameday.source}' has no 'schedule': nothing to serve")
    return CronExpressionTrigger(gameday.schedule)


def next_fire(gameday: GameDay, now: datetime) -> datetime:
    """Return the first fire time of ``gameday`` after ``now``."""
    fire = trigger_for(gameday).get_next_fire_time(now, now)
    assert fire is not None  # a valid five-field cron always fires again
    return fire


def is_due(gameday: GameDay, last_run: datetime | None, now: datetime) -> bool:
    """Tell whether ``gameday`` should run at ``now``, given when it last ran.

    A game day that never ran is due only at a fire time within the misfire
    grace; one that ran before is due when a fire time passed since then.
    """
    since = last_run if last_run is not None else now - timedelta(seconds=MISFIRE_GRACE)
    return next_fire(gameday, since) <= now


def add_jobs(
    scheduler: BaseScheduler, gamedays: Sequence[GameDay], run: Callable[[GameDay], object]
) -> list[str]:
    """Add one cron job per game day to ``scheduler``; return the job ids."""
    ids = []
    for gameday in gamedays:
        job = scheduler.add_job(
            run,
            trigger=trigger_for(gameday),
            args=[gameday],
            id=str(gameday.source),
            name=gameday.name,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=MISFIRE_GRACE,
            replace_existing=True,
        )
        ids.append(job.id)
    return ids


def serve(
    gamedays: Sequence[GameDay],
    run: Callable[[GameDay], object],
    announce: Callable[[str], None] = print,
) -> None:
    """Block, running each game day when its cron fires, until interrupted."""
    scheduler = BlockingScheduler(timezone=UTC)
    add_jobs(scheduler, gamedays, run)
    now = datetime.now(UTC)
    for gameday in gamedays:
        announce(f"{gameday.name}: next run {next_fire(gameday, now).isoformat()}")
    try:
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        scheduler.shutdown(wait=False)
