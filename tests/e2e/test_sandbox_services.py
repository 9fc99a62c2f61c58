"""The sandbox itself: one endpoint for every service, DynamoDB by moto, up twice is a no-op."""

import json
import subprocess
import sys

from chaoskit import sandbox as chaoskit_sandbox
from tests.support.sandbox import create_function, unique, zip_files


def test_up_twice_says_already_running(sandbox, sandbox_endpoint):
    port = sandbox["chaoskit_sandbox_port"]
    lines: list[str] = []
    assert chaoskit_sandbox.ensure_up(port, progress=lines.append) == sandbox_endpoint
    assert len(lines) == 1 and "already running" in lines[0]
    status = chaoskit_sandbox.status(port)
    assert status["running"] is True and status["pid"] > 0
    assert status["rss_mb"] > 50
    assert status["services"]


def test_status_cli_reports_the_running_sandbox(sandbox):
    port = str(sandbox["chaoskit_sandbox_port"])
    result = subprocess.run(
        [sys.executable, "-m", "chaoskit.cli.main", "sandbox", "status", "--port", port, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["running"] is True


def test_every_service_the_app_uses_answers_at_the_one_endpoint(aws):
    calls = {
        "lambda": lambda c: c.list_functions(),
        "sqs": lambda c: c.list_queues(),
        "sns": lambda c: c.list_topics(),
        "events": lambda c: c.list_event_buses(),
        "kinesis": lambda c: c.list_streams(),
        "dynamodb": lambda c: c.list_tables(),
        "ssm": lambda c: c.describe_parameters(),
        "route53": lambda c: c.list_hosted_zones(),
        "cloudwatch": lambda c: c.describe_alarms(),
        "stepfunctions": lambda c: c.list_state_machines(),
        "apigateway": lambda c: c.get_rest_apis(),
        "logs": lambda c: c.describe_log_groups(),
        "iam": lambda c: c.list_roles(),
        "sts": lambda c: c.get_caller_identity(),
    }
    for service, call in calls.items():
        response = call(aws(service))
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200, service


def test_dynamodb_is_served_offline_and_reachable_from_functions(aws, sandbox):
    from chaoskit.ledger.store import ensure_table

    dynamodb = aws("dynamodb")
    # The ledger's own schema (and TTL), as chaoskit creates it on every target.
    table = ensure_table({**sandbox, "chaoskit_ledger_table": unique("ledger")})
    dynamodb.put_item(TableName=table, Item={"run_id": {"S": "r1"}, "sk": {"S": "a"}})
    items = dynamodb.query(
        TableName=table,
        KeyConditionExpression="run_id = :r",
        ExpressionAttributeValues={":r": {"S": "r1"}},
    )["Items"]
    assert items == [{"run_id": {"S": "r1"}, "sk": {"S": "a"}}]

    name = unique("writer")
    code = (
        "import boto3\n"
        "def handler(event, context):\n"
        "    boto3.client('dynamodb').put_item(TableName=event['table'], Item={\n"
        "        'run_id': {'S': 'r1'}, 'sk': {'S': context.aws_request_id}})\n"
        "    return 'written'\n"
    )
    create_function(aws, name, handler="writer.handler", code=zip_files({"writer.py": code}))
    response = aws("lambda").invoke(FunctionName=name, Payload=json.dumps({"table": table}))
    assert json.loads(response["Payload"].read()) == "written"
    count = dynamodb.scan(TableName=table, Select="COUNT")["Count"]
    assert count == 2
