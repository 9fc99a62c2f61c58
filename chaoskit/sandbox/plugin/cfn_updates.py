"""Stack updates that change Lambda aliases and async invoke settings, as on AWS.

LocalStack's CloudFormation has no update for ``AWS::Lambda::Alias`` and
``AWS::Lambda::EventInvokeConfig``: their providers raise ``NotImplementedError``,
which its engine logs and then reports as ``UPDATE_COMPLETE`` with the resource
left as it was. Every redeploy of a function published as a version (CDK's
``currentVersion`` with an ``Alias``, SAM's ``AutoPublishAlias``) changes the
alias's ``FunctionVersion``: on the sandbox the alias kept pointing at the old
version, which the same update then deleted, so an event source mapping or a
caller on the alias invoked a version that no longer existed. A changed
``MaximumRetryAttempts`` or destination in an ``EventInvokeConfig`` was kept
out of the function just as silently.

Here both update as CloudFormation does on AWS:

- an alias: ``UpdateAlias`` with the new version, description and routing
  (no ``RoutingConfig`` clears the weights), and its provisioned concurrency
  put or deleted as the template now says;
- an async invoke config: ``PutFunctionEventInvokeConfig`` with the new
  properties, which replaces the whole configuration (a property taken out of
  the template goes back to Lambda's default).

And a resource is replaced only when a create-only property's value changes.
LocalStack replaced one whenever such a property referred to a resource the same
update modified: an alias's, a version's, a permission's or an async invoke
config's ``FunctionName: !Ref Fn`` whenever the function's code changed. The
replacement then created the alias or config again under the same name, which
Lambda refused ("already exists"), and the stack rolled back. On AWS a ``Ref``
or ``GetAtt`` of a resource updated in place keeps its value, so here such a
reference no longer counts as a change; a literal change, a changed parameter or
pseudo parameter (also inside ``Fn::Sub``) still does.

The other types LocalStack does not update in place are listed in
:data:`chaoskit.deploy.stack.SANDBOX_NOT_UPDATED`; ``chaoskit deploy`` warns when a
change set on the sandbox modifies one.
"""

from __future__ import annotations

import re
from typing import Any

from localstack.services.cloudformation.engine.v2.change_set_model import (
    ChangeSetModel,
    ChangeType,
    NodeIntrinsicFunction,
    NodeResource,
    TerminalValue,
)
from localstack.services.cloudformation.resource_provider import (
    OperationStatus,
    ProgressEvent,
    ResourceRequest,
)
from localstack.services.lambda_.resource_providers.aws_lambda_eventinvokeconfig import (
    LambdaEventInvokeConfigProvider,
)
from localstack.services.lambda_.resource_providers.lambda_alias import LambdaAliasProvider
from localstack.utils.patch import Patch

from .patching import replace, wrap

__all__ = ["patches"]

INVOKE_CONFIG_FIELDS = (
    "FunctionName",
    "Qualifier",
    "MaximumRetryAttempts",
    "MaximumEventAgeInSeconds",
    "DestinationConfig",
)


def update_alias(self: Any, request: ResourceRequest[Any]) -> ProgressEvent[Any]:
    """Point the alias at its new version, description and routing; set provisioned concurrency."""
    model = dict(request.desired_state)
    previous = request.previous_state or {}
    lambda_ = request.aws_client_factory.lambda_
    routing = model.get("RoutingConfig") or {}
    weights = {
        str(w["FunctionVersion"]): float(w["FunctionWeight"])
        for w in routing.get("AdditionalVersionWeights") or []
    }
    lambda_.update_alias(
        FunctionName=model["FunctionName"],
        Name=model["Name"],
        FunctionVersion=str(model["FunctionVersion"]),
        Description=model.get("Description") or "",
        RoutingConfig={"AdditionalVersionWeights": weights},
    )
    wanted = (model.get("ProvisionedConcurrencyConfig") or {}).get(
        "ProvisionedConcurrentExecutions"
    )
    had = (previous.get("ProvisionedConcurrencyConfig") or {}).get(
        "ProvisionedConcurrentExecutions"
    )
    if wanted and wanted != had:
        lambda_.put_provisioned_concurrency_config(
            FunctionName=model["FunctionName"],
            Qualifier=model["Name"],
            ProvisionedConcurrentExecutions=int(wanted),
        )
    elif had and not wanted:
        lambda_.delete_provisioned_concurrency_config(
            FunctionName=model["FunctionName"], Qualifier=model["Name"]
        )
    model["Id"] = previous.get("Id") or model.get("Id")
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


