"""The runtime interface loop of one sandbox Lambda execution environment.

Runs in the function's interpreter (Python 3.9+), standard library only, as
``python -S -u bootstrap.py PORT OPT_DIR RUNTIME_LIBS PARENT_PID`` (``RUNTIME_LIBS``
one folder or several joined by ``os.pathsep``), possibly
behind an ``AWS_LAMBDA_EXEC_WRAPPER`` that exec's it. It speaks LocalStack's
runtime-init protocol: it serves ``POST /invoke`` on 127.0.0.1:PORT and calls
back ``LOCALSTACK_RUNTIME_ENDPOINT`` (``/status/<id>/ready`` once, then
``/invocations/<request id>/response`` or ``/error`` per invocation). The
executor enforces the timeout and the memory limit from outside; this loop
marks the start and end of each invocation on stdout so the executor can cut
the function's log per invocation.

The same port serves Lambda's Extensions API for internal extensions (threads
of the function's process; ``AWS_LAMBDA_RUNTIME_API`` points at it):
registration during init only, ``INVOKE`` events at the start of each
invocation, and, as in Lambda, the next invocation starts only once every
extension has asked for its next event after the response went out.
"""

from __future__ import annotations

import http.client
import http.server
import json
import logging
import os
import queue
import socket
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from typing import Any

MARK = "\x1fchaoskit:"
EXTENSION_API = "/2020-01-01/extension"
EXTENSION_ID = "Lambda-Extension-Identifier"
INIT_WAIT = 10.0  # seconds registered extensions get to ask for their first event


