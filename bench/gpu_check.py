"""The GPU check: every GPU figure the project reports, measured in one command on a GPU machine.

    python -m bench.gpu_check --out DIR [--budget-seconds 480]

Runs, in this order, each as the command a person would type: the machine (the System page's
report), the GPU tests (``pytest -m gpu``), ``bench --against-minimal`` for cnn and resnet18
(32x32x3, batch 256) in the default mode and in bf16 compiled, a default ``compare`` on shapes,
a batch sweep from 128 to 2048, and ``bench --find-max-batch``, in every installed framework.
Each step's command, exit status, seconds, printed table and ``--json`` figures go to
DIR/gpu_check.json and, as a Markdown section for docs/benchmarks.md, to DIR/gpu_check.md; the
tests' log to DIR/gpu_tests.log (three files: what the GPU machine can hand back). A step that
is given what is left of the budget at most (and is not started with under 30 s left), so the
check ends in time; ``--only`` runs some steps (by name) in a later lease.
On the GPU machine, after the staged packages are in place: ``source bench/gpu_setup.sh`` first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from core.frameworks import REGISTRY

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BUDGET_SECONDS = 480
CLI = [sys.executable, "-m", "core"]
SHAPE, BATCH = "32x32x3", "256"
FAST_MODE = ("--precision", "bf16", "--compile", "on")
SWEEP_BATCHES = "128,256,512,1024,2048"
# A step is not started with less of the budget left than this.
MIN_START_SECONDS = 30
# Printed output kept per step: the tables, not pages of warnings.
OUTPUT_TAIL_CHARACTERS = 6000


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    command: list[str]
    cap_seconds: int  # the longest this step may take
    json_flag: bool = True  # the command takes --json FILE

    def shown(self) -> str:
        """The command as typed from the project's root."""
        words = ["python" if word == sys.executable else word for word in self.command]
        return " ".join(words)


@dataclass
class Record:
    name: str
    title: str
    command: str
    status: str  # "passed", "failed", "timed out" or "not run (budget)"
    seconds: float = 0.0
    returncode: int | None = None
    output: str = ""
    figures: Any = None
    notes: list[str] = field(default_factory=list)


def installed_frameworks() -> str:
    return ",".join(name for name, framework in REGISTRY.items() if framework.installed)


def plan(frameworks: str) -> list[Step]:
    """The check's steps, most needed first."""
    minimal = []
    for architecture in ("cnn", "resnet18"):
        for mode, flags in (("default mode", ()), ("bf16, compiled", FAST_MODE)):
            minimal.append(Step(
                f"against-minimal-{architecture}-{'default' if not flags else 'fast'}",
                f"Harness against minimal loops: {architecture}, {SHAPE}, batch {BATCH}, {mode}",
                [*CLI, "bench", "--against-minimal", "--architecture", architecture, "--input-shape", SHAPE,
                 "--batch-size", BATCH, "--repeats", "1", "--frameworks", frameworks, "--quiet", *flags], 150))
    return [
        Step("system", "The machine", [sys.executable, "-m", "bench.gpu_check", "system"], 60, json_flag=False),
        Step("gpu-tests", "GPU tests", [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-rA", "-p", "no:cacheprovider",
                                        "tests/test_gpu.py"], 300, json_flag=False),
        *minimal,
        Step("compare", "Default comparison on shapes", [*CLI, "compare", "--dataset", "shapes", "--frameworks", frameworks,
                                                         "--quiet"], 120),
        Step("sweep", f"Batch sweep {SWEEP_BATCHES}", [*CLI, "sweep", "--dataset", "shapes", "--batch-size", SWEEP_BATCHES,
                                                       "--epochs", "2",
                                                       "--repeats", "1", "--frameworks", frameworks, "--quiet"], 150),
        Step("find-max-batch", "Largest batch that trains: cnn, 32x32x3",
             [*CLI, "bench", "--find-max-batch", "--architecture", "cnn", "--input-shape", SHAPE, "--frameworks", frameworks,
              "--quiet"], 150),
    ]


Runner = Callable[[list[str], float], tuple[int | None, str]]


def command_runner(environment: dict[str, str]) -> Runner:
    def run(command: list[str], timeout: float) -> tuple[int | None, str]:
        return run_command(command, timeout, environment)
    return run


def run_command(command: list[str], timeout: float, environment: dict[str, str]) -> tuple[int | None, str]:
    """(exit status, or None when it ran out of time; what it printed)."""
    try:
        done = subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=timeout, env=environment)
    except subprocess.TimeoutExpired as expired:
        printed = (expired.stdout or b"") + (expired.stderr or b"")
        return None, printed.decode(errors="replace") if isinstance(printed, bytes) else printed
    return done.returncode, done.stdout + done.stderr


