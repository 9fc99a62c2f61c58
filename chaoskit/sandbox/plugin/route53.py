"""Route 53 with health checks that really probe, GetHealthCheckStatus and TestDNSAnswer.

Runs inside LocalStack; extends its Route 53 provider (moto inside). Failover
records answer the primary while its health check is healthy, else the
secondary; weighted records pick by weight among healthy ones; simple records
answer their values; an alias to a name in the same zone is followed.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

from localstack.aws.api import RequestContext
from localstack.aws.api.route53 import (
    GetHealthCheckResponse,
    GetHealthCheckStatusResponse,
    HealthCheckId,
    HealthCheckRegion,
    NoSuchHealthCheck,
    NoSuchHostedZone,
    RRType,
    TestDNSAnswerResponse,
)
from localstack.services.moto import call_moto
from localstack.services.route53.provider import Route53Provider

from .health import CHECKER, flag

OBSERVER_REGIONS = ("us-east-1", "us-west-1", "eu-west-1")


def _norm(name: str) -> str:
    return name.lower().rstrip(".") + "."


def _values(rrset: Any) -> list[str]:
    out = []
    for record in rrset.records or []:
        out.append(record.get("Value", "") if isinstance(record, dict) else str(record))
    return out


def _healthy(rrset: Any) -> bool:
    return not rrset.health_check or CHECKER.is_healthy(rrset.health_check)


def answer(
    rrsets: list[Any], name: str, rtype: str, zone_rrsets: list[Any], depth: int = 0
) -> list[str]:
    """Return the values Route 53 would answer for ``name``/``rtype`` from ``rrsets``."""
    candidates = [r for r in rrsets if _norm(r.name) == _norm(name) and r.type_ == rtype]
    if not candidates:
        return []
    failover = [r for r in candidates if r.failover]
    if failover:
        primary = next((r for r in failover if str(r.failover).upper() == "PRIMARY"), None)
        secondary = next((r for r in failover if str(r.failover).upper() == "SECONDARY"), None)
        chosen = primary
        if primary is None or not _healthy(primary):
            chosen = secondary if secondary is not None and _healthy(secondary) else primary
            chosen = chosen or secondary
        return _resolve(chosen, rtype, zone_rrsets, depth)
    weighted = [r for r in candidates if r.set_identifier and not r.region and not r.geo_location]
    if weighted:
        pool = [r for r in weighted if _healthy(r) and int(r.weight or 0) > 0]
        pool = pool or [r for r in weighted if int(r.weight or 0) > 0] or weighted
        weights = [max(int(r.weight or 0), 0) for r in pool]
        if sum(weights) == 0:
            weights = [1] * len(pool)
        return _resolve(random.choices(pool, weights=weights)[0], rtype, zone_rrsets, depth)
    healthy = [r for r in candidates if _healthy(r)] or candidates
    return _resolve(healthy[0], rtype, zone_rrsets, depth)


def _resolve(rrset: Any, rtype: str, zone_rrsets: list[Any], depth: int) -> list[str]:
    if rrset is None:
        return []
    alias = rrset.alias_target
    if alias:
        target = alias.get("DNSName", "") if isinstance(alias, dict) else str(alias)
        if depth < 5:
            inner = answer(zone_rrsets, target, rtype, zone_rrsets, depth + 1)
            if inner:
                return inner
        return [target.rstrip(".")]
    return _values(rrset)


class HealthCheckingRoute53Provider(Route53Provider):
    """LocalStack's Route 53 provider plus real health checks and TestDNSAnswer."""

    def on_after_init(self) -> None:
        super().on_after_init()
        CHECKER.start()

    def on_before_stop(self) -> None:
        CHECKER.stop()
        super().on_before_stop()

    @staticmethod
    def _backend(context: RequestContext) -> Any:
        from moto.route53.models import route53_backends

        partition = getattr(context, "partition", None) or "aws"
        return route53_backends[context.account_id][partition]

    def update_health_check(
        self, context: RequestContext, health_check_id: HealthCheckId, *args: Any, **kwargs: Any
    ) -> Any:
        """Update through moto, then store the flags as booleans.

        moto keeps an updated ``Inverted``/``Disabled`` as the request's text
        (``"false"`` is truthy), ignores a ``false`` it is sent, and keeps numbers
        as text; ``GetHealthCheck`` then reported ``Inverted: true`` after an
        update to ``false``.
        """
        response = call_moto(context)
        normalise(self._backend(context).health_checks.get(health_check_id), context.request)
        return response

    def get_health_check(
        self, context: RequestContext, health_check_id: HealthCheckId, **kwargs: Any
    ) -> GetHealthCheckResponse:
        check = self._backend(context).health_checks.get(health_check_id)
        normalise(check, None)
        response = super().get_health_check(context, health_check_id, **kwargs)
        config = response["HealthCheck"]["HealthCheckConfig"]
        for name, attribute in _FLAGS.items():
            config[name] = flag(getattr(check, attribute, False))  # type: ignore[literal-required]
        return response

    def get_health_check_status(
        self, context: RequestContext, health_check_id: str, **kwargs: Any
    ) -> GetHealthCheckStatusResponse:
        CHECKER.start()
        if health_check_id not in self._backend(context).health_checks:
            raise NoSuchHealthCheck(f"A health check with id {health_check_id} does not exist.")
        status, checked = CHECKER.observation(health_check_id)
        when = datetime.fromtimestamp(checked, tz=UTC)
        return GetHealthCheckStatusResponse(
            HealthCheckObservations=[
                {
                    "Region": HealthCheckRegion(region),
                    "IPAddress": "127.0.0.1",
                    "StatusReport": {"Status": status, "CheckedTime": when},
                }
                for region in OBSERVER_REGIONS
            ]
        )

    def test_dns_answer(
        self,
        context: RequestContext,
        hosted_zone_id: str,
        record_name: str,
        record_type: str,
        resolver_ip: str | None = None,
        edns0_client_subnet_ip: str | None = None,
        edns0_client_subnet_mask: str | None = None,
        **kwargs: Any,
    ) -> TestDNSAnswerResponse:
        CHECKER.start()
        zone = self._backend(context).zones.get(hosted_zone_id.replace("/hostedzone/", ""))
        if zone is None:
            raise NoSuchHostedZone(f"No hosted zone found with ID: {hosted_zone_id}")
        rrsets = list(zone.rrsets)
        values = answer(rrsets, record_name, record_type, rrsets)
        exists = any(_norm(r.name) == _norm(record_name) for r in rrsets)
        return TestDNSAnswerResponse(
            Nameserver="127.0.0.1",
            RecordName=_norm(record_name),
            RecordType=RRType(record_type),
            RecordData=values,
            ResponseCode="NOERROR" if exists else "NXDOMAIN",
            Protocol="UDP",
        )


