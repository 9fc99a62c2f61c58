"""A fake Lambda context with the attributes chaoskit's layer reads."""

__all__ = ["FakeContext"]


class FakeContext:
    """The attributes of a Lambda context the layer reads.

    Satisfies :class:`chaoskit.layer.context.LambdaContext`.
    """

    def __init__(
        self,
        remaining_ms: int = 3000,
        qualifier: str | None = None,
        function_name: str = "orders-worker",
        request_id: str = "req-1",
    ) -> None:
        arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.invoked_function_arn = f"{arn}:{qualifier}" if qualifier else arn
        self.function_name = function_name
        self.aws_request_id = request_id
        self._remaining = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self._remaining
