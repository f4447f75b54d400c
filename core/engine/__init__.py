"""How work gets done: worker processes, the device they share, and the drivers that train, time
and probe through them. The command line and the dashboard call these; the engine reads and writes
the store and reads the analysis, never the views.

- training now: ``training`` (``train_now``: lock the device, recover abandoned work, start the
  hosts), ``compare`` (one comparison's runs), ``sweep``, and the dashboard's queue: ``jobs``
  (queue operations) and ``job_runner`` (the thread that works through it), with ``public_mode``'s
  limits on what a visitor may queue;
- worker processes: ``work`` (the typed jobs), ``runner`` (executors and framework hosts),
  ``ray_executor`` and ``ray_node`` (a Ray cluster), ``worker`` with ``job_handlers`` and
  ``worker_memory`` (the process that runs a framework), ``device_lock``;
- drivers of the other commands: ``benchmark``, ``max_batch`` and ``max_batch_search``,
  ``fidelity_run``, ``parity``, ``model_catalog``, ``system``;
- ``error_log``: the traceback for the owner, one line for the person.

The modules are imported by name (``from core.engine import compare``): most start processes or
import the store, so a caller loads only what it uses.
"""

__all__ = ["benchmark", "compare", "device_lock", "error_log", "fidelity_run", "job_handlers", "job_runner", "jobs",
           "max_batch", "max_batch_search", "model_catalog", "parity", "public_mode", "ray_executor", "ray_node", "runner",
           "sweep", "system", "training", "work", "worker", "worker_memory"]
