"""Errors raised while reading an application's topology."""

from chaoskit.errors import BadInput

__all__ = ["TemplateError"]


class TemplateError(BadInput):
    """A template, definition file or ``cdk.out`` folder could not be read (exit 2)."""
