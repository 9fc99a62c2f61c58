"""chaoskit: chaos engineering for AWS serverless applications.

This package root stays import-light on purpose: the Lambda layer ships it, and
its import time counts against every cold start.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
