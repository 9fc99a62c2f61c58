"""CloudFormation with the SAM transform on the sandbox, through plain boto3.

What ``aws cloudformation deploy``, ``sam deploy`` and CDK do underneath: code
in S3, a SAM template, create (directly and through a change set), update,
delete; the functions the stack creates really run.
"""

import http.server
import json
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.sandbox import unique, wait_for, zip_files

CFN = Path(__file__).with_name("cfn")
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"]


def _settled(cfn: Any, stack: str, timeout: float = 180) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        found: dict[str, Any] = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        return None if found["StackStatus"].endswith("_IN_PROGRESS") else found

    settled: dict[str, Any] = wait_for(done, timeout, interval=0.5, what=f"stack {stack}")
    return settled


def _failures(cfn: Any, stack: str) -> list[str]:
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    return [
        f"{e['LogicalResourceId']}: {e.get('ResourceStatusReason')}"
        for e in events
        if e["ResourceStatus"].endswith("FAILED")
    ]


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def _physical(cfn: Any, stack: str) -> dict[str, str]:
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    return {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}


@pytest.fixture
def code(aws: Callable[[str], Any]) -> dict[str, str]:
    """A bucket holding the recorder function's zip and the workflow definition."""
    s3 = aws("s3")
    bucket = unique("cfn-code")
    s3.create_bucket(Bucket=bucket)
    app = (CFN / "recorder" / "app.py").read_text()
    s3.put_object(Bucket=bucket, Key="recorder.zip", Body=zip_files({"app.py": app}))
    s3.put_object(
        Bucket=bucket, Key="workflow.asl.json", Body=(CFN / "workflow.asl.json").read_bytes()
    )
    return {"bucket": bucket, "key": "recorder.zip", "definition": "workflow.asl.json"}


def _seen(aws: Callable[[str], Any], table: str, ident: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        aws("dynamodb").get_item(TableName=table, Key={"id": {"S": ident}}).get("Item")
    )
    return item


def test_a_sam_stack_is_created_runs_is_updated_and_deleted(
    aws: Callable[[str], Any], code: dict[str, str]
) -> None:
    cfn, sqs, lam = aws("cloudformation"), aws("sqs"), aws("lambda")
    stack = unique("queue-app")
    params = [
        {"ParameterKey": "CodeBucket", "ParameterValue": code["bucket"]},
        {"ParameterKey": "CodeKey", "ParameterValue": code["key"]},
    ]
    cfn.create_stack(
        StackName=stack,
        TemplateBody=(CFN / "queue_app.yaml").read_text(),
        Parameters=params,
        Capabilities=CAPABILITIES,
    )
    created = _settled(cfn, stack)
    assert created["StackStatus"] == "CREATE_COMPLETE", _failures(cfn, stack)
    outputs = _outputs(created)
    physical = _physical(cfn, stack)
    # The transform expanded the function into its role and its event source mapping.
    assert {"Recorder", "RecorderRole", "RecorderFromOrders", "Orders", "Seen"} <= set(physical)
    redrive = sqs.get_queue_attributes(QueueUrl=outputs["QueueUrl"], AttributeNames=["All"])
    assert outputs["DeadLetterArn"] in redrive["Attributes"]["RedrivePolicy"]
    # The table is served by the sandbox's DynamoDB, with its stream.
    table = aws("dynamodb").describe_table(TableName=outputs["TableName"])["Table"]
    assert table["LatestStreamArn"]

    sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody="order-1")
    item = wait_for(
        lambda: _seen(aws, outputs["TableName"], "order-1"), 60, what="order-1 recorded"
    )
    assert item["flavor"]["S"] == "first"

    cfn.update_stack(
        StackName=stack,
        TemplateBody=(CFN / "queue_app.yaml").read_text(),
        Parameters=[*params, {"ParameterKey": "Flavor", "ParameterValue": "second"}],
        Capabilities=CAPABILITIES,
    )
    updated = _settled(cfn, stack)
    assert updated["StackStatus"] == "UPDATE_COMPLETE", _failures(cfn, stack)
    function = physical["Recorder"]
    env = lam.get_function_configuration(FunctionName=function)["Environment"]["Variables"]
    assert env["FLAVOR"] == "second"
    sqs.send_message(QueueUrl=outputs["QueueUrl"], MessageBody="order-2")
    item = wait_for(
        lambda: _seen(aws, outputs["TableName"], "order-2"), 60, what="order-2 recorded"
    )
    assert item["flavor"]["S"] == "second"

    cfn.delete_stack(StackName=stack)

    def gone() -> bool:
        try:
            cfn.describe_stacks(StackName=stack)
        except cfn.exceptions.ClientError:
            return True
        return False

    wait_for(gone, 120, interval=0.5, what=f"stack {stack} deleted")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_configuration(FunctionName=function)


