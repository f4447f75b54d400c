"""What the dashboard's pages show, as plain functions and data: the pages in pages/ call these
and Streamlit, and nothing here imports Streamlit, so each is tested without it.

One module per page (``train_form`` and ``train_status``, ``compare_view``, ``history_view``,
``sweep_view``, ``system_view``, ``model_table``), the tables and charts they draw (``history``,
``run_table``, ``charts``, ``sweep_charts``), and what several share: the address (``query``),
how much a watched run allows (``watching``) and what is said of the frameworks (``framework_words``).
The modules are imported by name (``from core.views import compare_view``), so that a page loads
only what it uses.
"""

__all__ = ["charts", "compare_view", "framework_words", "history", "history_view", "model_table", "query", "run_table",
           "sweep_charts", "sweep_view", "system_view", "train_form", "train_status", "watching"]
