"""The layer's Lambda internal extension: the ledger is written after the response.

Lambda freezes an execution environment once the runtime and every registered
extension have asked for their next event. This module registers a thread of
the runtime process as an internal extension (Extensions API, during init, so
before the runtime's first ``next``) for ``INVOKE`` events. For each
invocation it waits until the handler has finished (:func:`finished`, called by
``chaoskit.layer.handler``), flushes the ledger writer, and only then asks for
the next event. The caller has its response by then: the writes cost the
environment a few milliseconds of post-response time, not the invocation.

Without ``AWS_LAMBDA_RUNTIME_API`` (not in Lambda), with
``CHAOSKIT_LEDGER_FLUSH=inline``, or when registration fails (one warning
line), nothing registers and the layer flushes before it returns instead.
Standard library only.
"""

import json
import os
import threading
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from chaoskit import envvars
from chaoskit.layer import log, writer

if TYPE_CHECKING:
    import http.client

__all__ = ["GRACE", "NAME", "active", "finished", "register", "reset"]

NAME = "chaoskit-ledger"
_API = "/2020-01-01/extension"
_ID_HEADER = "Lambda-Extension-Identifier"
_MARGIN = 0.05  # seconds kept back from the deadline for asking for the next event
#: Seconds the runtime gets to post the response before the ledger is written.
GRACE = 0.005

_cond = threading.Condition()
_finished: deque[str] = deque(maxlen=64)  # request ids whose handler has returned
_active = False
_generation = 0  # bumped by reset(): an older thread then leaves the state alone


def active() -> bool:
    """Tell whether the extension flushes the ledger after each response."""
    return _active


def finished(request_id: str | None) -> None:
    """Mark the handler of ``request_id`` as returned (or raised)."""
    if not _active or not request_id:
        return
    with _cond:
        _finished.append(request_id)
        _cond.notify_all()


def _connect(api: str, timeout: float | None) -> "http.client.HTTPConnection":
    import http.client  # lazy: only in Lambda, at init
    import socket

    conn = http.client.HTTPConnection(api, timeout=timeout)
    conn.connect()
    if conn.sock is not None:  # small requests: do not let Nagle hold them back
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def register(environ: Any = None) -> bool:
    """Register the extension and start its thread; return whether it is active.

    Call during the init phase only: Lambda refuses a registration after the
    runtime's first ``next``.
    """
    global _active
    environ = os.environ if environ is None else environ
    api = environ.get("AWS_LAMBDA_RUNTIME_API")
    mode = (environ.get(envvars.LEDGER_FLUSH) or "after-response").strip().lower()
    if _active or not api or mode == "inline":
        return _active
    if mode != "after-response":
        log.warning(
            f"{envvars.LEDGER_FLUSH}={mode!r} is not 'after-response' or 'inline': "
            "the ledger is written before each response"
        )
        return False
    try:
        conn = _connect(api, 2.0)
        conn.request(
            "POST",
            f"{_API}/register",
            body=json.dumps({"events": ["INVOKE"]}),
            headers={"Lambda-Extension-Name": NAME, "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
        ident = response.getheader(_ID_HEADER)
        conn.close()
        if response.status != 200 or not ident:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
    except Exception as err:
        log.warning(f"could not register the ledger extension, writing inline: {err!r}")
        return False
    _active = True
    threading.Thread(target=_loop, args=(api, ident, _generation), name=NAME, daemon=True).start()
    return True


def _next_event(api: str, ident: str) -> dict[str, Any]:
    conn = _connect(api, None)  # no timeout: the environment may stay frozen for hours
    try:
        conn.request("GET", f"{_API}/event/next", headers={_ID_HEADER: ident})
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
        event: dict[str, Any] = json.loads(body)
        return event
    finally:
        conn.close()


def _settle(event: dict[str, Any]) -> None:
    """Wait for the invocation's handler, then write what it queued, within its deadline."""
    request_id = str(event.get("requestId") or "")
    try:
        deadline = float(event["deadlineMs"]) / 1000.0
    except (KeyError, TypeError, ValueError):
        deadline = time.time() + 3.0
    with _cond:
        while request_id not in _finished:
            left = deadline - _MARGIN - time.time()
            if left <= 0:
                break
            _cond.wait(left)
    ledger = writer.shared()
    if ledger.pending():
        # The runtime is still serializing and posting the response: writing now would
        # compete with it for the GIL (and, in the sandbox, for the one process that
        # serves both Lambda and DynamoDB). Give it a head start.
        time.sleep(GRACE)
        ledger.flush(max(0.0, deadline - _MARGIN - time.time()))


def _loop(api: str, ident: str, generation: int) -> None:
    global _active
    while generation == _generation:
        try:
            event = _next_event(api, ident)
        except Exception as err:  # the runtime API went away: fall back to inline writes
            if generation == _generation:
                _active = False
                log.warning(f"ledger extension stopped, writing inline: {err!r}")
            return
        if event.get("eventType") == "INVOKE":
            _settle(event)
        elif event.get("eventType") == "SHUTDOWN":
            writer.shared().flush(1.0)


def reset() -> None:
    """Forget the registration (tests): the next :func:`register` registers again."""
    global _active, _generation
    with _cond:
        _active = False
        _generation += 1
        _finished.clear()
