"""Asynchronous invokes: retries, on-failure destinations, Lambda DLQs."""

import json

from tests.support.sandbox import attempts, create_function, drain, queue, unique


def test_failing_async_invoke_makes_three_attempts_then_reaches_the_destination(aws, recorder):
    lam = aws("lambda")
    name = unique("async-fail")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    dest_url, dest_arn = queue(aws, unique("on-failure"))
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": dest_arn}}
    )
    response = lam.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": "always"})
    )
    assert response["StatusCode"] == 202
    records = drain(aws("sqs"), dest_url, expect=1, timeout=40)
    assert len(records) == 1
    record = json.loads(records[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3
    assert record["requestPayload"] == {"fail": "always"}
    assert record["responsePayload"]["errorType"] == "RuntimeError"
    seen = attempts(aws, recorder, expect=4, timeout=3)
    assert len(seen) == 3


def test_maximum_retry_attempts_zero_makes_exactly_one_attempt(aws, recorder):
    lam = aws("lambda")
    name = unique("async-once")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    dest_url, dest_arn = queue(aws, unique("on-failure"))
    lam.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": 1}))
    records = drain(aws("sqs"), dest_url, expect=1, timeout=30)
    assert json.loads(records[0]["Body"])["requestContext"]["approximateInvokeCount"] == 1
    assert len(attempts(aws, recorder, expect=2, timeout=4)) == 1


def test_on_success_destination_receives_the_response(aws):
    lam = aws("lambda")
    name = unique("async-ok")
    create_function(aws, name)
    dest_url, dest_arn = queue(aws, unique("on-success"))
    lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": dest_arn}}
    )
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"echo": "yes"}))
    records = drain(aws("sqs"), dest_url, expect=1, timeout=30)
    record = json.loads(records[0]["Body"])
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"]["echo"] == "yes"


def test_lambda_dlq_receives_the_payload_with_its_error(aws):
    lam = aws("lambda")
    name = unique("async-dlq")
    dlq_url, dlq_arn = queue(aws, unique("dlq"))
    create_function(aws, name)
    lam.update_function_configuration(FunctionName=name, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.get_waiter("function_updated_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 60}
    )
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.invoke(FunctionName=name, InvocationType="Event", Payload=json.dumps({"fail": "dlq"}))
    messages = drain(aws("sqs"), dlq_url, expect=1, timeout=30)
    assert len(messages) == 1
    assert json.loads(messages[0]["Body"]) == {"fail": "dlq"}
    attributes = messages[0]["MessageAttributes"]
    assert attributes["ErrorMessage"]["StringValue"] == "asked to fail: dlq"
