"""SQS event source mappings behave as on AWS at reserved concurrency 0 and under load.

AWS: an event source mapping does not account for reserved concurrency. At 0 it
keeps receiving; each throttled batch returns to the queue after the visibility
timeout and the receive counts toward ``maxReceiveCount``, so a low one
dead-letters messages the function never saw. A mapping runs several batches
at once (AWS starts with five).
"""

import json

from tests.support.sandbox import attempts, create_function, drain, queue, unique, wait_for


def _source_with_dlq(aws, max_receive_count, visibility="2"):
    dlq_url, dlq_arn = queue(aws, unique("kill-dlq"))
    src_url, src_arn = queue(
        aws,
        unique("kill-src"),
        VisibilityTimeout=visibility,
        RedrivePolicy=json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
        ),
    )
    return src_url, src_arn, dlq_url


def test_at_reserved_concurrency_zero_throttled_messages_count_toward_max_receive(aws, recorder):
    sqs, lam = aws("sqs"), aws("lambda")
    src_url, src_arn, dlq_url = _source_with_dlq(aws, max_receive_count=2)
    name = unique("sqs-killed")
    create_function(
        aws, name, handler="probe.sqs_handler", env={"RECORD_QUEUE_URL": recorder["url"]}
    )
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    bodies = [f"order-{i}" for i in range(3)]
    for body in bodies:
        sqs.send_message(QueueUrl=src_url, MessageBody=body)
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=src_arn, BatchSize=10, MaximumBatchingWindowInSeconds=0
    )
    dead = drain(sqs, dlq_url, expect=3, timeout=60)
    assert sorted(m["Body"] for m in dead) == bodies
    assert attempts(aws, recorder, expect=1, timeout=2) == []  # the function never ran


def test_a_mapping_runs_batches_concurrently(aws, recorder):
    sqs = aws("sqs")
    src_url, src_arn = queue(aws, unique("busy-src"), VisibilityTimeout="30")
    name = unique("sqs-slow")
    create_function(
        aws,
        name,
        handler="probe.sqs_handler",
        env={"RECORD_QUEUE_URL": recorder["url"], "SLEEP_SECONDS": "2"},
        timeout=15,
    )
    for start in range(0, 20, 10):
        sqs.send_message_batch(
            QueueUrl=src_url,
            Entries=[{"Id": str(i), "MessageBody": f"m-{start + i}"} for i in range(10)],
        )
    aws("lambda").create_event_source_mapping(
        FunctionName=name, EventSourceArn=src_arn, BatchSize=1, MaximumBatchingWindowInSeconds=0
    )
    seen = attempts(aws, recorder, expect=20, timeout=60)
    assert len({a["event"]["body"] for a in seen}) == 20
    # Five or more one-message batches at once: at least two execution environments.
    assert len({a["event"]["pid"] for a in seen}) >= 2

    def deleted():
        attributes = sqs.get_queue_attributes(QueueUrl=src_url, AttributeNames=["All"])
        counts = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        return all(attributes["Attributes"][c] == "0" for c in counts)

    wait_for(deleted, timeout=60, what="every message to be deleted")


def test_maximum_concurrency_bounds_the_batches_in_flight(aws, recorder):
    sqs = aws("sqs")
    src_url, src_arn = queue(aws, unique("capped-src"), VisibilityTimeout="30")
    name = unique("sqs-capped")
    create_function(
        aws,
        name,
        handler="probe.sqs_handler",
        env={"RECORD_QUEUE_URL": recorder["url"], "SLEEP_SECONDS": "1"},
        timeout=15,
    )
    sqs.send_message_batch(
        QueueUrl=src_url, Entries=[{"Id": str(i), "MessageBody": f"c-{i}"} for i in range(10)]
    )
    aws("lambda").create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=src_arn,
        BatchSize=1,
        MaximumBatchingWindowInSeconds=0,
        ScalingConfig={"MaximumConcurrency": 2},
    )
    seen = attempts(aws, recorder, expect=10, timeout=60)
    assert len({a["event"]["body"] for a in seen}) == 10
    # Never more than two invocations at once: never more than two environments.
    assert len({a["event"]["pid"] for a in seen}) <= 2


def test_listing_by_function_name_lists_that_functions_mappings_only(aws):
    # LocalStack kept every mapping whose function ARN contained the name given: listing
    # "orders-worker" also listed "orders-worker-<suffix>"'s mapping.
    lam = aws("lambda")
    base = unique("lister")
    base_arn = create_function(aws, base)
    create_function(aws, f"{base}-replica")
    version = lam.publish_version(FunctionName=base)["Version"]
    lam.create_alias(FunctionName=base, Name="live", FunctionVersion=version)

    def mapping(function, name):
        _, arn = queue(aws, unique(name))
        esm = lam.create_event_source_mapping(
            EventSourceArn=arn, FunctionName=function, Enabled=False
        )
        return esm["UUID"], arn

    own, own_queue = mapping(base, "own")
    replica, _ = mapping(f"{base}-replica", "replica")
    live, _ = mapping(f"{base}:live", "live")

    def listed(**kwargs):
        return {m["UUID"] for m in lam.list_event_source_mappings(**kwargs)["EventSourceMappings"]}

    for name in (base, base_arn, base_arn.split(":", 4)[4]):  # name, ARN, partial ARN
        assert replica not in listed(FunctionName=name) and own in listed(FunctionName=name)
    assert listed(FunctionName=f"{base}-replica") == {replica}
    assert listed(FunctionName=f"{base}:live") == {live}
    assert listed(FunctionName=f"{base_arn}:live") == {live}
    assert listed(FunctionName=base, EventSourceArn=own_queue) == {own}
    pages = lam.get_paginator("list_event_source_mappings").paginate(
        FunctionName=f"{base}-replica", PaginationConfig={"PageSize": 1}
    )
    assert [m["UUID"] for page in pages for m in page["EventSourceMappings"]] == [replica]
