"""Synchronous invokes: output, errors, timeouts, memory limit, logs, context, warm reuse."""

import base64
import json
import time
from urllib.parse import urlsplit

import boto3
import pytest

from tests.support.sandbox import create_function, queue, unique, wait_for


def _invoke(lam, name, event, **kwargs):
    response = lam.invoke(FunctionName=name, Payload=json.dumps(event), **kwargs)
    return response, json.loads(response["Payload"].read() or b"null")


def _log_streams(aws, name, expect):
    """Return the function's log stream names once ``expect`` exist (logs are stored async)."""
    logs = aws("logs")

    def streams():
        try:
            found = logs.describe_log_streams(logGroupName=f"/aws/lambda/{name}")["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return None
        names = {stream["logStreamName"] for stream in found}
        return names if len(names) >= expect else None

    wait_for(streams, timeout=10, what=f"{expect} log streams of {name}")
    time.sleep(0.5)  # a late extra stream would show up now
    return streams() or set()


def test_sync_invoke_round_trips_output_and_context(aws):
    lam = aws("lambda")
    name = unique("echo")
    arn = create_function(aws, name, timeout=7)
    response, body = _invoke(lam, name, {"echo": {"n": 1}})
    assert "FunctionError" not in response
    assert body["echo"] == {"n": 1}
    assert body["python"] == "3.12"  # python3.12 mapped to a local 3.12
    assert body["function_name"] == name
    assert body["invoked_function_arn"] == arn
    assert 5000 < body["remaining_ms"] <= 7000
    assert body["memory_limit_in_mb"] == "128"
    assert body["endpoint"].startswith("http://127.0.0.1:")
    assert body["boto3"]  # Lambda provides boto3
    assert body["nice"] == 10  # the sandbox's default function_nice: LocalStack goes first

    _, qualified = _invoke(lam, f"{name}:$LATEST", {})
    assert qualified["invoked_function_arn"] == f"{arn}:$LATEST"
    assert qualified["aws_request_id"] != body["aws_request_id"]


def test_handler_error_round_trips_as_unhandled(aws):
    lam = aws("lambda")
    name = unique("fail")
    create_function(aws, name)
    response, body = _invoke(lam, name, {"fail": "on purpose"})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "RuntimeError"
    assert body["errorMessage"] == "asked to fail: on purpose"
    assert any("probe.py" in frame for frame in body["stackTrace"])
    assert not any("bootstrap.py" in frame for frame in body["stackTrace"])


def test_logs_are_the_functions_output(aws):
    lam = aws("lambda")
    name = unique("logs")
    create_function(aws, name)
    response, _ = _invoke(lam, name, {"print": "hello from the handler"}, LogType="Tail")
    tail = base64.b64decode(response["LogResult"]).decode()
    assert "hello from the handler" in tail
    assert "START RequestId:" in tail and "REPORT RequestId:" in tail


def test_timeout_kills_the_environment_and_the_next_invoke_works(aws):
    lam = aws("lambda")
    name = unique("slow")
    create_function(aws, name, timeout=1)
    response, body = _invoke(lam, name, {"sleep": 5})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in body["errorMessage"]
    response, body = _invoke(lam, name, {"echo": "after"})
    assert "FunctionError" not in response
    assert body["echo"] == "after"


def test_memory_limit_is_enforced(aws):
    lam = aws("lambda")
    name = unique("hog")
    create_function(aws, name, memory=128)
    response, body = _invoke(lam, name, {"allocate_mb": 300})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.OutOfMemory"
    response, body = _invoke(lam, name, {"allocate_mb": 20, "echo": "fits"})
    assert "FunctionError" not in response
    assert body["echo"] == "fits"


def test_warm_environment_is_reused(aws):
    lam = aws("lambda")
    name = unique("warm")
    create_function(aws, name)
    for _ in range(3):
        response, _ = _invoke(lam, name, {}, LogType="Tail")
        assert "FunctionError" not in response
    streams = _log_streams(aws, name, expect=1)
    assert len(streams) == 1  # one execution environment served all three


def test_unknown_runtime_module_fails_like_lambda(aws):
    lam = aws("lambda")
    name = unique("nomod")
    create_function(aws, name, handler="missing.handler")
    response, body = _invoke(lam, name, {})
    assert response["FunctionError"] == "Unhandled"
    assert body["errorType"] == "Runtime.ImportModuleError"


def test_concurrent_invokes_scale_out_to_separate_environments(aws):
    from concurrent.futures import ThreadPoolExecutor

    lam = aws("lambda")
    name = unique("parallel")
    create_function(aws, name, timeout=10)
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(lambda _: _invoke(lam, name, {"sleep": 1.5}), range(3)))
    assert all("FunctionError" not in response for response, _ in results)
    streams = _log_streams(aws, name, expect=3)
    assert len(streams) == 3  # three environments served three concurrent invocations


def test_functions_reach_localstack_through_the_function_gateway(aws, sandbox_endpoint):
    """A function's AWS calls go to the sandbox's function gateway (a port of its own on
    127.0.0.1) and land in the same LocalStack as the user's calls to the main port."""
    url, _ = queue(aws, unique("gateway-rec"))
    name = unique("gateway")
    create_function(aws, name, env={"RECORD_QUEUE_URL": url})
    _, body = _invoke(aws("lambda"), name, {"echo": "through"})
    endpoint = urlsplit(body["endpoint"])
    assert endpoint.hostname == "127.0.0.1"
    assert endpoint.port != urlsplit(sandbox_endpoint).port
    # The function's SendMessage (through the function gateway) is read through the main port.
    received = aws("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert json.loads(received[0]["Body"]) == {
        "request_id": body["aws_request_id"],
        "event": {"echo": "through"},
    }
    # The function gateway answers any SDK call the main port does, errors included.
    gateway = boto3.client(
        "sqs",
        endpoint_url=body["endpoint"],
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    assert url in gateway.list_queues()["QueueUrls"]
    with pytest.raises(gateway.exceptions.QueueDoesNotExist):
        gateway.get_queue_url(QueueName=unique("missing"))
