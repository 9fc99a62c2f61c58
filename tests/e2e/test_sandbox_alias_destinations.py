"""An alias's async invoke config applies to events sent to the alias, as on AWS.

LocalStack looked the config up by the version the alias routed to, so a
failing event sent to ``fn:live`` got the defaults (3 attempts, no
destination) and was dropped; the sandbox's patch uses the alias's config.
"""

import json

from tests.support.sandbox import attempts, create_function, drain, queue, unique


def test_an_alias_config_sets_retries_and_the_destination_of_its_events(aws, recorder):
    lam = aws("lambda")
    name = unique("alias-async")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    dest_url, dest_arn = queue(aws, unique("alias-on-failure"))
    lam.put_function_event_invoke_config(
        FunctionName=name,
        Qualifier="live",
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": dest_arn}},
    )

    lam.invoke(FunctionName=f"{name}:live", InvocationType="Event", Payload=json.dumps({"fail": 1}))

    records = drain(aws("sqs"), dest_url, expect=1, timeout=30)
    assert len(records) == 1
    record = json.loads(records[0]["Body"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"fail": 1}
    assert len(attempts(aws, recorder, expect=2, timeout=4)) == 1
