"""Each audit rule on small templates: found when the hazard is there, silent when it is not."""

from collections.abc import Callable
from pathlib import Path

from chaoskit.audit import audit_templates

Audit = Callable[..., set[tuple[str, str]]]

QUEUE_AND_CONSUMER = """
Resources:
  Dlq:
    Type: AWS::SQS::Queue
    Properties:
      MessageRetentionPeriod: {dlq_retention}
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: {visibility}
      RedrivePolicy: {redrive}
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c):\\n    return None\\n"
      Timeout: 10
      ReservedConcurrentExecutions: {reserved}
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Orders.Arn
            BatchSize: {batch}
            MaximumBatchingWindowInSeconds: 5
            {extra}
  DlqAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/SQS
      MetricName: ApproximateNumberOfMessagesVisible
      Dimensions: [{{Name: QueueName, Value: !GetAtt Dlq.QueueName}}]
      Statistic: Maximum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
"""


def _queue(**kw: object) -> str:
    values = {
        "dlq_retention": 1209600,
        "visibility": 65,
        "redrive": "{deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 5}",
        "reserved": 10,
        "batch": 10,
        "extra": "FunctionResponseTypes: [ReportBatchItemFailures]\n"
        "            ScalingConfig: {MaximumConcurrency: 5}",
    }
    values.update(kw)
    return QUEUE_AND_CONSUMER.format(**values)


def test_a_well_configured_queue_and_consumer_has_no_finding(audit: Audit) -> None:
    assert audit(_queue()) == set()


def test_dlq_in_object_form_with_getatt_is_not_flagged_for_redrive(audit: Audit) -> None:
    found = audit(_queue())
    assert ("sqs-no-redrive-policy", "Dlq") not in found


def test_dlq_named_in_a_json_string_policy_is_not_flagged_for_redrive(audit: Audit) -> None:
    body = """
    Resources:
      Dlq:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: orders-dlq
          MessageRetentionPeriod: 1209600
      Orders:
        Type: AWS::SQS::Queue
        Properties:
          RedrivePolicy: !Sub '{"deadLetterTargetArn": "${Dlq.Arn}", "maxReceiveCount": 5}'
      Other:
        Type: AWS::SQS::Queue
        Properties:
          RedrivePolicy: >-
            {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:orders-dlq", "maxReceiveCount": 9}
    """
    found = audit(body, sam=False)
    assert ("sqs-no-redrive-policy", "Dlq") not in found
    assert ("sqs-no-redrive-policy", "Orders") not in found
    assert ("dlq-no-alarm", "Dlq") in found


def test_queue_without_redrive_is_flagged(audit: Audit) -> None:
    assert ("sqs-no-redrive-policy", "Orders") in audit(_queue(redrive="!Ref AWS::NoValue"))


def test_low_max_receive_count(audit: Audit) -> None:
    found = audit(_queue(redrive="{deadLetterTargetArn: !GetAtt Dlq.Arn, maxReceiveCount: 1}"))
    assert found == {("sqs-max-receive-count-low", "Orders")}


def test_visibility_timeout_counts_six_timeouts_plus_the_window(audit: Audit) -> None:
    # 6 x 10 s + 5 s window = 65: 64 is short, 65 is enough
    assert audit(_queue(visibility=64)) == {("sqs-visibility-timeout-short", "Orders")}
    assert audit(_queue(visibility=65)) == set()


def test_partial_batch_response_needed_above_one(audit: Audit) -> None:
    extra = "ScalingConfig: {MaximumConcurrency: 5}"
    assert audit(_queue(extra=extra)) == {("sqs-no-partial-batch-response", "Worker/Queue")}
    assert audit(_queue(extra=extra, batch=1)) == set()


def test_dlq_retention_must_exceed_the_source(audit: Audit) -> None:
    assert audit(_queue(dlq_retention=345600)) == {("sqs-dlq-retention-not-longer", "Dlq")}


def test_poller_concurrency_against_reserved_concurrency(audit: Audit) -> None:
    no_limit = "FunctionResponseTypes: [ReportBatchItemFailures]"
    assert audit(_queue(extra=no_limit)) == {("esm-concurrency-above-reserved", "Worker/Queue")}
    over = no_limit + "\n            ScalingConfig: {MaximumConcurrency: 20}"
    assert audit(_queue(extra=over)) == {("esm-concurrency-above-reserved", "Worker/Queue")}
    assert ("lambda-reserved-concurrency-zero", "Worker") in audit(_queue(reserved=0))


def test_dlq_drained_by_a_filtered_consumer(audit: Audit) -> None:
    body = (
        _queue()
        + """
  Redriver:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c):\\n    return None\\n"
      Events:
        Dead:
          Type: SQS
          Properties:
            Queue: !GetAtt Dlq.Arn
            BatchSize: 1
            FilterCriteria:
              Filters:
                - Pattern: '{"body": {"type": ["order"]}}'
"""
    )
    assert ("sqs-dlq-filtered-consumer", "Redriver/Dead") in audit(body)


