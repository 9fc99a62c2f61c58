"""The orders pipeline: the reference serverless app chaoskit's experiments attack.

One package, one handler per function:

- ``orders.ingest.handler``   API Gateway -> SQS ``orders-queue``
- ``orders.worker.handler``   SQS (partial batch responses) -> payments -> DynamoDB -> notifier
- ``orders.notifier.handler`` async, failures to an on-failure destination
- ``orders.stream.handler``   Kinesis, bisect on error, skipped records to a destination
- ``orders.step.handler``     the task of the ``orders-workflow`` state machine
- ``orders.broken``           the same handlers with the classic bug: errors swallowed
"""
