"""The command line's grammar: every command and flag, and the helpers that read flags into values."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from core.cli.exit_codes import EXIT_BAD_INPUT
from core.errors import BadInput
from core.frameworks import DEFAULT_NAMES as DEFAULT_FRAMEWORKS
from core.frameworks import NAMES as FRAMEWORK_NAMES
from core.frameworks import REFERENCE, REGISTRY
from core.spec import COMPILE_MODES, DEVICES, OPTIMIZERS, PRECISIONS, RunSpec

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


def _in_words(items: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    return " and ".join([", ".join(items[:-1]), items[-1]] if len(items) > 2 else items)


# Help texts that speak of the frameworks, said from the registry (core/frameworks.py).
FRAMEWORK_LABELS = _in_words([framework.label for framework in REGISTRY.values()])
COMPILERS = "; ".join([", ".join(f"{framework.compiler} for {framework.label}" for framework in REGISTRY.values() if framework.compiler),
                       *(f"{framework.label} always compiles ({framework.plain_mode})" for framework in REGISTRY.values()
                         if not framework.compiler)])
NATIVE_PIPELINES = _in_words([framework.native_pipeline for framework in REGISTRY.values() if framework.native_pipeline])
WITH_CHANNELS_LAST = _in_words([framework.label for framework in REGISTRY.values() if framework.channels_last])
ALWAYS_NHWC = _in_words([framework.label for framework in REGISTRY.values()
                         if not framework.channels_last and framework.tensor_layout == "NHWC"])


def _add_device_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=DEFAULTS.device, help=f"{'|'.join(DEVICES)} (auto: the GPU when the framework sees one)")
    parser.add_argument("--precision", default=DEFAULTS.precision, help="|".join(PRECISIONS))
    parser.add_argument("--compile", default=DEFAULTS.compile, help=f"{'|'.join(COMPILE_MODES)}: {COMPILERS}")
    parser.add_argument("--channels-last", dest="channels_last", action="store_true",
                        help=f"{WITH_CHANNELS_LAST} keeps images and convolutions in NHWC memory order ({ALWAYS_NHWC} always do)")
    parser.add_argument("--threads", default=None,
                        help="CPU threads per framework (default: every usable core, as each framework takes on its own)")
    parser.add_argument("--db", default=None, help=DB_HELP)
    parser.add_argument("--json", type=Path, default=None, help="also write the results to this JSON file")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--dry-run", dest="dry_run", action="store_true",
                        help="check every setting (and prepare the data) but train nothing")


def _add_equivalence_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--equivalence", default=None,
                        help="equivalence margin of the verdict: a ratio whose whole 95 %% interval lies within "
                             "±margin is equivalent (5%%, 0.05 or 5; default 5%%)")


DB_HELP = ("results database: a SQLite file or a URL such as postgresql://user:password@host:5432/twinbench "
           "(default: $TWINBENCH_DB, else $TWINBENCH_HOME/runs.sqlite)")


class Parser(argparse.ArgumentParser):
    """argparse's refusals in the CLI's own one-line form (and exit code 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m core", description=f"Train the same model in {FRAMEWORK_LABELS} and compare.")
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
    compare.add_argument("--weight-decay", dest="weight_decay", default=DEFAULTS.weight_decay, help="decoupled, in every framework")
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
    compare.add_argument("--augment", action="store_true", help="random shifts (and flips for colour images), same for every framework")
    compare.add_argument("--pretrained", action="store_true",
                         help="ImageNet weights, frozen base, new head (architectures that have them: mobilenetv2)")
    compare.add_argument("--unfreeze-blocks", dest="unfreeze_blocks", default=DEFAULTS.unfreeze_blocks,
                         help="with --pretrained: also train this many top blocks")
    compare.add_argument("--same-init", dest="same_init", action="store_true",
                         help=f"start every other framework from {REFERENCE.label}'s initial weights (converted layer by layer)")
    compare.add_argument("--data-pipeline", dest="data_pipeline", default=DEFAULTS.data_pipeline,
                         help="device: batches gathered from data already on the device (pipeline not measured); "
                              f"native: {NATIVE_PIPELINES} feed batches from the host (measured)")
    compare.add_argument("--best-of-each", dest="best_of_each", action="store_true",
                         help="try each framework's modes (compile, bf16, channels_last) briefly, then train each in its fastest")
    compare.add_argument("--executor", default=None,
                         help="local (default, or $TWINBENCH_EXECUTOR) | ray: train on one device of a Ray cluster (docs/cluster.md)")
    compare.add_argument("--ray-address", dest="ray_address", default=None,
                         help="with --executor ray: auto, HOST:6379, ray://HOST:10001, or local (default $TWINBENCH_RAY_ADDRESS, else auto)")
    _add_device_flags(compare)
    _add_equivalence_flag(compare)
    compare.add_argument("--until-decided", dest="until_decided", action="store_true",
                         help="after the repeats, add one repeat at a time (order alternating) until every speed, memory and "
                              "warm-up ratio is a winner or equivalent (a sequential plan keeps false winners under 5 %%), "
                              "or --budget runs out")
    compare.add_argument("--budget", default=None,
                         help="with --until-decided: time for the added repeats, e.g. 120s, 5m, 1h (default 120s)")

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

    parity = commands.add_parser("parity", help="same weights in every framework: same parameters, logits and gradients?")
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
    _add_equivalence_flag(runs)
    return parser


def spec_from_args(args: argparse.Namespace, fields: dict[str, str]) -> RunSpec:
    values: dict[str, Any] = {field: getattr(args, flag) for flag, field in fields.items() if hasattr(args, flag)}
    values.update({switch: True for switch in SPEC_SWITCHES if getattr(args, switch, False)})
    return RunSpec.from_dict(values)


def margin_from_args(args: argparse.Namespace) -> float:
    """--equivalence, or the verdict's default margin."""
    from core.analysis.equivalence import DEFAULT_MARGIN, parse_margin

    return DEFAULT_MARGIN if getattr(args, "equivalence", None) is None else parse_margin(args.equivalence)


DURATION_UNITS = {"s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


def parse_duration(name: str, text: str) -> float:
    """'120s', '5m', '1h' or a plain number of seconds, in seconds."""
    raw = str(text).strip().lower()
    number, unit = raw.rstrip("abcdefghijklmnopqrstuvwxyz").strip(), raw.lstrip("0123456789. ").strip() or "s"
    try:
        seconds = float(number) * DURATION_UNITS[unit]
    except (KeyError, ValueError):
        raise BadInput(f"{name} must be a duration such as 120s, 5m or 1h (got {text!r})", name) from None
    if not 0 < seconds < float("inf"):
        raise BadInput(f"{name} must be above 0 (got {text!r})", name)
    return seconds


def parse_input_shape(text: str) -> tuple[int, int, int]:
    parts = str(text).lower().replace("×", "x").split("x")
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise BadInput(f"input_shape must look like 32x32x3 (height x width x channels), got {text!r}", "input_shape")
    return shape


def whole_number(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except (TypeError, ValueError):
        raise BadInput(f"{name} must be a whole number (got {text!r})", name) from None
    if value < minimum:
        raise BadInput(f"{name} must be at least {minimum} (got {value})", name)
    return value
