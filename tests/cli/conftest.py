"""Fixtures of the CLI tests (defined in ``recording.py``)."""

from recording import _recorder_server, recorder

__all__ = ["_recorder_server", "recorder"]
