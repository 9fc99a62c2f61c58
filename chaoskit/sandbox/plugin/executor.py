"""A LocalStack Lambda runtime executor that runs each execution environment as a local process.

Selected with ``LAMBDA_RUNTIME_EXECUTOR=chaoskit-process``. The process is
``bootstrap.py`` in the function's Python (behind its ``AWS_LAMBDA_EXEC_WRAPPER``
if it has one). This side enforces what Lambda enforces from outside the
runtime: the timeout (kill, then a ``Sandbox.Timedout`` error) and the memory
limit (an RSS watch, then ``Runtime.OutOfMemory``); a killed or crashed
environment is re-initialised on its next invocation, as Lambda does.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any

from localstack import config
from localstack.services.lambda_.invocation.executor_endpoint import (
    ExecutorEndpoint,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin
from localstack.services.lambda_.invocation.runtime_executor import RuntimeExecutor
from localstack.utils.net import get_free_tcp_port

from . import function_gateway, http11, layout, node
from .runtime_api import RuntimeApi

LOG = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")
RUNTIME_LIBS = Path(sys.prefix) / "chaoskit-lambda-runtime"
MARK = "\x1fchaoskit:"
STARTUP_TIMEOUT = 20.0
MEMORY_POLL = 0.05
_WARNED: set[str] = set()


def _behind_exec_wrapper(command: list[str], env: dict[str, str]) -> list[str]:
    """Return ``command`` started by the function's ``AWS_LAMBDA_EXEC_WRAPPER``, as Lambda does."""
    wrapper = env.get("AWS_LAMBDA_EXEC_WRAPPER")
    if not wrapper:
        return command
    if not Path(wrapper).is_file():
        raise RuntimeError(f"AWS_LAMBDA_EXEC_WRAPPER '{wrapper}' does not exist")
    return [wrapper, *command]


class ProcessExecutorPlugin(RuntimeExecutorPlugin):
    """Registers :class:`ProcessRuntimeExecutor` as ``chaoskit-process``."""

    name = "chaoskit-process"

    def load(self, *args: Any, **kwargs: Any) -> type[RuntimeExecutor]:
        return ProcessRuntimeExecutor


class LogCapture:
    """Reads the process's output; cuts it per invocation at the bootstrap's marks."""

    def __init__(self) -> None:
        self.lines: deque[str] = deque(maxlen=5000)
        self._current: list[str] | None = None
        self._ended: dict[str, threading.Event] = {}
        self._captured: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def begin(self, request_id: str) -> None:
        with self._lock:
            self._ended[request_id] = threading.Event()
            self._captured[request_id] = []

    def feed(self, line: str) -> None:
        if line.startswith(MARK):
            kind, _, request_id = line[len(MARK) :].strip().partition(" ")
            with self._lock:
                if kind == "start":
                    self._current = self._captured.setdefault(request_id, [])
                elif kind == "end":
                    self._current = None
                    self._ended.setdefault(request_id, threading.Event()).set()
            return
        self.lines.append(line)
        with self._lock:
            if self._current is not None:
                self._current.append(line)

    def end(self, request_id: str, wait: float) -> str:
        event = self._ended.get(request_id)
        if event is not None and wait > 0:
            event.wait(wait)
        with self._lock:
            self._ended.pop(request_id, None)
            self._current = None
            return "".join(self._captured.pop(request_id, []))

    def pump(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            self.feed(raw.decode("utf-8", errors="replace"))


def _error_payload(error_type: str, message: str) -> bytes:
    return json.dumps({"errorMessage": message, "errorType": error_type}).encode()


_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)


#: Set by the sandbox from its ``function_nice`` option (``chaoskit.envvars``).
FUNCTION_NICE_VAR = "CHAOSKIT_SANDBOX_FUNCTION_NICE"


def _gateway_url() -> str:
    """Where a function's calls go: the function gateway, else LocalStack's own port."""
    return function_gateway.endpoint_url() or f"http://127.0.0.1:{config.GATEWAY_LISTEN[0].port}"


def _lower_priority(pid: int) -> None:
    """Run an environment's process at the sandbox's ``function_nice`` (its processes inherit it).

    LocalStack's threads share one GIL: a function process holding the core that one of
    them wakes up on delays every event behind it (``chaoskit.sandbox.options``).
    """
    nice = int(os.environ.get(FUNCTION_NICE_VAR) or 0)
    if nice > 0:
        try:
            os.setpriority(os.PRIO_PROCESS, pid, os.getpriority(os.PRIO_PROCESS, 0) + nice)
        except OSError as err:  # the process already exited: its invocation reports that
            LOG.debug("cannot lower the priority of process %s: %s", pid, err)


