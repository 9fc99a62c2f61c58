"""The topology of a serverless application, from a template or a deployed stack.

One model shared by ``chaoskit init``, the ledger's stages and the audit::

    from chaoskit.topology import load_template, from_stack

    topo = load_template("template.yaml")        # offline, no AWS call
    topo = from_stack("orders", configuration)   # deployed: physical IDs and ARNs
    for m in topo.mappings.values():
        print(m.logical_id, m.source_kind, m.source, "->", m.function)

Elements are keyed by logical ID; links between them are :class:`Ref`
(``logical_id`` inside the template, ``symbol`` for what is not).
"""

from chaoskit.topology.exceptions import TemplateError
from chaoskit.topology.model import (
    Alarm,
    Alias,
    ApiRoute,
    AsyncConfig,
    Element,
    EventSourceMapping,
    FailoverRecord,
    Function,
    HealthCheck,
    Location,
    Queue,
    Ref,
    Rule,
    RuleTarget,
    StateMachine,
    Subscription,
    TaskState,
    Topic,
    Topology,
)
from chaoskit.topology.stack import from_stack
from chaoskit.topology.template import load_template, load_templates

__all__ = [
    "Alarm",
    "Alias",
    "ApiRoute",
    "AsyncConfig",
    "Element",
    "EventSourceMapping",
    "FailoverRecord",
    "Function",
    "HealthCheck",
    "Location",
    "Queue",
    "Ref",
    "Rule",
    "RuleTarget",
    "StateMachine",
    "Subscription",
    "TaskState",
    "TemplateError",
    "Topic",
    "Topology",
    "from_stack",
    "load_template",
    "load_templates",
]
