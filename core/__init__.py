"""Twinbench engine: data, models, training workers, results store and CLI.

Nothing in this package imports streamlit, and nothing outside ``core.engine.worker`` and the
framework-specific modules it loads imports TensorFlow or PyTorch.
"""

__version__ = "0.1.0"
