"""Reserved concurrency 0 as a kill switch: sync throttled, async held until restored."""

import json
import time

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
