"""Models: each architecture as every framework builds it, side by side."""

import pandas as pd
import streamlit as st

from core.engine.model_catalog import accepted_architectures, describe_architectures, parity_results
from core.errors import TwinbenchError
from core.frameworks import REGISTRY
from core.models.registry import ARCHITECTURES, INIT_SCHEME
from core.text import plain
from core.views.framework_words import EVERY_FRAMEWORK, REFERENCE_LABEL
from core.views.model_table import COLUMNS as OVERVIEW_COLUMNS
from core.views.model_table import layers_frame, model_caption, overview_rows
from dashboard_state import page_setup

page_setup()

SHAPES = {"8x8x1 (digits)": (8, 8, 1), "28x28x1 (MNIST)": (28, 28, 1), "32x32x3 (CIFAR, shapes)": (32, 32, 3)}

st.title("Models")
st.write(f"Every architecture is written once per framework with the same layers and the same initialisation "
         f"({INIT_SCHEME}). Building them needs the frameworks, so a worker process does it and the answer is cached.")

shape_label = st.radio("Input", list(SHAPES), index=2, horizontal=True, key="input_shape")
input_shape = SHAPES[shape_label]
accepted, refused = accepted_architectures(input_shape)
for name, reason in refused.items():
    st.caption(f"{name}: {reason}")

refresh = st.button("Build again", help="ignore the cache and rebuild every model in every framework",
                    key="build_again")
with st.spinner(f"Building every model in {EVERY_FRAMEWORK} (each in its own process) ..."):
    catalog = describe_architectures(input_shape, refresh=refresh)
for framework, message in catalog["errors"].items():
    st.error(plain(f"{framework}: {message}"))

st.subheader("Parity audit")
st.write(f"{REFERENCE_LABEL}'s initial weights are copied into every other framework's model (kernel layouts, BatchNorm "
         "statistics, recurrent gates, attention projections) and one batch goes through each in float32. The same model "
         "gives the same logits (within 1e-4) and gradients.")
if st.button("Run the parity audit", help="about half a minute: one worker process per framework",
             key="parity_audit"):
    with st.spinner("Building every model in every framework and comparing outputs ..."):
        try:
            st.session_state[f"parity-{shape_label}"] = parity_results(input_shape)
        except TwinbenchError as error:
            st.error(plain(error))
audit = st.session_state.get(f"parity-{shape_label}", {})
overview = overview_rows(accepted, {name: spec.description for name, spec in ARCHITECTURES.items()}, catalog, audit,
                         REGISTRY)
st.dataframe(pd.DataFrame(overview, columns=list(OVERVIEW_COLUMNS)), hide_index=True, key="overview",
             column_config={
                 "description": st.column_config.TextColumn(width="medium"),
                 "parameters": st.column_config.NumberColumn(help="trainable; the same in every framework that built it",
                                                             format="localized"),
                 "FLOPs/image": st.column_config.NumberColumn(format="compact"),
                 "frameworks": st.column_config.TextColumn(width="medium", help="which frameworks built it, and what differs"),
                 "max |logit diff|": st.column_config.NumberColumn(format="%.1e"),
             })
st.caption("The same audit runs from the command line: `python -m core parity --architecture resnet18`.")

for name in accepted:
    with st.expander(f"{name}: layers in every framework"):
        for column, framework in zip(st.columns(len(REGISTRY)), REGISTRY.values(), strict=True):
            model = catalog["frameworks"].get(framework.name, {}).get(name)
            column.markdown(f"**{framework.label}**" + (f" {plain(model.get('framework_version', ''))}" if model else ""))
            if model is None:
                column.caption("not available")
                continue
            column.dataframe(layers_frame(model), hide_index=True)
            column.caption(model_caption(model, framework))
