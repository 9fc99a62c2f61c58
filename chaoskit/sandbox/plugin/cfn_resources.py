"""CloudFormation resource types LocalStack Community lacks, for the sandbox's CloudFormation.

LocalStack's CloudFormation engine creates a resource through a "resource
provider" plugin per type and, by default, pretends to create any type it has no
provider for (physical id ``unknown``). A failover pair in a template needs its
hosted zone, so these types get real providers here:

- ``AWS::Route53::HostedZone``: create, update (comment), delete; ``Ref`` is the
  zone id without its ``/hostedzone/`` prefix, ``Fn::GetAtt NameServers``/``Id``
  as on AWS.

Registered under the entry-point group
``localstack.cloudformation.resource_providers`` by ``chaoskit.sandbox.install``.
"""

from __future__ import annotations

import uuid
from typing import Any

from localstack.services.cloudformation.resource_provider import (
    CloudFormationResourceProviderPlugin,
    OperationStatus,
    ProgressEvent,
    ResourceProvider,
    ResourceRequest,
)

__all__ = ["HostedZoneProvider", "HostedZoneProviderPlugin"]

HOSTED_ZONE_SCHEMA: dict[str, Any] = {
    "typeName": "AWS::Route53::HostedZone",
    "properties": {
        "Id": {"type": "string"},
        "Name": {"type": "string"},
        "HostedZoneConfig": {"type": "object"},
        "HostedZoneTags": {"type": "array"},
        "NameServers": {"type": "array"},
        "QueryLoggingConfig": {"type": "object"},
        "VPCs": {"type": "array"},
    },
    "required": ["Name"],
    "createOnlyProperties": ["/properties/Name", "/properties/VPCs"],
    "readOnlyProperties": ["/properties/Id", "/properties/NameServers"],
    "primaryIdentifier": ["/properties/Id"],
}


def _zone_id(raw: str) -> str:
    return raw.rsplit("/", 1)[-1]


class HostedZoneProvider(ResourceProvider[dict[str, Any]]):
    """``AWS::Route53::HostedZone`` served by the sandbox's Route 53."""

    TYPE = "AWS::Route53::HostedZone"
    SCHEMA = HOSTED_ZONE_SCHEMA

    def create(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        """Create the zone (private when ``VPCs`` are given) and tag it."""
        model = request.desired_state
        route53 = request.aws_client_factory.route53
        params: dict[str, Any] = {
            "Name": model["Name"],
            "CallerReference": f"{request.stack_name}-{request.logical_resource_id}-"
            f"{uuid.uuid4().hex[:8]}",
        }
        config = dict(model.get("HostedZoneConfig") or {})
        vpcs = model.get("VPCs") or []
        if vpcs:
            config["PrivateZone"] = True
            params["VPC"] = {"VPCId": vpcs[0]["VPCId"], "VPCRegion": vpcs[0]["VPCRegion"]}
        if config:
            params["HostedZoneConfig"] = config
        created = route53.create_hosted_zone(**params)
        zone_id = _zone_id(created["HostedZone"]["Id"])
        tags = model.get("HostedZoneTags") or []
        if tags:
            route53.change_tags_for_resource(
                ResourceType="hostedzone", ResourceId=zone_id, AddTags=tags
            )
        model["Id"] = zone_id
        model["NameServers"] = list((created.get("DelegationSet") or {}).get("NameServers") or [])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def read(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        """Describe the zone."""
        model = request.desired_state
        found = request.aws_client_factory.route53.get_hosted_zone(Id=model["Id"])
        model["NameServers"] = list((found.get("DelegationSet") or {}).get("NameServers") or [])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def update(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        """Update the zone's comment (its name cannot change: a new name replaces it)."""
        model = request.desired_state
        previous = request.previous_state or {}
        model["Id"] = previous.get("Id") or model.get("Id")
        model["NameServers"] = previous.get("NameServers") or []
        comment = (model.get("HostedZoneConfig") or {}).get("Comment")
        if comment is not None:
            request.aws_client_factory.route53.update_hosted_zone_comment(
                Id=model["Id"], Comment=comment
            )
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)

    def delete(self, request: ResourceRequest[dict[str, Any]]) -> ProgressEvent[dict[str, Any]]:
        """Delete the zone (its record sets are separate resources, deleted before it)."""
        model = request.desired_state
        request.aws_client_factory.route53.delete_hosted_zone(Id=model["Id"])
        return ProgressEvent(status=OperationStatus.SUCCESS, resource_model={})


class HostedZoneProviderPlugin(CloudFormationResourceProviderPlugin):
    """Plugin entry for ``AWS::Route53::HostedZone``."""

    name = "AWS::Route53::HostedZone"

    def __init__(self) -> None:
        self.factory: type[ResourceProvider[Any]] | None = None

    def load(self) -> None:
        self.factory = HostedZoneProvider
