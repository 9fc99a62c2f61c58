"""Game day file validation: every mistake is named, with the file and the field."""

from pathlib import Path

import pytest

from chaoskit.errors import BadInput
from chaoskit.gameday.spec import load_gameday, validate_cron


def _write(tmp_path: Path, fixtures: Path, body: str) -> Path:
    path = tmp_path / "gd.yaml"
    path.write_text(body.replace("FIX", str(fixtures)), encoding="utf-8")
    return path


def test_fixture_gameday_loads(fixtures: Path) -> None:
    gameday = load_gameday(fixtures / "gameday.yaml")
    assert gameday.name == "fixture game day"
    assert [e.name for e in gameday.experiments] == [
        "folder exists",
        "records a change",
        "marker stays below two",
    ]
    assert gameday.experiments[2].vars == {"marker": "/tmp/never-there-marker"}
    assert gameday.experiments[0].path == fixtures / "ok.yaml"
    assert gameday.schedule == "30 6 * * 1-5"
    assert gameday.on_deviation == "continue" and gameday.order == "listed"


def test_shuffled_order_is_reproducible_with_a_seed(fixtures: Path, tmp_path: Path) -> None:
    body = (
        "order: shuffled\nseed: 3\n"
        "experiments: [FIX/ok.yaml, FIX/with-changes.yaml, FIX/ledger.yaml]\n"
    )
    gameday = load_gameday(_write(tmp_path, fixtures, body))
    first = [e.name for e in gameday.ordered()]
    assert first == [e.name for e in gameday.ordered()]
    assert sorted(first) == sorted(e.name for e in gameday.experiments)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("experiments: []\n", "field 'experiments': expected a non-empty list"),
        ("experiments: [FIX/ok.yaml]\non_deviation: panic\n", "field 'on_deviation': got 'panic'"),
        ("experiments: [FIX/ok.yaml]\norder: random\n", "field 'order': got 'random'"),
        ("experiments: [FIX/ok.yaml]\ntarget: mars\n", "field 'target': got 'mars'"),
        ("experiments: [FIX/ok.yaml]\nschedule: '61 * * * *'\n", "field 'schedule': invalid cron"),
        ("experiments: [FIX/ok.yaml]\nschedule: '0 9 * *'\n", "expected five fields"),
        ("experiments: [FIX/ok.yaml]\nscedule: '0 9 * * 1'\n", "field 'scedule': unknown field"),
        ("experiments: [FIX/absent.yaml]\n", "field 'experiments\\[0\\].path'.*does not exist"),
        ("experiments: [{path: FIX/ok.yaml, var: {}}]\n", "experiments\\[0\\]': unknown key 'var'"),
        ("experiments: [{path: FIX/ok.yaml, vars: [1]}]\n", "experiments\\[0\\].vars'"),
        ("experiments: [FIX/ok.yaml]\nseed: x\n", "field 'seed': got 'x'"),
        ("experiments: [FIX/ok.yaml\n", "not valid YAML"),
        ("- just a list\n", "must be a mapping"),
    ],
)
def test_bad_files_are_named(fixtures: Path, tmp_path: Path, body: str, message: str) -> None:
    path = _write(tmp_path, fixtures, body)
    with pytest.raises(BadInput, match=message) as err:
        load_gameday(path)
    assert str(path) in str(err.value)
    assert err.value.exit_code == 2


def test_an_invalid_experiment_is_caught_before_anything_runs(
    fixtures: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("title: t\ndescription: d\n", encoding="utf-8")  # no method
    path = _write(tmp_path, fixtures, f"experiments: [FIX/ok.yaml, {broken}]\n")
    with pytest.raises(BadInput, match=r"experiments\[1\]\.path.*broken\.yaml.*requires a method"):
        load_gameday(path)


def test_relative_paths_resolve_against_the_gameday_file(fixtures: Path) -> None:
    gameday = load_gameday(fixtures / "gameday.yaml")
    assert all(e.path.is_file() for e in gameday.experiments)


def test_validate_cron_normalises_spacing() -> None:
    assert validate_cron("0  9 * *   1", "here") == "0 9 * * 1"
    with pytest.raises(BadInput, match=r"^here: invalid cron expression 'nope'"):
        validate_cron("nope", "here")
