"""Helpers shared by the test folders, imported as ``tests.support.<module>``.

Test modules import these instead of copying them or importing a
``conftest`` (which pytest may load under another name). Fixtures that many
folders use are registered once in ``tests/conftest.py`` (``pytest_plugins``).
"""
