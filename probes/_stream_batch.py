"""Resolve a stream on-failure record to the events it names.

A Kinesis or DynamoDB Streams on-failure destination record carries no
payload, only the batch's shard and sequence-number range. The records are
read back from the stream (while the stream still retains them) and searched
for trace marks like any other event.
"""

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import aws_failure
from chaoskit.ledger.trace import Trace, find_traces

__all__ = ["batch_info", "resolve_batch"]

#: GetRecords calls at most per batch (a batch spans at most 10,000 records).
_MAX_READS = 20


def batch_info(body: Any) -> tuple[str, dict[str, Any]] | None:
    """Return ``("kinesis" | "dynamodb", info)`` of a stream failure record, else ``None``."""
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("KinesisBatchInfo"), dict):
        return "kinesis", body["KinesisBatchInfo"]
    if isinstance(body.get("DDBStreamBatchInfo"), dict):
        return "dynamodb", body["DDBStreamBatchInfo"]
    return None


def _in_range(sequence: str, start: int, end: int) -> bool:
    try:
        return start <= int(sequence) <= end
    except ValueError:
        return False


def resolve_batch(
    kind: str, info: Mapping[str, Any], configuration: Mapping[str, Any] | None
) -> list[Trace]:
    """Read the batch's records back from the stream; return the traces they carry."""
    stream, shard = str(info["streamArn"]), str(info["shardId"])
    start, end = int(info["startSequenceNumber"]), int(info["endSequenceNumber"])
    read_args: dict[str, Any] = {}
    if kind == "kinesis":
        client, service = aws.client("kinesis", configuration), "kinesis"
        read_args["StreamARN"] = stream  # optional on AWS; emulators need it
        iterator_args = {
            "StreamARN": stream,
            "ShardId": shard,
            "ShardIteratorType": "AT_SEQUENCE_NUMBER",
            "StartingSequenceNumber": str(start),
        }
    else:
        client, service = aws.client("dynamodbstreams", configuration), "dynamodbstreams"
        iterator_args = {
            "StreamArn": stream,
            "ShardId": shard,
            "ShardIteratorType": "AT_SEQUENCE_NUMBER",
            "SequenceNumber": str(start),
        }
    try:
        iterator = client.get_shard_iterator(**iterator_args)["ShardIterator"]
        found: list[Any] = []
        for _ in range(_MAX_READS):
            page = client.get_records(ShardIterator=iterator, Limit=1000, **read_args)
            records = page.get("Records", [])
            for record in records:
                sequence = record.get("SequenceNumber") or record.get("dynamodb", {}).get(
                    "SequenceNumber", ""
                )
                if _in_range(str(sequence), start, end):
                    data = record.get("Data")
                    # boto3 hands Kinesis data over as bytes, already base64-decoded.
                    if isinstance(data, bytes):
                        record = {**record, "Data": data.decode("utf-8", "replace")}
                    found.append(record)
            last = records[-1] if records else None
            last_seq = (last or {}).get("SequenceNumber") or (last or {}).get("dynamodb", {}).get(
                "SequenceNumber"
            )
            iterator = page.get("NextShardIterator")
            if not records or not iterator or (last_seq and int(last_seq) >= end):
                break
    except ClientError as err:
        raise aws_failure(f"{service}:GetRecords", stream, err) from err
    return find_traces(found)
