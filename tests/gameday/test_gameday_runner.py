"""The experiment runner: loading, validation, configuration, rollbacks, journal, summary."""

import json
import re
from pathlib import Path

import pytest

from chaoskit.errors import BadInput
from chaoskit.runner import (
    CONTROL,
    load_experiment_file,
    parse_vars,
    prepare_experiment,
    run_experiment_file,
)


def test_load_names_the_file_for_bad_yaml(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("title: [unclosed\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"broken\.yaml.*not valid YAML"):
        load_experiment_file(bad)


def test_load_names_the_missing_field(tmp_path: Path) -> None:
    bad = tmp_path / "no-description.yaml"
    bad.write_text("title: t\nmethod: []\n", encoding="utf-8")
    with pytest.raises(BadInput, match=r"no-description\.yaml.*requires a description") as err:
        load_experiment_file(bad)
    assert err.value.exit_code == 2


def test_load_rejects_a_list_and_a_missing_file(tmp_path: Path) -> None:
    listed = tmp_path / "list.json"
    listed.write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(BadInput, match="must hold a mapping"):
        load_experiment_file(listed)
    with pytest.raises(BadInput, match="cannot read experiment file"):
        load_experiment_file(tmp_path / "absent.yaml")


def test_load_reads_json(fixtures: Path, tmp_path: Path) -> None:
    import yaml

    data = yaml.safe_load((fixtures / "ok.yaml").read_text())
    path = tmp_path / "ok.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert load_experiment_file(path)["title"] == "folder exists"


def test_parse_vars_types_json_values_and_rejects_bad_pairs() -> None:
    assert parse_vars(["n=3", "name=orders", "flag=true", "url=http://x/?a=b"]) == {
        "n": 3,
        "name": "orders",
        "flag": True,
        "url": "http://x/?a=b",
    }
    with pytest.raises(BadInput, match="invalid --var 'oops'"):
        parse_vars(["oops"])


def test_prepare_merges_target_vars_run_id_and_one_control() -> None:
    experiment = {
        "title": "t",
        "configuration": {"chaoskit_target": "aws", "keep": 1, "n": 1},
        "controls": [CONTROL],
    }
    prepared = prepare_experiment(
        experiment,
        "r-1",
        target="localstack",
        endpoint_url="http://127.0.0.1:9",
        variables={"n": 2},
    )
    assert prepared["configuration"] == {
        "chaoskit_target": "localstack",
        "chaoskit_endpoint_url": "http://127.0.0.1:9",
        "keep": 1,
        "n": 2,
        "chaoskit_run_id": "r-1",
    }
    assert [c["name"] for c in prepared["controls"]] == ["chaoskit"]
    assert experiment["configuration"]["chaoskit_target"] == "aws"  # the input is not mutated


def test_run_ok_writes_journal_with_control_and_extension(fixtures: Path, tmp_path: Path) -> None:
    journal = tmp_path / "out" / "journal.json"
    result = run_experiment_file(fixtures / "ok.yaml", journal_path=journal)
    assert result.exit_code == 0
    assert result.status == "completed" and not result.deviated
    written = json.loads(journal.read_text())
    assert {"name": "chaoskit", "provider": CONTROL["provider"]} in written["experiment"][
        "controls"
    ]
    assert written["experiment"]["configuration"]["chaoskit_run_id"] == result.run_id
    ext = written["chaoskit"]
    assert ext["run_id"] == result.run_id and ext["target"] == "sandbox"
    assert "ledger" not in ext and "timeline" not in ext  # no chaoskit activity: no ledger read
    assert "PASSED" in result.summary() and "no ledger" in result.summary()


def test_run_default_journal_goes_under_chaoskit_home(fixtures: Path, tmp_path: Path) -> None:
    result = run_experiment_file(fixtures / "ok.yaml")
    assert result.journal_path == tmp_path / "home" / "journals" / f"{result.run_id}.json"
    assert result.journal_path.is_file()


def test_run_plays_rollbacks_when_the_hypothesis_deviates(fixtures: Path, tmp_path: Path) -> None:
    marker_file = tmp_path / "number"
    marker_file.write_text("7")
    rollback = tmp_path / "rolled-back"
    result = run_experiment_file(
        fixtures / "deviates.yaml",
        variables={"marker": str(marker_file), "rollback_marker": str(rollback)},
        journal_path=tmp_path / "j.json",
    )
    # The hypothesis failed BEFORE the method: chaoslib says "completed", we say failed.
    assert result.view.before_met is False
    assert result.view.outcome == "failed"
    assert result.exit_code == 1
    assert rollback.read_text() == "ran"  # chaos's default strategy would have skipped it


def test_run_plays_rollbacks_after_a_failed_method(fixtures: Path, tmp_path: Path) -> None:
    rollback = tmp_path / "rolled-back"
    result = run_experiment_file(
        fixtures / "deviates.yaml",
        variables={"marker": str(tmp_path / "absent"), "rollback_marker": str(rollback)},
        journal_path=tmp_path / "j.json",
    )
    assert result.status == "completed"
    assert [a.status for a in result.view.method] == ["failed"]
    assert "injected" in result.view.method[0].error
    assert rollback.read_text() == "ran"
    assert [r.status for r in result.view.rollbacks] == ["succeeded"]


def test_unrestored_change_exits_3(fixtures: Path, tmp_path: Path) -> None:
    ok = run_experiment_file(fixtures / "with-changes.yaml", journal_path=tmp_path / "a.json")
    assert ok.exit_code == 0 and "resources restored: 1" in ok.summary()
    bad = run_experiment_file(
        fixtures / "with-changes.yaml",
        variables={"fixture_restore": False},
        journal_path=tmp_path / "b.json",
    )
    assert bad.exit_code == 3
    assert "NOT RESTORED" in bad.summary()


def test_run_rejects_an_unknown_target_before_running(fixtures: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="unknown target 'mars'"):
        run_experiment_file(
            fixtures / "ok.yaml", variables={"chaoskit_target": "mars"}, journal_path=tmp_path / "j"
        )
    assert not (tmp_path / "j").exists()


def test_run_reads_the_ledger_of_its_run(
    fixtures: Path, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    result = run_experiment_file(
        fixtures / "ledger.yaml",
        target="localstack",
        endpoint_url=aws_env["chaoskit_endpoint_url"],
        journal_path=tmp_path / "j.json",
    )
    assert result.exit_code == 0, result.summary()
    ext = result.journal["chaoskit"]
    last = ext["timeline"][-1]
    assert (last["sent"], last["processed"], last["dead_lettered"], last["lost"]) == (20, 17, 2, 1)
    assert ext["breaker"][0]["to"] == "open"
    assert "20 sent, 17 processed, 2 dead-lettered, 1 lost" in result.summary()


def test_run_reports_without_a_reachable_ledger(fixtures: Path, tmp_path: Path) -> None:
    def unreachable(run_id: str, configuration: object) -> list[object]:
        from chaoskit.errors import AWSActionFailed

        raise AWSActionFailed("dynamodb:Query", "chaoskit-ledger", "ResourceNotFound", "no table")

    result = run_experiment_file(
        fixtures / "ok.yaml",
        variables={"chaoskit_ledger": True},
        journal_path=tmp_path / "j.json",
        read_records=unreachable,
    )
    assert result.exit_code == 0
    assert "no table" in result.journal["chaoskit"]["ledger_error"]
    assert "no ledger" in result.summary()


def test_a_settle_wait_that_timed_out_is_in_the_summary(
    fixtures: Path, tmp_path: Path, aws_env: dict[str, str]
) -> None:
    # Events counted lost while a queue still holds messages may yet be processed: the
    # summary says where they may be, beside the count.
    from chaoskit import aws

    aws.client("sqs", aws_env).send_message(
        QueueUrl=aws.client("sqs", aws_env).create_queue(QueueName="held")["QueueUrl"],
        MessageBody="{}",
    )
    experiment = tmp_path / "unsettled.yaml"
    experiment.write_text(
        (fixtures / "ledger.yaml").read_text()
        + """
  - type: probe
    name: wait-until-settled
    provider:
      type: python
      module: probes.ledger
      func: wait_until_settled
      arguments: {timeout: 1, queues: [held], poll_interval: 0.5}
""",
        encoding="utf-8",
    )
    result = run_experiment_file(
        experiment,
        target="localstack",
        endpoint_url=aws_env["chaoskit_endpoint_url"],
        journal_path=tmp_path / "j.json",
    )
    assert "20 sent, 17 processed, 2 dead-lettered, 1 lost" in result.summary()
    assert re.search(
        r"\n  not settled: the run did not settle in \d+ s: queue held still holds 1 "
        r"message\(s\); events counted lost may still be processed or dead-lettered later",
        result.summary(),
    ), result.summary()
