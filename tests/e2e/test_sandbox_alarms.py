"""CloudWatch alarms on Lambda's own metrics, evaluated by the sandbox, with their actions."""

import json

from tests.support.sandbox import create_function, drain, queue, unique, wait_for


def test_error_alarm_goes_to_alarm_after_injected_errors_and_notifies(aws):
    lam, cloudwatch, sns = aws("lambda"), aws("cloudwatch"), aws("sns")
    name = unique("alarmed")
    create_function(aws, name)
    topic = sns.create_topic(Name=unique("alarms"))["TopicArn"]
    inbox_url, inbox_arn = queue(aws, unique("alarm-inbox"))
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    alarm = unique("errors")
    cloudwatch.put_metric_alarm(
        AlarmName=alarm,
        Namespace="AWS/Lambda",
        MetricName="Errors",
        Dimensions=[{"Name": "FunctionName", "Value": name}],
        Statistic="Sum",
        Period=10,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
        AlarmActions=[topic],
    )
    for n in range(3):
        response = lam.invoke(FunctionName=name, Payload=json.dumps({"fail": f"error {n}"}))
        assert response["FunctionError"] == "Unhandled"

    def state():
        alarms = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
        return alarms[0]["StateValue"] == "ALARM" and alarms[0]

    fired = wait_for(state, timeout=45, interval=1, what=f"alarm {alarm} to go to ALARM")
    assert fired["StateReason"]
    notes = drain(aws("sqs"), inbox_url, expect=1, timeout=15)
    assert notes, "the alarm action did not notify the topic"
    message = json.loads(json.loads(notes[0]["Body"])["Message"])
    assert message["AlarmName"] == alarm and message["NewStateValue"] == "ALARM"
