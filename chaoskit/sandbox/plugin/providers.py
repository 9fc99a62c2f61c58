"""LocalStack service providers chaoskit overrides.

- ``dynamodb:chaoskit`` and ``dynamodbstreams:chaoskit``: served by moto (LocalStack's
  build of it, in-process), because LocalStack's own providers download Java
  and DynamoDB Local, which an offline machine cannot do.
- ``route53:chaoskit``: LocalStack's Route 53 (moto inside) plus health checks
  that really probe their endpoints, ``GetHealthCheckStatus`` and ``TestDNSAnswer``.

Selected with ``PROVIDER_OVERRIDE_<SERVICE>=chaoskit``.
"""

from __future__ import annotations

from localstack.services.plugins import Service, aws_provider


@aws_provider(api="dynamodb", name="chaoskit")
def dynamodb_chaoskit() -> Service:
    from localstack.aws.api.dynamodb import DynamodbApi
    from localstack.services.moto import MotoFallbackDispatcher

    class MotoDynamoDBProvider(DynamodbApi):
        """Every DynamoDB operation answered by moto."""

    return Service.for_provider(
        MotoDynamoDBProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )


@aws_provider(api="dynamodbstreams", name="chaoskit")
def dynamodbstreams_chaoskit() -> Service:
    from localstack.aws.api.dynamodbstreams import DynamodbstreamsApi
    from localstack.services.moto import MotoFallbackDispatcher

    class MotoDynamoDBStreamsProvider(DynamodbstreamsApi):
        """Every DynamoDB Streams operation answered by moto."""

    return Service.for_provider(
        MotoDynamoDBStreamsProvider(), dispatch_table_factory=MotoFallbackDispatcher
    )


@aws_provider(api="route53", name="chaoskit")
def route53_chaoskit() -> Service:
    from localstack.services.moto import MotoFallbackDispatcher

    from .route53 import HealthCheckingRoute53Provider

    return Service.for_provider(
        HealthCheckingRoute53Provider(), dispatch_table_factory=MotoFallbackDispatcher
    )
