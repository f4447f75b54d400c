"""A comparison: the same RunSpec trained once per framework (and per repeat), one at a time.

Runs go one after another on the same device, never side by side, so neither framework takes
memory or cores from the other. With repeats the order alternates, so neither framework always
gets the warm machine.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, cast

from core.data.prepare import PreparedData, prepare_dataset
from core.engine.ray_executor import executor_setting
from core.engine.runner import EventCallback, Executor, WorkerHosts, WorkerOutcome
from core.engine.work import BenchJob, ParityReferenceJob, TrainJob
from core.errors import BadInput, FailureKind
from core.frameworks import REFERENCE, get
from core.models.registry import check_input_shape, check_pretrained
from core.records import Comparison
from core.results import RunResult
from core.spec import RunSpec
from core.store.queries import Store

RunEventCallback = Callable[[dict[str, Any], dict[str, Any]], None]


def repeat_order(frameworks: list[str], repeat: int) -> list[str]:
    """The frameworks in the order repeat ``repeat`` trains them: reversed every other repeat."""
    return frameworks if repeat % 2 == 0 else list(reversed(frameworks))


def plan_runs(frameworks: list[str], repeats: int) -> list[tuple[int, str]]:
    """(repeat, framework) in execution order, alternating which framework goes first."""
    return [(repeat, framework) for repeat in range(repeats) for framework in repeat_order(frameworks, repeat)]


def check_spec_against_data(spec: RunSpec, data: PreparedData) -> None:
    """Refuse what only the prepared data can show to be impossible."""
    check_input_shape(spec.architecture, data.input_shape)
    check_pretrained(spec.architecture, data.input_shape, spec.pretrained)
    train = len(data.y_train)
    if spec.batch_size > train:
        raise BadInput(
            f"batch_size must be at most the training split's {train} images (got {spec.batch_size})", "batch_size"
        )


def prepare_for(spec: RunSpec) -> tuple[RunSpec, PreparedData]:
    """Prepare the data, check the spec against it, and note in the spec what was done to it."""
    data = prepare_dataset(spec.dataset, spec.seed, spec.validation_fraction, spec.image_size, spec.max_images)
    check_spec_against_data(spec, data)
    return spec.replace(notes=tuple(data.notes)), data


def repeat_seed(spec: RunSpec, repeat: int) -> int:
    """Repeat i trains with seed + i in every framework (the split stays the one of ``spec.seed``)."""
    return spec.seed if spec.same_seed else spec.seed + repeat


def run_specs(spec: RunSpec, frameworks: list[str]) -> list[tuple[int, str, dict[str, Any]]]:
    """(repeat, framework, run spec) in execution order."""
    return [(repeat, fw, spec.replace(framework=fw, seed=repeat_seed(spec, repeat)).to_dict())
            for repeat, fw in plan_runs(frameworks, spec.repeats)]


def check_spec_against_frameworks(spec: RunSpec, frameworks: list[str]) -> None:
    """Refuse settings a chosen framework has no way to run."""
    if spec.data_pipeline == "native":
        lacking = [get(name).label for name in frameworks if get(name).native_pipeline is None]
        if lacking:
            raise BadInput(f"data_pipeline native: {', '.join(lacking)} has no native input pipeline here; "
                           "use data_pipeline device, or leave it out", "data_pipeline")


def plan_comparison(spec: RunSpec, frameworks: list[str]) -> tuple[RunSpec, PreparedData, list[tuple[int, str, dict[str, Any]]]]:
    """Validate the settings against the frameworks and the prepared data; the runs to make."""
    check_spec_against_frameworks(spec, frameworks)
    spec, data = prepare_for(spec)
    return spec, data, run_specs(spec, frameworks)


def create_comparison(store: Store, spec: RunSpec, frameworks: list[str], *, sweep_id: str | None = None,
                      owner: str | None = None) -> str:
    """Validate and prepare everything, then queue the runs. Raises BadInput before any write."""
    spec, data, planned = plan_comparison(spec, frameworks)
    summary = {**data.summary(), "path": str(data.path)}
    comparison_id, _ = store.create_comparison(spec.comparison_settings(), frameworks, planned, summary,
                                               sweep_id=sweep_id, owner=owner)
    return comparison_id


def add_repeat(store: Store, comparison_id: str) -> bool:
    """Queue one more repeat of every framework of a comparison, back to back in alternating order
    (--until-decided). Each new run is its framework's last run with the next repeat's seed, so a
    mode that best-of-each chose stays chosen. False, queueing nothing, when the settings allow no
    more repeats (RunSpec's limit on repeats, or seeds past the largest)."""
    comparison = store.comparison(comparison_id)
    repeat = 1 + max((run.repeat for run in comparison.runs), default=-1)
    try:
        settings = RunSpec.from_dict({**comparison.settings.stored(), "framework": REFERENCE.name, "repeats": repeat + 1})
    except BadInput:
        return False
    latest = {run.framework: run.spec.stored() for run in sorted(comparison.runs, key=lambda run: run.position)}
    frameworks = [framework for framework in comparison.frameworks if framework in latest]
    planned = [(repeat, framework, {**latest[framework], "seed": repeat_seed(settings, repeat)})
               for framework in repeat_order(frameworks, repeat)]
    store.add_runs(comparison_id, planned, settings.comparison_settings())
    return True


def _data_path(comparison: Comparison) -> Path:
    """The prepared arrays, rebuilt if the cache was cleared since the comparison was queued."""
    path = comparison.data.get("path")
    if path and Path(path).exists():
        return Path(path)
    spec = RunSpec.from_dict({**comparison.settings.stored(), "framework": REFERENCE.name})
    return prepare_for(spec)[1].path  # type: ignore[return-value]


def _initial_weights(comparison: Comparison, data_path: Path, seed: int, executor: Executor) -> str:
    """Export the PyTorch model's initial weights for this seed, for Keras to start from (--same-init)."""
    settings = comparison.settings
    input_shape, classes = comparison.data["input_shape"], comparison.data["num_classes"]
    path = data_path.parent / (f"init-{settings.architecture}-{'x'.join(map(str, input_shape))}-{classes}"
                               f"-{seed}-{int(settings.pretrained)}.npz")
    if not path.exists():
        outcome = executor.run(ParityReferenceJob(
            architectures=(settings.architecture,), paths=(str(path),), input_shape=input_shape, num_classes=classes,
            seed=seed, with_forward=False, pretrained=settings.pretrained))
        if outcome.status != "finished":
            raise BadInput("same_init needs PyTorch to export its initial weights: "
                           + (outcome.error or {}).get("message", "the export failed"), "same_init")
    return str(path)


def _with_info(on_event: RunEventCallback | None, info: dict[str, Any]) -> EventCallback | None:
    """The worker's event callback for one run: the caller's, told which run each event is from."""
    return (lambda event: on_event(info, event)) if on_event else None


def choose_modes(
    store: Store, comparison: Comparison, executor: Executor, on_event: RunEventCallback | None,
    should_cancel: Callable[[], bool],
) -> dict[str, Any]:
    """Try each framework's modes briefly on the comparison's input, then give its queued runs
    the fastest one. Returns the trials, which are kept with the comparison."""
    from core.engine.system import nvml_gpus
    from core.modes import TRIAL_STEPS, TRIAL_WARMUP, candidate_modes, chosen_mode_payoff_step, fastest

    input_shape, classes = comparison.data["input_shape"], comparison.data["num_classes"]
    chosen: dict[str, Any] = {}
    device_kind = "cuda" if comparison.settings.device != "cpu" and nvml_gpus()[0] else "cpu"
    for framework in dict.fromkeys(run.framework for run in comparison.runs):
        base = next(run.spec.stored() for run in comparison.runs if run.framework == framework)
        trials = []
        for mode in candidate_modes(framework, device_kind):
            if should_cancel():
                return chosen
            spec = RunSpec.model_validate({**base, **mode.overrides()})
            info = {"run_id": f"trial-{framework}-{mode.label(framework)}", "framework": framework, "repeat": 0,
                    "epochs": 1}
            outcome = executor.run(
                BenchJob(spec=spec, input_shape=input_shape, num_classes=classes, steps=TRIAL_STEPS, warmup=TRIAL_WARMUP),
                _with_info(on_event, info), should_cancel,
            )
            result = RunResult.model_validate(outcome.result or {})
            trials.append({"mode": mode.label(framework), **mode.overrides(), "status": outcome.status,
                           "steady_images_per_second": result.steady_images_per_second,
                           "step_ms_median": result.step_ms_median, "compile_seconds": result.compile_seconds,
                           "error": (outcome.error or {}).get("message")})
        try:
            best = fastest(trials)
        except ValueError:
            continue  # no mode ran: the runs keep their settings and will report why
        best["compile_payoff_step"] = chosen_mode_payoff_step(best, trials)
        chosen[framework] = {"chosen": best, "trials": trials}
        for run in comparison.runs:
            if run.framework == framework and run.status == "queued":
                store.update_queued_spec(run.id, {**run.spec.stored(), **{k: best[k] for k in ("compile", "precision", "channels_last")}})
    store.update_comparison_data(comparison.id, {**comparison.data, "best_of_each": chosen})
    return chosen


class ComparisonExecutor(Executor, Protocol):
    """What runs a comparison: an Executor whose frameworks are imported before the first timed
    run (``wait_ready``) and that is closed when the comparison ends."""

    def wait_ready(self, should_cancel: Callable[[], bool] = lambda: False) -> None: ...

    def close(self) -> None: ...


def comparison_executor(frameworks: list[str], device: str = "auto", executor: str | None = None) -> ComparisonExecutor:
    """The framework hosts of one comparison: on this machine, or on one device of a Ray cluster."""
    if executor_setting(executor) == "ray":
        from core.engine.ray_executor import RayComparisonExecutor

        return RayComparisonExecutor(frameworks, device=device)
    return WorkerHosts(frameworks)


def execute_comparison(
    store: Store,
    comparison_id: str,
    on_event: RunEventCallback | None = None,
    should_cancel: Callable[[], bool] = lambda: False,
    hosts: ComparisonExecutor | None = None,
    executor: str | None = None,
) -> list[WorkerOutcome]:
    """Run every queued run of a comparison in order, recording each event as it arrives.

    Each framework's runs are forked from its own host process (core.engine.runner.WorkerHost), so the
    framework is imported once per comparison rather than once per run. A caller may start the
    hosts earlier (``hosts``), so that the imports overlap its own preparations. ``executor``
    ``ray`` (default: ``$TWINBENCH_EXECUTOR``, else local) trains the whole comparison on one
    device of a Ray cluster (core.engine.ray_executor); the events still come here, to the store.
    """
    comparison = store.comparison(comparison_id)
    data_path = _data_path(comparison)
    frameworks = list(dict.fromkeys(run.framework for run in comparison.runs if run.status == "queued"))
    outcomes = []
    stop_everything = False
    with contextlib.ExitStack() as owned:
        if hosts is None:
            hosts = comparison_executor(frameworks, comparison.settings.device, executor)
            owned.callback(hosts.close)
        # Nothing timed (the mode trials included) starts while a framework is still importing.
        hosts.wait_ready(should_cancel)
        # Modes are chosen once: repeats added later (add_repeat) keep the runs' chosen modes.
        if comparison.settings.best_of_each and frameworks and "best_of_each" not in comparison.data:
            choose_modes(store, comparison, hosts, on_event, should_cancel)
            comparison = store.comparison(comparison_id)
        queued = [run for run in comparison.runs if run.status == "queued"]
        init_weights = {seed: _initial_weights(comparison, data_path, seed, hosts)
                        for seed in sorted({run.spec.seed for run in queued})} if comparison.settings.same_init else {}
        for run in queued:
            if stop_everything or should_cancel():
                store.fail_run(run.id, "cancelled", "the comparison was cancelled before this run started")
                continue
            store.mark_running(run.id)
            info = {"run_id": run.id, "framework": run.framework, "repeat": run.repeat,
                    "position": run.position, "runs": len(comparison.runs), "epochs": run.spec.epochs}

            def record(event: dict[str, Any], run_id: str = run.id, info: dict[str, Any] = info) -> None:
                if event["type"] == "started" and event.get("environment"):
                    store.record_environment(run_id, event["environment"])
                elif event["type"] == "epoch":
                    store.add_epoch(run_id, event)
                if on_event:
                    on_event(info, event)

            job = TrainJob(spec=RunSpec.model_validate(run.spec.stored()), data_path=str(data_path),
                           init_weights=init_weights.get(run.spec.seed))
            outcome = hosts.run(job, record, should_cancel)
            if outcome.status == "finished" and outcome.result is not None:
                store.finish_run(run.id, RunResult.model_validate(outcome.result))
            else:
                error = outcome.error or {"kind": "crashed", "message": "no result"}
                # The worker names its kind in a JSON event, one of FailureKind (core.errors).
                store.fail_run(run.id, cast(FailureKind, error["kind"]), error["message"])
                if error["kind"] == "cancelled":
                    stop_everything = True
            outcomes.append(outcome)
    return outcomes
