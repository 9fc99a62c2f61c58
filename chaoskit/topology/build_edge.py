"""Build the edge of a topology: aliases, API routes, Route 53, alarms."""

from collections.abc import Mapping
from typing import Any

from chaoskit.topology._builder import Builder
from chaoskit.topology.model import (
    Alarm,
    Alias,
    ApiRoute,
    FailoverRecord,
    HealthCheck,
    Ref,
    Topology,
)

__all__ = [
    "add_alarm",
    "add_alias",
    "add_api_method",
    "add_health_check",
    "add_records",
    "add_sam_routes",
]


def add_alias(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    weights = {}
    for w in ((p.get("RoutingConfig") or {}).get("AdditionalVersionWeights")) or []:
        version = b.r.text(w.get("FunctionVersion")) or "?"
        weights[version] = float(b.r.text(w.get("FunctionWeight")) or 0)
    alias = Alias(
        **b.common(lid, res),
        function=b.r.ref(p.get("FunctionName")),
        alias_name=str(b.r.text(p.get("Name")) or ""),
        routing_weights=weights,
    )
    update = (res.get("UpdatePolicy") or {}).get("CodeDeployLambdaAliasUpdate") or {}
    group = b.r.ref(update.get("DeploymentGroupName"))
    if group is not None:
        dg = (b.resources.get(group.logical_id or "") or {}).get("Properties") or {}
        alias.deployment_type = str(b.r.text(dg.get("DeploymentConfigName")) or "CodeDeploy")
        alarms = ((dg.get("AlarmConfiguration") or {}).get("Alarms")) or []
        alias.rollback_alarms = [
            r for r in (b.r.ref(a.get("Name")) for a in alarms if isinstance(a, Mapping)) if r
        ]
    topo.aliases[lid] = alias


def add_health_check(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    cfg = (res.get("Properties") or {}).get("HealthCheckConfig") or {}
    topo.health_checks[lid] = HealthCheck(
        **b.common(lid, res),
        check_type=str(b.r.text(cfg.get("Type")) or ""),
        target=str(
            b.r.text(cfg.get("FullyQualifiedDomainName")) or b.r.text(cfg.get("IPAddress")) or ""
        ),
        inverted=b.r.flag(cfg.get("Inverted")),
        disabled=b.r.flag(cfg.get("Disabled")),
    )


def add_records(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    sets = p.get("RecordSets") if res.get("Type") == "AWS::Route53::RecordSetGroup" else [p]
    for i, rs in enumerate(sets or []):
        if not isinstance(rs, Mapping) or not rs.get("Failover"):
            continue
        rid = lid if res.get("Type") == "AWS::Route53::RecordSet" else f"{lid}.RecordSets{i}"
        topo.failover_records[rid] = FailoverRecord(
            **{**b.common(lid, res), "logical_id": rid},
            record_name=str(b.r.text(rs.get("Name")) or ""),
            record_type=str(b.r.text(rs.get("Type")) or ""),
            failover=str(b.r.text(rs.get("Failover")) or ""),
            health_check=b.r.ref(rs.get("HealthCheckId")),
            alias_target=rs.get("AliasTarget"),
        )


def add_alarm(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    dims = list(p.get("Dimensions") or [])
    namespace, metric = b.r.text(p.get("Namespace")), b.r.text(p.get("MetricName"))
    for m in p.get("Metrics") or []:
        stat = (m.get("MetricStat") or {}).get("Metric") or {}
        dims.extend(stat.get("Dimensions") or [])
        namespace = namespace or b.r.text(stat.get("Namespace"))
        metric = metric or b.r.text(stat.get("MetricName"))
    watches = [r for r in (b.r.ref(d.get("Value")) for d in dims if isinstance(d, Mapping)) if r]
    topo.alarms[lid] = Alarm(
        **b.common(lid, res),
        namespace=namespace,
        metric_name=metric,
        watches=watches,
        actions=[r for r in (b.r.ref(a) for a in p.get("AlarmActions") or []) if r],
    )


def add_api_method(b: Builder, lid: str, res: Mapping[str, Any], topo: Topology) -> None:
    p = res.get("Properties") or {}
    integration = p.get("Integration") or {}
    uri = integration.get("Uri") or p.get("IntegrationUri")
    ids = [i for i in b.r.referenced(uri) if i in topo.functions or i in topo.aliases]
    if ids:
        topo.routes[lid] = ApiRoute(
            **b.common(lid, res),
            function=Ref(logical_id=ids[0]),
            method=str(b.r.text(p.get("HttpMethod")) or "ANY"),
        )


def add_sam_routes(b: Builder, source: Mapping[str, Any], topo: Topology) -> None:
    for lid, res in source.items():
        if not isinstance(res, Mapping) or res.get("Type") != "AWS::Serverless::Function":
            continue
        for name, event in ((res.get("Properties") or {}).get("Events") or {}).items():
            if not isinstance(event, Mapping) or event.get("Type") not in ("Api", "HttpApi"):
                continue
            props = event.get("Properties") or {}
            rid = f"{lid}.{name}"
            topo.routes[rid] = ApiRoute(
                **{**b.common(lid, {"Type": "AWS::Serverless::Function"}), "logical_id": rid},
                function=Ref(logical_id=lid),
                method=str(props.get("Method") or "ANY").upper(),
                path=str(props.get("Path") or "/"),
            )
