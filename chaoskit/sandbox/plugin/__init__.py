"""chaoskit's LocalStack plugins. This package runs INSIDE the sandbox's LocalStack process.

It is copied into the sandbox venv as ``chaoskit_sandbox_plugin`` (see
``chaoskit.sandbox.install``), so its modules import only LocalStack, the
standard library and each other (relative imports), never ``chaoskit``.
``bootstrap.py`` is the exception: it runs in the function's own interpreter
(Python 3.9 or newer) and imports the standard library only.
"""
