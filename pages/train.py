"""Train: choose what to compare, press Start comparison, and follow the queue live.

While a comparison is queued or training, the top of the page is its status (framework, epoch and
step, elapsed and time left from core.analysis.eta) with the live curves beside it, and the form folds away
into a collapsed expander until the comparison ends."""

import datetime as dt
import hashlib
import time

import streamlit as st

from core.analysis.eta import format_duration, format_left, job_status
from core.analysis.frames import epochs_frame
from core.data.registry import BUILTIN_DATASETS
from core.engine.jobs import active_jobs, get_job, queue_position, request_cancel
from core.engine.public_mode import check_queue, enqueue_public, store_upload
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES, LABELS, REGISTRY, parse_frameworks
from core.models.registry import ARCHITECTURES
from core.records import UNFINISHED, Comparison, Job, Run
from core.spec import COMPILE_MODES, DATA_PIPELINES, DEVICES, OPTIMIZERS, PRECISIONS, RunSpec
from core.text import plain
from core.train.measure import usable_cpu_count
from core.views.charts import curves_figure
from core.views.watching import WatchPolicy, trains_on_cpu, watch_policy
from dashboard_state import may_change, open_store, page_setup, public_policy, visitor

page_setup()
public = public_policy()

UPLOAD_CHOICE = "Upload an image-folder .zip"
DEFAULTS = RunSpec()
values = {}  # RunSpec field: what its widget holds
errors = {}  # RunSpec field (or "frameworks"): where its error is shown


def setting(widget, field: str, label: str, options=(), **kwargs) -> None:
    """The widget for one RunSpec field, keyed by the field's name and starting at its default,
    with a place for the field's error below it. For a field that may be unset, 0 means unset."""
    default = getattr(DEFAULTS, field)
    if options:
        kwargs.update(options=options, index=list(options).index(default))
    else:
        kwargs["value"] = 0 if default is None else default
    value = widget(label, key=field, **kwargs)
    values[field] = (value or None) if default is None else value
    errors[field] = st.empty()


def bounded(field: str, help_text: str) -> dict:
    """In public mode, the widget's largest value and its help say the shared instance's bound
    (core.engine.public_mode.bounded_spec refuses more, whatever the widget sends)."""
    if not public.enabled:
        return {"help": help_text} if help_text else {}
    bound = {"epochs": public.max_epochs, "repeats": public.max_repeats, "max_images": public.max_images,
             "image_size": public.max_image_size}[field]
    return {"max_value": bound, "help": f"{help_text + '; ' if help_text else ''}at most {bound:,} on this shared instance"}


def progress_of(run: Run, job: Job) -> tuple[float, str]:
    """Fraction done and a caption for one run of the followed job."""
    epochs = run.spec.epochs
    if run.status == "finished":
        return 1.0, "finished"
    if run.status == "failed":
        return len(run.epochs) / epochs, f"{run.error_kind}: {run.error_message}"
    if run.status == "queued":
        return 0.0, "waiting"
    progress = job.progress or {}
    if progress.get("run_id") == run.id and progress.get("steps_per_epoch"):
        done = (progress["epoch"] + progress["step"] / progress["steps_per_epoch"]) / epochs
        return min(done, 1.0), f"epoch {min(progress['epoch'] + 1, epochs)} of {epochs}"
    if progress.get("run_id") == run.id and progress.get("completed_epochs"):
        return progress["completed_epochs"] / epochs, f"epoch {progress['completed_epochs']} of {epochs} done"
    return len(run.epochs) / epochs, "starting (importing the framework)"


def is_live(jobs: list[Job], followed: Job | None) -> bool:
    """Whether the page refreshes: something is queued or training, or the followed job still is."""
    return bool(jobs) or bool(followed and followed.status in UNFINISHED)


def curves_drawn(comparison: Comparison | None) -> tuple:
    """What the curves show: the comparison and how many epochs have ended in it."""
    return (comparison.id, len(epochs_frame(comparison))) if comparison else ()


