"""``bench`` (plain, ``--find-max-batch``, ``--against-minimal``), ``parity`` and ``models``: each reads
its flags, calls the engine's driver and prints what it returned."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from core.cli.exit_codes import EXIT_INTERRUPTED, EXIT_OK, EXIT_RUN_FAILED
from core.cli.output import write_json, write_text_whole
from core.cli.parser import SPEC_FLAGS, parse_input_shape, spec_from_args, whole_number
from core.errors import BadInput
from core.spec import RunSpec

if TYPE_CHECKING:
    from core.engine.max_batch import Fit
    from core.engine.max_batch_search import FrameworkSearch


def cmd_bench(args: argparse.Namespace) -> int:
    from core.analysis.report import comparison_rows, failures, render_table
    from core.cli.progress import RunProgress
    from core.engine.benchmark import run_benchmarks
    from core.engine.max_batch import parse_memory_size
    from core.frameworks import parse_frameworks
    from core.models.registry import check_input_shape

    fields = {k: v for k, v in SPEC_FLAGS.items() if k in ("architecture", "batch_size", "learning_rate", "optimizer",
                                                           "seed", "device", "precision", "compile", "threads")}
    spec = spec_from_args(args, fields)
    frameworks = parse_frameworks(args.frameworks)
    input_shape = parse_input_shape(args.input_shape)
    check_input_shape(spec.architecture, input_shape)
    steps = whole_number("steps", args.steps, 1)
    warmup = whole_number("warmup", args.warmup, 0)
    classes = whole_number("classes", args.classes, 2)
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
    try:
        runs = run_benchmarks(spec, frameworks, input_shape, classes, steps, warmup, memory_limit, progress.callback)
    finally:
        progress.close()
    summary = {"frameworks": ",".join(frameworks), "runs": runs}
    print(f"Benchmark: {spec.architecture}, input {'x'.join(map(str, input_shape))}, batch {spec.batch_size}, "
          f"{warmup} warm-up + {steps} timed steps, device {spec.device}, {spec.precision}, compile {spec.compile}")
    headers, rows = comparison_rows(summary)
    print(render_table(headers, rows))
    for line in failures(summary):
        print(f"failed: {line}", file=sys.stderr)
    if args.json:
        write_json(args.json, {
            "kind": "bench", "input_shape": list(input_shape), "steps": steps, "warmup": warmup,
            "runs": [{**{k: r[k] for k in ("framework", "status", "spec", "environment", "error")},
                      "result": r["result"].as_dict() if r["result"] else None} for r in runs],
        })
    return EXIT_OK if all(r["status"] == "finished" for r in runs) else EXIT_RUN_FAILED


def bench_find_max_batch(args: argparse.Namespace, spec: RunSpec, frameworks: list[str], input_shape: tuple[int, int, int],
                         classes: int, memory_limit: int | None) -> int:
    """`bench --find-max-batch`: per framework, the largest batch that trains without running out of memory."""
    from core.analysis.report import render_table
    from core.engine.max_batch import MAX_BATCH_SIZE, PROBE_STEPS, PROBE_WARMUP, format_size
    from core.engine.max_batch_search import DEFAULT_SHARE_OF_AVAILABLE_MEMORY, find_max_batch, probe_memory_limit
    from core.frameworks import label

    upper = whole_number("max_batch", args.max_batch, 1)
    if upper > MAX_BATCH_SIZE:
        raise BadInput(f"max_batch must be at most {MAX_BATCH_SIZE} (got {upper})", "max_batch")
    start = min(spec.batch_size, upper)
    limit = probe_memory_limit(memory_limit, spec.device)
    limit_note = f"host memory limit {format_size(limit)} per worker" if limit else "no host memory limit"
    if memory_limit is None and limit is not None:
        limit_note += f" ({100 * DEFAULT_SHARE_OF_AVAILABLE_MEMORY:.0f} % of the memory available now)"
    plan = (f"largest batch of {spec.architecture} (input {'x'.join(map(str, input_shape))}, {classes} classes) that "
            f"trains {PROBE_WARMUP + PROBE_STEPS} steps, from batch {start} up to {upper}, device {spec.device}, "
            f"{spec.precision}, compile {spec.compile}, {limit_note}")
    if args.dry_run:
        print(f"Would search the {plan}, in {', '.join(map(label, frameworks))}.")
        return EXIT_OK
    if not args.quiet:
        print(f"Searching the {plan} ...", file=sys.stderr)
    searches, interrupted = find_max_batch(spec, frameworks, input_shape, classes, upper, start, limit,
                                           None if args.quiet else print_probe)
    report = [search.as_json() for search in searches]
    rows: list[list[str]] = []
    notes: list[str] = []
    for search in searches:
        row, lines = max_batch_row(search, upper)
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
            "start_batch": start, "max_batch": upper, "memory_limit_bytes": limit,
            "probe_steps": PROBE_STEPS, "probe_warmup": PROBE_WARMUP, "frameworks": report,
        })
    if interrupted:
        print("interrupted: the table shows the frameworks whose search had finished", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK if all(entry["largest_fit"] and not entry["error"] for entry in report) else EXIT_RUN_FAILED


def print_probe(framework: str, batch: int, fit: Fit) -> None:
    from core.engine.max_batch import format_size, peak_memory
    from core.frameworks import label

    if not fit.fits:
        print(f"{label(framework)}: batch {batch} does not fit", file=sys.stderr)
        return
    peak, where = peak_memory(fit.detail)
    print(f"{label(framework)}: batch {batch} fits" + (f" (peak {format_size(peak)} {where})" if peak else ""), file=sys.stderr)


def max_batch_row(search: FrameworkSearch, upper: int) -> tuple[list[str], list[str]]:
    """One framework's search as a table row and the lines printed under the table."""
    from core.engine.max_batch import ProbeFailed, format_size, peak_memory
    from core.frameworks import label

    name, found, seconds = label(search.framework), search.found, search.seconds
    if isinstance(found, ProbeFailed):
        return [name, "–", "–", "–", "–", f"{seconds:.0f}"], [
            f"failed: {name} at batch {found.batch}: {found.error.get('kind')}: {found.error.get('message')}"]
    fitted, failed = found.probe_at(found.largest_fit), found.probe_at(found.first_failure)
    peak, where = peak_memory(fitted.detail if fitted else None)
    row = [name, f"{found.largest_fit:,}" if found.largest_fit else "none (batch 1 does not fit)",
           f"{found.first_failure:,}" if found.first_failure else f"none up to {upper:,}", str(len(found.probes)),
           f"{format_size(peak)} ({where})" if peak else "–", f"{seconds:.0f}"]
    lines = [f"{name}: {failed.detail.get('message')}"] if failed is not None else []
    if found.largest_fit is None:
        lines.append(f"failed: {name} cannot train even batch 1 here")
    return row, lines


