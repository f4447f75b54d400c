"""Training loops, timers and memory probes.

Each framework's trainer (the module its registry entry names, ``core.frameworks.Framework.trainer_module``)
imports its framework, as do what trainers share (``keras_common``, ``torch_introspection``) and the
reference loops (``minimal_loops``); ``loop``, ``measure``, ``events``, ``optim`` and ``backend`` import none.
"""
