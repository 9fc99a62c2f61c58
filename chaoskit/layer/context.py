"""The Lambda ``context`` as the layer reads it: a typed protocol, standard library only.

Lambda's Python runtime passes a ``LambdaContext`` object; the layer reads
only these attributes, each defensively (``getattr`` with a default), since a
function wrapped in code may be called with a partial context or none.
"""

from typing import Protocol

__all__ = ["LambdaContext"]


class LambdaContext(Protocol):
    """The attributes of Lambda's context object that chaoskit's layer reads."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str

    def get_remaining_time_in_millis(self) -> int:
        """Return the milliseconds left before the invocation times out."""
        ...