STREAM = """
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {{ShardCount: 1}}
  Failures:
    Type: AWS::SQS::Queue
  Reader:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.12
      Handler: app.handler
      InlineCode: "def handler(e, c):\\n    return None\\n"
      Events:
        Records:
          Type: Kinesis
          Properties:
            Stream: !GetAtt Stream.Arn
            StartingPosition: LATEST
            {props}
"""


def test_stream_mapping_rules(audit: Audit) -> None:
    bare = audit(STREAM.format(props="BatchSize: 100"))
    assert {r for r, _ in bare} >= {
        "stream-on-failure-destination",
        "stream-unbounded-retries",
        "stream-no-bisect",
    }
    safe = audit(
        STREAM.format(
            props="BisectBatchOnFunctionError: true\n            MaximumRetryAttempts: 3\n"
            "            DestinationConfig: {OnFailure: {Destination: !GetAtt Failures.Arn}}"
        )
    )
    assert safe == {("dlq-no-alarm", "Failures")}


def test_a_stream_consumers_own_dlq_is_named_as_never_getting_its_records(
    tmp_path: Path,
) -> None:
    # serverless-patterns' apigw-kinesis-lambda-ddb gives its Kinesis consumer a
    # DeadLetterQueue: Lambda uses it for asynchronous invocations only.
    with_dlq = STREAM.format(props="BatchSize: 10").replace(
        "      InlineCode:", "      DeadLetterQueue: {Type: SQS, TargetArn: !GetAtt Failures.Arn}\n"
        "      InlineCode:",
    )  # fmt: skip
    found = {}
    for name, body in (("with", with_dlq), ("without", STREAM.format(props="BatchSize: 10"))):
        template = tmp_path / f"{name}.yaml"
        template.write_text("Transform: AWS::Serverless-2016-10-31\n" + body)
        [finding] = [
            f for f in audit_templates([template]).findings
            if f.rule == "stream-on-failure-destination"
        ]  # fmt: skip
        found[name] = finding
    assert found["with"].evidence["function DeadLetterConfig"] == "Failures"
    assert "dead-letter queue Failures gets only asynchronous" in found["with"].why
    assert "function DeadLetterConfig" not in found["without"].evidence
    assert "asynchronous" not in found["without"].why


def test_async_function_needs_a_failure_destination(audit: Audit) -> None:
    body = """
    Resources:
      Topic:
        Type: AWS::SNS::Topic
      Handler:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.12
          Handler: app.handler
          InlineCode: "def handler(e, c):\\n    return None\\n"
          {config}
          Events:
            Sns:
              Type: SNS
              Properties:
                Topic: !Ref Topic
                RedrivePolicy: {{deadLetterTargetArn: !GetAtt SubDlq.Arn}}
      SubDlq:
        Type: AWS::SQS::Queue
      SubDlqPolicy:
        Type: AWS::SQS::QueuePolicy
        Properties:
          Queues: [!Ref SubDlq]
          PolicyDocument:
            Statement:
              - Effect: Allow
                Principal: {{Service: sns.amazonaws.com}}
                Action: sqs:SendMessage
                Resource: "*"
    """
    found = audit(body.format(config=""))
    assert ("lambda-async-failure-destination", "Handler") in found
    assert ("sns-subscription-no-dlq", "Handler/Sns") not in found
    with_dest = audit(
        body.format(
            config="EventInvokeConfig: {DestinationConfig: {OnFailure: "
            "{Type: SQS, Destination: !GetAtt SubDlq.Arn}}}"
        )
    )
    assert ("lambda-async-failure-destination", "Handler") not in with_dest


def test_eventbridge_target_permission_and_dlq_policy(audit: Audit) -> None:
    body = """
    Resources:
      Fn:
        Type: AWS::Lambda::Function
        Properties:
          Runtime: python3.12
          Handler: index.handler
          Role: arn:aws:iam::123456789012:role/x
          Code: {ZipFile: "def handler(e, c):\\n    return None\\n"}
      Dlq:
        Type: AWS::SQS::Queue
      Rule:
        Type: AWS::Events::Rule
        Properties:
          EventPattern: {source: [shop]}
          Targets:
            - {Id: fn, Arn: !GetAtt Fn.Arn, DeadLetterConfig: {Arn: !GetAtt Dlq.Arn}}
    """
    found = audit(body, sam=False)
    assert ("events-target-not-allowed", "Rule") in found
    assert ("dlq-not-allowed", "Rule") in found
    assert ("lambda-async-failure-destination", "Fn") in found
    allowed = (
        body
        + """
      Permission:
        Type: AWS::Lambda::Permission
        Properties:
          FunctionName: !Ref Fn
          Action: lambda:InvokeFunction
          Principal: events.amazonaws.com
          SourceArn: !GetAtt Rule.Arn
    """
    )
    assert ("events-target-not-allowed", "Rule") not in audit(allowed, sam=False)