_FLAGS = {"Inverted": "inverted", "Disabled": "disabled", "EnableSNI": "enable_sni"}
_NUMBERS = ("port", "request_interval", "failure_threshold", "health_threshold")


def normalise(check: Any, request: Any) -> None:
    """Store a moto health check's flags as ``"true"``/``"false"`` and its numbers as ints.

    moto's XML templates print the attribute as is (``True`` reads as false to
    an SDK), so the text AWS sends is what they need. With the
    ``UpdateHealthCheck`` request, a flag set there is applied (moto skips a
    falsy one).
    """
    if check is None:
        return
    if request is not None:
        import xml.etree.ElementTree as ElementTree

        try:
            root = ElementTree.fromstring(request.get_data() or b"<x/>")
        except ElementTree.ParseError:
            root = None
        for element in root.iter() if root is not None else ():
            name = element.tag.rsplit("}", 1)[-1]
            if name in _FLAGS and element.text is not None:
                setattr(check, _FLAGS[name], _text(flag(element.text)))
    for attribute in _FLAGS.values():
        setattr(check, attribute, _text(flag(getattr(check, attribute, False))))
    for attribute in _NUMBERS:
        value = getattr(check, attribute, None)
        if isinstance(value, str) and value.strip().isdigit():
            setattr(check, attribute, int(value))


def _text(value: bool) -> str:
    return "true" if value else "false"
