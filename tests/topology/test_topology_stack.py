"""The topology of a stack deployed on a real (moto) CloudFormation, with live overlays."""

import json

import pytest

from chaoskit import aws
from chaoskit.topology import Ref, TemplateError, from_stack

TEMPLATE = {
    "Resources": {
        "Dlq": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": "orders-dlq"}},
        "Orders": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "QueueName": "orders",
                "VisibilityTimeout": 60,
                "RedrivePolicy": {
                    "deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]},
                    "maxReceiveCount": 5,
                },
            },
        },
        "Role": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            },
        },
        "Worker": {
            "Type": "AWS::Lambda::Function",
            "Properties": {
                "FunctionName": "orders-worker",
                "Runtime": "python3.12",
                "Handler": "index.handler",
                "Timeout": 10,
                "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                "Code": {"ZipFile": "def handler(e, c):\n    return None\n"},
            },
        },
        "Mapping": {
            "Type": "AWS::Lambda::EventSourceMapping",
            "Properties": {
                "FunctionName": {"Ref": "Worker"},
                "EventSourceArn": {"Fn::GetAtt": ["Orders", "Arn"]},
                "BatchSize": 10,
            },
        },
    }
}


def test_from_stack_reads_physical_ids_and_live_settings(aws_env: dict[str, str]) -> None:
    cfn = aws.client("cloudformation", aws_env)
    cfn.create_stack(StackName="orders", TemplateBody=json.dumps(TEMPLATE))
    sqs = aws.client("sqs", aws_env)
    url = sqs.get_queue_url(QueueName="orders")["QueueUrl"]
    # drift made outside CloudFormation: the live value is what is audited
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "15"})

    topo = from_stack("orders", aws_env)

    assert topo.source == "stack:orders" and topo.stack_name == "orders"
    orders, dlq = topo.queues["Orders"], topo.queues["Dlq"]
    assert orders.physical_id is not None and orders.physical_id.endswith("/orders")
    assert orders.arn is not None and orders.arn.endswith(":orders")
    assert orders.name == orders.arn
    assert orders.visibility_timeout == 15
    assert orders.dead_letter == Ref(logical_id="Dlq") and orders.max_receive_count == 5
    assert dlq.is_dead_letter_queue
    worker = topo.functions["Worker"]
    assert worker.physical_id == "orders-worker"
    assert worker.arn is not None and worker.arn.endswith(":function:orders-worker")
    assert worker.timeout == 10
    mapping = topo.mappings["Mapping"]
    assert mapping.physical_id and mapping.source == Ref(logical_id="Orders")
    assert topo.function_of(mapping.function) is worker


def test_from_stack_missing_stack_is_bad_input(aws_env: dict[str, str]) -> None:
    with pytest.raises(TemplateError, match="'nope'"):
        from_stack("nope", aws_env)


def test_a_live_async_destination_is_named_by_the_stacks_logical_id(
    aws_env: dict[str, str],
) -> None:
    # The live invoke config names its destinations by ARN; a queue's ARN is read after the
    # functions were, so it was left an ARN, and init called the DLQ one it cannot read.
    cfn = aws.client("cloudformation", aws_env)
    cfn.create_stack(StackName="orders", TemplateBody=json.dumps(TEMPLATE))
    sqs = aws.client("sqs", aws_env)
    arn = {
        name: sqs.get_queue_attributes(
            QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        for name in ("orders", "orders-dlq")
    }
    aws.client("lambda", aws_env).put_function_event_invoke_config(
        FunctionName="orders-worker",
        MaximumRetryAttempts=1,
        DestinationConfig={
            "OnFailure": {"Destination": arn["orders-dlq"]},
            "OnSuccess": {"Destination": arn["orders"]},
        },
    )

    cfg = from_stack("orders", aws_env).functions["Worker"].async_config

    assert cfg is not None and cfg.maximum_retry_attempts == 1
    assert cfg.on_failure == Ref(logical_id="Dlq")
    assert cfg.on_success == Ref(logical_id="Orders")


def test_the_live_filters_of_a_mapping_are_read(aws_env: dict[str, str]) -> None:
    # Filters decide which events reach the function; one set outside CloudFormation is
    # what the suite's load must pass.
    cfn = aws.client("cloudformation", aws_env)
    cfn.create_stack(StackName="orders", TemplateBody=json.dumps(TEMPLATE))
    mapping = from_stack("orders", aws_env).mappings["Mapping"]
    assert mapping.filter_patterns == []
    pattern = {"body": {"kind": ["order"]}}
    aws.client("lambda", aws_env).update_event_source_mapping(
        UUID=mapping.physical_id, FilterCriteria={"Filters": [{"Pattern": json.dumps(pattern)}]}
    )

    assert from_stack("orders", aws_env).mappings["Mapping"].filter_patterns == [pattern]


def test_a_state_machines_live_definition_names_its_functions_and_queues_by_logical_id(
    aws_env: dict[str, str],
) -> None:
    # A packaged template names its definition by S3 location: the stack's template does
    # not carry it, the state machine does (substitutions applied: ARNs and URLs).
    cfn = aws.client("cloudformation", aws_env)
    cfn.create_stack(StackName="orders", TemplateBody=json.dumps(TEMPLATE))
    topo = from_stack("orders", aws_env)
    worker, queue_url = topo.functions["Worker"], topo.queues["Dlq"].physical_id  # as Ref gives
    definition = {
        "StartAt": "Fulfil",
        "States": {
            "Fulfil": {
                "Type": "Task",
                "Resource": worker.arn,
                "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.e", "Next": "Park"}],
                "End": True,
            },
            "Park": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage",
                "Parameters": {"QueueUrl": queue_url, "MessageBody.$": "$"},
                "End": True,
            },
        },
    }
    template = json.loads(json.dumps(TEMPLATE))
    template["Resources"]["Flow"] = {
        "Type": "AWS::StepFunctions::StateMachine",
        "Properties": {
            "RoleArn": {"Fn::GetAtt": ["Role", "Arn"]},
            "DefinitionS3Location": {"Bucket": "artifacts", "Key": "flow.asl.json"},
        },
    }
    cfn.update_stack(StackName="orders", TemplateBody=json.dumps(template))
    arn = cfn.describe_stack_resource(StackName="orders", LogicalResourceId="Flow")[
        "StackResourceDetail"
    ]["PhysicalResourceId"]
    aws.client("stepfunctions", aws_env).update_state_machine(
        stateMachineArn=arn, definition=json.dumps(definition)
    )

    flow = from_stack("orders", aws_env).state_machines["Flow"]
    assert [(t.path, t.function, t.sends_to) for t in flow.tasks] == [
        ("Fulfil", Ref(logical_id="Worker"), None),
        ("Park", None, Ref(logical_id="Dlq")),
    ]
