"""The third-party payments API: tenacity retries behind a pybreaker circuit breaker.

- Throttling and unavailability (429, 502, 503, 504, connection errors) are
  retried a few times with exponential backoff, honouring ``Retry-After``.
- Other errors (a 500, a decline) are not retried here: the queue retries the order.
- When the breaker is open the call is not made at all: :func:`charge`
  serves the fallback (the order is kept with its payment deferred), so a
  payments outage neither loses orders nor hammers the provider.
"""

import json
import logging
import os
import urllib.error
import urllib.request
from typing import Any

import pybreaker
from tenacity import (
    retry,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = frozenset({429, 502, 503, 504})


class PaymentsUnavailable(Exception):
    """The provider is throttling or down: worth retrying."""

    def __init__(self, message: str, retry_after: float = 0.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PaymentsError(Exception):
    """The provider answered an error that a retry will not fix."""


def _listeners() -> list[Any]:
    # chaoskit's listener records breaker transitions in the event ledger; the app
    # works the same without it.
    try:
        from chaoskit.layer.breaker import LedgerListener
    except ImportError:
        return []
    return [LedgerListener("payments")]


breaker = pybreaker.CircuitBreaker(
    fail_max=int(os.environ.get("PAYMENTS_BREAKER_FAIL_MAX", "3")),
    reset_timeout=float(os.environ.get("PAYMENTS_BREAKER_RESET_SECONDS", "5")),
    name="payments",
    listeners=_listeners(),
)


def _wait_retry_after(retry_state: Any) -> float:
    backoff = wait_exponential(multiplier=0.05, max=1.0)(retry_state)
    outcome = retry_state.outcome
    exc = outcome.exception() if outcome is not None else None
    hinted = getattr(exc, "retry_after", 0.0) or 0.0
    return float(max(backoff, min(hinted, 1.0)))


@retry(
    retry=retry_if_exception_type(PaymentsUnavailable),
    stop=stop_after_attempt(int(os.environ.get("PAYMENTS_ATTEMPTS", "3"))),
    wait=_wait_retry_after,
    reraise=True,
)
def post_charge(order: dict[str, Any]) -> dict[str, Any]:
    """POST the order to the payments API; return its JSON answer."""
    url = os.environ.get("PAYMENTS_URL", "")
    if not url:
        return {"status": "charged", "provider": "none"}
    data = json.dumps({"order_id": order.get("order_id"), "amount": order.get("amount", 0)})
    request = urllib.request.Request(
        url, data=data.encode(), headers={"content-type": "application/json"}, method="POST"
    )
    timeout = float(os.environ.get("PAYMENTS_TIMEOUT_SECONDS", "1"))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: dict[str, Any] = json.loads(response.read() or b"{}")
            return body
    except urllib.error.HTTPError as err:
        if err.code in RETRYABLE_STATUS:
            retry_after = float(err.headers.get("Retry-After") or 0)
            raise PaymentsUnavailable(f"payments answered {err.code}", retry_after) from err
        raise PaymentsError(f"payments answered {err.code}") from err
    except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
        raise PaymentsUnavailable(f"payments unreachable: {err}") from err


def fallback(order: dict[str, Any], reason: str) -> dict[str, Any]:
    """Keep the order with its payment deferred; a later job charges it."""
    try:
        from chaoskit.layer.breaker import record_fallback
    except ImportError:
        pass
    else:
        event_id = (order.get("chaoskit") or {}).get("event_id")
        if event_id:
            record_fallback(event_id, "payments")
    logger.warning("payments fallback for order %s: %s", order.get("order_id"), reason)
    return {"status": "deferred", "reason": reason}


def charge(order: dict[str, Any]) -> dict[str, Any]:
    """Charge the order through the breaker; serve the fallback while it is open."""
    try:
        result: dict[str, Any] = breaker.call(post_charge, order)
        return result
    except pybreaker.CircuitBreakerError as err:
        # The call that tripped the breaker, or its failed trial, is the error's context:
        # the log then says what the provider answered, not only that the breaker opened.
        cause = err.__context__
        return fallback(order, f"{err}: {cause}" if cause is not None else str(err))
