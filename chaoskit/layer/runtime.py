"""The heart of the layer: decide, for one invocation, which faults fire, and run the handler.

Fail-open is the contract: any error in chaoskit's own machinery means no
fault, one warning line, and the handler called exactly once. Only the faults
themselves (an injected exception, a timeout) make an invocation fail.
"""

import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chaoskit import envvars
from chaoskit.layer import events, extension, log, rolls, tracing, writer
from chaoskit.layer.config import Fault, FaultConfig
from chaoskit.layer.context import LambdaContext
from chaoskit.layer.exceptions import ChaosKitInjectedTimeout, injected_exception_type
from chaoskit.layer.loader import ConfigLoader
from chaoskit.ledger.records import FAULT, FAULT_PREFIX, Record

if TYPE_CHECKING:
    import random

__all__ = ["PING_KEY", "InjectedStatus", "Layer", "Plan"]

PING_KEY = "chaoskit_ping"
_IN_FUNCTION = ("latency", "timeout", "exception", "status")
_DOWNSTREAM = ("sdk_throttle", "http")
_DEFAULT_BODY = '{"message": "injected by chaoskit"}'

Handler = Callable[[Any, Any], Any]


class Plan:
    """What one invocation will do: the faults that fired, the downstream faults to arm."""

    __slots__ = (
        "config", "detail", "downstream", "ended", "fired", "key", "nonce", "ping", "rng",
        "source", "traced",
    )  # fmt: skip

    def __init__(self) -> None:
        self.config: FaultConfig | None = None
        self.ping = False
        self.source = "direct"
        self.fired: list[tuple[Fault, float]] = []
        self.downstream: list[Fault] = []
        self.traced: list[tracing.Traced] = []
        self.detail: dict[str, Any] = {}
        self.key = ""  # what seeded rolls are keyed on
        self.rng: random.Random | None = None  # seeded runs: this invocation's draws
        #: How the handler ended, once it has: (its result, what it raised).
        self.ended: tuple[Any, BaseException | None] | None = None
        self.nonce = ""  # names this invocation in its fault records' ids


def _function_name(context: LambdaContext | None, environ: Mapping[str, str]) -> str:
    name = getattr(context, "function_name", None)
    return str(name or environ.get("AWS_LAMBDA_FUNCTION_NAME") or "unknown")


def _remaining(context: LambdaContext | None) -> float | None:
    """Return the invocation's remaining seconds, ``None`` when the context cannot tell."""
    if context is None:
        return None
    try:
        return max(0.0, float(context.get_remaining_time_in_millis()) / 1000.0)
    except Exception:
        return None


def _remaining_s(context: LambdaContext | None) -> float:
    """Return the invocation's remaining seconds (5 when the context cannot tell)."""
    remaining = _remaining(context)
    return 5.0 if remaining is None else remaining


