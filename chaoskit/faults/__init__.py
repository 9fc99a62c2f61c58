"""Chaos Toolkit actions that cause harm, one module per kind of harm.

Every action snapshots what it changes into the undo journal
(:func:`chaoskit.undo.mutation`) before changing it, refuses resources
outside the allowlist (:func:`chaoskit.undo.guard`), honours dry runs, and
has a ``restore_*`` counterpart; the ``chaoskit.undo.control`` control
restores whatever is left when the run ends, however it ends.

- :mod:`chaoskit.faults.kill_switch`: reserved concurrency (0 = kill switch);
- :mod:`chaoskit.faults.route53`: fail a Route 53 health check;
- :mod:`chaoskit.faults.canary`: shift an alias's traffic to a version;
- :mod:`chaoskit.faults.throttle`: API Gateway stage throttling, event source
  mapping concurrency or disabling, DynamoDB provisioned capacity cuts;
- the layer actions and the load action (fault injection inside functions).

Every public module here is an activity module (``chaos discover`` lists them
all); the plumbing the actions share lives in :mod:`chaoskit.functions`.
"""
