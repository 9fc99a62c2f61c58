"""The local scheduler: due computation with an injected clock, jobs added to APScheduler."""

from datetime import UTC, datetime
from pathlib import Path

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from chaoskit.errors import BadInput
from chaoskit.gameday.serve import add_jobs, is_due, next_fire
from chaoskit.gameday.spec import GameDay, load_gameday


@pytest.fixture
def weekday_630(fixtures: Path) -> GameDay:
    return load_gameday(fixtures / "gameday.yaml")  # "30 6 * * 1-5"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_next_fire_skips_the_weekend(weekday_630: GameDay) -> None:
    assert next_fire(weekday_630, at("2024-05-03T07:00:00")) == at(
        "2024-05-06T06:30:00"
    )  # Fri->Mon
    assert next_fire(weekday_630, at("2024-05-06T06:00:00")) == at("2024-05-06T06:30:00")
    assert next_fire(weekday_630, at("2024-05-06T06:30:00")) == at("2024-05-07T06:30:00")


def test_is_due_after_a_fire_time_passed_since_the_last_run(weekday_630: GameDay) -> None:
    last = at("2024-05-06T06:30:05")
    assert not is_due(weekday_630, last, at("2024-05-06T20:00:00"))
    assert is_due(weekday_630, last, at("2024-05-07T06:30:00"))
    assert not is_due(weekday_630, at("2024-05-03T06:31:00"), at("2024-05-05T12:00:00"))  # weekend


def test_never_run_is_due_only_near_a_fire_time(weekday_630: GameDay) -> None:
    assert is_due(weekday_630, None, at("2024-05-06T06:35:00"))
    assert not is_due(weekday_630, None, at("2024-05-06T09:00:00"))


def test_add_jobs_registers_one_cron_job_per_gameday(weekday_630: GameDay) -> None:
    ran: list[str] = []
    scheduler = BackgroundScheduler(timezone=UTC)
    ids = add_jobs(scheduler, [weekday_630], lambda g: ran.append(g.name))
    job = scheduler.get_job(ids[0])
    assert job is not None and job.max_instances == 1 and job.coalesce
    assert job.trigger.get_next_fire_time(None, at("2024-05-04T00:00:00")) == at(
        "2024-05-06T06:30:00"
    )
    job.func(*job.args)  # what the scheduler calls when the job fires
    assert ran == ["fixture game day"]


def test_serving_needs_a_schedule(fixtures: Path, tmp_path: Path) -> None:
    path = tmp_path / "gd.yaml"
    path.write_text(f"experiments: [{fixtures / 'ok.yaml'}]\n")
    with pytest.raises(BadInput, match="has no 'schedule'"):
        add_jobs(BackgroundScheduler(timezone=UTC), [load_gameday(path)], print)


def test_trigger_fires_at_now_when_now_is_a_fire_time(weekday_630: GameDay) -> None:
    from chaoskit.gameday.serve import trigger_for

    trigger = trigger_for(weekday_630)
    assert trigger.get_next_fire_time(None, at("2024-05-06T06:30:00")) == at("2024-05-06T06:30:00")
    assert trigger.get_next_fire_time(at("2024-05-06T06:30:00"), at("2024-05-06T06:30:01")) == at(
        "2024-05-07T06:30:00"
    )
