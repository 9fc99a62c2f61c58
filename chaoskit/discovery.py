"""What ``chaos discover chaoskit`` publishes: every chaoskit action and probe.

chaoslib imports the distribution's top-level package and calls its
``discover`` function; both ``chaoskit`` and ``probes`` expose one that lands
here, so the answer is the same whichever chaoslib picks.
"""

import importlib
import pkgutil

from chaoslib.discovery.discover import (
    discover_actions,
    discover_probes,
    initialize_discovery_result,
)
from chaoslib.types import Discovery

from chaoskit import __version__

__all__ = ["action_modules", "discover", "probe_modules"]


def _modules(package: str) -> list[str]:
    pkg = importlib.import_module(package)
    names = []
    for info in pkgutil.iter_modules(pkg.__path__, prefix=f"{package}."):
        short = info.name.rsplit(".", 1)[-1]
        if not short.startswith("_") and not info.ispkg:
            names.append(info.name)
    return sorted(names)


def action_modules() -> list[str]:
    """Return the modules whose exported functions are Chaos Toolkit actions."""
    return [*_modules("chaoskit.faults"), "chaoskit.undo.actions"]


def probe_modules() -> list[str]:
    """Return the modules whose exported functions are Chaos Toolkit probes."""
    return _modules("probes")


def discover(discover_system: bool = True) -> Discovery:
    """Return chaoskit's activities in Chaos Toolkit's discovery format.

    ``discover_system`` is accepted for chaoslib's signature; chaoskit does not
    inspect the target account at discovery time.
    """
    result = initialize_discovery_result("chaoskit", __version__, "aws")
    for module in action_modules():
        result["activities"].extend(discover_actions(module))
    for module in probe_modules():
        result["activities"].extend(discover_probes(module))
    return result
