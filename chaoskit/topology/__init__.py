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

from chaoskit.topology import model
from chaoskit.topology.exceptions import TemplateError
from chaoskit.topology.model import *  # noqa: F403 (the element types: model.__all__)
from chaoskit.topology.stack import from_stack
from chaoskit.topology.template import load_template, load_templates

__all__ = [*model.__all__, "TemplateError", "from_stack", "load_template", "load_templates"]