def test_target_permission_by_kind(audit: Audit) -> None:
    body = """
    Resources:
      Logs:
        Type: AWS::Logs::LogGroup
      Stream:
        Type: AWS::Kinesis::Stream
        Properties: {ShardCount: 1}
      Queue:
        Type: AWS::SQS::Queue
        Properties:
          RedrivePolicy: {deadLetterTargetArn: arn:aws:sqs:us-east-1:1:x, maxReceiveCount: 5}
      Rule:
        Type: AWS::Events::Rule
        Properties:
          EventPattern: {source: [shop]}
          Targets:
            - {Id: logs, Arn: !GetAtt Logs.Arn, DeadLetterConfig: {Arn: arn:aws:sqs:us-east-1:1:d}}
            - {Id: queue, Arn: !GetAtt Queue.Arn, RoleArn: arn:aws:iam::1:role/r,
               DeadLetterConfig: {Arn: arn:aws:sqs:us-east-1:1:d}}
            - {Id: stream, Arn: !GetAtt Stream.Arn,
               DeadLetterConfig: {Arn: arn:aws:sqs:us-east-1:1:d}}
    """
    # a log group has its own resource policy (not read); a queue target may use a role
    # instead of a queue policy; a Kinesis target needs a role
    found = audit(body, sam=False)
    assert found == {("events-target-not-allowed", "Rule")}
    stream_only = audit(
        body.replace("Arn: !GetAtt Stream.Arn,", "Arn: !GetAtt Stream.Arn, RoleArn: r,", 1),
        sam=False,
    )
    assert stream_only == set()


ASL = """
{"StartAt": "Charge", "States": {
  "Charge": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
             "Parameters": {"FunctionName": "${Fn}"}, %s "End": true}}}
"""


def test_step_functions_retry_and_catch_in_a_definition_file(audit: Audit) -> None:
    body = """
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties: {Runtime: python3.12, Handler: app.handler, InlineCode: x}
      Flow:
        Type: AWS::Serverless::StateMachine
        Properties:
          DefinitionUri: flow.asl.json
          DefinitionSubstitutions: {Fn: !GetAtt Fn.Arn}
          Policies: [{LambdaInvokePolicy: {FunctionName: !Ref Fn}}]
    """
    bare = audit(body, files={"flow.asl.json": ASL % ""})
    assert bare == {("sfn-lambda-task-no-retry", "Flow"), ("sfn-task-no-catch", "Flow")}
    aws_recommended = (
        '"Retry": [{"ErrorEquals": ["Lambda.ServiceException", "Lambda.AWSLambdaException",'
        ' "Lambda.SdkClientException"]}],'
    )
    # names match exactly: AWSLambdaException does not cover TooManyRequestsException
    assert ("sfn-lambda-task-no-retry", "Flow") in audit(
        body, files={"flow.asl.json": ASL % aws_recommended}
    )
    good = (
        '"Retry": [{"ErrorEquals": ["States.ALL"]}],'
        ' "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Charge"}],'
    )
    assert audit(body, files={"flow.asl.json": ASL % good}) == set()


def test_route53_primary_without_health_check_and_canary_without_alarms(audit: Audit) -> None:
    body = """
    Resources:
      Records:
        Type: AWS::Route53::RecordSetGroup
        Properties:
          HostedZoneName: example.com.
          RecordSets:
            - {Name: api.example.com, Type: CNAME, SetIdentifier: a, Failover: PRIMARY,
               TTL: "60", ResourceRecords: [a.example.com]}
            - {Name: api.example.com, Type: CNAME, SetIdentifier: b, Failover: SECONDARY,
               TTL: "60", ResourceRecords: [b.example.com]}
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          Runtime: python3.12
          Handler: app.handler
          InlineCode: x
          AutoPublishAlias: live
          DeploymentPreference: {Type: Canary10Percent5Minutes}
    """
    assert audit(body) == {
        ("route53-failover-no-health-check", "Records/RecordSets0"),
        ("alias-deployment-no-alarms", "Fn/Aliaslive"),
    }


CODE = """
import boto3
from botocore.exceptions import ClientError

table = boto3.resource("dynamodb").Table("orders")

def handler(event, context):
    for record in event["Records"]:
        try:
            table.put_item(Item={"id": record["messageId"]})
        except ClientError as err:
            print("could not write", err)
"""


def test_code_rules_read_the_handler_module(audit: Audit) -> None:
    body = """
    Resources:
      Fn:
        Type: AWS::Serverless::Function
        Properties:
          CodeUri: src/
          Runtime: python3.12
          Handler: app.handler
          {env}
    """
    found = audit(body.format(env=""), files={"src/app.py": CODE})
    assert found == {("code-sdk-no-retry-config", "Fn"), ("code-swallowed-write-error", "Fn")}
    fixed = CODE.replace('print("could not write", err)', "raise")
    env = "Environment: {Variables: {AWS_RETRY_MODE: standard}}"
    assert audit(body.format(env=env), files={"src/app.py": fixed}) == set()