class _Memory:
    """A process's resident memory, from its ``/proc/PID/statm`` opened once.

    statm's second field is VmRSS in pages: one short line, where status takes some
    50. Opening the file for every read cost LocalStack 3% of its CPU under load (one
    read per invocation, for its report); the open file is read again from offset 0.
    Once the process is gone, reads fail and give 0 (never another process's figure).
    """

    def __init__(self, pid: int) -> None:
        try:
            self._fd = os.open(f"/proc/{pid}/statm", os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            self._fd = -1

    def mb(self) -> float:
        if self._fd < 0:
            return 0.0
        try:
            return int(os.pread(self._fd, 256, 0).split()[1]) * _PAGE_MB
        except (OSError, ValueError, IndexError):
            return 0.0

    def __del__(self) -> None:  # closed with its last reference: nobody reads it any more
        if self._fd >= 0:
            os.close(self._fd)


def _memory(proc: subprocess.Popen[bytes]) -> _Memory:
    """The memory reader of ``proc``, made on first use and kept with it (not by pid)."""
    memory: _Memory | None = getattr(proc, "chaoskit_memory", None)
    if memory is None:
        memory = _Memory(proc.pid)
        proc.chaoskit_memory = memory  # type: ignore[attr-defined]
    return memory


class _Channel:
    """One kept-alive HTTP connection to an environment's bootstrap, with ``TCP_NODELAY``.

    LocalStack posts each invocation with ``requests`` on a new connection: the
    connection, its pool and its teardown cost the gateway more than the
    invocation's own hand-over. Used by one invocation at a time (the executor's lock).
    """

    #: Seconds before each new try: the first is at once (a kept-alive connection the
    #: process closed), the others wait for a bootstrap that is not listening yet.
    RETRY_DELAYS = (0.0, 0.1, 0.2, 0.4, 0.8, 1.0)

    def __init__(self, port: int) -> None:
        self.port = port
        self._conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes) -> int:
        """POST ``body`` to ``path``; return the status. Raises ``OSError`` when unreachable."""
        for delay in (*self.RETRY_DELAYS, None):
            try:
                return self._post(path, body)
            except (OSError, http.client.HTTPException):
                self.close()
                if delay is None:
                    raise
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _post(self, path: str, body: bytes) -> int:
        conn = self._conn
        if conn is None:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.connect()
            assert conn.sock is not None
            conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            # No poll before each read and write (http11.kernel_timeouts); a stall past
            # the limit reads as the connection's close and is retried like one.
            http11.kernel_timeouts(conn.sock, 30)
            self._conn = conn
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.will_close:
            self.close()
        return response.status

    def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()


