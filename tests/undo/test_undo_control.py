"""The control: restores run whatever the run's outcome and rollback strategy."""

import json
from pathlib import Path
from typing import Any

import pytest
from chaoslib.experiment import run_experiment

from chaoskit import aws
from chaoskit.undo import alarms, control, pending_runs


def step(name: str, func: str, kind: str = "action", **arguments: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "name": name,
        "provider": {
            "type": "python",
            "module": "ck_undo_steps",
            "func": func,
            "arguments": arguments,
        },
    }


def experiment(method: list[dict[str, Any]], **configuration: Any) -> dict[str, Any]:
    return {
        "title": "t",
        "description": "d",
        "configuration": {
            "chaoskit_run_id": "run-c",
            "chaoskit_remote_lock": False,
            **configuration,
        },
        "controls": [
            {"name": "chaoskit", "provider": {"type": "python", "module": "chaoskit.undo.control"}}
        ],
        "steady-state-hypothesis": {
            "title": "k is 7",
            "probes": [{**step("k", "value_of", "probe", key="k"), "tolerance": 7}],
        },
        "method": method,
    }


def run(exp: dict[str, Any], strategy: str = "never") -> dict[str, Any]:
    journal: dict[str, Any] = run_experiment(
        exp, settings={"runtime": {"rollbacks": {"strategy": strategy}}}
    )
    return journal


def state(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


@pytest.fixture
def seven(file_state: Path) -> Path:
    import ck_undo_steps

    ck_undo_steps.set_value("k", 7)
    return file_state


@pytest.mark.parametrize("strategy", ["never", "default", "deviated", "always"])
def test_a_deviated_run_is_restored_whatever_the_strategy(seven: Path, strategy: str) -> None:
    journal = run(experiment([step("harm", "change", key="k", value=0)]), strategy)
    assert journal["deviated"] is True
    assert state(seven) == {"k": 7}
    [row] = journal["chaoskit"]["changes"]
    assert row["action"] == "set_value" and row["resource"] == "k"
    assert row["status"] == "restored"
    assert row["applied_at"] <= row["restored_at"]
    assert journal["chaoskit"]["run_id"] == "run-c"
    assert pending_runs() == []


def test_a_failed_method_is_restored(seven: Path) -> None:
    exp = experiment([step("harm", "change", key="k", value=0), step("boom", "fail")])
    exp["method"][1]["provider"]["arguments"] = {}
    journal = run(exp)
    assert journal["run"][1]["status"] == "failed"
    assert state(seven) == {"k": 7}
    assert pending_runs() == []


def test_ctrl_c_during_the_method_is_restored(seven: Path) -> None:
    exp = experiment([step("harm", "change", key="k", value=0), step("ctrl-c", "press_ctrl_c")])
    journal = run(exp)
    assert journal["status"] == "interrupted"
    assert state(seven) == {"k": 7}
    assert [c["status"] for c in journal["chaoskit"]["changes"]] == ["restored"]


def test_the_rollbacks_action_and_the_final_sweep_do_not_restore_twice(seven: Path) -> None:
    exp = experiment([step("harm", "change", key="k", value=0)])
    exp["rollbacks"] = [
        {
            "type": "action",
            "name": "undo",
            "provider": {
                "type": "python",
                "module": "chaoskit.undo.actions",
                "func": "rollback_current_run",
            },
        }
    ]
    journal = run(exp, "always")
    assert [r["name"] if "name" in r else r["activity"]["name"] for r in journal["rollbacks"]] == [
        "undo"
    ]
    assert len(journal["rollbacks"][0]["output"]) == 1
    assert journal["chaoskit"]["rollback"] == []  # the sweep found nothing left
    assert state(seven) == {"k": 7}


@pytest.fixture
def alarm(aws_env: dict[str, str], seven: Path) -> dict[str, Any]:
    aws.client("cloudwatch", aws_env).put_metric_alarm(
        AlarmName="orders-errors",
        MetricName="Errors",
        Namespace="AWS/Lambda",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    return {**aws_env, "chaoskit_stop_alarms": ["orders-errors"]}


def test_a_stop_alarm_in_alarm_at_the_start_stops_the_run_before_harm(
    alarm: dict[str, Any], seven: Path
) -> None:
    aws.client("cloudwatch", alarm).set_alarm_state(
        AlarmName="orders-errors", StateValue="ALARM", StateReason="test"
    )
    journal = run(experiment([step("harm", "change", key="k", value=0)], **alarm))
    assert journal["status"] == "interrupted"
    assert journal["run"] == []
    assert state(seven) == {"k": 7}


def test_a_missing_stop_alarm_refuses_the_run(aws_env: dict[str, str], seven: Path) -> None:
    cfg = {**aws_env, "chaoskit_stop_alarms": "no-such-alarm"}
    journal = run(experiment([step("harm", "change", key="k", value=0)], **cfg))
    assert journal["status"] == "interrupted"
    assert journal["run"] == []


def test_a_stop_alarm_going_off_aborts_the_run_and_restores(
    alarm: dict[str, Any], seven: Path
) -> None:
    exp = experiment(
        [
            step("harm", "change", key="k", value=0),
            step("alarm", "set_alarm", alarm_name="orders-errors"),
            step("busy", "wait_for_interrupt", seconds=20),
            step("more harm", "change", key="other", value=1),
        ],
        chaoskit_stop_alarm_interval=0.02,
        **alarm,
    )
    journal = run(exp, "never")
    assert journal["status"] == "interrupted"
    assert journal["chaoskit"]["stop_alarm"] == "orders-errors"
    assert [r["activity"]["name"] for r in journal["run"]][:2] == ["harm", "alarm"]
    assert "more harm" not in [r["activity"]["name"] for r in journal["run"]]
    assert state(seven) == {"k": 7}


def test_the_watcher_reports_the_first_alarm_once() -> None:
    polls = [{"a": "OK", "b": "OK"}, {"a": "OK", "b": "ALARM"}]
    fired: list[str] = []
    watcher = alarms.AlarmWatcher(
        ["a", "b"], fired.append, interval=0.001, states=lambda names: polls.pop(0)
    )
    assert watcher.check() is None
    assert watcher.check() == "b"
    assert alarms.alarm_names("a, b") == ["a", "b"]
    assert fired == []


def test_the_watcher_thread_keeps_polling_after_a_failed_poll() -> None:
    import threading

    calls: list[int] = []
    done = threading.Event()

    def states(names: Any) -> dict[str, str]:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("cloudwatch unreachable")
        return {"a": "ALARM"}

    def fired(name: str) -> None:
        done.set()

    watcher = alarms.AlarmWatcher(["a"], fired, interval=0.001, states=states)
    watcher.start()
    assert done.wait(5)
    watcher.stop()
    assert watcher.tripped == "a" and len(calls) == 2


def test_cleanup_sweeps_when_after_experiment_never_ran(seven: Path) -> None:
    import ck_undo_steps

    cfg: dict[str, Any] = {"chaoskit_run_id": "run-d"}
    control.configure_control(configuration=cfg)
    ck_undo_steps.change("k", 0, cfg)
    control.cleanup_control()
    assert state(seven) == {"k": 7}


def test_a_guardrail_refusal_stops_the_run_and_restores_what_came_before(seven: Path) -> None:
    exp = experiment(
        [
            step("harm", "change", key="k", value=0),
            step("refused", "change", key="payments", value=1),
            step("more harm", "change", key="other", value=1),
        ],
        chaoskit_allow={"names": ["k", "other"]},
    )
    exp["method"][1]["provider"]["func"] = "guarded_change"
    journal = run(exp, "never")
    assert journal["status"] == "interrupted"
    assert "'payments' is outside the allowlist" in journal["chaoskit"]["safety_abort"]
    assert [r["activity"]["name"] for r in journal["run"]] == ["harm", "refused"]
    assert state(seven) == {"k": 7}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"chaoskit_stop_alarms": {"not": "a list"}}, "invalid chaoskit_stop_alarms"),
        ({"chaoskit_stop_alarms": ["a"], "chaoskit_stop_alarm_interval": "often"}, "often"),
    ],
)
def test_bad_guardrail_settings_refuse_the_run_and_keep_the_control(
    seven: Path, settings: dict[str, Any], message: str, caplog: pytest.LogCaptureFixture
) -> None:
    journal = run(experiment([step("harm", "change", key="k", value=0)], **settings))
    assert journal["status"] == "interrupted"
    assert journal["run"] == []
    assert journal["chaoskit"]["run_id"] == "run-c"  # the control stayed registered
    assert message in caplog.text


