"""The app's front door: two regional APIs behind a Route 53 failover record.

Each "region" is an API Gateway REST API proxying every path to the ingest
function. A health check per API probes its ``/health`` path, and a failover
CNAME ``api.orders.example.test`` answers the primary while its check is
healthy, the secondary otherwise.

On the sandbox and LocalStack both APIs get fixed ids (LocalStack's
``_custom_id_`` tag), so experiments can name their URLs without reading the
deployment's output; on AWS the ids are AWS's own.
"""

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from botocore.exceptions import ClientError

from chaoskit import aws
from chaoskit.errors import aws_failure

__all__ = ["api_urls", "ensure_failover_record", "ensure_health_check", "ensure_rest_api"]

Config = Mapping[str, Any] | None
STAGE = "prod"


def api_urls(api_id: str, configuration: Config = None) -> dict[str, str]:
    """Return the invoke URL of a REST API stage and the host name DNS should answer."""
    target = aws.resolve_target(configuration)
    if target.is_local and target.endpoint_url:
        base = target.endpoint_url.rstrip("/")
        return {
            "url": f"{base}/_aws/execute-api/{api_id}/{STAGE}",
            "host": f"{api_id}.execute-api.localhost.localstack.cloud",
        }
    host = f"{api_id}.execute-api.{target.region}.amazonaws.com"
    return {"url": f"https://{host}/{STAGE}", "host": host}


def ensure_rest_api(
    name: str, function_arn: str, account: str, configuration: Config = None
) -> dict[str, str]:
    """Ensure a REST API proxying every path to ``function_arn``, deployed to ``prod``.

    Returns:
        ``{"id", "url", "host", "arn"}``; ``url`` is the stage's invoke URL.
    """
    apigw = aws.client("apigateway", configuration)
    target = aws.resolve_target(configuration)
    try:
        existing = [a for a in apigw.get_rest_apis(limit=500)["items"] if a["name"] == name]
        if existing:
            api_id = str(existing[0]["id"])
        else:
            tags = {"_custom_id_": name} if target.is_local else {}
            api_id = str(
                apigw.create_rest_api(
                    name=name, endpointConfiguration={"types": ["REGIONAL"]}, tags=tags
                )["id"]
            )
        resources = apigw.get_resources(restApiId=api_id, limit=500)["items"]
        root = next(r["id"] for r in resources if r["path"] == "/")
        proxy = next((r["id"] for r in resources if r["path"] == "/{proxy+}"), None)
        if proxy is None:
            proxy = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="{proxy+}")[
                "id"
            ]
            apigw.put_method(
                restApiId=api_id, resourceId=proxy, httpMethod="ANY", authorizationType="NONE"
            )
        uri = (
            f"arn:aws:apigateway:{target.region}:lambda:path/2015-03-31/functions/"
            f"{function_arn}/invocations"
        )
        apigw.put_integration(
            restApiId=api_id,
            resourceId=proxy,
            httpMethod="ANY",
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri,
        )
        apigw.create_deployment(restApiId=api_id, stageName=STAGE)
    except ClientError as err:
        raise aws_failure("apigateway:CreateRestApi", name, err) from err
    arn = f"arn:aws:execute-api:{target.region}:{account}:{api_id}/*"
    return {"id": api_id, "arn": arn, **api_urls(api_id, configuration)}


def ensure_health_check(reference: str, url: str, configuration: Config = None) -> str:
    """Ensure an HTTP(S) health check on ``url`` + ``/health``; return its id.

    The caller reference identifies the check: a second deploy finds it again.
    """
    r53 = aws.client("route53", configuration)
    parts = urlsplit(url)
    secure = parts.scheme == "https"
    config: dict[str, Any] = {
        "Type": "HTTPS" if secure else "HTTP",
        "ResourcePath": f"{parts.path.rstrip('/')}/health",
        "Port": parts.port or (443 if secure else 80),
        "RequestInterval": 10,
        "FailureThreshold": 1,
    }
    host = parts.hostname or ""
    if host.replace(".", "").isdigit():
        config["IPAddress"] = host
    else:
        config["FullyQualifiedDomainName"] = host
    try:
        for check in r53.list_health_checks().get("HealthChecks", []):
            if check.get("CallerReference") == reference:
                return str(check["Id"])
        created = r53.create_health_check(CallerReference=reference, HealthCheckConfig=config)
    except ClientError as err:
        raise aws_failure("route53:CreateHealthCheck", reference, err) from err
    return str(created["HealthCheck"]["Id"])


def _ensure_zone(zone: str, configuration: Config) -> str:
    r53 = aws.client("route53", configuration)
    wanted = zone.rstrip(".") + "."
    try:
        for found in r53.list_hosted_zones_by_name(DNSName=wanted).get("HostedZones", []):
            if found["Name"] == wanted:
                return str(found["Id"]).rsplit("/", 1)[-1]
        created = r53.create_hosted_zone(Name=wanted, CallerReference=f"chaoskit-{wanted}")
    except ClientError as err:
        raise aws_failure("route53:CreateHostedZone", zone, err) from err
    return str(created["HostedZone"]["Id"]).rsplit("/", 1)[-1]


def ensure_failover_record(
    zone: str,
    record: str,
    primary: tuple[str, str],
    secondary: tuple[str, str],
    configuration: Config = None,
) -> str:
    """Upsert a failover CNAME pair; ``primary``/``secondary`` are (host, health check id).

    Returns:
        The hosted zone id.
    """
    zone_id = _ensure_zone(zone, configuration)
    r53 = aws.client("route53", configuration)
    changes = [
        {
            "Action": "UPSERT",
            "ResourceRecordSet": {
                "Name": record,
                "Type": "CNAME",
                "SetIdentifier": role.lower(),
                "Failover": role,
                "TTL": 5,
                "HealthCheckId": check,
                "ResourceRecords": [{"Value": host}],
            },
        }
        for role, (host, check) in (("PRIMARY", primary), ("SECONDARY", secondary))
    ]
    try:
        r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
    except ClientError as err:
        raise aws_failure("route53:ChangeResourceRecordSets", record, err) from err
    return zone_id