def run_steps(steps: list[Step], budget_seconds: float, scratch: Path, runner: Runner,
              clock: Callable[[], float] = time.monotonic) -> list[Record]:
    """Each step in turn, given its cap or what is left of the budget, whichever is less."""
    deadline = clock() + budget_seconds
    records = []
    for step in steps:
        record = Record(step.name, step.title, step.shown(), "not run (budget)")
        records.append(record)
        left = deadline - clock()
        if left < MIN_START_SECONDS:
            record.notes.append(f"{max(left, 0):.0f} s of the budget were left")
            continue
        figures_file = scratch / f"{step.name}.json"
        command = [*step.command, "--json", str(figures_file)] if step.json_flag else step.command
        started = clock()
        returncode, output = runner(command, min(step.cap_seconds, left))
        record.seconds = clock() - started
        record.returncode = returncode
        record.status = "timed out" if returncode is None else "passed" if returncode == 0 else "failed"
        record.output = output[-OUTPUT_TAIL_CHARACTERS:]
        if figures_file.exists():
            record.figures = json.loads(figures_file.read_text())
        elif not step.json_flag and returncode == 0 and step.name == "system":
            record.figures = json.loads(output)
    return records


def markdown(records: list[Record], when: str) -> str:
    """The check as a section of docs/benchmarks.md: per step its command and what it printed."""
    lines = [f"## The GPU check ({when})", "",
             "`python -m bench.gpu_check --out DIR` on the GPU machine; each figure below is the output of the command above it.", ""]
    for record in records:
        lines += [f"### {record.title}", "", f"`{record.command}`: {record.status}"
                  + (f" in {record.seconds:.0f} s" if record.seconds else "")
                  + (f" (exit {record.returncode})" if record.returncode not in (None, 0) else ""), ""]
        lines += [f"- {note}" for note in record.notes]
        if record.name == "system" and isinstance(record.figures, dict):
            lines += ["```", json.dumps(machine_summary(record.figures), indent=1), "```", ""]
        elif record.output.strip():
            lines += ["```", record.output.strip(), "```", ""]
    return "\n".join(lines) + "\n"


def machine_summary(report: dict[str, Any]) -> dict[str, Any]:
    """What identifies the machine in the system report: host, GPUs, driver, versions."""
    return {key: report[key] for key in ("host", "gpus", "driver_version", "versions") if key in report}


def write_outputs(out: Path, records: list[Record], when: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "gpu_check.json", out / "gpu_check.md"]
    written[0].write_text(json.dumps({"when": when, "steps": [asdict(r) for r in records]}, indent=1, default=str))
    written[1].write_text(markdown(records, when))
    tests = next((r for r in records if r.name == "gpu-tests"), None)
    if tests is not None and tests.output:
        written.append(out / "gpu_tests.log")
        written[2].write_text(tests.output)
    return written


def print_system() -> int:
    from core.engine.system import system_report

    print(json.dumps(system_report(), default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", nargs="?", choices=("check", "system"), default="check",
                        help="system: print the System page's report as JSON (a step of the check)")
    parser.add_argument("--out", type=Path, help="folder for gpu_check.json, gpu_check.md and gpu_tests.log")
    parser.add_argument("--budget-seconds", type=float, default=DEFAULT_BUDGET_SECONDS)
    parser.add_argument("--only", default=None, help="comma-separated step names: " + ", ".join(s.name for s in plan("")))
    args = parser.parse_args(argv)
    if args.what == "system":
        return print_system()
    if args.out is None:
        parser.error("--out DIR is needed")
    steps = plan(installed_frameworks())
    if args.only:
        wanted = args.only.split(",")
        unknown = sorted(set(wanted) - {s.name for s in steps})
        if unknown:
            parser.error(f"no step named {', '.join(unknown)}")
        steps = [s for s in steps if s.name in wanted]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with tempfile.TemporaryDirectory() as scratch:
        # A store of the check's own: its runs do not join anyone's history.
        environment = {**os.environ, "TWINBENCH_HOME": str(Path(scratch) / "home"), "PYTHONUNBUFFERED": "1"}
        records = run_steps(steps, args.budget_seconds, Path(scratch), command_runner(environment))
    for path in write_outputs(args.out, records, when):
        print(path)
    for record in records:
        print(f"{record.status:>17}  {record.seconds:5.0f} s  {record.title}")
    return 0 if all(r.status == "passed" for r in records) else 1


if __name__ == "__main__":
    raise SystemExit(main())
