"""Load the reference app's own deploy script (``experiments/app/deploy.py``) in tests.

The app's deploy lives beside the app, not in the library; the demo loads it
the same way (``chaoskit.cli.demo.load_app_deploy``).
"""

from pathlib import Path
from types import ModuleType

from chaoskit.cli.demo import load_app_deploy

__all__ = ["APP", "load"]

APP = Path(__file__).resolve().parents[1] / "experiments" / "app"


def load() -> ModuleType:
    """Return the ``experiments/app/deploy.py`` module."""
    return load_app_deploy(APP)