def show_curves(comparison: Comparison | None) -> None:
    """Draw the curves in a full run of the page, never from the refreshing fragment.

    What a fragment draws into a container outside it is cleared by the fragment's next run
    unless drawn again, so the curves vanished between epochs (while TensorFlow's worker started,
    say). The fragment instead reruns the whole page when an epoch has ended, where the watch
    policy allows live curves (core.views.watching), and in any case once the comparison has ended;
    redrawing unchanged Plotly charts every refresh cost the browser and the server CPU that a
    training run on a small machine needs (see docs/benchmarks.md).
    """
    st.session_state.curves_drawn = curves_drawn(comparison)
    frame = epochs_frame(comparison) if comparison else None
    if frame is None or frame.empty:
        return
    for metric in ("accuracy", "loss"):
        figure = curves_figure(frame, metric)
        figure.update_layout(height=320, margin={"t": 40, "b": 10})
        st.plotly_chart(figure, key=f"live-{metric}")


def show_status(store, job: Job, comparison: Comparison, yours: bool) -> None:
    """The panel on top while a job is queued or training: what trains, how far, for how long, how long to go."""
    settings = comparison.settings
    status = job_status(job, comparison, time.time())
    waiting = job.status == "queued"
    title = "Waiting for the device" if waiting else "Training"
    st.subheader(f"{title}: {plain(settings.architecture)} on {plain(settings.dataset)}"
                 + (" (yours)" if yours else ""))
    st.markdown(f"**{plain(status.headline(settings.repeats))}**")
    first, second = st.columns(2)
    first.metric("Waiting" if waiting else "Elapsed", format_duration(status.elapsed))
    if waiting:
        second.metric("Ahead in the queue", queue_position(store, job.id) or 0)
        st.caption(f"Time left: {format_left(status.estimate)}, once it starts")
    else:
        second.metric("Time left" + (" (rough)" if status.estimate.rough else ""), format_duration(status.estimate.seconds),
                      help="the time per step so far, extrapolated; a run not started takes the mean of its "
                           "framework's finished runs (rough: another framework's, until its own has run)")
    st.progress(status.fraction, text="whole comparison")


def show_queue(policy: WatchPolicy) -> None:
    store = open_store()
    jobs = active_jobs(store)
    job_id = st.query_params.get("job")
    job = get_job(store, job_id) if job_id else None
    if job_id and job is None:
        st.warning(f"No job {plain(job_id)} in this database.")
    # The followed job, else the one the device is busy with (started elsewhere: the CLI, another tab).
    shown = job if job is not None else (jobs[0] if jobs else None)
    if shown is None:
        st.subheader("Queue")
        st.caption("Nothing is waiting for the device.")
    else:
        comparison = store.comparison(shown.comparison_id)
        # The job this page follows; on a shared instance only if this session queued it, since
        # anyone can open another visitor's ?job= address.
        yours = job is not None and shown.id == job.id and may_change(comparison)
        if shown.status in UNFINISHED:
            with st.container(key="status_panel"):
                show_status(store, shown, comparison, yours)
        else:
            st.subheader(f"Comparison {plain(comparison.id)}")
            started = dt.datetime.fromtimestamp(shown.created_at).strftime("%H:%M:%S")
            status_text = {"finished": "finished", "failed": f"failed: {shown.message}",
                           "cancelled": "cancelled"}.get(shown.status, shown.status)
            st.caption(f"Queued at {started} · {plain(status_text)}")
        for run in comparison.runs:
            fraction, caption = progress_of(run, shown)
            label = LABELS.get(run.framework, run.framework)
            label += f" #{run.repeat + 1}" if comparison.settings.repeats > 1 else ""
            st.progress(fraction, text=plain(f"{label}: {caption}"))
        if yours and shown.status in UNFINISHED and st.button("Cancel", key="cancel"):
            request_cancel(store, shown.id)
            st.rerun()
        if policy.live_curves and curves_drawn(comparison) != st.session_state.get("curves_drawn"):
            st.rerun()  # an epoch has ended: the whole page, to draw the curves anew
        if shown.status == "finished":
            st.success("Finished.")
            st.page_link("pages/compare.py", label="See the comparison", icon=":material/compare_arrows:",
                         query_params={"comparison": comparison.id})
        elif shown.status in ("failed", "cancelled"):
            st.page_link("pages/compare.py", label="See what finished", icon=":material/compare_arrows:",
                         query_params={"comparison": comparison.id})
    others = [queued for queued in jobs if shown is None or queued.id != shown.id]
    if others:
        st.subheader("Queue")
    for queued in others:
        settings = store.comparison(queued.comparison_id).settings
        position = jobs.index(queued)
        state = "training" if queued.status == "running" else f"waiting, {position} ahead"
        st.write(f"**{plain(settings.architecture)} on {plain(settings.dataset)}**: {state}")
    if is_live(jobs, job) != st.session_state.get("live_at_full_run"):
        # A job ended (or one was queued elsewhere): one full rerun stops or starts the refresh
        # timer below and folds or opens the form.
        st.rerun()


