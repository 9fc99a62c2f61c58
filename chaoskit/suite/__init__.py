"""``chaoskit init``: an experiment suite written for an app, from its topology.

::

    from chaoskit.suite import generate_suite, write_suite

    suite = generate_suite(template="app/template.yaml")  # or stack="my-app"
    write_suite(suite, "chaos/")  # experiments, gameday.yaml, README.md
    print(suite.found, suite.uncovered)

The topology comes from :mod:`chaoskit.topology` (a template offline, or a
deployed stack); :mod:`chaoskit.suite.plan` decides the experiments.
"""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from chaoskit.errors import BadInput
from chaoskit.suite.plan import Planned, Suite, plan_suite
from chaoskit.suite.write import render_yaml, write_suite

__all__ = ["Planned", "Suite", "generate_suite", "render_yaml", "write_suite"]


def _default_stack_name(template: Path) -> str:
    from chaoskit.deploy import default_stack_name

    return default_stack_name(template)


def generate_suite(
    template: str | Path | None = None,
    stack: str | None = None,
    stack_name: str | None = None,
    configuration: Mapping[str, Any] | None = None,
) -> Suite:
    """Plan the suite for a template or a deployed stack.

    Args:
        template: a SAM/CloudFormation template (read offline). With ``stack``
            too, the stack gives the topology and the template the code folders.
        stack: a deployed stack to read the topology from.
        stack_name: the stack the experiments aim at (default: ``stack``, else
            the name ``chaoskit deploy`` gives the template: a CDK stack's own
            name, else the template folder's name).
        configuration: the target, for ``stack``.

    Raises:
        BadInput: neither given, or the template/stack cannot be read.
    """
    from chaoskit.topology import TemplateError, from_stack, load_template

    if template is None and stack is None:
        raise BadInput("give a template (--template PATH) or a deployed stack (--stack NAME)")
    try:
        if stack is not None:
            topo = from_stack(stack, configuration)
            if template is not None:
                _add_code(topo, load_template(template))
        else:
            topo = load_template(Path(str(template)))
    except TemplateError as err:
        raise BadInput(str(err)) from err
    name = stack_name or stack or _default_stack_name(Path(str(template)))
    return plan_suite(topo, name, _samples_folder(template))


def _samples_folder(template: str | Path | None) -> Path | None:
    """Where the app keeps sample events: the template's folder (the app's, above
    ``.aws-sam/build`` for the template ``sam build`` wrote), or a CDK app's own folder."""
    if template is None:
        return None
    from chaoskit.deploy import app_folder
    from chaoskit.topology.cdk import cdk_stack

    path = Path(str(template))
    if not path.is_dir() and cdk_stack(path) is not None:  # cdk.out/<Stack>.template.json
        return path.parent.parent
    return path.parent if path.is_dir() else app_folder(path)


def _add_code(topo: Any, local: Any) -> None:
    for lid, fn in topo.functions.items():
        mine = local.functions.get(lid)
        if mine is not None and not fn.code_dir:
            fn.code_dir = mine.code_dir
