"""Errors of ``chaoskit deploy`` (bad input is :class:`chaoskit.errors.BadInput`, exit 2)."""

from chaoskit.errors import ChaosKitError

__all__ = ["DeployFailed"]


class DeployFailed(ChaosKitError):
    """The stack (or packaging) failed; the message names the resource and the reason (exit 1)."""
