"""``python -m core``: compare, bench and runs, without a browser.

Exit codes: 0 every run finished, 1 a run failed, 2 bad input (nothing was trained), 130
interrupted by Ctrl-C or SIGTERM (what finished is kept and printed). docs/errors.md lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import statistics
import sys
from pathlib import Path
from typing import Any, NoReturn, cast

from core.errors import BadInput, FailureKind, TwinbenchError
from core.frameworks import DEFAULT_NAMES as DEFAULT_FRAMEWORKS
from core.frameworks import NAMES as FRAMEWORK_NAMES
from core.records import Comparison, Run, StoredSpec
from core.spec import COMPILE_MODES, DEVICES, OPTIMIZERS, PRECISIONS, RunSpec
from core.store.database import default_location, is_url

EXIT_OK, EXIT_RUN_FAILED, EXIT_BAD_INPUT = 0, 1, 2
# Ctrl-C or SIGTERM: the shell's convention for an interrupted command (128 + SIGINT).
EXIT_INTERRUPTED = 130
DEFAULTS = RunSpec()

# CLI flag -> RunSpec field, for the flags that map one to one.
SPEC_FLAGS = {
    "dataset": "dataset", "architecture": "architecture", "epochs": "epochs", "batch_size": "batch_size",
    "learning_rate": "learning_rate", "optimizer": "optimizer", "momentum": "momentum",
    "weight_decay": "weight_decay", "seed": "seed", "device": "device", "precision": "precision",
    "compile": "compile", "repeats": "repeats", "validation_fraction": "validation_fraction",
    "target_accuracy": "target_accuracy", "image_size": "image_size", "max_images": "max_images",
    "unfreeze_blocks": "unfreeze_blocks", "data_pipeline": "data_pipeline", "threads": "threads",
}
SPEC_SWITCHES = ("augment", "pretrained", "same_init", "same_seed", "channels_last", "best_of_each")


def _add_device_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=DEFAULTS.device, help=f"{'|'.join(DEVICES)} (auto: the GPU when the framework sees one)")
    parser.add_argument("--precision", default=DEFAULTS.precision, help="|".join(PRECISIONS))
    parser.add_argument("--compile", default=DEFAULTS.compile, help=f"{'|'.join(COMPILE_MODES)}: XLA for TensorFlow, torch.compile for PyTorch")
    parser.add_argument("--channels-last", dest="channels_last", action="store_true",
                        help="PyTorch keeps images and convolutions in NHWC memory order (TensorFlow always does)")
    parser.add_argument("--threads", default=None,
                        help="CPU threads per framework (default: every usable core but one, left to the dashboard and system)")
    parser.add_argument("--db", default=None, help=DB_HELP)
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="check every setting (and prepare the data) but train nothing")


DB_HELP = ("results database: a SQLite file or a URL such as postgresql://user:password@host:5432/twinbench "
           "(default: $TWINBENCH_DB, else $TWINBENCH_HOME/runs.sqlite)")


class Parser(argparse.ArgumentParser):
    """argparse's refusals in the CLI's own one-line form (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m core", description="Train the same model in TensorFlow and PyTorch and compare.")
    commands = parser.add_subparsers(dest="command", required=True)

    compare = commands.add_parser("compare", help="train each framework on the same data and compare")
    compare.add_argument("--dataset", default=DEFAULTS.dataset, help="digits|shapes|mnist|fashion_mnist|cifar10|cifar100 or an image folder / .zip")
    compare.add_argument("--architecture", default=DEFAULTS.architecture)
    compare.add_argument("--frameworks", default=",".join(DEFAULT_FRAMEWORKS),
                         help=f"comma-separated, from {', '.join(FRAMEWORK_NAMES)}; the first is the baseline of the verdict")
    compare.add_argument("--epochs", default=DEFAULTS.epochs)
    compare.add_argument("--batch-size", dest="batch_size", default=DEFAULTS.batch_size)
    compare.add_argument("--learning-rate", dest="learning_rate", default=DEFAULTS.learning_rate)
    compare.add_argument("--optimizer", default=DEFAULTS.optimizer, help="|".join(OPTIMIZERS))
    compare.add_argument("--momentum", default=DEFAULTS.momentum, help="SGD momentum")
    compare.add_argument("--weight-decay", dest="weight_decay", default=DEFAULTS.weight_decay, help="decoupled, in both frameworks")
    compare.add_argument("--seed", default=DEFAULTS.seed)
    compare.add_argument("--repeats", default=DEFAULTS.repeats,
                         help="runs per framework, alternating which goes first; repeat i uses seed + i")
    compare.add_argument("--same-seed", dest="same_seed", action="store_true",
                         help="every repeat uses --seed (speed-only repeats: accuracy then has no spread)")
    compare.add_argument("--validation-fraction", dest="validation_fraction", default=DEFAULTS.validation_fraction)
    compare.add_argument("--target-accuracy", dest="target_accuracy", default=DEFAULTS.target_accuracy,
                         help="validation accuracy for the time-to-target figure")
    compare.add_argument("--image-size", dest="image_size", default=None, help="resize images to this side (explicit upsampling)")
    compare.add_argument("--max-images", dest="max_images", default=None, help="use at most this many training images")
    compare.add_argument("--augment", action="store_true", help="random shifts (and flips for colour images), same for both")
    compare.add_argument("--pretrained", action="store_true",
                         help="ImageNet weights, frozen base, new head (architectures that have them: mobilenetv2)")
    compare.add_argument("--unfreeze-blocks", dest="unfreeze_blocks", default=DEFAULTS.unfreeze_blocks,
                         help="with --pretrained: also train this many top blocks")
    compare.add_argument("--same-init", dest="same_init", action="store_true",
                         help="start TensorFlow from PyTorch's initial weights (converted layer by layer)")
    compare.add_argument("--data-pipeline", dest="data_pipeline", default=DEFAULTS.data_pipeline,
                         help="device: batches gathered from data already on the device (pipeline not measured); "
                              "native: tf.data and DataLoader feed batches from the host (measured)")
    compare.add_argument("--best-of-each", dest="best_of_each", action="store_true",
                         help="try each framework's modes (compile, bf16, channels_last) briefly, then train each in its fastest")
    compare.add_argument("--executor", default=None,
                         help="local (default, or $TWINBENCH_EXECUTOR) | ray: train on one device of a Ray cluster (docs/cluster.md)")
    compare.add_argument("--ray-address", dest="ray_address", default=None,
                         help="with --executor ray: auto, HOST:6379, ray://HOST:10001, or local (default $TWINBENCH_RAY_ADDRESS, else auto)")
    _add_device_flags(compare)

    # Every option of compare, each taking comma-separated values: the cross product is the sweep.
    commands.add_parser(
        "sweep", parents=[compare], add_help=False,
        help="compare over several values of any setting (comma-separated): one comparison per combination",
        description="Train a comparison for every combination of the comma-separated values given, e.g. "
                    "--architecture cnn,resnet18 --batch-size 32,128,512 --precision fp32,bf16 --compile off,on; "
                    "the comparisons share one sweep id. A failed comparison does not stop the rest.",
    )

    bench = commands.add_parser("bench", help="steady-state training speed on synthetic data")
    bench.add_argument("--architecture", default=DEFAULTS.architecture)
    bench.add_argument("--framework", "--frameworks", dest="frameworks", default=",".join(DEFAULT_FRAMEWORKS))
    bench.add_argument("--input-shape", dest="input_shape", default="32x32x3", help="HxWxC")
    bench.add_argument("--classes", type=str, default="10")
    bench.add_argument("--batch-size", dest="batch_size", default=128)
    bench.add_argument("--steps", default="50", help="timed steps after warm-up")
    bench.add_argument("--warmup", default="10", help="steps before timing starts")
    bench.add_argument("--optimizer", default=DEFAULTS.optimizer)
    bench.add_argument("--learning-rate", dest="learning_rate", default=DEFAULTS.learning_rate)
    bench.add_argument("--seed", default=DEFAULTS.seed)
    bench.add_argument("--against-minimal", dest="against_minimal", action="store_true",
                       help="alternate the harness with core/train/minimal_loops.py and report the speed ratio")
    bench.add_argument("--repeats", default="2", help="with --against-minimal: pairs of runs per framework")
    bench.add_argument("--find-max-batch", dest="find_max_batch", action="store_true",
                       help="search the largest batch each framework trains without running out of memory: from "
                            "--batch-size, double until out of memory, then bisect (a few steps per probe)")
    bench.add_argument("--max-batch", dest="max_batch", default="65536",
                       help="with --find-max-batch: the largest batch to try")
    bench.add_argument("--memory-limit", dest="memory_limit", default=None,
                       help="cap each worker's host memory (RLIMIT_DATA, framework included), e.g. 1.5GiB; with "
                            "--find-max-batch --device cpu the default is 80 %% of the memory available at the start")
    _add_device_flags(bench)

    parity = commands.add_parser("parity", help="same weights in both frameworks: same parameters, logits and gradients?")
    parity.add_argument("--architecture", required=True)
    parity.add_argument("--input-shape", dest="input_shape", default="32x32x3", help="HxWxC")
    parity.add_argument("--classes", default="10")
    parity.add_argument("--seed", default="0")
    parity.add_argument("--batch-size", dest="batch_size", default="32")
    parity.add_argument("--json", type=Path, default=None)

    models = commands.add_parser("models", help="every architecture: parameters per framework, FLOPs, accepted inputs")
    models.add_argument("--input-shape", dest="input_shape", default="32x32x3", help="HxWxC to build the models for")
    models.add_argument("--classes", default="10")
    models.add_argument("--parity", action="store_true", help="also run the parity audit for each architecture")
    models.add_argument("--bench-steps", dest="bench_steps", default="0",
                        help="also time this many training steps per framework (synthetic data, batch --batch-size)")
    models.add_argument("--batch-size", dest="batch_size", default="32")
    models.add_argument("--device", default="auto")
    models.add_argument("--json", type=Path, default=None)
    models.add_argument("--markdown", type=Path, default=None, help="write the table as Markdown (for docs/models.md)")

    runs = commands.add_parser("runs", help="stored comparisons: list, show, export, import, delete, check, recover")
    runs.add_argument("action", choices=("list", "show", "export", "import", "delete", "check", "recover"))
    runs.add_argument("target", nargs="?", help="a comparison id (or unique prefix), a file for export/import, "
                                                "or the new database for recover")
    runs.add_argument("--db", default=None, help=DB_HELP)
    runs.add_argument("--json", type=Path, default=None, help="with show: write the comparison as JSON")
    runs.add_argument("--yes", action="store_true", help="with delete: do not ask")
    runs.add_argument("--sweep", default=None, help="with list: only the comparisons of this sweep (id or unique prefix)")
    return parser


def spec_from_args(args: argparse.Namespace, fields: dict[str, str]) -> RunSpec:
    values: dict[str, Any] = {field: getattr(args, flag) for flag, field in fields.items() if hasattr(args, flag)}
    values.update({switch: True for switch in SPEC_SWITCHES if getattr(args, switch, False)})
    return RunSpec.from_dict(values)


def open_store(location: str | None) -> Any:
    from core.store.queries import Store

    return Store(location or default_location())


def check_output_path(path: Path, flag: str) -> None:
    """Refuse an output file that cannot be written before any work is done, not after it."""
    if path.is_dir():
        raise BadInput(f"{flag} {path} is a folder; give a file name", flag)
    existed = path.exists()
    # Folders this check makes are removed again: a refusal later (or --dry-run) leaves nothing.
    missing = [folder for folder in path.parents if not folder.exists()]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as error:
        raise BadInput(f"{flag} {path} cannot be written ({error.strerror or error})", flag) from None
    finally:
        if not existed:
            path.unlink(missing_ok=True)
        for folder in missing:  # deepest first
            with contextlib.suppress(OSError):
                folder.rmdir()


def write_text_whole(path: Path, text: str) -> None:
    """Write all of ``text`` or leave ``path`` as it was (a full disk must not leave half a file)."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text(text)
        partial.replace(path)
    except OSError as error:
        partial.unlink(missing_ok=True)
        raise TwinbenchError(f"could not write {path} ({error.strerror or error}); the results are kept in the store") from None


def write_json(path: Path, payload: dict[str, Any]) -> None:
    write_text_whole(path, json.dumps(payload, indent=2, sort_keys=True))


def print_comparison(comparison: Comparison) -> None:
    from core.analysis.report import comparison_rows, failures, render_table
    from core.analysis.verdict import findings

    settings = comparison.settings
    print(
        f"Comparison {comparison.id}: {settings.architecture} on {settings.dataset}, "
        f"{settings.epochs} epochs, batch {settings.batch_size}, {settings.optimizer} "
        f"lr {settings.learning_rate:g}, device {settings.device}, {settings.precision}, compile {settings.compile}"
    )
    decisions = findings(comparison)
    if decisions:
        print("Verdict (a winner only where the 95 % interval excludes equal and the runs were steady):")
        for decision in decisions:
            print(f"  {decision.sentence}")
    headers, rows = comparison_rows(comparison)
    print(render_table(headers, rows))
    for framework, choice in (comparison.data.get("best_of_each") or {}).items():
        best = choice["chosen"]
        tried = ", ".join(f"{t['mode']} {t['steady_images_per_second'] or 0:,.0f}/s" for t in choice["trials"])
        payoff = best.get("compile_payoff_step")
        pays = f"; compiling pays for itself after step {payoff}" if payoff else ""
        print(f"best of {framework}: {best['mode']} (tried {tried}){pays}")
    for note in settings.notes:
        print(f"note: {note}")
    for line in failures(comparison):
        print(f"failed: {line}", file=sys.stderr)


def print_compare_plan(spec: RunSpec, frameworks: list[str]) -> int:
    """--dry-run: everything a comparison checks, then what it would train; nothing trains or is stored."""
    from core.engine.compare import plan_comparison
    from core.frameworks import label

    spec, data, planned = plan_comparison(spec, frameworks)
    print(f"Would train {len(planned)} runs ({', '.join(map(label, frameworks))}; {spec.repeats} repeats): "
          f"{spec.architecture} on {spec.dataset}, input {'x'.join(map(str, data.input_shape))}, "
          f"{len(data.y_train)} training / {len(data.y_val)} validation / {len(data.y_test)} test images, "
          f"{spec.epochs} epochs of batch {spec.batch_size}.")
    for note in spec.notes:
        print(f"note: {note}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    import os
    from collections.abc import Callable

    from core.analysis.report import comparison_json
    from core.cli.progress import RunProgress
    from core.engine.compare import ComparisonExecutor, create_comparison, execute_comparison
    from core.engine.jobs import device_lock, recover_abandoned
    from core.engine.ray_executor import ADDRESS_VARIABLE, executor_setting
    from core.engine.runner import WorkerHosts, WorkerOutcome
    from core.frameworks import parse_frameworks

    spec = spec_from_args(args, SPEC_FLAGS)
    frameworks = parse_frameworks(args.frameworks)
    executor = executor_setting(args.executor)
    if args.dry_run:
        return print_compare_plan(spec, frameworks)
    if args.ray_address:
        os.environ[ADDRESS_VARIABLE] = args.ray_address
    if executor == "ray":
        from core.engine.ray_executor import connect

        connect()  # an unreachable cluster is refused before anything is stored

    def start_hosts() -> ComparisonExecutor:
        # Locally: a host per framework. On a Ray cluster: one device of one node for the whole
        # comparison, reserved now (its imports overlap the data preparation as locally).
        if executor == "ray":
            from core.engine.ray_executor import RayComparisonExecutor

            return RayComparisonExecutor(frameworks, device=spec.device)
        return WorkerHosts(frameworks)

    store = open_store(args.db)
    if not args.quiet:
        print(f"Preparing {spec.dataset} ...", file=sys.stderr)
    progress = RunProgress(enabled=not args.quiet)
    waiting = "Another comparison is training on this device; waiting for it to finish ..."
    comparison_id: str | None = None
    outcomes: list[WorkerOutcome] = []
    interrupted = False
    placed: Callable[[], str] | None = None
    try:
        with device_lock(wait=False) as device_free:
            if device_free:
                recover_abandoned(store)
                # The frameworks import while the data is prepared; nothing is measured before
                # both are done, and nobody else trains meanwhile: the lock is ours.
                with contextlib.closing(start_hosts()) as hosts:
                    comparison_id = create_comparison(store, spec, frameworks)
                    outcomes = execute_comparison(store, comparison_id, on_event=progress.update, hosts=hosts)
                    placed = getattr(hosts, "describe", None)
        if not device_free:
            # Another comparison is measuring: prepare now, but import only once it is done.
            comparison_id = create_comparison(store, spec, frameworks)
            with device_lock(on_wait=lambda: print(waiting, file=sys.stderr)):
                recover_abandoned(store)
                with contextlib.closing(start_hosts()) as hosts:
                    outcomes = execute_comparison(store, comparison_id, on_event=progress.update, hosts=hosts)
                    placed = getattr(hosts, "describe", None)
    except KeyboardInterrupt:
        # Ctrl-C or SIGTERM outside a run (a run in progress is cancelled by the runner and ends
        # the comparison the same way): what has not finished is marked cancelled.
        interrupted = True
        if comparison_id is None:
            progress.close()
            print("interrupted before anything trained", file=sys.stderr)
            return EXIT_INTERRUPTED
        store.fail_unfinished_runs(comparison_id, "cancelled", "the comparison was interrupted")
    finally:
        progress.close()
    comparison = store.comparison(comparison_id)
    print_comparison(comparison)
    if placed is not None:
        print(f"trained on {placed()}", file=sys.stderr)
    if args.json:
        write_json(args.json, comparison_json(comparison))
    if interrupted or any(outcome.interrupted for outcome in outcomes):
        print("interrupted: the table shows what finished; the rest is marked cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if all(run.status == "finished" for run in comparison.runs) else EXIT_RUN_FAILED


def sweep_from_args(args: argparse.Namespace) -> Any:
    """The sweep the flags describe: each one-to-one flag's comma-separated values, switches fixed."""
    from core.sweep_spec import expand_sweep, split_values

    axes = {field: split_values(getattr(args, flag)) for flag, field in SPEC_FLAGS.items()
            if getattr(args, flag, None) is not None}
    return expand_sweep(axes, {switch: True for switch in SPEC_SWITCHES if getattr(args, switch, False)})


def print_sweep_plan(sweep: Any, frameworks: list[str], estimate: Any) -> None:
    from core.analysis.eta import format_left
    from core.analysis.report import render_table
    from core.frameworks import label

    swept = ", ".join(sweep.swept) or "nothing (a single comparison)"
    runs = sum(cell.spec.repeats for cell in sweep.cells) * len(frameworks)
    print(f"Sweep of {len(sweep)} comparisons ({', '.join(map(label, frameworks))}; {runs} runs), over {swept}; "
          f"estimated time {format_left(estimate)}" + (" (rough: no run of these here to time by)" if estimate.rough else ""))
    shown = [*sweep.swept, *(name for name in ("epochs", "batch_size", "repeats") if name not in sweep.swept)]
    print(render_table(["cell", *shown], [[str(cell.index), *(str(getattr(cell.spec, name)) for name in shown)]
                                          for cell in sweep.cells]))


def speeds_measured_here(store: Any, location: str | None) -> list[Any]:
    """The finished runs' speeds the estimate goes by: from ``store``, or with --dry-run (which
    writes nothing, not even a new database) from the database read as it is, if there is one."""
    from core.engine.sweep import speed_history

    if store is not None:
        return speed_history(store)
    from core.store.database import default_location
    from core.store.queries import Store

    try:
        existing = Store.read_only(str(location) if location else default_location())
    except BadInput:  # no database yet: nothing measured, the estimate says it is rough
        return []
    try:
        return speed_history(existing)
    except Exception:  # an older or damaged file: the dry run still checks everything else
        return []
    finally:
        existing.close()


def cmd_sweep(args: argparse.Namespace) -> int:
    """`sweep`: every combination as an ordinary comparison under one sweep id, trained one after
    another; a comparison that fails (out of memory at a large batch, say) does not stop the rest."""
    from tqdm import tqdm

    from core.analysis.report import comparison_json, failures, render_table
    from core.analysis.sweeps import estimate_sweep, summary_rows, sweep_frame
    from core.engine.compare import create_comparison, execute_comparison
    from core.engine.jobs import device_lock, recover_abandoned
    from core.engine.ray_executor import executor_setting
    from core.engine.runner import WorkerHosts
    from core.engine.sweep import check_sweep, new_sweep_id
    from core.frameworks import label, parse_frameworks

    sweep = sweep_from_args(args)
    frameworks = parse_frameworks(args.frameworks)
    if executor_setting(args.executor) == "ray":
        raise BadInput("sweep trains on this machine; --executor ray is for compare (one comparison on a cluster)",
                       "executor")
    if not args.quiet:
        print(f"Checking {len(sweep)} comparisons and preparing their data ...", file=sys.stderr)
    check_sweep(sweep, frameworks)
    store = open_store(args.db) if not args.dry_run else None
    # The CLI imports the frameworks once for the whole sweep (one set of hosts), not per comparison.
    estimate = estimate_sweep(sweep, frameworks, speeds_measured_here(store, args.db), imports_per_comparison=False)
    print_sweep_plan(sweep, frameworks, estimate)
    if args.dry_run or store is None:
        return EXIT_OK
    sweep_id = new_sweep_id()
    comparison_ids = [create_comparison(store, cell.spec, frameworks, sweep_id=sweep_id) for cell in sweep.cells]
    print(f"Sweep {sweep_id}: {len(comparison_ids)} comparisons queued", file=sys.stderr)
    waiting = "Another comparison is training on this device; waiting for it to finish ..."
    interrupted = False
    done = 0
    bar = tqdm(total=len(sweep), desc="sweep", unit="comparison", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)
    try:
        with device_lock(on_wait=lambda: print(waiting, file=sys.stderr)):
            recover_abandoned(store)
            # One host per framework for the whole sweep: each run is still forked fresh from it,
            # and the frameworks are imported once instead of once per comparison.
            with contextlib.closing(WorkerHosts(frameworks)) as hosts:
                for cell, comparison_id in zip(sweep.cells, comparison_ids, strict=True):
                    bar.set_postfix_str(cell.label)

                    def on_event(info: dict[str, Any], event: dict[str, Any], cell: Any = cell) -> None:
                        if event["type"] in ("epoch", "started"):
                            where = f"{label(info['framework'])} #{info['repeat'] + 1}"
                            epoch = f" epoch {event['epoch']}/{info.get('epochs')}" if event["type"] == "epoch" else ""
                            bar.set_postfix_str(f"{cell.label} · {where}{epoch}")

                    outcomes = execute_comparison(store, comparison_id, on_event=on_event, hosts=hosts)
                    done += 1
                    bar.update(1)
                    runs = store.comparison(comparison_id).runs
                    failed = [run for run in runs if run.status != "finished"]
                    bar.write(f"{cell.index}/{len(sweep)} {cell.label}: "
                              + (f"{len(failed)} of {len(runs)} runs failed ({failed[0].error_kind})" if failed
                                 else "finished"), file=sys.stderr)
                    if any(outcome.interrupted for outcome in outcomes):
                        interrupted = True
                        break
    except KeyboardInterrupt:
        interrupted = True
    finally:
        bar.close()
    if interrupted:
        for comparison_id in comparison_ids[done:]:
            store.fail_unfinished_runs(comparison_id, "cancelled", "the sweep was interrupted")
    comparisons = [store.comparison(comparison_id) for comparison_id in comparison_ids]
    frame = sweep_frame(comparisons)
    print(f"Sweep {sweep_id}: {len(comparisons)} comparisons over {', '.join(sweep.swept) or 'one setting'}")
    headers, rows = summary_rows(frame)
    print(render_table(headers, rows))
    for comparison in comparisons:
        for line in failures(comparison):
            print(f"failed: {line}", file=sys.stderr)
    if args.json:
        write_json(args.json, {"kind": "sweep", "sweep_id": sweep_id, "swept": list(sweep.swept),
                               "table": json.loads(frame.to_json(orient="records")),
                               "comparisons": [comparison_json(comparison) for comparison in comparisons]})
    if interrupted:
        print("interrupted: the table shows what finished; the rest is marked cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    finished = all(run.status == "finished" for comparison in comparisons for run in comparison.runs)
    return EXIT_OK if finished else EXIT_RUN_FAILED


def parse_input_shape(text: str) -> tuple[int, int, int]:
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise BadInput(f"input_shape must look like 32x32x3 (height x width x channels), got {text!r}", "input_shape")
    return shape


def _positive(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a whole number (got {text!r})", name) from None
    if value < minimum:
        raise BadInput(f"{name} must be at least {minimum} (got {value})", name)
    return value


def cmd_bench(args: argparse.Namespace) -> int:
    from core.analysis.report import comparison_rows, failures, render_table
    from core.cli.progress import RunProgress
    from core.engine.max_batch import parse_memory_size, worker_memory_limit
    from core.engine.runner import ProcessExecutor
    from core.engine.work import BenchJob
    from core.frameworks import parse_frameworks
    from core.models.registry import check_input_shape
    from core.results import RunResult

    fields = {k: v for k, v in SPEC_FLAGS.items() if k in ("architecture", "batch_size", "learning_rate", "optimizer",
                                                           "seed", "device", "precision", "compile", "threads")}
    spec = spec_from_args(args, fields)
    frameworks = parse_frameworks(args.frameworks)
    input_shape = parse_input_shape(args.input_shape)
    check_input_shape(spec.architecture, input_shape)
    steps = _positive("steps", args.steps, 1)
    warmup = _positive("warmup", args.warmup, 0)
    classes = _positive("classes", args.classes, 2)
    memory_limit = parse_memory_size(args.memory_limit) if args.memory_limit else None
    if args.find_max_batch:
        return bench_find_max_batch(args, spec, frameworks, input_shape, classes, memory_limit)
    if args.dry_run:
        print(f"Would time {warmup} warm-up + {steps} steps of {spec.architecture} (input {'x'.join(map(str, input_shape))}, "
              f"{classes} classes, batch {spec.batch_size}) in {', '.join(frameworks)}.")
        return EXIT_OK
    if args.against_minimal:
        return bench_against_minimal(args, spec, frameworks, input_shape, classes, steps, warmup)
    progress = RunProgress(enabled=not args.quiet)
    runs: list[Run] = []
    executor = ProcessExecutor()
    try:
        for framework in frameworks:
            run_spec = spec.replace(framework=framework, dataset="shapes", epochs=1)
            job = BenchJob(spec=run_spec, input_shape=input_shape, num_classes=classes, steps=steps, warmup=warmup)
            info = {"run_id": framework, "framework": framework, "repeat": 0}
            with worker_memory_limit(memory_limit):
                outcome = executor.run(job, progress.callback(info))
            runs.append(Run(
                id=framework, comparison_id="bench", position=len(runs), repeat=0, framework=framework,
                status=outcome.status, spec=StoredSpec.model_validate(run_spec.to_dict()), created_at=0.0,
                result=RunResult.model_validate(outcome.result) if outcome.result else None,
                environment=outcome.environment, error_kind=cast("FailureKind | None", (outcome.error or {}).get("kind")),
                error_message=(outcome.error or {}).get("message"),
            ))
    finally:
        progress.close()
    # The timings as a comparison of one run per framework, for the report's table; it stores no
    # settings, so no target accuracy is asked of a benchmark.
    summary = Comparison(id="bench", created_at=0.0, dataset="shapes", architecture=spec.architecture, device=spec.device,
                         frameworks=tuple(frameworks), settings=StoredSpec(), runs=tuple(runs))
    print(f"Benchmark: {spec.architecture}, input {'x'.join(map(str, input_shape))}, batch {spec.batch_size}, "
          f"{warmup} warm-up + {steps} timed steps, device {spec.device}, {spec.precision}, compile {spec.compile}")
    headers, rows = comparison_rows(summary)
    print(render_table(headers, rows))
    for line in failures(summary):
        print(f"failed: {line}", file=sys.stderr)
    if args.json:
        write_json(args.json, {
            "kind": "bench", "input_shape": list(input_shape), "steps": steps, "warmup": warmup,
            "runs": [{"framework": run.framework, "status": run.status, "spec": run.spec.stored(),
                      "environment": run.environment, "error": run.error(),
                      "result": run.result.as_dict() if run.result else None} for run in runs],
        })
    return EXIT_OK if all(run.status == "finished" for run in runs) else EXIT_RUN_FAILED


def _probe_batch(executor: Any, job: Any, quiet: bool, batch: int) -> Any:
    """One probe of the search: does ``job`` at ``batch`` train a few steps? A failure that is
    not about memory ends the search (ProbeFailed); Ctrl-C ends the command."""
    from core.engine.max_batch import Fit, ProbeFailed, format_size, is_memory_failure, peak_memory
    from core.frameworks import label

    outcome = executor.run(job.model_copy(update={"spec": job.spec.replace(batch_size=batch)}))
    if outcome.interrupted:
        raise KeyboardInterrupt
    if outcome.status == "finished":
        peak, where = peak_memory(outcome.result)
        if not quiet:
            print(f"{label(job.framework)}: batch {batch} fits" + (f" (peak {format_size(peak)} {where})" if peak else ""),
                  file=sys.stderr)
        return Fit(True, outcome.result)
    if is_memory_failure(outcome.error):
        if not quiet:
            print(f"{label(job.framework)}: batch {batch} does not fit", file=sys.stderr)
        return Fit(False, outcome.error)
    raise ProbeFailed(batch, outcome.error)


def bench_find_max_batch(args: argparse.Namespace, spec: RunSpec, frameworks: list[str], input_shape: tuple[int, int, int],
                         classes: int, memory_limit: int | None) -> int:
    """`bench --find-max-batch`: per framework, the largest batch that trains without running out of memory."""
    import functools
    import time

    import psutil

    from core.analysis.report import render_table
    from core.engine.max_batch import (
        MAX_BATCH_SIZE,
        PROBE_STEPS,
        PROBE_WARMUP,
        BatchSearch,
        ProbeFailed,
        format_size,
        search_max_batch,
        worker_memory_limit,
    )
    from core.engine.runner import ProcessExecutor
    from core.engine.work import BenchJob
    from core.frameworks import label

    upper = _positive("max_batch", args.max_batch, 1)
    if upper > MAX_BATCH_SIZE:
        raise BadInput(f"max_batch must be at most {MAX_BATCH_SIZE} (got {upper})", "max_batch")
    start = min(spec.batch_size, upper)
    limit_note = f"host memory limit {format_size(memory_limit)} per worker" if memory_limit else "no host memory limit"
    if memory_limit is None and spec.device == "cpu":
        memory_limit = int(0.8 * psutil.virtual_memory().available)
        limit_note = f"host memory limit {format_size(memory_limit)} per worker (80 % of the memory available now)"
    plan = (f"largest batch of {spec.architecture} (input {'x'.join(map(str, input_shape))}, {classes} classes) that "
            f"trains {PROBE_WARMUP + PROBE_STEPS} steps, from batch {start} up to {upper}, device {spec.device}, "
            f"{spec.precision}, compile {spec.compile}, {limit_note}")
    if args.dry_run:
        print(f"Would search the {plan}, in {', '.join(map(label, frameworks))}.")
        return EXIT_OK
    if not args.quiet:
        print(f"Searching the {plan} ...", file=sys.stderr)
    report: list[dict[str, Any]] = []
    rows: list[list[str]] = []
    notes: list[str] = []
    interrupted = False
    with worker_memory_limit(memory_limit):
        for framework in frameworks:
            # Each probe in a fresh worker, as every bench run: a process forked from a framework
            # host would start with the host's memory (and its preloads) already counted.
            probe = functools.partial(_probe_batch, ProcessExecutor(), BenchJob(
                spec=spec.replace(framework=framework, dataset="shapes", epochs=1), input_shape=input_shape,
                num_classes=classes, steps=PROBE_STEPS, warmup=PROBE_WARMUP, pool_batches=1), args.quiet)
            began = time.perf_counter()
            try:
                found: BatchSearch | ProbeFailed = search_max_batch(probe, upper, start)
            except ProbeFailed as failure:
                found = failure
            except KeyboardInterrupt:
                interrupted = True
                break
            entry, row, lines = _max_batch_row(framework, found, upper, time.perf_counter() - began)
            report.append(entry)
            rows.append(row)
            notes += lines
    print(f"Largest batch: {plan}")
    print(render_table(["framework", "largest batch that fits", "first that did not", "probes",
                        "peak memory at the largest", "seconds"], rows))
    for note in notes:
        print(note, file=sys.stderr if note.startswith("failed:") else sys.stdout)
    if args.json:
        write_json(args.json, {
            "kind": "bench-max-batch", "architecture": spec.architecture, "input_shape": list(input_shape),
            "classes": classes, "device": spec.device, "precision": spec.precision, "compile": spec.compile,
            "start_batch": start, "max_batch": upper, "memory_limit_bytes": memory_limit,
            "probe_steps": PROBE_STEPS, "probe_warmup": PROBE_WARMUP, "frameworks": report,
        })
    if interrupted:
        print("interrupted: the table shows the frameworks whose search had finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if all(entry["largest_fit"] and not entry["error"] for entry in report) else EXIT_RUN_FAILED


def _max_batch_row(framework: str, found: Any, upper: int, seconds: float) -> tuple[dict[str, Any], list[str], list[str]]:
    """One framework's search as a JSON entry, a table row and the lines printed under the table."""
    from core.engine.max_batch import ProbeFailed, format_size, peak_memory
    from core.frameworks import label

    name = label(framework)
    entry: dict[str, Any]
    if isinstance(found, ProbeFailed):
        entry = {"framework": framework, "largest_fit": None, "first_failure": None, "probes": [], "seconds": seconds,
                 "peak_memory_bytes": None, "peak_memory_kind": None, "error": found.error}
        return entry, [name, "–", "–", "–", "–", f"{seconds:.0f}"], [
            f"failed: {name} at batch {found.batch}: {found.error.get('kind')}: {found.error.get('message')}"]
    fitted, failed = found.probe_at(found.largest_fit), found.probe_at(found.first_failure)
    peak, where = peak_memory(fitted.detail if fitted else None)
    entry = {"framework": framework, "largest_fit": found.largest_fit, "first_failure": found.first_failure,
             "seconds": seconds, "peak_memory_bytes": peak, "peak_memory_kind": where, "error": None,
             "probes": [{"batch": probe.batch, "fits": probe.fits,
                         **({"peak_memory_bytes": peak_memory(probe.detail)[0]} if probe.fits else {"error": probe.detail})}
                        for probe in found.probes]}
    row = [name, f"{found.largest_fit:,}" if found.largest_fit else "none (batch 1 does not fit)",
           f"{found.first_failure:,}" if found.first_failure else f"none up to {upper:,}", str(len(found.probes)),
           f"{format_size(peak)} ({where})" if peak else "–", f"{seconds:.0f}"]
    lines = [f"{name}: {failed.detail.get('message')}"] if failed is not None else []
    if found.largest_fit is None:
        lines.append(f"failed: {name} cannot train even batch 1 here")
    return entry, row, lines


def cmd_parity(args: argparse.Namespace) -> int:
    from core.engine.parity import LOGIT_TOLERANCE, run_parity
    from core.frameworks import label
    from core.models.registry import validate_architecture_name

    validate_architecture_name(args.architecture)
    report = run_parity(args.architecture, parse_input_shape(args.input_shape), _positive("classes", args.classes, 2),
                        _positive("seed", args.seed, 0), _positive("batch_size", args.batch_size, 1))
    print(f"Parity audit: {report['architecture']}, input {'x'.join(map(str, report['input_shape']))}, batch {report['batch']}, "
          f"against {label(report['reference'])}'s weights")
    print("  trainable parameters      " + "  ".join(f"{label(n)} {c:,}" for n, c in report["params"].items()))
    print("  non-trainable parameters  " + "  ".join(f"{label(n)} {c:,}" for n, c in report["non_trainable_params"].items()))
    for name, figures in report["frameworks"].items():
        relative = figures["max_rel_grad_diff"]
        print(f"  {label(name)}: max |logit difference| {figures['max_abs_logit_diff']:.3g} (tolerance {LOGIT_TOLERANCE:g}), "
              f"|loss difference| {figures['loss_diff']:.3g}, max |gradient difference| {figures['max_abs_grad_diff']:.3g}"
              + (f" ({relative:.2g} of the largest gradient)" if relative is not None else ""))
    count = len(report["params"])
    print(f"  PASSED: one model in {count} frameworks" if report["passed"] else "  FAILED: the models differ")
    if args.json:
        write_json(args.json, report)
    return EXIT_OK if report["passed"] else EXIT_RUN_FAILED


def _bench_architecture(name: str, framework: str, input_shape: tuple[int, int, int], batch: int, steps: int,
                        device: str) -> dict[str, Any] | None:
    from core.engine.runner import ProcessExecutor
    from core.engine.work import BenchJob

    spec = RunSpec.from_dict({"architecture": name, "framework": framework, "batch_size": batch, "device": device})
    outcome = ProcessExecutor().run(BenchJob(spec=spec, input_shape=input_shape, steps=steps, warmup=3))
    return outcome.result if outcome.status == "finished" else None


def cmd_models(args: argparse.Namespace) -> int:
    from core.analysis.report import render_table
    from core.engine.model_catalog import describe_architectures, parity_results
    from core.frameworks import REGISTRY
    from core.models.registry import ARCHITECTURES

    input_shape = parse_input_shape(args.input_shape)
    classes = _positive("classes", args.classes, 2)
    bench_steps = _positive("bench_steps", args.bench_steps, 0)
    batch = _positive("batch_size", args.batch_size, 1)
    catalog = describe_architectures(input_shape, classes)
    audit = parity_results(input_shape, classes) if args.parity else {}
    installed = [framework for framework in REGISTRY.values() if framework.installed]
    headers = ["architecture", *(f"params {f.label}" for f in installed), "FLOPs/image", "input"]
    if args.parity:
        headers += ["max |logit diff|", "max |grad diff| (relative)", "parity"]
    if bench_steps:
        headers += [f"{f.label} images/s" for f in installed]
    rows, listing = [], []
    for name, arch in ARCHITECTURES.items():
        described = {f.name: catalog["frameworks"].get(f.name, {}).get(name) for f in installed}
        entry: dict[str, Any] = {
            "architecture": name, "description": arch.description,
            "accepts": f"HxWx1 or HxWx3, {arch.min_input_size} to {arch.max_input_size} pixels a side",
            "pretrained_available": arch.pretrained_available,
            "params": {fw: (d or {}).get("trainable_params") for fw, d in described.items()},
            "flops_per_image": next((d["flops_per_image"] for d in described.values() if d), None),
            "refused": catalog["refused"].get(name),
        }
        row = [name, *(f"{entry['params'][f.name] or 0:,}" for f in installed),
               f"{entry['flops_per_image'] or 0:,}", f">= {arch.min_input_size}x{arch.min_input_size}"]
        if args.parity:
            report = audit.get(name)
            entry["parity"] = report
            row += [f"{report['max_abs_logit_diff']:.1e}", f"{report['max_rel_grad_diff']:.1e}",
                    "passed" if report["passed"] else "FAILED"] if report else ["–", "–", "not run"]
        if bench_steps:
            entry["bench"] = {}
            for framework in installed:
                result = (_bench_architecture(name, framework.name, input_shape, batch, bench_steps, args.device)
                          if not entry["refused"] else None)
                entry["bench"][framework.name] = result
                row.append(f"{result['steady_images_per_second']:,.0f}" if result else "–")
        listing.append(entry)
        rows.append(row)
    print(f"Architectures built for input {'x'.join(map(str, input_shape))}:")
    print(render_table(headers, rows))
    for framework, message in catalog["errors"].items():
        print(f"{framework}: {message}", file=sys.stderr)
    if args.json:
        write_json(args.json, {"input_shape": list(input_shape), "architectures": listing})
    if args.markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
        write_text_whole(args.markdown, "\n".join(lines) + "\n")
    failed_parity = any(report and not report["passed"] for report in audit.values())
    return EXIT_OK if not catalog["errors"] and not failed_parity else EXIT_RUN_FAILED


def bench_against_minimal(args: argparse.Namespace, spec: RunSpec, frameworks: list[str], input_shape: tuple[int, int, int],
                          classes: int, steps: int, warmup: int) -> int:
    from core.analysis.fidelity import TARGET_RATIO, alternating_plan, fidelity
    from core.analysis.report import render_table
    from core.engine.runner import ProcessExecutor
    from core.engine.work import BenchJob, MinimalJob
    from core.frameworks import get

    repeats = _positive("repeats", args.repeats, 1)
    executor = ProcessExecutor()
    rows, report, failed = [], [], False
    for framework in frameworks:
        run_spec = spec.replace(framework=framework, dataset="shapes", epochs=1)
        harness = BenchJob(spec=run_spec, input_shape=input_shape, num_classes=classes, steps=steps, warmup=warmup)
        details = get(framework)
        if details.minimal_loop is None:
            print(f"{details.label} has no minimal loop to compare the harness with; skipped", file=sys.stderr)
            continue
        figures: dict[str, list[float]] = {"harness": [], "minimal": [], "keras_fit": []}
        modes = {}
        # Keras fit on tf.data is what many Keras users write: timed too, as a reference.
        plan = alternating_plan(repeats) + [loop for loop in details.extra_minimal_loops for _ in range(repeats)]
        for which in plan:
            loop = {"harness": None, "minimal": details.minimal_loop}.get(which, which)
            job = harness if loop is None else MinimalJob.like(harness, loop)
            if not args.quiet:
                print(f"{framework}: {which} ...", file=sys.stderr)
            outcome = executor.run(job)
            if outcome.status != "finished" or outcome.result is None:
                print(f"failed: {framework} {which}: {(outcome.error or {}).get('message')}", file=sys.stderr)
                failed = True
                break
            figures[which].append(outcome.result["steady_images_per_second"])
            modes[which] = outcome.result["mode"]
        if len(figures["harness"]) != repeats or len(figures["minimal"]) != repeats:
            continue
        result = fidelity(figures["harness"], figures["minimal"])
        keras_fit = statistics.median(figures["keras_fit"]) if figures["keras_fit"] else None
        report.append({"framework": framework, "mode": modes["harness"], "minimal_mode": modes["minimal"],
                       "harness_images_per_second": figures["harness"], "minimal_images_per_second": figures["minimal"],
                       "keras_fit_images_per_second": figures["keras_fit"] or None,
                       "ratio": result.ratio, "ratio_low": result.ratio_low, "ratio_high": result.ratio_high,
                       "meets_target": result.meets_target})
        rows.append([framework, modes["harness"], f"{result.harness_images_per_second:,.0f}",
                     f"{result.minimal_images_per_second:,.0f}",
                     f"{result.ratio:.3f} ({result.ratio_low:.3f}–{result.ratio_high:.3f})",
                     "yes" if result.meets_target else "no", f"{keras_fit:,.0f}" if keras_fit else "–"])
    print(f"Harness against minimal loops: {spec.architecture}, input {'x'.join(map(str, input_shape))}, batch "
          f"{spec.batch_size}, {warmup} warm-up + {steps} timed steps, {repeats} alternating pair(s), device {spec.device}")
    print(render_table(["framework", "mode", "harness images/s", "minimal images/s", "ratio (range)",
                        f">= {TARGET_RATIO}", "Keras fit images/s"], rows))
    if args.json:
        write_json(args.json, {"kind": "bench-against-minimal", "input_shape": list(input_shape), "steps": steps,
                               "warmup": warmup, "repeats": repeats, "frameworks": report})
    return EXIT_RUN_FAILED if failed else EXIT_OK


def check_or_recover(args: argparse.Namespace) -> int:
    """`runs check`: is the database whole? `runs recover NEW`: copy what is readable into NEW."""
    from core.store.queries import Store
    from core.store.recovery import recover

    path = args.db or default_location()
    if args.action == "check":
        store = Store.read_only(path)
        report = store.check()
        store.close()
        counts = ", ".join(f"{count if count is not None else 'unreadable'} {table}" for table, count in report["counts"].items())
        print(f"{report['path']}: schema {report['schema_version']}; {counts}")
        for problem in report["problems"]:
            print(f"problem: {problem}")
        if report["ok"]:
            print("integrity check: ok")
            return EXIT_OK
        print(f"damaged: `python -m core runs recover NEW.sqlite{' --db ' + str(args.db) if args.db else ''}` copies every "
              "readable comparison into a new file; this one is left as it is")
        return EXIT_RUN_FAILED
    if not args.target:
        raise BadInput("`runs recover` needs the path of a new database to copy into")
    if is_url(path) or is_url(args.target):
        raise BadInput("`runs recover` rescues a damaged SQLite file into a new one; a PostgreSQL server "
                       "checks and repairs its own storage (pg_dump copies what it holds)")
    recovery = recover(Path(path), Path(args.target))
    print(f"Copied {len(recovery.copied)} comparisons from {path} into {args.target}; {path} is unchanged.")
    for what, why in recovery.lost.items():
        print(f"lost: {what}: {why}", file=sys.stderr)
    if recovery.lost:
        print(f"To use the copy: move {path} aside and put {args.target} in its place (or pass --db {args.target}).")
    return EXIT_OK if not recovery.lost else EXIT_RUN_FAILED


def cmd_runs(args: argparse.Namespace) -> int:
    import datetime as dt

    from core.analysis.report import comparison_json, render_table

    if args.action in ("check", "recover"):
        return check_or_recover(args)
    store = open_store(args.db)
    if args.action == "list":
        rows = []
        listed = store.list_comparisons()
        if args.sweep:  # a sweep id or a unique prefix of one, as comparison ids
            sweeps = sorted({c.sweep_id for c in listed if c.sweep_id and c.sweep_id.startswith(args.sweep.strip())})
            if len(sweeps) != 1:
                raise BadInput(f"no sweep with id {args.sweep!r}" if not sweeps else
                               f"sweep id {args.sweep!r} is ambiguous: {', '.join(sweeps)}", "sweep")
            listed = [c for c in listed if c.sweep_id == sweeps[0]]
        for c in listed:
            when = dt.datetime.fromtimestamp(c.created_at).strftime("%Y-%m-%d %H:%M")
            status = f"{c.finished or 0}/{c.runs} finished" + (f", {c.failed} failed" if c.failed else "")
            rows.append([c.id, when, c.dataset, c.architecture, c.resolved_device or c.device, ",".join(c.frameworks), status,
                         c.sweep_id or "–"])
        if not rows:
            print("No comparisons yet: run `python -m core compare`.")
            return EXIT_OK
        print(render_table(["id", "created", "dataset", "architecture", "device", "frameworks", "runs", "sweep"], rows))
        return EXIT_OK
    if not args.target:
        raise BadInput(f"`runs {args.action}` needs {'a file' if args.action in ('export', 'import') else 'a comparison id'}")
    if args.action == "show":
        comparison = store.comparison(store.resolve_comparison_id(args.target))
        print_comparison(comparison)
        if args.json:
            write_json(args.json, comparison_json(comparison))
        return EXIT_OK
    if args.action == "delete":
        comparison_id = store.resolve_comparison_id(args.target)
        if not args.yes:
            if not sys.stdin.isatty():
                raise BadInput("refusing to delete without confirmation; add --yes")
            if input(f"Delete comparison {comparison_id} and all its runs? [y/N] ").strip().lower() not in ("y", "yes"):
                print("Nothing deleted.")
                return EXIT_OK
        store.delete_comparison(comparison_id)
        print(f"Deleted comparison {comparison_id}.")
        return EXIT_OK
    path = Path(args.target)
    if args.action == "export":
        text = store.export_csv() if path.suffix.lower() == ".csv" else json.dumps(store.export_json(), indent=1, sort_keys=True)
        write_text_whole(path, text)
        print(f"Exported {len(store.list_comparisons())} comparisons to {path}.")
        return EXIT_OK
    from core.store.export_format import load_export

    imported, skipped = store.import_json(load_export(path))
    print(f"Imported {imported} comparisons" + (f"; {skipped} were already present." if skipped else "."))
    return EXIT_OK


def _interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_sigterm() -> None:
    """SIGTERM (a service manager, `kill`) stops the command as cleanly as Ctrl-C does."""
    signal.signal(signal.SIGTERM, _interrupt)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handlers = {"compare": cmd_compare, "sweep": cmd_sweep, "bench": cmd_bench, "parity": cmd_parity, "models": cmd_models, "runs": cmd_runs}
    try:
        # Outputs (the database included) are checked before any work; `runs check` and
        # `runs recover` only read the database, which may sit on read-only media.
        reads_only = args.command == "runs" and args.action in ("check", "recover")
        for flag in ("json", "markdown") if reads_only else ("json", "markdown", "db"):
            value = getattr(args, flag, None)
            if value is not None and not (flag == "db" and is_url(value)):  # a server's database is checked by opening it
                check_output_path(Path(value), f"--{flag}")
        if args.command == "runs" and args.action == "export" and args.target:
            check_output_path(Path(args.target), "export file")
        if args.command in ("bench", "parity", "models") and not getattr(args, "dry_run", False):
            # Their workers use the device like a comparison's: one at a time (compare takes the
            # lock itself, after preparing its data).
            from core.engine.device_lock import device_lock

            waiting = "Another comparison or benchmark is using this device; waiting for it to finish ..."
            with device_lock(on_wait=lambda: print(waiting, file=sys.stderr)):
                return handlers[args.command](args)
        return handlers[args.command](args)
    except BadInput as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except TwinbenchError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_RUN_FAILED
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # the one boundary: a line for the person, the traceback in the log
        from core.engine.error_log import one_line, record

        log = record(error, f"python -m core {args.command}")
        print(f"error: {one_line(error)}" + (f" (details in {log})" if log else ""), file=sys.stderr)
        return EXIT_RUN_FAILED
