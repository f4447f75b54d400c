"""Train: choose what to compare, press Start comparison, and follow the queue live.

While a comparison is queued or training, the top of the page is its status (framework, epoch and
step, elapsed and time left from core.analysis.eta) with the live curves beside it, and the form folds away
into a collapsed expander until the comparison ends."""

import time

import streamlit as st

from core.engine.jobs import request_cancel
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES, REGISTRY
from core.models.registry import ARCHITECTURES
from core.text import plain
from core.views import train_form as words
from core.views import train_status as queue
from core.views.framework_words import framework_choice
from core.views.watching import WatchPolicy
from dashboard_state import may_change, open_store, page_setup, public_policy, visitor

page_setup()


def show_curves(comparison: dict | None) -> None:
    """Draw the curves in a full run of the page, never from the refreshing fragment: what a fragment
    draws outside itself is cleared by its next run unless drawn again, so the curves vanished between
    epochs. The fragment reruns the whole page instead once an epoch has ended (where the watch policy
    allows live curves) and once the comparison has ended; redrawing unchanged Plotly charts every
    refresh took CPU from the runs on a small machine (docs/benchmarks.md)."""
    st.session_state.curves_drawn = queue.curves_drawn(comparison)
    for metric, figure in queue.live_figures(comparison).items():
        st.plotly_chart(figure, key=f"live-{metric}")


def show_status(panel: queue.StatusPanel) -> None:
    st.subheader(panel.title)
    st.markdown(panel.headline)
    for column, metric in zip(st.columns(2), panel.metrics, strict=True):
        column.metric(metric.label, metric.value, help=metric.help)
    if panel.caption:
        st.caption(panel.caption)
    st.progress(panel.fraction, text="whole comparison")


def show_queue(store, policy: WatchPolicy) -> None:
    job_id = st.query_params.get("job")
    watch = queue.followed(store, job_id)
    shown, comparison = watch.shown, watch.comparison
    if job_id and watch.job is None:
        st.warning(f"No job {plain(job_id)} in this database.")
    if shown is None:
        st.subheader("Queue")
        st.caption("Nothing is waiting for the device.")
    else:
        # On a shared instance the page follows a job only if this session queued it, since anyone
        # can open another visitor's ?job= address.
        yours = watch.job is not None and may_change(comparison)
        if shown["status"] in ("queued", "running"):
            with st.container(key="status_panel"):
                show_status(queue.status_panel(store, shown, comparison, yours, time.time()))
        else:
            st.subheader(f"Comparison {plain(comparison['id'])}")
            st.caption(queue.ended_caption(shown))
        for fraction, text in queue.run_bars(comparison, shown):
            st.progress(fraction, text=text)
        if yours and shown["status"] in ("queued", "running") and st.button("Cancel", key="cancel"):
            request_cancel(store, shown["id"])
            st.rerun()
        if policy.live_curves and queue.curves_drawn(comparison) != st.session_state.get("curves_drawn"):
            st.rerun()  # an epoch has ended: the whole page, to draw the curves anew
        if shown["status"] in ("finished", "failed", "cancelled"):
            if shown["status"] == "finished":
                st.success("Finished.")
            st.page_link("pages/compare.py", label="See the comparison" if shown["status"] == "finished" else "See what finished",
                         icon=":material/compare_arrows:", query_params={"comparison": comparison["id"]})
    lines = queue.waiting_lines(store, watch.jobs, shown)
    if lines:
        st.subheader("Queue")
    for line in lines:
        st.write(line)
    if watch.live != st.session_state.get("live_at_full_run"):
        # A job ended (or one was queued elsewhere): one full rerun stops or starts the refresh
        # timer below and folds or opens the form.
        st.rerun()


def new_comparison(store, expanded: bool) -> None:
    """The form, and what Start comparison does: queue the comparison and follow it, or say what is wrong."""
    public = public_policy()
    form = words.SpecForm(public, {"number": st.number_input, "choice": st.selectbox, "check": st.checkbox}, st.empty)
    # The expander's identity includes ``expanded``, so it starts anew (folded or open) each time
    # that changes, and keeps what the person chose in between.
    with st.expander("New comparison", expanded=expanded, key="new_comparison", on_change="rerun", icon=":material/tune:"):
        st.caption(words.ABOUT)
        # What to train sits outside the form: the form offers what applies to it (the upload box for
        # an uploaded dataset, ImageNet weights for an architecture that has them).
        dataset_column, architecture_column = st.columns(2)
        with dataset_column:
            form.add("dataset")
            upload = st.file_uploader("Image-folder .zip (one subfolder per class)", type=["zip"], key="dataset_upload",
                                      max_upload_size=public.max_upload_mib if public.enabled else None) \
                if form.values["dataset"] == words.UPLOAD_CHOICE else None
        with architecture_column:
            form.add("architecture")
        with st.form("comparison"):
            left, middle, right = st.columns(3)
            with left:
                frameworks = st.multiselect("Frameworks", list(REGISTRY), default=list(DEFAULT_NAMES), key="frameworks",
                                            format_func=framework_choice)
                form.errors["frameworks"] = st.empty()
            with middle:
                form.add("epochs", "batch_size", "optimizer", "learning_rate", "seed")
            with right:
                form.add("device", "precision", "compile", "repeats", "best_of_each", "channels_last", "data_pipeline")
            with st.expander("More settings"):
                a, b, c = st.columns(3)
                with a:
                    form.add("momentum", "weight_decay", "same_init", "same_seed")
                with b:
                    form.add("validation_fraction", "target_accuracy")
                    if ARCHITECTURES[form.values["architecture"]].pretrained_available:
                        form.add("pretrained", "unfreeze_blocks")
                with c:
                    form.add("image_size", "max_images", "augment", "threads")
            general_error = st.empty()
            submitted = st.form_submit_button("Start comparison", type="primary", key="start")
    if not submitted:
        return
    try:
        job_id = words.start_comparison(store, form.values, upload, st.session_state.setdefault("twinbench_uploads", set()),
                                        frameworks, visitor(), public, lambda: st.spinner("Preparing the data ..."))
    except BadInput as error:
        form.place_for(error, general_error).error(plain(error), icon=":material/error:")
    else:
        st.query_params["job"] = job_id
        st.session_state.queued_toast = True
        st.rerun()  # the page anew: the status panel on top, the form folded away


st.title("Train")
store = open_store()
watch = queue.followed(store, st.query_params.get("job"))
# The fragment below reruns the whole page once this changes (a job ended, or one was queued elsewhere).
st.session_state.live_at_full_run = watch.live
policy = queue.page_policy(watch.comparison)
if watch.live or watch.job:
    panel, curves_column = st.columns(2, gap="large")
    if watch.live and policy.note:
        curves_column.caption(policy.note)
    with curves_column:
        show_curves(watch.comparison)
else:
    panel = st.container()
    st.session_state.curves_drawn = ()

new_comparison(store, expanded=not watch.live)  # folded while a comparison is queued or training
if st.session_state.pop("queued_toast", False):
    st.toast("Comparison queued")

# Refresh while something is queued or training, and not at all otherwise.
with panel:
    st.fragment(run_every=policy.refresh_seconds if watch.live else None)(show_queue)(store, policy)
