"""Resolve CloudFormation intrinsic functions to logical IDs and plain values.

``!Ref``, ``!GetAtt``, ``!Sub``, ``Fn::Join``, ``Fn::If`` and ``Fn::Select``
that name one resource of the template resolve to that resource's logical
ID. What cannot be resolved stays symbolic (``ImportValue:name``,
``Parameter:Name``, a literal ARN) instead of being guessed.
"""

import json
import re
from collections.abc import Mapping
from typing import Any

from chaoskit.topology.model import Ref

__all__ = ["Resolver", "json_or_none"]

_SUB_TOKEN = re.compile(r"\$\{([^}!][^}]*)\}")
_WHOLE_TOKEN = re.compile(r"^\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}$")
_PSEUDO = {
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "123456789012",
    "AWS::Partition": "aws",
    "AWS::URLSuffix": "amazonaws.com",
    "AWS::NoValue": None,
}


def json_or_none(text: str | None) -> Any:
    """Return ``text`` parsed as JSON; ``None`` when there is no text or it is not JSON."""
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


class Resolver:
    """Resolve references against one template's resources and parameters.

    Args:
        resources: the template's ``Resources`` (after the SAM transform).
        parameters: parameter values (defaults from the template, overridden
            by the caller's values).
        names: physical names declared in the template (``QueueName``,
            ``FunctionName``...) mapped to logical IDs, so that a literal ARN
            naming a resource of the template resolves to it.
    """

    def __init__(
        self,
        resources: Mapping[str, Any],
        parameters: Mapping[str, Any] | None = None,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self.resources = resources
        self.parameters = dict(parameters or {})
        self.names = dict(names or {})

    def ref(self, value: Any) -> Ref | None:
        """Return what ``value`` refers to, or ``None`` if it is empty."""
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return self._literal(value)
        if isinstance(value, list):
            for item in value:
                got = self.ref(item)
                if got is not None:
                    return got
            return None
        if not isinstance(value, Mapping) or len(value) != 1:
            return Ref(symbol=json.dumps(value, default=str, sort_keys=True)[:200])
        ((fn, arg),) = value.items()
        if fn == "Ref":
            return self._ref_name(str(arg))
        if fn == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
            if isinstance(target, str) and target in self.resources:
                return Ref(logical_id=target)
            return Ref(symbol=f"GetAtt:{target}")
        if fn == "Fn::ImportValue":
            return Ref(symbol=f"ImportValue:{self.text(arg)}")
        if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            return self.ref(arg[1]) or self.ref(arg[2])
        ids = self.referenced(value)
        if len(ids) == 1:
            return Ref(logical_id=ids.pop())
        text = self.text(value)
        if text and text.startswith("arn:"):
            return self._literal(text)
        return Ref(symbol=text or json.dumps(value, default=str, sort_keys=True)[:200])

    def _ref_name(self, name: str) -> Ref:
        if name in self.resources:
            return Ref(logical_id=name)
        if name in self.parameters and self.parameters[name] not in (None, ""):
            default = self.parameters[name]
            if isinstance(default, str):
                return self._literal(default)
        return Ref(symbol=f"Parameter:{name}")

    def _literal(self, value: str) -> Ref:
        if value in self.resources:
            return Ref(logical_id=value)
        whole = _WHOLE_TOKEN.match(value)
        if whole and whole.group(1) in self.resources:
            return Ref(logical_id=whole.group(1))
        if value.startswith("arn:"):
            tail = re.split(r"[:/]", value)[-1]
            # a function ARN may carry a qualifier: arn:...:function:name:alias
            parts = value.split(":")
            if len(parts) >= 7 and parts[2] == "lambda":
                tail = parts[6]
            if tail in self.names:
                return Ref(logical_id=self.names[tail])
        elif value in self.names:
            return Ref(logical_id=self.names[value])
        return Ref(symbol=value)

    def referenced(self, value: Any) -> set[str]:
        """Return the logical IDs of every resource ``value`` refers to."""
        out: set[str] = set()
        self._collect(value, out, {})
        return out

    def _collect(self, value: Any, out: set[str], local: Mapping[str, Any]) -> None:
        if isinstance(value, list):
            for item in value:
                self._collect(item, out, local)
            return
        if not isinstance(value, Mapping):
            return
        for fn, arg in value.items():
            if fn == "Ref" and isinstance(arg, str) and arg in self.resources:
                out.add(arg)
            elif fn == "Fn::GetAtt":
                target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
                if target in self.resources:
                    out.add(target)
            elif fn == "Fn::Sub":
                template, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})
                for token in _SUB_TOKEN.findall(str(template)):
                    if token in variables:
                        self._collect(variables[token], out, local)
                        continue
                    name = token.split(".", 1)[0]
                    if name in self.resources:
                        out.add(name)
            else:
                self._collect(arg, out, local)

    def text(self, value: Any) -> str | None:
        """Return ``value`` as a string with intrinsics resolved where possible.

        References to resources become ``${LogicalId}``; parameters their
        default value; what is unknown ``None``.
        """
        if value is None:
            return None
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, str | int | float):
            return str(value)
        if isinstance(value, list):
            return None
        if not isinstance(value, Mapping) or len(value) != 1:
            return None
        ((fn, arg),) = value.items()
        if fn == "Ref":
            if arg in _PSEUDO:
                pseudo = _PSEUDO[arg]
                return None if pseudo is None else str(pseudo)
            if arg in self.resources:
                return "${" + str(arg) + "}"
            return self.text(self.parameters.get(arg))
        if fn == "Fn::GetAtt":
            target = arg[0] if isinstance(arg, list) else str(arg).split(".", 1)[0]
            return "${" + str(target) + "}"
        if fn == "Fn::Sub":
            template, variables = (arg[0], arg[1]) if isinstance(arg, list) else (arg, {})

            def sub(match: re.Match[str]) -> str:
                token = match.group(1)
                if token in variables:
                    return self.text(variables[token]) or match.group(0)
                if token in _PSEUDO:
                    return str(_PSEUDO[token] or "")
                name = token.split(".", 1)[0]
                if name in self.parameters and name not in self.resources:
                    return self.text(self.parameters[name]) or match.group(0)
                return "${" + name + "}"

            return _SUB_TOKEN.sub(sub, str(template))
        if fn == "Fn::Join" and isinstance(arg, list) and len(arg) == 2:
            parts = [self.text(p) for p in (arg[1] if isinstance(arg[1], list) else [])]
            if any(p is None for p in parts):
                return None
            return str(arg[0]).join(p for p in parts if p is not None)
        if fn == "Fn::If" and isinstance(arg, list) and len(arg) == 3:
            return self.text(arg[1])
        if fn == "Fn::ImportValue":
            return f"ImportValue:{self.text(arg)}"
        return None

    def number(self, value: Any) -> int | None:
        """Return ``value`` as an integer (parameters resolved), or ``None``."""
        text = self.text(value)
        if text is None:
            return None
        try:
            return int(float(text))
        except ValueError:
            return None

    def flag(self, value: Any, default: bool = False) -> bool:
        """Return ``value`` as a boolean, ``default`` when unset or unknown."""
        text = self.text(value)
        if text is None:
            return default
        return text.strip().lower() == "true"

    def value(self, value: Any) -> Any:
        """Return ``value`` with every ``!Ref`` to a parameter replaced by its value."""
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, Mapping):
            if len(value) == 1 and "Ref" in value and value["Ref"] in self.parameters:
                return self.value(self.parameters[value["Ref"]])
            if len(value) == 1 and "Fn::If" in value and isinstance(value["Fn::If"], list):
                branches = value["Fn::If"]
                return self.value(branches[1]) if len(branches) == 3 else None
            return {k: self.value(v) for k, v in value.items()}
        return value

    def json_or_object(self, value: Any) -> Any:
        """Return a property that may be a JSON string (``RedrivePolicy``) as an object."""
        if isinstance(value, str):
            return json_or_none(value)
        if isinstance(value, Mapping) and set(value) <= {"Fn::Sub", "Fn::Join"}:
            return json_or_none(self.text(value))
        return value
