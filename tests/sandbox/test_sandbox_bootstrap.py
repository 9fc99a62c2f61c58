"""The function-side runtime loop and the /opt layout, without LocalStack.

The bootstrap runs as a real process against a stand-in of LocalStack's runtime
endpoint (an HTTP server in the test), exactly as the executor starts it.
"""

import contextlib
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from chaoskit.sandbox.plugin import bootstrap, layout
from tests.support.net import free_port

BOOTSTRAP = Path(bootstrap.__file__)


class Endpoint:
    """Stand-in for LocalStack's executor endpoint: records every callback."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []
        self.changed = threading.Condition()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with outer.changed:
                    outer.calls.append((self.path, body))
                    outer.changed.notify_all()
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/_localstack_lambda/env1"

    def wait(self, suffix: str, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for path, body in self.calls:
                    if path.endswith(suffix):
                        return body
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no callback {suffix}; got {self.calls}")
                self.changed.wait(left)


APP = (
    "import os\n"
    "def handler(event, context):\n"
    "    print('log line', event)\n"
    "    if event.get('fail'):\n"
    "        raise KeyError('missing')\n"
    "    return {'event': event, 'rid': context.aws_request_id,\n"
    "            'arn': context.invoked_function_arn,\n"
    "            'left': context.get_remaining_time_in_millis(),\n"
    "            'opt': os.environ.get('FROM_OPT')}\n"
)


@contextlib.contextmanager
def _start(tmp_path: Path, app: str):
    """Start bootstrap.py on a task whose ``app.py`` is ``app``; yield invoke, endpoint, proc."""
    task = tmp_path / "task"
    task.mkdir()
    (task / "app.py").write_text(app)
    opt = tmp_path / "opt"
    (opt / "python").mkdir(parents=True)
    endpoint = Endpoint()
    port = free_port()
    env = {
        "LOCALSTACK_RUNTIME_ENDPOINT": endpoint.url,
        "LOCALSTACK_RUNTIME_ID": "env1",
        "_HANDLER": "app.handler",
        "LAMBDA_TASK_ROOT": str(task),
        "AWS_LAMBDA_FUNCTION_TIMEOUT": "3",
        "AWS_LAMBDA_FUNCTION_NAME": "fn",
        "FROM_OPT": str(opt / "python"),
    }
    command = [sys.executable, "-S", "-u", str(BOOTSTRAP), str(port), str(opt), str(tmp_path)]
    proc = subprocess.Popen(
        [*command, str(os.getpid())],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )

    def invoke(request_id: str, event: dict) -> None:
        body = json.dumps(
            {
                "invoke-id": request_id,
                "invoked-function-arn": "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
                "payload": json.dumps(event),
            }
        ).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/invoke", data=body)
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    try:
        endpoint.wait("/status/env1/ready")
        yield invoke, endpoint, proc
    finally:
        proc.kill()
        proc.wait(timeout=10)
        endpoint.server.shutdown()


@pytest.fixture
def runtime(tmp_path: Path):
    """The bootstrap on the plain ``APP`` handler."""
    with _start(tmp_path, APP) as started:
        yield started


# A handler module that registers an internal extension at import, as chaoskit's layer
# does: on each INVOKE it waits 0.5 s (a slow ledger write), notes when it is done, then
# asks for the next event.
EXTENDED_APP = """
import http.client, json, os, threading, time
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
DONE = []

