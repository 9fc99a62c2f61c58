"""Errors of the sandbox: what went wrong and what to do about it."""

from chaoskit.errors import BadInput, ChaosKitError

__all__ = ["PythonNotFound", "SandboxError"]


class SandboxError(ChaosKitError):
    """The sandbox could not be installed, started, stopped or reached."""


class PythonNotFound(SandboxError, BadInput):
    """No Python 3.13 interpreter to run LocalStack core with."""

    exit_code = 2
