"""Twinbench on Streamlit Community Cloud: the entrypoint to give Cloud (`cloud/streamlit_app.py`).

Cloud installs the requirements file beside the entrypoint before the one at the repository root,
so an app started from here gets cloud/requirements.txt (runtime only, CPU builds) while `make app`
keeps the root's full profile. Cloud runs the app from the repository root. ``pages``, ``core`` and
``dashboard_state.py`` in this folder are symbolic links to the root's, so that page paths, page
links and imports resolve here as they do beside the root's streamlit_app.py, whichever page is
opened first; a new top-level module that the dashboard imports needs a link here too.
See docs/deploy.md.
"""

from dashboard_state import run_app

run_app()