class LambdaContext:
    """The ``context`` argument of a handler, as Lambda's Python runtime builds it."""

    def __init__(self, request_id: str, invoked_arn: str, deadline_ms: int) -> None:
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_arn
        self.function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        self.log_group_name = os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the function times out."""
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self) -> str:
        return (
            f"LambdaContext([aws_request_id={self.aws_request_id},"
            f"function_name={self.function_name},function_version={self.function_version},"
            f"invoked_function_arn={self.invoked_function_arn}])"
        )


class _RequestIdFilter(logging.Filter):
    request_id = ""

    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = self.request_id
        return True


_REQUEST = _RequestIdFilter()


def _install_logging() -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter(
            "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
            "%Y-%m-%dT%H:%M:%S",
        )
    )
    handler.formatter.converter = time.gmtime  # type: ignore[union-attr]
    handler.addFilter(_REQUEST)
    logging.getLogger().addHandler(handler)


def _error(error_type: str, message: str, stack: list[str] | None = None) -> dict[str, Any]:
    return {"errorMessage": message, "errorType": error_type, "stackTrace": stack or []}


def _user_handler_module() -> Any:
    """Load Lambda's handler-loading rules: the copy beside this file, or chaoskit's source."""
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    for candidate in (
        os.path.join(here, "user_handler.py"),  # installed: copied beside the plugin
        os.path.join(here, "..", "..", "layer", "userhandler.py"),  # chaoskit's source tree
    ):
        if os.path.isfile(candidate):
            spec = importlib.util.spec_from_file_location("chaoskit_user_handler", candidate)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module
    raise RuntimeError(
        "chaoskit's handler loader (user_handler.py) is missing beside the bootstrap"
    )


_USER_HANDLER = _user_handler_module()


def load_handler(spec: str) -> tuple[Any, dict[str, Any] | None]:
    """Import the handler named ``module.function``; return it, or the error Lambda reports."""
    handler, error = _USER_HANDLER.load(spec)
    return handler, error


#: (host, port) -> the kept-alive connection results are posted on (one at a time).
_CONNECTIONS: dict[tuple[str, int | None], http.client.HTTPConnection] = {}


def _post(url: str, body: bytes) -> None:
    # One kept-alive connection, with TCP_NODELAY: without it, Nagle's algorithm and the
    # gateway's delayed ACK added about 50 ms to every invocation's result; a new
    # connection for each result cost the gateway a thread and a socket each time.
    parts = urllib.parse.urlsplit(url)
    key = (parts.hostname or "127.0.0.1", parts.port)
    for attempt in range(6):
        conn = _CONNECTIONS.pop(key, None)
        reused = conn is not None
        try:
            if conn is None:
                conn = http.client.HTTPConnection(key[0], key[1], timeout=30)
                conn.connect()
                if conn.sock is not None:
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.request(
                "POST", parts.path, body=body, headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            response.read()
            if response.will_close:
                conn.close()
            else:
                _CONNECTIONS[key] = conn
            return
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            if attempt == 5:
                raise
            if not reused:  # a kept-alive connection the server let go: again at once
                time.sleep(0.1 * (attempt + 1))


def _mark(kind: str, request_id: str) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.write(1, f"{MARK}{kind} {request_id}\n".encode())


class Extensions:
    """The environment's Extensions API, for internal extensions."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._queued: dict[str, list[dict[str, Any]]] = {}
        self._events: dict[str, set[str]] = {}
        self._parked: set[str] = set()  # extensions blocked in ``next``
        self._closed = False

    def register(self, name: str, events: list[str]) -> tuple[int, dict[str, Any], str]:
        """Register one extension; return the HTTP status, the body and its identifier."""
        with self._cond:
            if self._closed:
                return (
                    403,
                    _error(
                        "Extension.RegistrationForbidden",
                        f"extension '{name}' registered after the init phase",
                    ),
                    "",
                )
            ident = str(uuid.uuid4())
            self._queued[ident] = []
            self._events[ident] = {str(e) for e in events}
            body = {
                "functionName": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
                "functionVersion": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                "handler": os.environ.get("_HANDLER", ""),
            }
            return 200, body, ident

    def next(self, ident: str) -> dict[str, Any] | None:
        """Block until the extension's next event (``None``: not registered)."""
        with self._cond:
            queued = self._queued.get(ident)
            if queued is None:
                return None
            self._parked.add(ident)
            self._cond.notify_all()
            while not queued:
                self._cond.wait()
            self._parked.discard(ident)
            return queued.pop(0)

    def dispatch(self, event: dict[str, Any]) -> None:
        """Queue ``event`` for every extension registered for its type."""
        with self._cond:
            for ident, events in self._events.items():
                if event["eventType"] in events:
                    self._queued[ident].append(event)
            self._cond.notify_all()

    def settle(self, timeout: float) -> bool:
        """Wait until every extension has asked for its next event with none pending."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not all(i in self._parked and not q for i, q in self._queued.items()):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self) -> None:
        """End the init phase: later registrations are refused, as Lambda does."""
        with self._cond:
            self._closed = True


class Runtime:
    """One execution environment: a loaded handler and the invocations queued for it."""

    def __init__(self, endpoint: str, runtime_id: str) -> None:
        self.endpoint = endpoint
        self.runtime_id = runtime_id
        self.invocations: queue.Queue[dict[str, Any]] = queue.Queue()
        self.handler: Any = None
        self.init_error: dict[str, Any] | None = None
        self.extensions = Extensions()

    def init(self) -> None:
        """Import the handler (an import error is reported by each invocation, as Lambda does)."""
        self.handler, self.init_error = load_handler(os.environ.get("_HANDLER", ""))
        if self.init_error:
            print(f"[ERROR] {self.init_error['errorType']}: {self.init_error['errorMessage']}")

    def invoke(self, invocation: dict[str, Any]) -> None:
        """Run one invocation and post its result back to LocalStack."""
        request_id = str(invocation.get("invoke-id", ""))
        timeout_s = float(os.environ.get("AWS_LAMBDA_FUNCTION_TIMEOUT") or 3)
        deadline_ms = int(
            float(invocation.get("received_ms", time.time() * 1000)) + timeout_s * 1000
        )
        arn = str(invocation.get("invoked-function-arn", ""))
        context = LambdaContext(request_id, arn, deadline_ms)
        trace_id = str(invocation.get("trace-id") or "")
        os.environ["_X_AMZN_TRACE_ID"] = trace_id
        self.extensions.dispatch(
            {"eventType": "INVOKE", "deadlineMs": deadline_ms, "requestId": request_id,
             "invokedFunctionArn": arn, "tracing": {"type": "X-Amzn-Trace-Id", "value": trace_id}}
        )  # fmt: skip
        _REQUEST.request_id = request_id
        _mark("start", request_id)
        if self.handler is None:
            self.init()  # Lambda re-runs init after a failed one
        error = self.init_error
        body = b""
        if error is None:
            try:
                raw = invocation.get("payload")
                event = json.loads(raw) if raw else {}
                result = self.handler(event, context)
                try:
                    body = json.dumps(result).encode()
                except (TypeError, ValueError) as err:
                    error = _error("Runtime.MarshalError", f"Unable to marshal response: {err}")
            except Exception as err:
                stack = traceback.format_tb(err.__traceback__.tb_next)  # the handler's frames
                error = _error(type(err).__name__, str(err), stack)
                print(
                    f"[ERROR] {type(err).__name__}: {err}\nTraceback (most recent call last):\n"
                    + "".join(stack),
                    end="",
                )
        _mark("end", request_id)
        _REQUEST.request_id = ""
        if error is not None:
            error["requestId"] = request_id
            _post(f"{self.endpoint}/invocations/{request_id}/error", json.dumps(error).encode())
        else:
            _post(f"{self.endpoint}/invocations/{request_id}/response", body)
        # The caller has its answer; the environment is busy until the extensions are done.
        if not self.extensions.settle(max(0.0, deadline_ms / 1000 - time.time())):
            print(f"[WARNING] extensions still busy at the deadline of {request_id}")

    def serve(self, port: int) -> None:
        """Accept invocations on 127.0.0.1:``port`` in a background thread."""
        invocations = self.invocations
        extensions = self.extensions

        class Handler(http.server.BaseHTTPRequestHandler):
            # Kept alive: the sandbox posts every invocation on one connection.
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _reply(self, status: int, doc: dict[str, Any], ident: str = "") -> None:
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if ident:
                    self.send_header(EXTENSION_ID, ident)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path != f"{EXTENSION_API}/event/next":
                    self._reply(404, _error("InvalidRequest", f"no such path {self.path}"))
                    return
                event = extensions.next(self.headers.get(EXTENSION_ID) or "")
                if event is None:
                    self._reply(403, _error("Extension.UnknownExtension", "not registered"))
                else:
                    self._reply(200, event)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if self.path == f"{EXTENSION_API}/register":
                    try:
                        events = json.loads(self.rfile.read(length) or b"{}").get("events", [])
                    except (ValueError, AttributeError):
                        self._reply(400, _error("InvalidRequest", "body is not a JSON object"))
                        return
                    name = self.headers.get("Lambda-Extension-Name") or ""
                    self._reply(*extensions.register(name, list(events or [])))
                    return
                try:
                    doc = json.loads(self.rfile.read(length) or b"{}")
                except ValueError:
                    self.send_response(400)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                doc["received_ms"] = time.time() * 1000
                invocations.put(doc)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the function's log is the function's output only

        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="invoke-server", daemon=True).start()

    def run(self) -> None:
        """Run invocations one after the other, forever."""
        while True:
            self.invoke(self.invocations.get())


#: The first botocore that reads ``AWS_ENDPOINT_URL`` (boto3 1.28.0).
_ENDPOINT_URL_SINCE = (1, 31)


def _point_vendored_sdk_at_the_sandbox(folders: list[str]) -> None:
    """Send an old vendored botocore's clients to the sandbox, as a newer one would go.

    A function that ships its own botocore older than 1.31 (``boto3==1.26.x`` in
    its requirements) ignores ``AWS_ENDPOINT_URL``: on AWS it reaches AWS, here it
    would call AWS's public endpoints and hang until its timeout. Its clients get
    the sandbox's endpoint unless the code names one. Lambda's own boto3 needs nothing.
    """
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not endpoint or not any(
        os.path.isfile(os.path.join(f, "botocore", "__init__.py")) for f in folders
    ):
        return
    try:
        import botocore.session

        version = tuple(int(x) for x in str(botocore.__version__).split(".")[:2])
    except Exception:  # not importable or odd version: leave it as it is
        return
    if version >= _ENDPOINT_URL_SINCE:
        return
    original = botocore.session.Session.create_client

    def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
        if len(args) <= 5 and not kwargs.get("endpoint_url"):  # endpoint_url is the 6th
            kwargs["endpoint_url"] = endpoint
        return original(self, *args, **kwargs)

    botocore.session.Session.create_client = create_client  # type: ignore[method-assign]
    print(
        f"[INFO] the function's own botocore {botocore.__version__} ignores AWS_ENDPOINT_URL: "
        "its clients are pointed at the sandbox"
    )


def _watch_parent(parent: int) -> None:
    # The sandbox may die without stopping us (SIGKILL): never outlive it.
    while True:
        time.sleep(1.0)
        if os.getppid() != parent:
            os._exit(0)


def main(argv: list[str]) -> None:
    """Set up paths like Lambda does, load the handler, then serve invocations."""
    port, opt, libs, parent = int(argv[1]), argv[2], argv[3], int(argv[4])
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        del sys.path[0]  # this plugin's own folder is not the function's business
    task = os.environ.get("LAMBDA_TASK_ROOT", os.getcwd())
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    sys.path[:0] = [task, f"{opt}/python/lib/{version}/site-packages", f"{opt}/python"]
    # boto3, as Lambda's runtime provides it (after the function's own); several
    # folders, first wins, for runtimes that need older libraries (python3.9).
    sys.path.extend(p for p in libs.split(os.pathsep) if p)
    os.chdir(task)
    _point_vendored_sdk_at_the_sandbox(
        [task, f"{opt}/python/lib/{version}/site-packages", f"{opt}/python"]
    )
    threading.Thread(target=_watch_parent, args=(parent,), daemon=True).start()
    _install_logging()
    runtime = Runtime(
        os.environ["LOCALSTACK_RUNTIME_ENDPOINT"], os.environ["LOCALSTACK_RUNTIME_ID"]
    )
    runtime.serve(port)
    os.environ["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{port}"
    runtime.init()
    if not runtime.extensions.settle(INIT_WAIT):
        print("[WARNING] an extension did not ask for its first event during init")
    runtime.extensions.close()
    _post(f"{runtime.endpoint}/status/{runtime.runtime_id}/ready", b"{}")
    runtime.run()


if __name__ == "__main__":
    main(sys.argv)