def test_unreadable_stop_alarms_refuse_the_run(seven: Path) -> None:
    cfg = {
        "chaoskit_stop_alarms": ["orders-errors"],
        "chaoskit_target": "localstack",
        "chaoskit_endpoint_url": "http://127.0.0.1:9",  # nothing listens there
        "chaoskit_max_attempts": 1,
        "chaoskit_connect_timeout": 0.2,
    }
    journal = run(experiment([step("harm", "change", key="k", value=0)], **cfg))
    assert journal["status"] == "interrupted"
    assert journal["run"] == []
    assert state(seven) == {"k": 7}


def test_ctrl_c_during_the_final_sweep_does_not_cut_it_short(seven: Path) -> None:
    import signal

    from chaoskit.undo import mutation

    before = signal.getsignal(signal.SIGINT)  # SIG_IGN when pytest runs in the background
    cfg: dict[str, Any] = {"chaoskit_run_id": "run-e", "chaoskit_remote_lock": False}
    control.configure_control(configuration=cfg)
    for key in ("k", "j"):
        with mutation(
            "set_value", key, "ck_undo_steps:restore_value_after_ctrl_c", {"key": key}, cfg
        ):
            pass
    import ck_undo_steps

    ck_undo_steps.set_value("k", 0)
    ck_undo_steps.set_value("j", 1)
    journal: dict[str, Any] = {}
    control.after_experiment_control(context={}, state=journal, configuration=cfg)
    control.cleanup_control()
    assert state(seven) == {}  # both restores ran to the end, no KeyboardInterrupt
    assert [c["status"] for c in journal["chaoskit"]["changes"]] == ["restored", "restored"]
    assert signal.getsignal(signal.SIGINT) is before  # the sweep put it back


def test_a_run_that_never_reached_its_cleanup_is_restored_by_the_next(seven: Path) -> None:
    import ck_undo_steps

    first: dict[str, Any] = {"chaoskit_run_id": "run-f"}
    control.configure_control(configuration=first)
    ck_undo_steps.change("k", 0, first)
    control.configure_control(configuration={"chaoskit_run_id": "run-g"})
    assert state(seven) == {"k": 7}
    control.cleanup_control()
