"""An app's own state, read without chaoskit's ledger: the ground truth of end-to-end tests.

What a handler logged for each event it processed, what sits in a queue (a DLQ), and
which events a chaoskit run sent (from its journal).
"""

import ast
import json
from collections.abc import Callable
from typing import Any

from chaoskit.ledger.records import SENT
from chaoskit.ledger.store import read_run
from chaoskit.ledger.trace import find_traces

__all__ = ["ids_in", "kinesis_failed_ids", "logged_ids", "queue_bodies", "sent_ids"]


def sent_ids(journal: dict[str, Any], configuration: dict[str, Any]) -> set[str]:
    """The ids of the events a run sent, as many as its ``send_events`` steps say they sent.

    A step's output lists at most a sample of its ids; the rest are read from the run's
    ``sent`` records (what the load action wrote as AWS accepted each event).
    """
    ids: set[str] = set()
    count = 0
    sampled = False
    for run in journal.get("run") or []:
        out = run.get("output")
        if run["activity"]["provider"].get("func") == "send_events" and isinstance(out, dict):
            count += int(out["sent"])
            sampled = sampled or int(out["sent"]) > len(out["event_ids"])
            ids.update(out["event_ids"])
    if sampled:
        run_id = str(journal["chaoskit"]["run_id"])
        ids = {r.event_id for r in read_run(run_id, configuration) if r.kind == SENT}
    assert len(ids) == count, f"{count} events sent, {len(ids)} ids found"
    return ids


def logged_ids(
    aws: Callable[[str], Any], function: str, marker: str, run_id: str, before: float | None = None
) -> set[str]:
    """Event ids in the function's log lines that contain ``marker`` (what it processed).

    A line logs a JSON object or a Python dict's repr, or a list of them (a handler that
    prints its batch's records). ``before`` (epoch seconds) keeps only lines written earlier.
    """
    logs = aws("logs")
    group = f"/aws/lambda/{function}"
    ids: set[str] = set()
    kwargs: dict[str, Any] = {"logGroupName": group}
    if before is not None:
        kwargs["endTime"] = int(before * 1000)
    try:
        while True:
            page = logs.filter_log_events(**kwargs)
            for event in page.get("events", []):
                line = event["message"]
                if marker in line and run_id in line:
                    start = line.index("{")
                    start -= 1 if line[start - 1 : start] == "[" else 0
                    text = line[start:].strip()
                    try:
                        logged = json.JSONDecoder().raw_decode(text)[0]
                    except ValueError:
                        logged = ast.literal_eval(text)  # a handler that logs a dict's repr
                    ids.update(t.event_id for t in find_traces(logged) if t.run_id == run_id)
            if not page.get("nextToken"):
                break
            kwargs["nextToken"] = page["nextToken"]
    except logs.exceptions.ResourceNotFoundException:
        pass
    return ids


def queue_bodies(aws: Callable[[str], Any], url: str) -> list[Any]:
    """Every message body in a queue: each received once, all made visible again at the end.

    Messages stay hidden while the queue is read, so that every receive returns ones not
    yet seen (a message made visible at once would come back and hide the rest).
    """
    sqs = aws("sqs")
    bodies: dict[str, Any] = {}
    handles: list[str] = []
    try:
        for _ in range(1000):
            got = sqs.receive_message(
                QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
            ).get("Messages", [])
            if not got:
                break
            for message in got:
                bodies[message["MessageId"]] = json.loads(message["Body"])
                handles.append(message["ReceiptHandle"])
    finally:
        for handle in handles:
            sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    return list(bodies.values())


def ids_in(bodies: list[Any], run_id: str) -> set[str]:
    return {t.event_id for b in bodies for t in find_traces(b) if t.run_id == run_id}


def kinesis_failed_ids(aws: Callable[[str], Any], bodies: list[Any], run_id: str) -> set[str]:
    """Read the records an on-failure batch record names back from the stream."""
    kinesis = aws("kinesis")
    ids: set[str] = set()
    for body in bodies:
        info = body.get("KinesisBatchInfo") if isinstance(body, dict) else None
        if not info:
            continue
        start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
        iterator = kinesis.get_shard_iterator(
            StreamARN=info["streamArn"],
            ShardId=info["shardId"],
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            StartingSequenceNumber=info["startSequenceNumber"],
        )["ShardIterator"]
        done = False
        while iterator and not done:
            out = kinesis.get_records(ShardIterator=iterator, StreamARN=info["streamArn"])
            for record in out["Records"]:
                if int(record["SequenceNumber"]) > end:
                    done = True
                    break
                if int(record["SequenceNumber"]) >= start:
                    data = json.loads(record["Data"])
                    ids.update(t.event_id for t in find_traces(data) if t.run_id == run_id)
            if not out["Records"]:
                break
            iterator = out.get("NextShardIterator")
    return ids
