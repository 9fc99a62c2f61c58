"""Route 53 with health checks that really probe (filled in below)."""

from __future__ import annotations

from localstack.services.route53.provider import Route53Provider


class HealthCheckingRoute53Provider(Route53Provider):
    """LocalStack's Route 53 provider plus real health checks and TestDNSAnswer."""