def call(method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(API, timeout=None)
    conn.request(method, "/2020-01-01/extension" + path, body=body, headers=headers or {})
    response = conn.getresponse()
    return response.status, dict(response.getheaders()), response.read()

status, headers, _ = call("POST", "/register", json.dumps({"events": ["INVOKE"]}),
                          {"Lambda-Extension-Name": "slow-writer"})
IDENT = headers["Lambda-Extension-Identifier"]

def loop():
    while True:
        _, _, body = call("GET", "/event/next", headers={"Lambda-Extension-Identifier": IDENT})
        event = json.loads(body)
        time.sleep(0.5)
        DONE.append((event["requestId"], event["eventType"], time.time()))

threading.Thread(target=loop, daemon=True).start()

def handler(event, context):
    late = call("POST", "/register", "{}", {"Lambda-Extension-Name": "late"})[0]
    return {"started": time.time(), "done": list(DONE), "late_registration": late,
            "registered": status}
"""


def test_internal_extensions_run_after_the_response_and_hold_the_next_invocation(
    tmp_path: Path,
) -> None:
    with _start(tmp_path, EXTENDED_APP) as (invoke, endpoint, _):
        invoke("req-1", {})
        first = json.loads(endpoint.wait("/invocations/req-1/response"))
        answered = time.time()
        invoke("req-2", {})
        second = json.loads(endpoint.wait("/invocations/req-2/response"))
    assert first["registered"] == 200
    assert first["late_registration"] == 403  # after init, as Lambda refuses it
    assert first["done"] == []  # the response went out before the extension finished
    ((request_id, kind, done_at),) = second["done"]
    assert (request_id, kind) == ("req-1", "INVOKE")
    assert answered < done_at  # the extension finished after the first answer...
    assert done_at <= second["started"]  # ...and before the second invocation began


def test_invocations_run_the_handler_and_post_results(runtime):
    invoke, endpoint, proc = runtime
    invoke("req-1", {"n": 1})
    result = json.loads(endpoint.wait("/invocations/req-1/response"))
    assert result["event"] == {"n": 1}
    assert result["rid"] == "req-1"
    assert result["arn"].endswith(":function:fn:live")
    assert 2000 < result["left"] <= 3000

    invoke("req-2", {"fail": True})
    error = json.loads(endpoint.wait("/invocations/req-2/error"))
    assert error["errorType"] == "KeyError"
    assert error["requestId"] == "req-2"
    assert all("bootstrap.py" not in frame for frame in error["stackTrace"])

    proc.kill()
    output = proc.stdout.read().decode()
    assert f"{bootstrap.MARK}start req-1\nlog line {{'n': 1}}\n{bootstrap.MARK}end req-1" in output


def test_load_handler_reports_lambda_error_types(tmp_path, monkeypatch):
    (tmp_path / "broken.py").write_text("def oops(:\n")
    (tmp_path / "fine.py").write_text("def handler(e, c):\n    return 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert bootstrap.load_handler("nodot")[1]["errorType"] == "Runtime.MalformedHandlerName"
    assert bootstrap.load_handler("absent.handler")[1]["errorType"] == "Runtime.ImportModuleError"
    assert bootstrap.load_handler("broken.handler")[1]["errorType"] == "Runtime.UserCodeSyntaxError"
    assert bootstrap.load_handler("fine.other")[1]["errorType"] == "Runtime.HandlerNotFound"
    handler, error = bootstrap.load_handler("fine.handler")
    assert error is None and handler({}, None) == 1


def test_context_counts_down_to_the_deadline():
    context = bootstrap.LambdaContext("r", "arn", int(time.time() * 1000) + 1500)
    assert 1000 < context.get_remaining_time_in_millis() <= 1500
    expired = bootstrap.LambdaContext("r", "arn", int(time.time() * 1000) - 10)
    assert expired.get_remaining_time_in_millis() == 0


def test_opt_and_task_paths_in_env_vars_are_rewritten(tmp_path):
    opt, task = tmp_path / "opt", tmp_path / "task"
    env = layout.rewrite_paths(
        {
            "AWS_LAMBDA_EXEC_WRAPPER": "/opt/chaoskit-wrapper",
            "PYTHONPATH": "/opt/python:/var/task/lib",
            "ROOT": "/opt",
            "UNRELATED": "/optional/x:/tmp/opt/y",
        },
        opt,
        task,
    )
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == f"{opt}/chaoskit-wrapper"
    assert env["PYTHONPATH"] == f"{opt}/python:{task}/lib"
    assert env["ROOT"] == str(opt)
    assert env["UNRELATED"] == "/optional/x:/tmp/opt/y"


def test_runtimes_map_to_local_interpreters_or_fall_back_with_a_warning(monkeypatch):
    monkeypatch.setenv("CHAOSKIT_SANDBOX_INTERPRETERS", json.dumps({"3.12": sys.executable}))
    assert layout.interpreter_for("python3.12") == (sys.executable, None)
    fallback, warning = layout.interpreter_for("python3.99")
    assert Path(fallback).exists()
    assert warning is not None and "no local Python 3.99" in warning
    with pytest.raises(RuntimeError, match=r"runtime .nodejs20\.x. is not supported"):
        layout.interpreter_for("nodejs20.x")


def test_python_3_9_gets_the_legacy_libraries_first_and_older_pythons_are_refused(
    monkeypatch, tmp_path
):
    libs = tmp_path / "chaoskit-lambda-runtime"
    assert layout.runtime_libs("python3.12", libs) == [libs]
    assert layout.runtime_libs("python3.9", libs) == [
        tmp_path / "chaoskit-lambda-runtime-py39",
        libs,
    ]
    with pytest.raises(RuntimeError, match=r"'python3\.8' is not supported.*python3\.10"):
        layout.interpreter_for("python3.8")
    # Without the legacy folder in the sandbox venv, 3.9 is refused, naming the folder.
    monkeypatch.setattr(layout.sys, "prefix", str(tmp_path))
    with pytest.raises(
        RuntimeError, match=r"'python3\.9' cannot run.*chaoskit-lambda-runtime-py39"
    ):
        layout.interpreter_for("python3.9")
    (tmp_path / "chaoskit-lambda-runtime-py39" / "urllib3").mkdir(parents=True)
    monkeypatch.setenv("CHAOSKIT_SANDBOX_INTERPRETERS", json.dumps({"3.9": sys.executable}))
    assert layout.interpreter_for("python3.9") == (sys.executable, None)


FAKE_BOTOCORE = """
__version__ = "{version}"
"""
FAKE_SESSION = """
class Session:
    def create_client(self, service_name, region_name=None, api_version=None, use_ssl=True,
                      verify=None, endpoint_url=None, aws_access_key_id=None):
        return endpoint_url
"""
PROBE = """
import importlib.util, json, os, sys
task = sys.argv[1]
sys.path.insert(0, task)
spec = importlib.util.spec_from_file_location("bootstrap", sys.argv[2])
bootstrap = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bootstrap)
bootstrap._point_vendored_sdk_at_the_sandbox([task])
import botocore.session
s = botocore.session.Session()
print(json.dumps([s.create_client("sqs"), s.create_client("sqs", endpoint_url="http://own")]))
"""


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.29.137", "http://127.0.0.1:4566"), ("1.31.0", None)],
    ids=["boto3-1.26-ignores-the-variable", "newer-reads-it-itself"],
)
def test_an_old_vendored_botocore_is_pointed_at_the_sandbox(
    tmp_path: Path, version: str, expected: str | None
) -> None:
    # serverless-message-processing pins boto3==1.26.137: its clients ignored
    # AWS_ENDPOINT_URL and hung on AWS's public endpoints until the function's timeout.
    package = tmp_path / "task" / "botocore"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(FAKE_BOTOCORE.format(version=version))
    (package / "session.py").write_text(FAKE_SESSION)
    out = subprocess.run(
        [sys.executable, "-S", "-c", PROBE, str(tmp_path / "task"), str(BOOTSTRAP)],
        env={"AWS_ENDPOINT_URL": "http://127.0.0.1:4566"},
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [expected, "http://own"]
    assert ("pointed at the sandbox" in out.stdout) is (expected is not None)


def test_results_go_on_one_kept_alive_connection_and_a_dropped_one_is_replaced():
    seen: list[tuple[int, str]] = []

    class Handler(http.server.BaseHTTPRequestHandler):  # as the gateway: HTTP/1.1
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.client_address[1], self.path))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            if len(seen) == 2:  # the server lets the connection go after this one
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/_localstack_lambda/env1/invocations"
    try:
        for i in range(4):
            bootstrap._post(f"{url}/req-{i}/response", b"{}")
    finally:
        server.shutdown()
        for conn in bootstrap._CONNECTIONS.values():
            conn.close()
        bootstrap._CONNECTIONS.clear()
    assert [path.rsplit("/", 2)[1] for _, path in seen] == ["req-0", "req-1", "req-2", "req-3"]
    ports = [port for port, _ in seen]
    assert ports[0] == ports[1] and ports[2] == ports[3] and ports[1] != ports[2]
