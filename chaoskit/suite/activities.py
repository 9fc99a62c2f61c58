"""The Chaos Toolkit activities generated experiments are made of (plain dicts)."""

from typing import Any

__all__ = [
    "HYPOTHESIS",
    "ROLLBACKS",
    "action",
    "clear_faults",
    "enable_layer",
    "probe",
    "send",
    "wait_live",
    "wait_settled",
]

HYPOTHESIS: dict[str, Any] = {
    "title": "every event sent is processed or dead-lettered, none lost",
    "probes": [
        {
            "type": "probe",
            "name": "no-events-lost",
            "tolerance": 0,
            "provider": {"type": "python", "module": "probes.ledger", "func": "count_lost_events"},
        },
        {
            "type": "probe",
            "name": "none-in-flight",
            "tolerance": 0,
            "provider": {
                "type": "python",
                "module": "probes.ledger",
                "func": "count_in_flight_events",
            },
        },
    ],
}

ROLLBACKS: list[dict[str, Any]] = [
    {
        "type": "action",
        "name": "restore-everything-this-run-changed",
        "provider": {
            "type": "python",
            "module": "chaoskit.undo.actions",
            "func": "rollback_current_run",
        },
    }
]


def _activity(kind: str, name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    provider: dict[str, Any] = {"type": "python", "module": module, "func": func}
    if arguments:
        provider["arguments"] = arguments
    return {"type": kind, "name": name, "provider": provider}


def action(name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    """Return an action activity."""
    return _activity("action", name, module, func, **arguments)


def probe(name: str, module: str, func: str, **arguments: Any) -> dict[str, Any]:
    """Return a probe activity."""
    return _activity("probe", name, module, func, **arguments)


def enable_layer(
    function: str, name: str = "enable-chaoskit-layer", aliases: list[str] | None = None
) -> dict[str, Any]:
    """Enable the chaoskit layer (tracing, and faults once injected) on a function.

    ``aliases``: those the function is invoked through, moved to a version with the layer.
    """
    extra: dict[str, Any] = {"aliases": list(aliases)} if aliases else {}
    return action(
        name, "chaoskit.faults.layer", "enable_chaoskit_layer", function_name=function, **extra
    )


def wait_live(function: str) -> dict[str, Any]:
    """Wait until the function's layer applied the fault config (pinging it)."""
    return action(
        "wait-until-the-fault-is-live",
        "chaoskit.faults.layer",
        "wait_for_fault_live",
        function_name=function,
        timeout=30,
        ping=True,
    )


def clear_faults(function: str) -> dict[str, Any]:
    """Clear the faults injected into a function."""
    return action("clear-faults", "chaoskit.faults.inject", "clear_faults", function_name=function)


def send(name: str, arguments: dict[str, Any], count: Any = "${events}", **extra: Any) -> dict:
    """Send traced events through an entry."""
    args = {**arguments, "count": count, **extra}
    return action(name, "chaoskit.faults.load", "send_events", **args)


def wait_settled(queues: list[str], dlqs: list[str], **extra: Any) -> dict[str, Any]:
    """Wait until nothing is in flight, reading the DLQs into the ledger."""
    return probe(
        "wait-until-settled",
        "probes.ledger",
        "wait_until_settled",
        timeout="${settle_timeout}",
        queues=list(queues),
        dlqs=list(dlqs),
        **extra,
    )