class _Health:
    """An HTTP endpoint on 127.0.0.1 answering 200 to every GET."""

    def __init__(self) -> None:
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_every_wired_resource_kind_is_created_through_a_change_set(
    aws: Callable[[str], Any], code: dict[str, str]
) -> None:
    cfn, r53, sfn = aws("cloudformation"), aws("route53"), aws("stepfunctions")
    health = _Health()
    stack = unique("wiring")
    zone_name = f"{stack}.example.test"
    change_set = cfn.create_change_set(
        StackName=stack,
        ChangeSetName="first",
        ChangeSetType="CREATE",
        TemplateBody=(CFN / "wiring.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "CodeBucket", "ParameterValue": code["bucket"]},
            {"ParameterKey": "CodeKey", "ParameterValue": code["key"]},
            {"ParameterKey": "DefinitionKey", "ParameterValue": code["definition"]},
            {"ParameterKey": "ZoneName", "ParameterValue": zone_name},
            {"ParameterKey": "HealthPort", "ParameterValue": str(health.port)},
        ],
        Capabilities=CAPABILITIES,
    )

    def ready() -> dict[str, Any] | None:
        found: dict[str, Any] = cfn.describe_change_set(ChangeSetName=change_set["Id"])
        return found if found["Status"] in ("CREATE_COMPLETE", "FAILED") else None

    described = wait_for(ready, 60, interval=0.5, what="change set")
    assert described["Status"] == "CREATE_COMPLETE", described.get("StatusReason")
    cfn.execute_change_set(ChangeSetName=change_set["Id"])
    try:
        created = _settled(cfn, stack)
        assert created["StackStatus"] == "CREATE_COMPLETE", _failures(cfn, stack)
        physical = _physical(cfn, stack)
        # Nothing was merely pretended: every resource has a real physical id.
        assert [k for k, v in physical.items() if not v or v == "unknown"] == []
        outputs = _outputs(created)
        assert outputs["ZoneId"] == physical["Zone"]
        assert outputs["WorkerAlias"].endswith(":live")
        answer = wait_for(
            lambda: r53.test_dns_answer(
                HostedZoneId=outputs["ZoneId"], RecordName=f"api.{zone_name}", RecordType="CNAME"
            )["RecordData"],
            30,
            what="failover answer",
        )
        assert answer == ["primary.example.test"]
        machine = sfn.describe_state_machine(stateMachineArn=outputs["Machine"])
        assert physical["Worker"] in machine["definition"]  # substituted from S3
    finally:
        cfn.delete_stack(StackName=stack)
        health.server.shutdown()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            cfn.describe_stacks(StackName=stack)
        except cfn.exceptions.ClientError:
            break
        time.sleep(0.5)
    with pytest.raises(r53.exceptions.NoSuchHostedZone):
        r53.get_hosted_zone(Id=outputs["ZoneId"])


def test_a_tables_kinesis_stream_specification_deploys_and_streams_its_changes(
    aws: Callable[[str], Any],
) -> None:
    # serverless-patterns' apigw-lambda-dynamodb-kinesis-lambda rolled back here: the
    # sandbox's DynamoDB had no EnableKinesisStreamingDestination.
    cfn, kinesis = aws("cloudformation"), aws("kinesis")
    stack = unique("kds-app")
    template = """
Resources:
  Stream:
    Type: AWS::Kinesis::Stream
    Properties: {ShardCount: 1}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
      BillingMode: PAY_PER_REQUEST
      KinesisStreamSpecification:
        StreamArn: !GetAtt Stream.Arn
        ApproximateCreationDateTimePrecision: MICROSECOND
Outputs:
  TableName: {Value: !Ref Table}
  StreamName: {Value: !Ref Stream}
"""
    cfn.create_stack(StackName=stack, TemplateBody=template)
    created = _settled(cfn, stack)
    assert created["StackStatus"] == "CREATE_COMPLETE", _failures(cfn, stack)
    outputs = _outputs(created)
    aws("dynamodb").put_item(TableName=outputs["TableName"], Item={"id": {"S": "order-1"}})
    [shard] = kinesis.list_shards(StreamName=outputs["StreamName"])["Shards"]
    iterator = kinesis.get_shard_iterator(
        StreamName=outputs["StreamName"], ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
    )["ShardIterator"]
    [record] = wait_for(
        lambda: kinesis.get_records(ShardIterator=iterator)["Records"], 20, what="the change"
    )
    change = json.loads(record["Data"])
    assert (change["eventName"], change["tableName"]) == ("INSERT", outputs["TableName"])
    assert change["dynamodb"]["NewImage"] == {"id": {"S": "order-1"}}
    # The specification's precision: microseconds, and the record says so.
    assert change["dynamodb"]["ApproximateCreationDateTimePrecision"] == "MICROSECOND"
    assert abs(change["dynamodb"]["ApproximateCreationDateTime"] / 1e6 - time.time()) < 60
    cfn.delete_stack(StackName=stack)
