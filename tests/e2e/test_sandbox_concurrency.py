"""Reserved concurrency 0 as a kill switch; environments for a burst of invocations."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.support.sandbox import attempts, create_function, unique


def test_zero_reserved_concurrency_throttles_sync_and_holds_async_events(aws, recorder):
    lam = aws("lambda")
    name = unique("killed")
    create_function(aws, name, env={"RECORD_QUEUE_URL": recorder["url"]})
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)

    with pytest.raises(ClientError) as caught:
        lam.invoke(FunctionName=name, Payload=b"{}")
    assert caught.value.response["Error"]["Code"] == "TooManyRequestsException"

    for n in range(3):
        response = lam.invoke(
            FunctionName=name, InvocationType="Event", Payload=json.dumps({"echo": n})
        )
        assert response["StatusCode"] == 202
    time.sleep(3)  # throttled: nothing may run meanwhile
    assert attempts(aws, recorder, expect=1, timeout=1) == []

    lam.delete_function_concurrency(FunctionName=name)
    seen = attempts(aws, recorder, expect=3, timeout=30)
    assert sorted(a["event"]["echo"] for a in seen) == [0, 1, 2]


def test_a_burst_on_a_cold_function_is_served_by_few_environments(aws):
    """Ten synchronous invokes at once on a function with no environment yet.

    LocalStack started one environment for each (up to 16 at once): ten Python processes
    importing at the same time on two cores, each slowed by the others, and a short
    function's first invocation could run past its timeout (a state machine's task
    retried into its Catch, a healthy app's events dead-lettered). The sandbox starts
    one per core at a time, and the invocations that wait take the first environment
    free (``plugin/environments.py``).
    """
    lam = aws("lambda")
    name = unique("burst")
    create_function(aws, name)

    def invoke(n: int) -> tuple[dict, dict]:
        response = lam.invoke(FunctionName=name, Payload=json.dumps({"echo": n}))
        return response, json.loads(response["Payload"].read())

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(invoke, range(10)))

    assert [payload["echo"] for _, payload in results] == list(range(10))
    assert not [r for r, _ in results if "FunctionError" in r]
    environments = {payload["pid"] for _, payload in results}
    assert len(environments) <= 5, f"{len(environments)} environments for 10 invocations"
