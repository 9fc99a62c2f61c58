"""Route 53 health checks that really probe their endpoints, at their interval.

Runs inside LocalStack. A background thread walks moto's Route 53 health checks
(every account), probes each one when it is due (HTTP, HTTPS, *_STR_MATCH, TCP;
CALCULATED from its children) and keeps its status with Route 53's rules:
``FailureThreshold`` consecutive results flip it, ``Inverted`` reverses it,
``Disabled`` makes it healthy without probing. The interval is the check's
``RequestInterval``, or ``CHAOSKIT_SANDBOX_HEALTH_INTERVAL`` seconds when set.
"""

from __future__ import annotations

import http.client
import logging
import os
import socket
import ssl
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

LOG = logging.getLogger(__name__)

CONNECT_TIMEOUT = 4.0  # Route 53: 4 s to connect
READ_TIMEOUT = 2.0  # then 2 s to the first byte
SEARCH_BYTES = 5120


def flag(value: Any) -> bool:
    """Read a boolean moto may keep as a string ("false" after an UpdateHealthCheck)."""
    if isinstance(value, str):
        return value.strip().lower() == "true"
    return bool(value)


@dataclass
class CheckState:
    """What the checker knows about one health check."""

    healthy: bool | None = None  # raw endpoint health after FailureThreshold, None before a probe
    streak_ok: int = 0
    streak_fail: int = 0
    last_probe: float = 0.0
    last_detail: str = ""
    checked_at: float = field(default_factory=time.time)


def probe(check: Any) -> tuple[bool, str]:
    """Probe one endpoint once; return (success, Route 53-style detail)."""
    kind = str(check.type_ or "HTTP").upper()
    host = check.ip_address or check.fqdn or "127.0.0.1"
    port = int(check.port or (443 if kind.startswith("HTTPS") else 80))
    if kind == "TCP":
        try:
            with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT):
                return True, f"Success: TCP connection established. Resolved IP: {host}"
        except OSError as err:
            return False, f"Failure: TCP connection to {host}:{port} failed: {err}"
    path = check.resource_path or "/"
    if not path.startswith("/"):
        path = "/" + path
    try:
        if kind.startswith("HTTPS"):
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE  # Route 53 does not validate certificates
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=CONNECT_TIMEOUT, context=context
            )
        else:
            conn = http.client.HTTPConnection(host, port, timeout=CONNECT_TIMEOUT)
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(READ_TIMEOUT)
        headers = {"Host": check.fqdn or host, "User-Agent": "Amazon-Route53-Health-Check-Service"}
        conn.request("GET", path, headers=headers)
        response = conn.getresponse()
        body = response.read(SEARCH_BYTES)
        conn.close()
    except (OSError, http.client.HTTPException) as err:
        return False, f"Failure: connection to {host}:{port} failed: {err}"
    status = response.status
    if not 200 <= status < 400:
        return False, f"Failure: HTTP Status Code {status}. Resolved IP: {host}"
    if kind.endswith("STR_MATCH"):
        wanted = (check.search_string or "").encode()
        if wanted not in body:
            return False, f"Failure: search string not found in response body. Resolved IP: {host}"
    return True, f"Success: HTTP Status Code {status}, OK. Resolved IP: {host}"


class HealthChecker:
    """Probes every Route 53 health check at its interval; answers what is healthy."""

    def __init__(self) -> None:
        self.states: dict[str, CheckState] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="route53-probe")
        self._in_flight: set[str] = set()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the probing thread (idempotent)."""
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="route53-health", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop probing."""
        self._stop.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    @staticmethod
    def _interval(check: Any) -> float:
        override = os.environ.get("CHAOSKIT_SANDBOX_HEALTH_INTERVAL")
        if override:
            return float(override)
        return float(check.request_interval or 30)

    @staticmethod
    def _all_checks() -> dict[str, Any]:
        from moto.route53.models import route53_backends

        checks: dict[str, Any] = {}
        for _account, partitions in list(route53_backends.items()):
            for _partition, backend in list(partitions.items()):
                checks.update(backend.health_checks)
        return checks

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            try:
                checks = self._all_checks()
            except Exception as err:  # moto's backends are being reset
                LOG.debug("route53 health: cannot list checks: %s", err)
                continue
            now = time.time()
            with self._lock:
                for gone in set(self.states) - set(checks):
                    self.states.pop(gone, None)
                for check_id, check in checks.items():
                    state = self.states.setdefault(check_id, CheckState())
                    kind = str(check.type_ or "").upper()
                    if flag(check.disabled) or kind in ("CALCULATED", "CLOUDWATCH_METRIC"):
                        continue
                    if check_id in self._in_flight or now - state.last_probe < self._interval(
                        check
                    ):
                        continue
                    state.last_probe = now
                    self._in_flight.add(check_id)
                    self._pool.submit(self._probe, check_id, check)

    def _probe(self, check_id: str, check: Any) -> None:
        try:
            ok, detail = probe(check)
        finally:
            with self._lock:
                self._in_flight.discard(check_id)
        threshold = int(check.failure_threshold or 3)
        with self._lock:
            state = self.states.setdefault(check_id, CheckState())
            state.last_detail, state.checked_at = detail, time.time()
            if ok:
                state.streak_ok, state.streak_fail = state.streak_ok + 1, 0
            else:
                state.streak_ok, state.streak_fail = 0, state.streak_fail + 1
            if state.healthy is None:
                state.healthy = ok  # a new check takes its first result
            elif ok and state.streak_ok >= threshold:
                state.healthy = True
            elif not ok and state.streak_fail >= threshold:
                state.healthy = False

    def is_healthy(self, check_id: str, _depth: int = 0) -> bool:
        """Tell whether Route 53 considers the check healthy (unknown checks are healthy)."""
        checks = self._all_checks()
        check = checks.get(check_id)
        if check is None:
            return True
        if flag(check.disabled):
            return True
        if str(check.type_ or "").upper() == "CALCULATED" and _depth < 5:
            children = list(check.children or [])
            healthy_children = sum(self.is_healthy(c, _depth + 1) for c in children)
            wanted = int(check.health_threshold or len(children))
            raw = healthy_children >= wanted
        else:
            with self._lock:
                state = self.states.get(check_id)
                raw = True if state is None or state.healthy is None else state.healthy
        return (not raw) if flag(check.inverted) else raw

    def observation(self, check_id: str) -> tuple[str, float]:
        """Return the status text (``Success: ...``/``Failure: ...``) and when it was checked."""
        checks = self._all_checks()
        check = checks.get(check_id)
        if check is not None and flag(check.disabled):
            return "Success: health check is disabled; Route 53 considers it healthy", time.time()
        healthy = self.is_healthy(check_id)
        with self._lock:
            state = self.states.get(check_id) or CheckState()
            detail, checked = state.last_detail, state.checked_at
        detail = detail.split(": ", 1)[1] if ": " in detail else "no probe yet"
        inverted = " (inverted)" if check is not None and flag(check.inverted) else ""
        return f"{'Success' if healthy else 'Failure'}{inverted}: {detail}", checked


CHECKER = HealthChecker()
