"""chaoskit's verification probes, called from experiments as ``probes.<module>``."""
