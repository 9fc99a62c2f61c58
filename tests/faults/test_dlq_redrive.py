"""``redrive_dlq_messages``: an action, guarded, journaled, on the moto server.

It was ``probes.dlq.redrive_messages``: a probe that changed two queues with
no allowlist, no dry run and no record of what it moved.
"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import Stubber

from chaoskit import aws, envvars
from chaoskit.errors import AWSActionFailed, BadInput, SafetyAbort
from chaoskit.faults import dlq
from chaoskit.undo import changes, rollback_run
from tests.support.sqs import load_event

Sender = Callable[[str, str], None]


@pytest.fixture
def cfg(aws_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setenv(envvars.HOME, str(tmp_path / "home"))
    return {**aws_env, "chaoskit_run_id": "run-redrive"}


def _depth(url: str, cfg: dict[str, Any]) -> int:
    attrs = aws.client("sqs", cfg).get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"])


def _received(url: str, cfg: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = (
        aws.client("sqs", cfg)
        .receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"])
        .get("Messages", [])
    )
    return out


@pytest.fixture
def queues(cfg: dict[str, Any], make_queue: Callable[..., str]) -> tuple[str, str]:
    dlq_url = make_queue("orders-dlq")
    arn = aws.client("sqs", cfg).get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    policy = json.dumps({"deadLetterTargetArn": arn, "maxReceiveCount": "3"})
    return dlq_url, make_queue("orders-queue", RedrivePolicy=policy)


def test_moves_messages_back_and_journals_what_moved_from_where_to_where(
    cfg: dict[str, Any], queues: tuple[str, str], send_sample: Sender
) -> None:
    dlq_url, source_url = queues
    send_sample(dlq_url, "dlq_sqs_redrive")
    send_sample(dlq_url, "dlq_sqs_redrive_attributes")
    out = dlq.redrive_dlq_messages("orders-dlq", configuration=cfg)
    # moto has no StartMessageMoveTask: the by-hand path ran after trying it.
    assert (out["method"], out["moved"], out["remaining"], out["dry_run"]) == (
        "by_hand",
        2,
        0,
        False,
    )
    # Probes read the moved events back: reading is theirs, moving is the action's.
    from probes.dlq import get_event_ids

    moved = get_event_ids(source_url, run_id="run-dlq", configuration=cfg)
    assert moved == ["ev-sqs-1", "ev-sqs-2"]
    [change] = changes("run-redrive")
    assert change["action"] == "redrive_dlq_messages" and change["status"] == "applied"
    snap = change["snapshot"]
    assert (snap["dlq_url"], snap["source_url"]) == (dlq_url, source_url)
    assert sorted(m["message_id"] for m in snap["messages"]) == sorted(out["message_ids"])
    sent = sorted(load_event(n)["Body"] for n in ("dlq_sqs_redrive", "dlq_sqs_redrive_attributes"))
    assert sorted(m["body"] for m in snap["messages"]) == sent


def test_rollback_moves_nothing_back(
    cfg: dict[str, Any], queues: tuple[str, str], send_sample: Sender
) -> None:
    dlq_url, source_url = queues
    send_sample(dlq_url, "dlq_sqs_redrive")
    dlq.redrive_dlq_messages("orders-dlq", configuration=cfg)
    rows = rollback_run("run-redrive", cfg)
    assert [r["status"] for r in rows] == ["restored"]
    assert (_depth(dlq_url, cfg), _depth(source_url, cfg)) == (0, 1)


def test_unwraps_destination_records_and_drops_aws_attributes(
    cfg: dict[str, Any], make_queue: Callable[..., str], send_sample: Sender
) -> None:
    dlq_url = make_queue("notifier-failures")
    source_url = make_queue("notifier-retry")
    send_sample(dlq_url, "dlq_lambda_destination")
    send_sample(dlq_url, "dlq_lambda_dlq")
    out = dlq.redrive_dlq_messages(dlq_url, source="notifier-retry", configuration=cfg)
    assert out["method"] == "by_hand" and out["moved"] == 2
    messages = _received(source_url, cfg)
    bodies = sorted(json.loads(m["Body"])["chaoskit"]["event_id"] for m in messages)
    assert bodies == ["ev-dest-1", "ev-ldlq-1"]
    assert all("requestContext" not in json.loads(m["Body"]) for m in messages)
    assert all("ErrorMessage" not in (m.get("MessageAttributes") or {}) for m in messages)


def test_only_the_journaled_messages_move(
    cfg: dict[str, Any], queues: tuple[str, str], send_sample: Sender
) -> None:
    dlq_url, source_url = queues
    send_sample(dlq_url, "dlq_sqs_redrive")
    send_sample(dlq_url, "dlq_sqs_redrive_attributes")
    out = dlq.redrive_dlq_messages("orders-dlq", max_messages=1, configuration=cfg)
    [change] = changes("run-redrive")
    assert out["moved"] == 1 and len(change["snapshot"]["messages"]) == 1
    assert (_depth(dlq_url, cfg), _depth(source_url, cfg)) == (1, 1)
    moved = _received(source_url, cfg)[0]["Body"]
    assert change["snapshot"]["messages"][0]["body"] == moved


def test_a_queue_outside_the_allowlist_is_refused_before_anything_moves(
    cfg: dict[str, Any], queues: tuple[str, str], send_sample: Sender
) -> None:
    dlq_url, source_url = queues
    send_sample(dlq_url, "dlq_sqs_redrive")
    with pytest.raises(SafetyAbort, match="'orders-queue' is outside the allowlist"):
        dlq.redrive_dlq_messages(
            "orders-dlq", configuration={**cfg, "chaoskit_allow": {"names": ["orders-dlq"]}}
        )
    assert (_depth(dlq_url, cfg), _depth(source_url, cfg)) == (1, 0)
    assert changes("run-redrive") == []


def test_a_dry_run_moves_nothing(
    cfg: dict[str, Any], queues: tuple[str, str], send_sample: Sender
) -> None:
    dlq_url, source_url = queues
    send_sample(dlq_url, "dlq_sqs_redrive")
    out = dlq.redrive_dlq_messages("orders-dlq", configuration={**cfg, "chaoskit_dry_run": True})
    assert out["dry_run"] is True and out["moved"] == 0 and len(out["message_ids"]) == 1
    assert (_depth(dlq_url, cfg), _depth(source_url, cfg)) == (1, 0)


def test_without_a_single_source_it_is_refused(
    cfg: dict[str, Any], make_queue: Callable[..., str]
) -> None:
    make_queue("lonely-dlq")
    with pytest.raises(BadInput, match="dead-letter queue of 0 queues"):
        dlq.redrive_dlq_messages("lonely-dlq", configuration=cfg)


def test_a_failed_or_slow_move_task_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    # Rare paths of StartMessageMoveTask (moto has none; the sandbox run completes):
    # botocore's Stubber plays ListMessageMoveTasks answers.
    cfg = {"chaoskit_target": "localstack", "chaoskit_endpoint_url": "http://127.0.0.1:9"}
    sqs = aws.client("sqs", cfg)
    arn = "arn:aws:sqs:us-east-1:000000000000:orders-dlq"
    clock = {"now": 0.0}
    monkeypatch.setattr(dlq, "_clock", lambda: clock["now"])
    monkeypatch.setattr(dlq, "_sleep", lambda s: clock.update(now=clock["now"] + s))
    running = {"Results": [{"TaskHandle": "h", "Status": "RUNNING", "SourceArn": arn}]}
    failed = {
        "Results": [
            {
                "TaskHandle": "h",
                "Status": "FAILED",
                "SourceArn": arn,
                "FailureReason": "AccessDenied",
            }
        ]
    }
    with Stubber(sqs) as stub:
        stub.add_response("list_message_move_tasks", running)
        stub.add_response("list_message_move_tasks", failed)
        with pytest.raises(AWSActionFailed, match="MoveTaskFailed: AccessDenied"):
            dlq._wait_for_move(arn, "h", 30, cfg)
        for _ in range(3):
            stub.add_response("list_message_move_tasks", running)
        assert dlq._wait_for_move(arn, "h", 2, cfg) is None
    aws.clear_cache()