st.title("Train")

store_for_state = open_store()
followed = get_job(store_for_state, st.query_params["job"]) if "job" in st.query_params else None
active = active_jobs(store_for_state)
live = is_live(active, followed)
# The fragment below reruns the whole page once this changes (a job ended, or one was queued elsewhere).
st.session_state.live_at_full_run = live
watched_job = followed or (active[0] if active else None)  # the job the status panel shows
watched = store_for_state.comparison(watched_job.comparison_id) if watched_job else None
policy = watch_policy(trains_on_cpu(watched.settings.device if watched else "auto"), usable_cpu_count())
if live or followed:
    panel, curves_column = st.columns(2, gap="large")
    if live and policy.note:
        curves_column.caption(policy.note)
    with curves_column:
        show_curves(watched)
else:
    panel = st.container()
    st.session_state.curves_drawn = ()

# Collapsed while a comparison is queued or training, open otherwise; the expander's identity
# includes ``expanded``, so it starts anew (folded or open) each time that changes, and keeps
# what the person chose in between.
with st.expander("New comparison", expanded=not live, key="new_comparison", on_change="rerun",
                 icon=":material/tune:"):
    st.caption(
        "Both frameworks train the identical model on identical data, one after the other on this machine. "
        "By default the training data sits on the device in both, so the input pipeline is not part of what is "
        "measured; choose the native pipeline (tf.data, DataLoader) to measure it."
    )

    # What to train sits outside the form: the form offers what applies to it (the upload box for
    # an uploaded dataset, ImageNet weights for an architecture that has them).
    dataset_column, architecture_column = st.columns(2)
    with dataset_column:
        setting(st.selectbox, "dataset", "Dataset", [*BUILTIN_DATASETS, UPLOAD_CHOICE],
                format_func=lambda d: f"{d} — {BUILTIN_DATASETS[d]}" if d in BUILTIN_DATASETS else d)
        upload = st.file_uploader("Image-folder .zip (one subfolder per class)", type=["zip"], key="dataset_upload",
                                  max_upload_size=public.max_upload_mib if public.enabled else None) \
            if values["dataset"] == UPLOAD_CHOICE else None
    with architecture_column:
        setting(st.selectbox, "architecture", "Architecture", list(ARCHITECTURES),
                format_func=lambda a: f"{a} — {ARCHITECTURES[a].description}")
    with st.form("comparison"):
        left, middle, right = st.columns(3)
        with left:
            frameworks = st.multiselect("Frameworks", list(REGISTRY), default=list(DEFAULT_NAMES), key="frameworks",
                                        format_func=lambda name: LABELS[name] + ("" if REGISTRY[name].installed
                                                                                 else " (not installed)"))
            errors["frameworks"] = st.empty()
        with middle:
            setting(st.number_input, "epochs", "Epochs", step=1, **bounded("epochs", "1 to 1000"))
            setting(st.number_input, "batch_size", "Batch size", step=1,
                    help="at most the training split; the last partial batch is dropped")
            setting(st.selectbox, "optimizer", "Optimiser", OPTIMIZERS)
            setting(st.number_input, "learning_rate", "Learning rate", format="%.5f", step=1e-4,
                    help="greater than 0, at most 10")
            setting(st.number_input, "seed", "Seed", step=1)
        with right:
            setting(st.selectbox, "device", "Device", DEVICES, help="auto takes the GPU when a framework sees one")
            setting(st.selectbox, "precision", "Precision", PRECISIONS, help="bf16: mixed precision, logits kept in float32")
            setting(st.selectbox, "compile", "Compile", COMPILE_MODES, help="on: XLA for TensorFlow, torch.compile for PyTorch")
            setting(st.number_input, "repeats", "Repeats", step=1,
                    **bounded("repeats", "runs per framework, alternating which goes first; repeat i uses seed + i, "
                                         "so each figure gets a spread and the verdict an interval"))
            setting(st.checkbox, "best_of_each", "Best of each",
                    help="first try each framework's modes (compile, bf16, channels_last) briefly, "
                         "then train each in its fastest")
            setting(st.checkbox, "channels_last", "channels_last (PyTorch)",
                    help="NHWC memory order for PyTorch's images and convolutions")
            setting(st.selectbox, "data_pipeline", "Input pipeline", DATA_PIPELINES,
                    format_func={"device": "data on the device (not measured)",
                                 "native": "tf.data / DataLoader (measured)"}.get)
        with st.expander("More settings"):
            a, b, c = st.columns(3)
            with a:
                setting(st.number_input, "momentum", "SGD momentum", format="%.3f")
                setting(st.number_input, "weight_decay", "Weight decay (decoupled)", format="%.5f")
                setting(st.checkbox, "same_init", "Same initial weights",
                        help="TensorFlow starts from PyTorch's initial weights, converted layer by layer")
                setting(st.checkbox, "same_seed", "Same seed for every repeat",
                        help="speed-only repeats: accuracy then has no spread to judge")
            with b:
                setting(st.number_input, "validation_fraction", "Validation fraction", format="%.2f")
                setting(st.number_input, "target_accuracy", "Target validation accuracy", format="%.2f",
                        help="for the time-to-target figure")
                if ARCHITECTURES[values["architecture"]].pretrained_available:
                    setting(st.checkbox, "pretrained", "ImageNet weights",
                            help="each library's ImageNet weights, frozen base, new dense head")
                    setting(st.number_input, "unfreeze_blocks", "Also train the top blocks", step=1,
                            help="with ImageNet weights: 0 to 19")
            with c:
                setting(st.number_input, "image_size", "Image size (0 = as stored)", step=1,
                        **bounded("image_size", "resize images explicitly, e.g. 16 for lenet5 on 8x8 digits"))
                setting(st.number_input, "max_images", "Max images (0 = all)" if not public.enabled
                        else f"Max images (0 = {public.max_images:,})", step=100, **bounded("max_images", ""))
                setting(st.checkbox, "augment", "Augment (random shifts; flips for colour)")
                setting(st.number_input, "threads", "CPU threads per framework (0 = all cores but one)", step=1,
                        help="one core is left to the dashboard and the browser, so watching does not "
                             "slow the runs; the same for both frameworks")
        general_error = st.empty()
        submitted = st.form_submit_button("Start comparison", type="primary", key="start")

