"""LocalStack service providers chaoskit overrides.

- ``dynamodb:chaoskit`` and ``dynamodbstreams:chaoskit``: served by moto (LocalStack's
  build of it, in-process), because LocalStack's own providers download Java
  and DynamoDB Local, which an offline machine cannot do; Kinesis streaming
  destinations, which moto lacks, by ``kinesis_destination.py``.
- ``route53:chaoskit``: LocalStack's Route 53 (moto inside) plus health checks
  that really probe their endpoints, ``GetHealthCheckStatus`` and ``TestDNSAnswer``.

Selected with ``PROVIDER_OVERRIDE_<SERVICE>=chaoskit``.
"""

from __future__ import annotations

from typing import Any

from localstack.services.plugins import Service, aws_provider


@aws_provider(api="dynamodb", name="chaoskit")
def dynamodb_chaoskit() -> Service:
    from localstack.aws.api.dynamodb import DynamodbApi
    from localstack.services.moto import MotoFallbackDispatcher

    from . import kinesis_destination as kinesis

    class MotoDynamoDBProvider(DynamodbApi):
        """Every DynamoDB operation answered by moto, but Kinesis streaming destinations,
        which moto lacks (``kinesis_destination.py``)."""

        def enable_kinesis_streaming_destination(
            self, context: Any, table_name: str, stream_arn: str,
            enable_kinesis_streaming_configuration: Any = None, **kwargs: Any,
        ) -> Any:  # fmt: skip
            return kinesis.enable(
                context, table_name, stream_arn, enable_kinesis_streaming_configuration
            )

        def disable_kinesis_streaming_destination(
            self, context: Any, table_name: str, stream_arn: str,
            enable_kinesis_streaming_configuration: Any = None, **kwargs: Any,
        ) -> Any:  # fmt: skip
            return kinesis.disable(context, table_name, stream_arn)

        def describe_kinesis_streaming_destination(
            self, context: Any, table_name: str, **kwargs: Any
        ) -> Any:
            return kinesis.describe(context, table_name)

        def update_kinesis_streaming_destination(
            self, context: Any, table_name: str, stream_arn: str,
            update_kinesis_streaming_configuration: Any = None, **kwargs: Any,
        ) -> Any:  # fmt: skip
            return kinesis.update(
                context, table_name, stream_arn, update_kinesis_streaming_configuration
            )

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