class ProcessRuntimeExecutor(RuntimeExecutor):
    """One Lambda execution environment as one local process."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self.port = get_free_tcp_port()
        self.executor_endpoint = ExecutorEndpoint(
            self.id, container_address="127.0.0.1", container_port=self.port
        )
        self.env_dir = layout.state_dir() / "lambda" / "env" / self.id
        self.process: subprocess.Popen[bytes] | None = None
        self.capture = LogCapture()
        self.env_vars: dict[str, str] = {}
        self.out_of_memory = False
        self.channel = _Channel(self.port)
        self._lock = threading.Lock()
        self._stopped = False
        self.runtime_api: RuntimeApi | None = None  # Node.js: Lambda's Runtime API

    @property
    def is_node(self) -> bool:
        return node.is_node(self.function_version.config.runtime)

    # --- lifecycle -----------------------------------------------------------------
    def start(self, env_vars: dict[str, str]) -> None:
        self.executor_endpoint.start()
        self.env_vars = dict(env_vars)
        if "AWS_ENDPOINT_URL" in self.env_vars:  # unless LAMBDA_DISABLE_AWS_ENDPOINT_URL
            self.env_vars["AWS_ENDPOINT_URL"] = _gateway_url()
        self._spawn()
        self.executor_endpoint.wait_for_startup()

    def _start_runtime_api(self) -> None:
        if self.runtime_api is not None:
            self.runtime_api.stop()
        endpoint = self.executor_endpoint

        def ready() -> None:
            future = endpoint.startup_future
            if future is not None and not future.done():
                future.set_result(True)

        def result(request_id: str, body: bytes, is_error: bool) -> None:
            future = endpoint.invocation_future
            if future is not None and not future.done():
                future.set_result(InvocationResult(request_id, body, is_error, None))

        timeout = float(self.function_version.config.timeout or 3)
        self.runtime_api = RuntimeApi(timeout, ready, result)
        self.runtime_api.start()

    def _command_and_env(self) -> tuple[list[str], dict[str, str]]:
        version = self.function_version
        if self.is_node:
            return self._node_command_and_env()
        python, warning = layout.interpreter_for(version.config.runtime)
        if warning and warning not in _WARNED:
            _WARNED.add(warning)
            LOG.warning(warning)
        task = layout.code_dir(version)
        opt = layout.opt_dir(version)
        tmp = self.env_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        env = layout.rewrite_paths(self.env_vars, opt, task)
        env.update(
            {
                "LAMBDA_TASK_ROOT": str(task),
                "LAMBDA_RUNTIME_DIR": str(BOOTSTRAP.parent),
                "PATH": os.pathsep.join(
                    [
                        str(opt / "bin"),
                        str(Path(python).parent),
                        "/usr/local/bin",
                        "/usr/bin",
                        "/bin",
                    ]
                ),
                "LD_LIBRARY_PATH": str(opt / "lib"),
                "TMPDIR": str(tmp),
                "HOME": str(tmp),
                "LANG": "en_US.UTF-8",
                "PYTHONUNBUFFERED": "1",
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{version.config.runtime}",
            }
        )
        env = {k: str(v) for k, v in env.items()}
        command = [python, "-S", "-u", str(BOOTSTRAP), str(self.port), str(opt)]
        libs = layout.runtime_libs(version.config.runtime, RUNTIME_LIBS)
        command += [os.pathsep.join(str(p) for p in libs), str(os.getpid())]
        return _behind_exec_wrapper(command, env), env

    def _node_command_and_env(self) -> tuple[list[str], dict[str, str]]:
        version = self.function_version
        binary = node.binary_for(version.config.runtime)
        task = layout.code_dir(version)
        opt = layout.opt_dir(version)
        tmp = self.env_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        assert self.runtime_api is not None
        env = layout.rewrite_paths(self.env_vars, opt, task)
        env.update(node.environment(str(version.config.runtime), binary, opt, task, tmp))
        env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{self.runtime_api.port}"
        env = {k: str(v) for k, v in env.items()}
        command = [binary, str(node.BOOTSTRAP), str(node.LOADER)]
        return _behind_exec_wrapper(command, env), env

    def _spawn(self) -> None:
        self.channel.close()  # a new process: the old connection is dead
        if self.is_node:
            self._start_runtime_api()
        command, env = self._command_and_env()
        self.out_of_memory = False
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=env["LAMBDA_TASK_ROOT"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            process_group=0,
        )
        proc = self.process
        _lower_priority(proc.pid)
        threading.Thread(
            target=self.capture.pump, args=(proc.stdout,), name=f"lambda-log-{self.id}", daemon=True
        ).start()
        # The watcher fails only the startup of its own process, never a later one's.
        startup = self.executor_endpoint.startup_future
        threading.Thread(
            target=self._watch, args=(proc, startup), name=f"lambda-watch-{self.id}", daemon=True
        ).start()

    def _watch(self, proc: subprocess.Popen[bytes], future: Future[bool] | None) -> None:
        """Enforce the memory limit during init; fail a startup the process did not survive.

        Once initialised, an environment is watched by the invocation it serves
        (:meth:`_invoke`): Lambda freezes an environment between invocations, and a
        watch of every idle environment 20 times a second cost LocalStack 8% of its CPU
        under load.
        """
        while future is not None and not future.done() and proc.poll() is None:
            if self._over_memory(proc):
                break
            time.sleep(MEMORY_POLL)
        proc.wait()
        if future is not None and not future.done() and not self._stopped:
            logs = "".join(self.capture.lines)[-2000:]
            future.set_exception(
                StatusErrorException(
                    "Environment startup failed",
                    payload=_error_payload(
                        "Runtime.ExitError",
                        f"RequestId: {self.id} Error: Runtime exited with error: "
                        f"{self._exit_reason(proc)}\n{logs}",
                    ),
                )
            )

    def _over_memory(self, proc: subprocess.Popen[bytes]) -> bool:
        """Kill ``proc`` if it holds more than the function's memory size; say if it did."""
        if _memory(proc).mb() <= float(self.function_version.config.memory_size or 128):
            return False
        self.out_of_memory = True
        self._kill(proc)
        return True

    @staticmethod
    def _exit_reason(proc: subprocess.Popen[bytes]) -> str:
        code = proc.returncode
        if code is not None and code < 0:
            return f"signal: {signal.Signals(-code).name.replace('SIG', '').lower()}"
        return f"exit status {code}"

    @staticmethod
    def _kill(proc: subprocess.Popen[bytes]) -> None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def stop(self) -> None:
        self._stopped = True
        self.channel.close()
        proc = self.process
        if self.runtime_api is not None:
            self.runtime_api.stop()
        if proc is not None and proc.poll() is None:
            self._kill(proc)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                LOG.warning("lambda environment %s did not exit after SIGKILL", self.id)
        try:
            self.executor_endpoint.shutdown()
        except Exception as err:
            LOG.debug("error shutting down the endpoint of %s: %s", self.id, err)
        shutil.rmtree(self.env_dir, ignore_errors=True)

    # --- addresses -----------------------------------------------------------------
    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return "127.0.0.1"

    def get_runtime_endpoint(self) -> str:
        return f"{_gateway_url()}{self.executor_endpoint.get_endpoint_prefix()}"

    # --- invocations ---------------------------------------------------------------
    def _restart(self) -> None:
        """Re-initialise after a timeout, an out-of-memory kill or a crash."""
        self.executor_endpoint.startup_future = Future()
        self._spawn()
        self.executor_endpoint.startup_future.result(timeout=STARTUP_TIMEOUT)

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._lock:
            return self._invoke(payload)

    def _invoke(self, payload: dict[str, str]) -> InvocationResult:
        request_id = str(payload.get("invoke-id", ""))
        proc = self.process
        if proc is None or proc.poll() is not None:
            try:
                self._restart()
            except StatusErrorException as err:
                return InvocationResult(request_id, err.payload, True, "".join(self.capture.lines))
            proc = self.process
        assert proc is not None
        endpoint = self.executor_endpoint
        endpoint.invocation_future = Future()
        endpoint.logs = None
        self.capture.begin(request_id)
        started = time.monotonic()
        timeout = float(self.function_version.config.timeout or 3)
        self._deliver(payload)
        result: InvocationResult | None = None
        while result is None:
            remaining = started + timeout - time.monotonic()
            try:
                result = endpoint.invocation_future.result(
                    timeout=max(0.0, min(MEMORY_POLL, remaining))
                )
                break
            except FutureTimeout:
                pass
            if self.out_of_memory or self._over_memory(proc):
                result = self._failed(
                    request_id,
                    "Runtime.OutOfMemory",
                    f"RequestId: {request_id} Error: Runtime exited with error: signal: killed",
                )
            elif proc.poll() is not None:
                result = self._failed(
                    request_id,
                    "Runtime.ExitError",
                    f"RequestId: {request_id} Error: Runtime exited with error: "
                    f"{self._exit_reason(proc)}",
                )
            elif remaining <= 0:
                self._kill(proc)
                proc.wait()
                result = self._failed(
                    request_id,
                    "Sandbox.Timedout",
                    f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
                )
        alive = proc.poll() is None
        logs = self.capture.end(request_id, wait=2.0 if alive else 0.2)
        elapsed_ms = (time.monotonic() - started) * 1000
        version = self.function_version.id.qualifier
        report = (
            f"START RequestId: {request_id} Version: {version}\n{logs}"
            f"END RequestId: {request_id}\n"
            f"REPORT RequestId: {request_id}\tDuration: {elapsed_ms:.2f} ms\t"
            f"Billed Duration: {int(elapsed_ms) + 1} ms\t"
            f"Memory Size: {self.function_version.config.memory_size} MB\t"
            f"Max Memory Used: {int(_memory(proc).mb()) if alive else 0} MB\t\n"
        )
        return InvocationResult(request_id, result.payload, result.is_error, report)

    def _deliver(self, payload: dict[str, str]) -> None:
        """Hand one invocation to the environment: the Runtime API, or the bootstrap's /invoke."""
        endpoint = self.executor_endpoint
        api = self.runtime_api
        if api is not None:
            if api.init_error is not None:  # init failed: every invocation reports it
                request_id = str(payload.get("invoke-id", ""))
                if self.process is not None:  # the runtime exits after reporting it
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(timeout=2)
                assert endpoint.invocation_future is not None
                endpoint.invocation_future.set_result(
                    InvocationResult(request_id, api.init_error, True, None)
                )
                return
            api.deliver(payload)
            return
        status = self.channel.post("/invoke", json.dumps(payload).encode())
        if status != 200:
            raise RuntimeError(f"environment {self.id} refused the invocation: {status}")

    @staticmethod
    def _failed(request_id: str, error_type: str, message: str) -> InvocationResult:
        return InvocationResult(request_id, _error_payload(error_type, message), True, None)

    def get_logs(self) -> str:
        return "".join(self.capture.lines)

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        runtime = function_version.config.runtime
        if node.is_node(runtime):
            node.binary_for(runtime)  # refuse early when no Node.js is installed
        else:
            layout.interpreter_for(runtime)  # refuse other runtimes early
        layout.prepare(function_version)
        if node.is_node(runtime) and function_version.config.code is not None:
            # The AWS SDK that Lambda's Node.js runtimes give, where the code leaves it out.
            code = layout.code_dir(function_version)
            node.provide_sdk(code, layout.opt_dir(function_version))

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True
