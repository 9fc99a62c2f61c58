"""Lambda functions as the actions see them: shared plumbing, not activities.

- :mod:`chaoskit.functions.config`: read a function, wait for updates, change
  its layers and variables by merging; the fault config SSM parameter;
- :mod:`chaoskit.functions.select`: find the functions an action targets (by
  name, ARN or tags) and call AWS turning failures into chaoskit's errors;
- :mod:`chaoskit.functions.layer_env`: the one builder of the chaoskit layer's
  layers and environment for a function, used by ``enable_chaoskit_layer`` and
  by ``chaoskit deploy``.

The Chaos Toolkit actions built on them live in :mod:`chaoskit.faults`.
"""

__all__: list[str] = []
