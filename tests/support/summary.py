"""Figures a test session measured, printed at its end (the sandbox's RSS, say).

A fixture appends a line to :data:`SUMMARY`; ``tests/conftest.py`` prints them
after the results. Under pytest-xdist each worker hands its lines to the
controller as it ends, marked with the worker's id.
"""

#: Lines to print at the end of the session, in the order they were added.
SUMMARY: list[str] = []
