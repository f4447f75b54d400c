"""What the figures say, as pure functions over stored runs and numbers: no processes, files or
database here, and nothing from above the contracts, so any layer may use them (a worker works out
its energy per image with ``energy``).

The one list of figures (``figures``); the verdict and its statistics (``verdict``, ``uncertainty``,
``equivalence``: winner, equivalent within a margin or undecided; ``runs_needed``; ``sequential`` and
``settling``: when run-until-decided may stop; ``ratio_text``: ratios a person can read); the headline's
two answers, time to train this and steady speed (``headline``);
its two headline answers, time to train and steady speed, with their break-even (``headline``);
the tables and tidy frames the CLI, the pages and the exports read (``report``, ``frames``); curve
smoothing (``smoothing``); time left (``eta``); a sweep's estimate and results (``sweeps``); the
harness against a minimal loop (``fidelity``); energy per image (``energy``). The modules are
imported by name (``from core.analysis import verdict``).
"""

__all__ = ["energy", "eta", "fidelity", "figures", "frames", "headline", "report", "smoothing", "sweeps", "uncertainty",
           "verdict"]
