"""The code of the end-to-end test functions (runs inside the sandbox, Python 3.9+).

``handler`` records each attempt into the queue ``RECORD_QUEUE_URL`` (if set),
then does what the event asks: ``fail``, ``sleep`` seconds, ``allocate_mb``,
``echo``. ``sqs_handler`` records each SQS record and fails the ones whose body
contains ``poison``, either the whole batch or, with ``REPORT_FAILURES=1``, as
``batchItemFailures``.
"""

import json
import os
import sys
import time

import boto3


def _record(context, event):
    url = os.environ.get("RECORD_QUEUE_URL")
    if url:
        boto3.client("sqs").send_message(
            QueueUrl=url,
            MessageBody=json.dumps({"request_id": context.aws_request_id, "event": event}),
        )


def handler(event, context):
    _record(context, event)
    if event.get("print"):
        print(event["print"])
    if event.get("sleep"):
        time.sleep(float(event["sleep"]))
    if event.get("allocate_mb"):
        hog = bytearray(int(event["allocate_mb"]) * 2**20)
        for i in range(0, len(hog), 4096):
            hog[i] = 1
    if event.get("fail"):
        raise RuntimeError(f"asked to fail: {event['fail']}")
    return {
        "echo": event.get("echo"),
        "python": f"{sys.version_info[0]}.{sys.version_info[1]}",
        "function_name": context.function_name,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "endpoint": os.environ.get("AWS_ENDPOINT_URL"),
        "boto3": boto3.__version__,
        "nice": os.nice(0),
        "pid": os.getpid(),  # which environment ran it
    }


def sqs_handler(event, context):
    failures = []
    for record in event["Records"]:
        _record(
            context, {"body": record["body"], "messageId": record["messageId"], "pid": os.getpid()}
        )
        if "poison" in record["body"]:
            failures.append({"itemIdentifier": record["messageId"]})
    time.sleep(float(os.environ.get("SLEEP_SECONDS", "0")))
    if failures and os.environ.get("REPORT_FAILURES") != "1":
        raise RuntimeError(f"{len(failures)} poison messages in the batch")
    return {"batchItemFailures": failures}


def layer_handler(event, context):
    import chaoskit_test_layer

    return {
        "layer": chaoskit_test_layer.VALUE,
        "wrapped": os.environ.get("WRAPPED_BY"),
        "handler_env": os.environ.get("_HANDLER"),
        "marker_file": os.environ.get("LAYER_MARKER"),
        "marker_exists": os.path.exists(os.environ.get("LAYER_MARKER", "/nonexistent")),
    }


def kinesis_handler(event, context):
    import base64

    poisoned = False
    for record in event["Records"]:
        data = base64.b64decode(record["kinesis"]["data"]).decode()
        _record(context, {"data": data, "pid": os.getpid()})
        if "slow" in data:
            time.sleep(2)
        poisoned = poisoned or "poison" in data
    if poisoned:
        raise RuntimeError("poison record in the batch")
    return {}