class Layer:
    """One execution environment's fault injector.

    Args:
        environ: settings source (default ``os.environ``).
        loader: config loader (default: one reading ``environ``).
        rng: random source for rate rolls (inject a seeded ``random.Random`` in tests).
        sleep: how to wait (inject a recorder in tests).
        wall: epoch clock, for ``expires_at``.
        ledger: where traced records go (default: the environment's shared writer,
            which the internal extension flushes after each response).
    """

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        loader: ConfigLoader | None = None,
        rng: "random.Random | None" = None,
        sleep: Callable[[float], None] = time.sleep,
        wall: Callable[[], float] = time.time,
        ledger: writer.LedgerWriter | None = None,
    ) -> None:
        self.environ = os.environ if environ is None else environ
        self.loader = loader or ConfigLoader(self.environ)
        self._rng = rng
        self.sleep = sleep
        self.wall = wall
        self.ledger = ledger or writer.shared()
        self.environment_id = os.urandom(16).hex()
        self.acked_version: str | None = None
        self._ack_retry_at = 0.0

    @property
    def rng(self) -> "random.Random":
        """The random source of rate rolls (created on first use: ``random`` is slow to import)."""
        if self._rng is None:
            import random

            self._rng = random.Random()
        return self._rng

    # --- deciding -------------------------------------------------------------
    def plan(self, event: Any, context: LambdaContext | None) -> Plan:
        """Return what this invocation will do (may raise: the caller fails open)."""
        plan = Plan()
        if isinstance(event, dict) and event.get(PING_KEY) is True:
            plan.ping = True
        config = self.loader.load()
        if config is not None and config.is_expired(self.wall()):
            config = None
        plan.config = config
        qualifier = events.qualifier_of(context)
        if config is not None and self.acked_version != config.version:
            self._acknowledge(config.version, context, qualifier)
        if plan.ping:
            return plan
        plan.source = events.detect_source(event)
        plan.traced = tracing.collect(event, plan.source)
        if plan.traced:
            plan.detail = {
                "function": _function_name(context, self.environ),
                "qualifier": qualifier,
                "request_id": getattr(context, "aws_request_id", None),
                "source": plan.source,
            }
        if config is None:
            return plan
        seed = config.seed
        if seed is not None:
            ids = [t.trace.event_id for t in plan.traced]
            plan.key = rolls.invocation_key(event, ids, getattr(context, "aws_request_id", None))
        for fault in config.faults:
            if not events.matches(fault.match, event, plan.source, qualifier):
                continue
            if seed is not None and plan.rng is None:
                plan.rng = rolls.seeded_random(seed, plan.key)
            if fault.kind in _DOWNSTREAM:
                plan.downstream.append(fault)
                continue
            if seed is None:
                roll = self.rng.random()
            elif plan.traced:
                roll = rolls.batch_roll(seed, fault.position, fault.kind, [
                    rolls.event_key(t.trace.event_id, t.delivery) for t in plan.traced
                ])  # fmt: skip
            else:
                roll = rolls.roll(seed, fault.position, fault.kind, plan.key)
            if roll < fault.rate:
                plan.fired.append((fault, roll))
        plan.fired.sort(key=lambda pair: _IN_FUNCTION.index(pair[0].kind))
        return plan

    def _acknowledge(self, version: str, context: LambdaContext | None, qualifier: str) -> None:
        if not envvars.is_truthy(self.environ.get(envvars.ACK)):
            self.acked_version = version
            return
        now = time.monotonic()
        if now < self._ack_retry_at:
            return
        if tracing.write_ack(
            _function_name(context, self.environ), self.environment_id, version, qualifier
        ):
            self.acked_version = version
        else:  # retry once per TTL, not on every invocation
            self._ack_retry_at = now + self.loader.ttl()

    # --- running ---------------------------------------------------------------
    def invoke(self, handler: Handler, event: Any, context: LambdaContext | None) -> Any:
        """Run ``handler`` for one invocation with whatever faults the config asks for."""
        if envvars.is_truthy(self.environ.get(envvars.DISABLED)):
            return handler(event, context)
        try:
            plan = self.plan(event, context)
        except Exception as err:  # fail open
            log.warning(f"fault layer failed, running the handler without faults: {err!r}")
            return handler(event, context)
        if plan.ping:
            return self.pong(plan)
        watching = bool(plan.fired or plan.downstream)
        if watching:
            log.fired, log.gave_ups = [], {}
            plan.nonce = os.urandom(4).hex()  # before any thread of the handler records
        if plan.downstream:
            log.first_fired = lambda kind, rate: self._first_downstream(plan, context, kind, rate)
        try:
            return self._invoke(plan, handler, event, context)
        finally:
            recorded = bool(plan.fired)  # in-function faults went on record as they fired
            if watching:
                fired, log.fired = log.fired or [], None
                gave_ups, log.gave_ups = log.gave_ups or {}, None
                log.first_fired = None
                downstream = [f for f in fired if f[0] in _DOWNSTREAM]
                recorded = (
                    self._record_faults(plan, context, downstream, gave_ups=gave_ups, event=event)
                    or recorded
                )
            if (plan.traced or recorded) and not extension.active():
                # No post-response phase: write before returning.
                self.ledger.flush(max(0.5, min(_remaining_s(context), 5.0) - 0.05))

    def _invoke(
        self, plan: Plan, handler: Handler, event: Any, context: LambdaContext | None
    ) -> Any:
        traced = bool(plan.traced)
        if traced:
            remaining = _remaining(context)
            # The deadline: when Lambda ends the invocation at the latest (epoch seconds).
            deadline = None if remaining is None else time.time() + remaining
            self.ledger.submit(
                tracing.attempts(plan.traced, plan.source, plan.detail, deadline),
                hold=min(writer.HOLD, (5.0 if remaining is None else remaining) / 4),
            )
        try:
            result, injected = self._run(plan, handler, event, context)
        except BaseException as err:
            plan.ended = (None, err)
            if traced:
                self._record(plan, event, None, err)
            raise
        plan.ended = (result, injected)
        if traced:
            self._record(plan, event, result, injected)
        return result

    def _first_downstream(
        self, plan: Plan, context: LambdaContext | None, kind: str, rate: float
    ) -> None:
        """Put a downstream fault's first firing in this invocation on record before it acts.

        Its other firings, and the calls that gave up on it, go on record when the
        invocation ends, with this firing again (the same record id: counted once). An
        invocation killed at its timeout never gets there, and without this record its
        fault would read "fired 0 times".
        """
        if kind in _DOWNSTREAM:
            self._record_faults(plan, context, [(kind, rate)], hold=0.0)

    def pong(self, plan: Plan) -> dict[str, Any]:
        """Answer a ``{"chaoskit_ping": true}`` event without running the handler."""
        config = plan.config
        return {
            "chaoskit": "pong",
            "environment": self.environment_id,
            "version": config.version if config else None,
            "faults": len(config.faults) if config else 0,
        }

    def _record_faults(
        self, plan: Plan, context: LambdaContext | None, fired: list[tuple[str, float]],
        hold: float = writer.HOLD, gave_ups: Mapping[str, int] | None = None, event: Any = None,
    ) -> bool:  # fmt: skip
        """Put one ``fault`` record per fault that fired in this invocation on the ledger.

        A firing's record id names the invocation (its request id and a random nonce:
        Lambda retries an asynchronous invocation with the same request id), the fault,
        and how many firings of that fault came before it in the invocation; a firing put
        on record twice (before it acts, and when the invocation ends) is counted once.

        The first record of each kind with ``gave_ups`` (calls that ended on that kind's
        injected error: the client retried no more) carries ``gave_up``, their count, and
        ``swallowed``: how many of them the invocation did not answer with a failure. A
        handler that raised, answered an HTTP status of 400 or more, or returned a batch
        response failing as many items as calls gave up swallowed none; one that returned
        success swallowed them all.

        Returns:
            True when records were queued.
        """
        if not fired:
            return False
        try:
            config = plan.config
            run_id = (config.run_id if config else None) or (
                plan.traced[0].trace.run_id if plan.traced else None
            )
            if not run_id:
                return False  # no run to count it in
            candidates = [f for f, _ in plan.fired] + plan.downstream
            request = getattr(context, "aws_request_id", None) or "-"
            if not plan.nonce:
                plan.nonce = os.urandom(4).hex()
            ids = [t.trace.event_id for t in plan.traced]
            now = time.time()
            records = []
            counted: set[str] = set()
            before: dict[tuple[str, int], int] = {}  # firings of each fault so far
            for kind, rate in fired:
                fault = next((f for f in candidates if f.kind == kind and f.rate == rate), None)
                position = fault.position if fault is not None else -1
                index = before.get((kind, position), 0)
                before[kind, position] = index + 1
                detail = {
                    "fault": position,
                    "kind": kind,
                    "function": _function_name(context, self.environ),
                    "request_id": request,
                    "event_ids": ids,
                    "version": config.version if config else "",
                }
                gave_up = (gave_ups or {}).get(kind, 0)
                if gave_up and kind not in counted:
                    counted.add(kind)
                    detail["gave_up"] = gave_up
                    detail["swallowed"] = _swallowed(plan, event, gave_up)
                event_id = f"{FAULT_PREFIX}{request}#{plan.nonce}#{kind}#{position}#{index}"
                records.append(Record(run_id, event_id, FAULT, now, plan.source, detail))
            self.ledger.submit(records, hold=hold)
        except Exception as err:  # recording never changes the outcome
            log.warning(f"could not record fired faults: {err!r}")
            return False
        return True

    def _record(self, plan: Plan, event: Any, result: Any, error: BaseException | None) -> None:
        if not plan.traced:
            return
        try:
            records = tracing.outcomes(plan.traced, plan.source, plan.detail, result, error, event)
        except Exception as err:  # tracing never changes the outcome
            log.warning(f"could not record outcomes: {err!r}")
            return
        self.ledger.submit(records)

    def _run(
        self, plan: Plan, handler: Handler, event: Any, context: LambdaContext | None
    ) -> tuple[Any, BaseException | None]:
        version = plan.config.version if plan.config else ""
        for fault, roll in plan.fired:
            # On record before it acts: a latency or timeout fault may get the
            # invocation killed at its timeout, and the writer thread runs meanwhile.
            self._record_faults(plan, context, [(fault.kind, fault.rate)], hold=0.0)
            response = self._apply(fault, roll, version, context, plan.rng)
            if response is not None:
                return response, InjectedStatus(response["statusCode"])
        disarm = self._arm(plan, version)
        try:
            return handler(event, context), None
        finally:
            if disarm is not None:
                try:
                    disarm()
                except Exception as err:
                    log.warning(f"could not disarm downstream faults: {err!r}")

    def _apply(
        self, fault: Fault, roll: float, version: str, context: LambdaContext | None,
        plan_rng: "random.Random | None" = None,
    ) -> Any:  # fmt: skip
        params = fault.params
        if fault.kind == "latency":
            try:
                if "ms" in params:
                    ms = float(params["ms"])
                else:
                    rng = plan_rng or self.rng
                    ms = rng.uniform(float(params["min_ms"]), float(params["max_ms"]))
            except Exception as err:
                log.warning(f"latency fault skipped: {err!r}")
                return None
            log.fault("latency", version, roll, fault.rate, ms=round(ms, 3))
            self.sleep(ms / 1000.0)
        elif fault.kind == "timeout":
            try:
                if context is None:
                    raise AttributeError("no context object")
                remaining = float(context.get_remaining_time_in_millis())
            except Exception as err:
                log.warning(f"timeout fault skipped: no remaining time in the context: {err!r}")
                return None
            ms = remaining + float(params.get("margin_ms", 50))
            log.fault("timeout", version, roll, fault.rate, ms=round(ms, 3))
            self.sleep(ms / 1000.0)
            raise ChaosKitInjectedTimeout(
                f"Task timed out: chaoskit slept {ms:.0f} ms past the deadline"
            )
        elif fault.kind == "exception":
            name = str(params.get("type") or "ChaosKitInjectedError")
            message = str(params.get("message") or "injected by chaoskit")
            log.fault("exception", version, roll, fault.rate, type=name)
            raise injected_exception_type(name)(message)
        elif fault.kind == "status":
            try:
                return self._status(fault, roll, version)
            except Exception as err:  # fail open
                log.warning(f"status fault skipped: {err!r}")
        return None

    def _status(self, fault: Fault, roll: float, version: str) -> dict[str, Any]:
        params = fault.params
        body = params.get("body", _DEFAULT_BODY)
        if not isinstance(body, str):
            import json

            body = json.dumps(body)
        headers = {"Content-Type": "application/json", **params.get("headers", {})}
        log.fault("status", version, roll, fault.rate, status_code=params["status_code"])
        return {
            "statusCode": params["status_code"],
            "headers": {str(k): str(v) for k, v in headers.items()},
            "body": body,
            "isBase64Encoded": False,
        }

    def _arm(self, plan: Plan, version: str) -> Callable[[], None] | None:
        if not plan.downstream:
            return None
        undo: list[Callable[[], None]] = []
        try:
            sdk = [f for f in plan.downstream if f.kind == "sdk_throttle"]
            http = [f for f in plan.downstream if f.kind == "http"]
            if sdk:
                from chaoskit.layer import sdk as sdk_faults

                undo.append(sdk_faults.arm(sdk, version, plan.rng or self.rng, self.sleep))
            if http:
                from chaoskit.layer import outbound

                undo.append(outbound.arm(http, version, plan.rng or self.rng, self.sleep))
        except Exception as err:  # fail open
            log.warning(f"could not arm downstream faults: {err!r}")
            for step in undo:
                step()
            return None

        def disarm() -> None:
            for step in undo:
                step()

        return disarm


def _swallowed(plan: Plan, event: Any, gave_up: int) -> int:
    """Return how many of ``gave_up`` failed calls the invocation did not answer with a failure."""
    if plan.ended is None:
        return 0  # the handler never ran to an end we saw
    result, error = plan.ended
    if error is not None:
        return 0  # the invocation failed, every event with it
    status = result.get("statusCode") if isinstance(result, dict) else None
    if isinstance(status, int) and status >= 400:
        return 0  # an HTTP answer that tells its caller the request failed
    failed = tracing.failed_count(result, event, plan.source)
    return 0 if failed is None else max(0, gave_up - failed)


class InjectedStatus(Exception):
    """Marks, for the ledger, an invocation answered by a ``status`` fault."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status