if submitted:
    store = open_store()
    try:
        check_queue(store, visitor(), public)  # a full queue refuses before an upload is stored
        if values["dataset"] == UPLOAD_CHOICE:
            if upload is None:
                raise BadInput("choose a .zip to upload, or pick a built-in dataset", "dataset")
            payload = upload.getvalue()
            # This session's distinct uploads: the same file sent again with the form is not another.
            digest = hashlib.sha256(payload).hexdigest()
            uploaded = st.session_state.setdefault("twinbench_uploads", set())
            values["dataset"] = str(store_upload(store, upload.name, payload, len(uploaded - {digest}), public))
            uploaded.add(digest)
        chosen = parse_frameworks(frameworks)
        with st.spinner("Preparing the data ..."):
            job_id = enqueue_public(store, RunSpec.from_dict(values), chosen, visitor(), public)
    except BadInput as error:
        (errors.get(error.field or "") or general_error).error(plain(error), icon=":material/error:")
    else:
        st.query_params["job"] = job_id
        st.session_state.queued_toast = True
        st.rerun()  # the page anew: the status panel on top, the form folded away
if st.session_state.pop("queued_toast", False):
    st.toast("Comparison queued")

# Refresh while something is queued or training, and not at all otherwise.
with panel:
    st.fragment(run_every=policy.refresh_seconds if live else None)(show_queue)(policy)
