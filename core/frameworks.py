"""The frameworks Twinbench compares: the one place that says which exist and what each is.

Everything outside a framework's own trainer (core/train/<module>.py) and models
(core/models/<family>_<architecture>.py) iterates over this registry; adding a framework is one
entry here, its trainer module, and its models if no existing family fits. Nothing here imports a
framework, so the dashboard and the CLI can read it freely.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field

from core.errors import BadInput


@dataclass(frozen=True)
class Framework:
    name: str  # as stored and typed: "pytorch"
    label: str  # as shown: "PyTorch"
    colour: str  # in every chart
    aliases: tuple[str, ...]  # also accepted on the command line
    packages: tuple[str, ...]  # import names that must be installed for it to run
    trainer_module: str  # imported only in a worker process
    model_family: str  # builds its models with core/models/<family>_<architecture>.py
    # Set in the worker before the framework is imported (Keras picks its backend this way).
    environment: dict[str, str] = field(default_factory=dict)
    plain_mode: str = "eager"  # how it runs with compile off
    compiler: str | None = None  # what compile on means; None: it always compiles (plain_mode)
    compiler_modes_named: bool = False  # torch.compile's modes are shown by name
    native_pipeline: str | None = None  # its own input pipeline, measured with data_pipeline native
    channels_last: bool = False  # has an NHWC memory-layout option
    cuda_graphs: bool = False  # compile reduce-overhead captures CUDA graphs
    minimal_loop: str | None = None  # core/train/minimal_loops.py's loop for the harness check
    extra_minimal_loops: tuple[str, ...] = ()  # further reference loops bench --against-minimal reports
    tensor_layout: str = "NHWC"  # how its models hold images

    @property
    def installed(self) -> bool:
        """Whether its packages can be imported here (looked up, not imported)."""
        return all(importlib.util.find_spec(package) is not None for package in self.packages)


PYTORCH = Framework(
    "pytorch", "PyTorch", "#EE4C2C", ("torch", "pt"), ("torch",), "core.train.pytorch", "torch",
    plain_mode="eager", compiler="torch.compile", compiler_modes_named=True, native_pipeline="DataLoader",
    channels_last=True, cuda_graphs=True, minimal_loop="torch", tensor_layout="NCHW",
)
TENSORFLOW = Framework(
    "tensorflow", "TensorFlow", "#2B7BBA", ("tf", "keras", "keras-tensorflow"), ("tensorflow", "keras"),
    "core.train.tensorflow", "keras", {"KERAS_BACKEND": "tensorflow"},
    plain_mode="tf.function", compiler="XLA (jit_compile)", native_pipeline="tf.data", minimal_loop="tf_function",
    extra_minimal_loops=("keras_fit",),
)
JAX = Framework(
    "jax", "JAX", "#5E8C31", ("keras-jax",), ("jax", "keras"), "core.train.keras_jax", "keras",
    # Without the second, JAX takes three quarters of a GPU's memory up front, and its memory
    # figures would say nothing about the model (TensorFlow is given memory growth likewise).
    {"KERAS_BACKEND": "jax", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"},
    plain_mode="jax.jit",
)

REGISTRY: dict[str, Framework] = {framework.name: framework for framework in (PYTORCH, TENSORFLOW, JAX)}
NAMES: tuple[str, ...] = tuple(REGISTRY)
LABELS: dict[str, str] = {name: framework.label for name, framework in REGISTRY.items()}
# What a comparison trains when nobody says otherwise.
DEFAULT_NAMES: tuple[str, ...] = (PYTORCH.name, TENSORFLOW.name)
# The framework whose weights the others are converted from (parity audit, same-init).
REFERENCE = PYTORCH


def get(name: str) -> Framework:
    return REGISTRY[name]


def label(name: str) -> str:
    """How a framework is shown ("PyTorch"); a name the registry does not know (stored by another
    version) is shown as it is."""
    return LABELS.get(name, name)


def parse_frameworks(text: str | list[str] | tuple[str, ...]) -> list[str]:
    """'pytorch,tf' (or a list) into registry names, in the given order, no repeats.

    An unknown name or one whose packages are not installed is refused with one line.
    """
    aliases = {alias: framework.name for framework in REGISTRY.values() for alias in (framework.name, *framework.aliases)}
    items = text.split(",") if isinstance(text, str) else list(text)
    chosen: list[str] = []
    for item in (i.strip().lower() for i in items):
        if not item:
            continue
        if item not in aliases:
            raise BadInput(f"unknown framework {item!r}; choose from {', '.join(NAMES)}", "frameworks")
        if aliases[item] not in chosen:
            chosen.append(aliases[item])
    if not chosen:
        raise BadInput(f"choose at least one framework from {', '.join(NAMES)}", "frameworks")
    missing = [REGISTRY[name] for name in chosen if not REGISTRY[name].installed]
    if missing:
        raise BadInput("; ".join(f"{f.label} is not installed (needs {', '.join(f.packages)}); "
                                 "pip install -r requirements.txt" for f in missing), "frameworks")
    return chosen
