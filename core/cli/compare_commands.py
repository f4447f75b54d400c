"""``compare`` and ``sweep``: check the settings, print the plan, train now on this device (or a Ray
cluster's) through core.engine.training, and print what was trained."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from core.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED
from core.cli.output import open_store, print_comparison, write_json
from core.cli.parser import SPEC_FLAGS, SPEC_SWITCHES, margin_from_args, parse_duration, spec_from_args
from core.errors import BadInput
from core.spec import RunSpec

WAITING_FOR_DEVICE = "Another comparison is training on this device; waiting for it to finish ..."


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
    from core.analysis.report import comparison_json
    from core.cli.progress import RunProgress
    from core.cli.until_decided import DEFAULT_BUDGET_SECONDS, RepeatUntilDecided, describe, report_undecided
    from core.engine.ray_executor import connect_if_chosen, executor_setting
    from core.engine.training import compare_now
    from core.frameworks import parse_frameworks

    spec = spec_from_args(args, SPEC_FLAGS)
    frameworks = parse_frameworks(args.frameworks)
    executor = executor_setting(args.executor)
    margin = margin_from_args(args)
    if args.budget is not None and not args.until_decided:
        raise BadInput("--budget is the time --until-decided may take; give --until-decided too", "budget")
    budget = parse_duration("budget", args.budget) if args.budget is not None else DEFAULT_BUDGET_SECONDS
    if args.dry_run:
        return print_compare_plan(spec, frameworks)
    connect_if_chosen(executor, args.ray_address)
    store = open_store(args.db)
    if not args.quiet:
        print(f"Preparing {spec.dataset} ...", file=sys.stderr)
    progress = RunProgress(enabled=not args.quiet)
    until = RepeatUntilDecided(store, margin, budget, report=progress.write) if args.until_decided else None
    try:
        trained = compare_now(store, spec, frameworks, executor=executor, on_event=progress.update,
                              on_wait=lambda: print(WAITING_FOR_DEVICE, file=sys.stderr), another_repeat=until)
    except KeyboardInterrupt:
        progress.close()
        print("interrupted before anything trained", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        progress.close()
    comparison = store.comparison(trained.comparison_id)
    print_comparison(comparison, margin)
    if until is not None and until.looks:
        print(describe(comparison, until))
        for line in report_undecided(until):
            print(f"  {line}")
    if trained.placement is not None:
        print(f"trained on {trained.placement}", file=sys.stderr)
    if args.json:
        write_json(args.json, comparison_json(comparison, margin=margin))
    if trained.interrupted:
        print("interrupted: the table shows what finished; the rest is marked cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if all(r.status == "finished" for r in comparison.runs) else EXIT_RUN_FAILED


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
    from core.engine.ray_executor import executor_setting
    from core.engine.sweep import check_sweep, store_sweep
    from core.engine.training import sweep_now
    from core.frameworks import label, parse_frameworks

    sweep = sweep_from_args(args)
    frameworks = parse_frameworks(args.frameworks)
    margin = margin_from_args(args)
    if args.until_decided or args.budget is not None:
        raise BadInput("sweep trains each comparison's planned repeats; --until-decided and --budget are for compare",
                       "until_decided")
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
    sweep_id, comparison_ids = store_sweep(store, sweep, frameworks)
    print(f"Sweep {sweep_id}: {len(comparison_ids)} comparisons queued", file=sys.stderr)
    cells = dict(zip(comparison_ids, sweep.cells, strict=True))
    bar = tqdm(total=len(sweep), desc="sweep", unit="comparison", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)

    def on_event(comparison_id: str, info: dict[str, Any], event: dict[str, Any]) -> None:
        if event["type"] in ("epoch", "started"):
            where = f"{label(info['framework'])} #{info['repeat'] + 1}"
            epoch = f" epoch {event['epoch']}/{info.get('epochs')}" if event["type"] == "epoch" else ""
            bar.set_postfix_str(f"{cells[comparison_id].label} · {where}{epoch}")

    def on_trained(comparison_id: str) -> None:
        bar.update(1)
        cell = cells[comparison_id]
        runs = store.comparison(comparison_id).runs
        failed = [run for run in runs if run.status != "finished"]
        bar.write(f"{cell.index}/{len(sweep)} {cell.label}: "
                  + (f"{len(failed)} of {len(runs)} runs failed ({failed[0].error_kind})" if failed
                     else "finished"), file=sys.stderr)

    try:
        interrupted = sweep_now(store, comparison_ids, frameworks, on_wait=lambda: print(WAITING_FOR_DEVICE, file=sys.stderr),
                                on_start=lambda comparison_id: bar.set_postfix_str(cells[comparison_id].label),
                                on_event=on_event, on_trained=on_trained)
    finally:
        bar.close()
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
                               "comparisons": [comparison_json(comparison, margin=margin)
                                               for comparison in comparisons]})
    if interrupted:
        print("interrupted: the table shows what finished; the rest is marked cancelled", file=sys.stderr)
        return EXIT_INTERRUPTED
    finished = all(run.status == "finished" for comparison in comparisons for run in comparison.runs)
    return EXIT_OK if finished else EXIT_RUN_FAILED
