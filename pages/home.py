"""Home: what Twinbench does, and the latest comparison's table."""

import pandas as pd
import streamlit as st

from core.paths import default_db_path
from core.report import comparison_rows
from core.store import Store

st.title("Twinbench")
st.write(
    "Twinbench trains the same image classifier in TensorFlow/Keras and in PyTorch, on the same data, "
    "with the same settings, one framework at a time, and shows how the two compare on speed, memory and accuracy."
)

store = Store(default_db_path())
latest = store.latest_comparison_id()
if latest is None:
    st.info("No comparisons yet. Run `python -m core compare` to make the first one.")
else:
    comparison = store.comparison(latest)
    settings = comparison["settings"]
    st.subheader(f"Latest comparison: {settings['architecture']} on {settings['dataset']}")
    headers, rows = comparison_rows(comparison)
    st.dataframe(pd.DataFrame(rows, columns=[h or "Figure" for h in headers]), hide_index=True)
