"""Training loops, timers and memory probes. ``pytorch`` and ``tensorflow`` import a framework;
the other modules here do not."""