def bench_against_minimal(args: argparse.Namespace, spec: RunSpec, frameworks: list[str], input_shape: tuple[int, int, int],
                          classes: int, steps: int, warmup: int) -> int:
    from core.analysis.fidelity import TARGET_RATIO
    from core.analysis.report import render_table
    from core.engine.fidelity_run import run_against_minimal
    from core.frameworks import label

    repeats = whole_number("repeats", args.repeats, 1)

    def on_skip(framework: str) -> None:
        print(f"{label(framework)} has no minimal loop to compare the harness with; skipped", file=sys.stderr)

    def on_start(framework: str, which: str) -> None:
        if not args.quiet:
            print(f"{framework}: {which} ...", file=sys.stderr)

    def on_failure(framework: str, which: str, error: dict[str, str] | None) -> None:
        print(f"failed: {framework} {which}: {(error or {}).get('message')}", file=sys.stderr)

    measured, failed = run_against_minimal(spec, frameworks, input_shape, classes, steps, warmup, repeats,
                                           on_skip=on_skip, on_start=on_start, on_failure=on_failure)
    rows = []
    for entry in measured:
        result, keras_fit = entry.fidelity, entry.keras_fit_median
        rows.append([entry.framework, entry.mode, f"{result.harness_images_per_second:,.0f}",
                     f"{result.minimal_images_per_second:,.0f}",
                     f"{result.ratio:.3f} ({result.ratio_low:.3f}–{result.ratio_high:.3f})",
                     "yes" if result.meets_target else "no", f"{keras_fit:,.0f}" if keras_fit else "–"])
    print(f"Harness against minimal loops: {spec.architecture}, input {'x'.join(map(str, input_shape))}, batch "
          f"{spec.batch_size}, {warmup} warm-up + {steps} timed steps, {repeats} alternating pair(s), device {spec.device}")
    print(render_table(["framework", "mode", "harness images/s", "minimal images/s", "ratio (range)",
                        f">= {TARGET_RATIO}", "Keras fit images/s"], rows))
    if args.json:
        write_json(args.json, {"kind": "bench-against-minimal", "input_shape": list(input_shape), "steps": steps,
                               "warmup": warmup, "repeats": repeats, "frameworks": [entry.as_json() for entry in measured]})
    return EXIT_RUN_FAILED if failed else EXIT_OK


def cmd_parity(args: argparse.Namespace) -> int:
    from core.engine.parity import LOGIT_TOLERANCE, run_parity
    from core.frameworks import label
    from core.models.registry import validate_architecture_name

    validate_architecture_name(args.architecture)
    report = run_parity(args.architecture, parse_input_shape(args.input_shape), whole_number("classes", args.classes, 2),
                        whole_number("seed", args.seed, 0), whole_number("batch_size", args.batch_size, 1))
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


def cmd_models(args: argparse.Namespace) -> int:
    from core.analysis.report import render_table
    from core.engine.benchmark import bench_architecture
    from core.engine.model_catalog import describe_architectures, parity_results
    from core.frameworks import REGISTRY
    from core.models.registry import ARCHITECTURES

    input_shape = parse_input_shape(args.input_shape)
    classes = whole_number("classes", args.classes, 2)
    bench_steps = whole_number("bench_steps", args.bench_steps, 0)
    batch = whole_number("batch_size", args.batch_size, 1)
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
                result = (bench_architecture(name, framework.name, input_shape, batch, bench_steps, args.device)
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
