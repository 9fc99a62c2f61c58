"""The state shared by the topology builders: resolver, source IDs, lines."""

from collections.abc import Mapping
from typing import Any

from chaoskit.topology.intrinsics import Resolver
from chaoskit.topology.model import Location, Ref

__all__ = ["Builder"]

_NAME_PROPS = (
    "QueueName",
    "FunctionName",
    "TopicName",
    "Name",
    "TableName",
    "StateMachineName",
    "AlarmName",
)
_KIND_BY_TYPE = {
    "AWS::SQS::Queue": "sqs",
    "AWS::Kinesis::Stream": "kinesis",
    "AWS::DynamoDB::Table": "dynamodb",
    "AWS::DynamoDB::GlobalTable": "dynamodb",
    "AWS::Lambda::Function": "lambda",
    "AWS::Lambda::Alias": "lambda",
    "AWS::SNS::Topic": "sns",
    "AWS::StepFunctions::StateMachine": "states",
    "AWS::Events::EventBus": "events",
    "AWS::Kinesis::StreamConsumer": "kinesis",
    "AWS::MSK::Cluster": "kafka",
    "AWS::AmazonMQ::Broker": "mq",
}


class Builder:
    """Resolve references and locate elements of one template."""

    def __init__(
        self,
        resources: Mapping[str, Any],
        source_ids: set[str],
        file: str,
        lines: Mapping[str, tuple[int, dict[str, int]]],
        parameters: Mapping[str, Any],
    ) -> None:
        names: dict[str, str] = {}
        for lid, res in resources.items():
            props = (res or {}).get("Properties") or {}
            for key in _NAME_PROPS:
                if isinstance(props.get(key), str):
                    names.setdefault(props[key], lid)
        self.resources = resources
        self.r = Resolver(resources, parameters, names)
        self.source_ids = source_ids
        self.file = file
        self.lines = lines

    def source_of(self, lid: str) -> str:
        if lid in self.source_ids:
            return lid
        best = ""
        for sid in self.source_ids:
            if lid.startswith(sid) and len(sid) > len(best):
                best = sid
        return best or lid

    def common(self, lid: str, res: Mapping[str, Any]) -> dict[str, Any]:
        source = self.source_of(lid)
        line, props = self.lines.get(source, (0, {}))
        # an element SAM generated from an event (FunctionEvent) is written at the event
        line = props.get(f"Events/{lid[len(source) :]}", line) if lid != source else line
        return {
            "logical_id": lid,
            "type": str(res.get("Type", "")),
            "source_id": source,
            "location": Location(self.file, line) if self.file else None,
            "metadata": dict(res.get("Metadata") or {}),
            "properties": dict(res.get("Properties") or {}),
            "lines": dict(props),
        }

    def kind_of(self, ref: Ref | None) -> str:
        if ref is None:
            return "unknown"
        if ref.logical_id is not None:
            res = self.resources.get(ref.logical_id) or {}
            return _KIND_BY_TYPE.get(str(res.get("Type")), "unknown")
        symbol = ref.symbol or ""
        for kind in ("sqs", "kinesis", "dynamodb", "lambda", "sns", "states", "events", "kafka"):
            if f":{kind}:" in symbol:
                return kind
        return "unknown"