def update_invoke_config(self: Any, request: ResourceRequest[Any]) -> ProgressEvent[Any]:
    """Replace the function's async invoke configuration with the template's."""
    model = dict(request.desired_state)
    lambda_ = request.aws_client_factory.lambda_
    lambda_.put_function_event_invoke_config(
        **{k: model[k] for k in INVOKE_CONFIG_FIELDS if model.get(k) is not None}
    )
    model["Id"] = (request.previous_state or {}).get("Id") or model.get("Id")
    return ProgressEvent(status=OperationStatus.SUCCESS, resource_model=model)


def _terminals_changed(node: Any) -> bool:
    if isinstance(node, TerminalValue):
        return node.change_type != ChangeType.UNCHANGED
    return any(_terminals_changed(child) for child in node.get_children())


def _first_terminal(node: Any) -> Any:
    if isinstance(node, TerminalValue):
        return node.value
    for child in node.get_children():
        return _first_terminal(child)
    return None


def _sub_variables(text: str) -> list[str]:
    return [v.split(".", 1)[0] for v in re.findall(r"\$\{([^}!]+)\}", text)]


def _changed(node: Any, resources: dict[str, bool]) -> bool:
    """Tell whether a property's value changes: a resource updated in place keeps its refs.

    ``resources``: each resource of the templates, and whether it is replaced.
    """
    if node.change_type == ChangeType.UNCHANGED:
        return False
    if isinstance(node, TerminalValue):
        return True
    if isinstance(node, NodeIntrinsicFunction):
        if _terminals_changed(node.arguments):
            return True
        if node.intrinsic_function in ("Ref", "Fn::GetAtt"):
            target = _first_terminal(node.arguments)
            if isinstance(target, str):
                return resources.get(target.split(".", 1)[0], True)
            return True
        if node.intrinsic_function == "Fn::Sub":
            return _sub_changed(node.arguments, resources)
    return any(_changed(child, resources) for child in node.get_children())


def _sub_changed(arguments: Any, resources: dict[str, bool]) -> bool:
    """``Fn::Sub: text`` or ``[text, {names}]``: a changed name's value, or a parameter's."""
    array = getattr(arguments, "array", None)
    text = _first_terminal(array[0] if array else arguments)
    names = getattr(array[1], "bindings", None) if array and len(array) > 1 else None
    if not isinstance(text, str):
        return True
    if names and any(_changed(value, resources) for value in names.values()):
        return True
    own = set(names or {})
    return any(v not in own and resources.get(v, True) for v in _sub_variables(text))


def requires_replacement(
    original: Any, self: Any, node_properties: Any, resource_type: Any
) -> bool:
    """LocalStack's answer, unless only references to resources updated in place changed."""
    if not original(self, node_properties=node_properties, resource_type=resource_type):
        return False
    from localstack.services.cloudformation.resource_provider import ResourceProviderExecutor

    provider = ResourceProviderExecutor.try_load_resource_provider(resource_type.value)
    create_only = {
        p.replace("/properties/", "", 1)
        for p in (provider.SCHEMA.get("createOnlyProperties", []) if provider else [])
    }
    resources: dict[str, bool] = {}  # name -> replaced (as far as the model knows yet)
    for template in (self._before_template, self._after_template):
        if isinstance(template, dict):
            resources.update(dict.fromkeys(template.get("Resources") or {}, False))
    for visited in self._visited_scopes.values():
        if isinstance(visited, NodeResource):
            resources[visited.name] = bool(visited.requires_replacement)
    return any(
        _changed(prop.value, resources)
        for prop in node_properties.properties
        if prop.name in create_only
    )


def patches() -> list[Patch]:
    """The update handlers LocalStack lacks for these two types; replacement by value."""
    return [
        replace(LambdaAliasProvider, "update", update_alias),
        replace(LambdaEventInvokeConfigProvider, "update", update_invoke_config),
        wrap(ChangeSetModel, "_resolve_requires_replacement", requires_replacement),
    ]
