"""The layer's own AWS clients, created on first use.

boto3 is imported only here and only when the layer first needs AWS (an SSM
config, a ledger write, an ack), never at import time. Clients honour
``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>`` through boto3 itself.
Calls made through :func:`call` are marked internal so that an
``sdk_throttle`` fault never throttles chaoskit's own traffic.
"""

import os
import threading
from typing import Any

__all__ = ["call", "client", "is_internal", "reset"]

_lock = threading.Lock()
_clients: dict[str, Any] = {}
_internal = threading.local()


def client(service: str) -> Any:
    """Return the layer's cached client for ``service``."""
    cached = _clients.get(service)
    if cached is None:
        with _lock:
            cached = _clients.get(service)
            if cached is None:
                import boto3  # lazy: only when the layer first talks to AWS
                from botocore.config import Config

                # One quick attempt: a retry backoff would hold the invocation hostage;
                # a failed call costs one warning and, for config, no faults for one TTL.
                config = Config(
                    retries={"mode": "standard", "max_attempts": 1},
                    connect_timeout=2,
                    read_timeout=3,
                )
                # Explicit too, for runtimes whose bundled botocore predates these variables.
                key = "AWS_ENDPOINT_URL_" + service.upper().replace("-", "_")
                endpoint = os.environ.get(key) or os.environ.get("AWS_ENDPOINT_URL") or None
                cached = boto3.session.Session().client(
                    service, config=config, endpoint_url=endpoint
                )
                _clients[service] = cached
    return cached


def call(service: str, operation: str, **kwargs: Any) -> Any:
    """Call ``operation`` (snake_case) on the layer's client, marked as chaoskit's own call."""
    method = getattr(client(service), operation)
    _internal.depth = getattr(_internal, "depth", 0) + 1
    try:
        return method(**kwargs)
    finally:
        _internal.depth -= 1


def is_internal() -> bool:
    """Tell whether the current thread is inside one of the layer's own AWS calls."""
    return bool(getattr(_internal, "depth", 0))


def reset() -> None:
    """Forget cached clients (tests switch endpoints between cases)."""
    with _lock:
        _clients.clear()
