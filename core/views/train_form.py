"""The Train form's words and rules: each RunSpec field's widget, what it says, offers and allows.

Texts that speak of frameworks are written from core.frameworks, so a framework added there is
described on the page without the page changing. Nothing here imports Streamlit: the page hands
its widget functions to ``SpecForm``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from core.data.registry import BUILTIN_DATASETS
from core.engine.public_mode import PublicPolicy, check_queue, enqueue_public, store_upload
from core.errors import BadInput
from core.frameworks import parse_frameworks
from core.models.registry import ARCHITECTURES
from core.spec import COMPILE_MODES, DATA_PIPELINES, DEVICES, OPTIMIZERS, PRECISIONS, RunSpec
from core.store.queries import Store
from core.views.framework_words import CHANNELS_LAST, CHANNELS_LAST_LABEL, NATIVE_PIPELINES, REFERENCE_LABEL, compile_help

UPLOAD_CHOICE = "Upload an image-folder .zip"
DEFAULTS = RunSpec()


ABOUT = ("Every framework trains the identical model on identical data, one after the other on this machine. "
         "By default the training data sits on the device in each, so the input pipeline is not part of what is "
         f"measured; choose the native pipeline ({', '.join(NATIVE_PIPELINES)}) to measure it.")
PIPELINE_CHOICES = {"device": "data on the device (not measured)", "native": f"{' / '.join(NATIVE_PIPELINES)} (measured)"}


def dataset_choice(dataset: str) -> str:
    return f"{dataset} — {BUILTIN_DATASETS[dataset]}" if dataset in BUILTIN_DATASETS else dataset


def architecture_choice(architecture: str) -> str:
    return f"{architecture} — {ARCHITECTURES[architecture].description}"


@dataclass(frozen=True)
class Field:
    """One RunSpec field's widget: its kind ("number", "choice" or "check"), label, choices, help
    and the widget's own arguments (step, format, format_func)."""

    widget: str
    label: str
    options: tuple[Any, ...] = ()
    help: str = ""
    arguments: dict[str, Any] = dataclasses.field(default_factory=dict)


def _number(label: str, help: str = "", **arguments: Any) -> Field:
    return Field("number", label, help=help, arguments=arguments)


def _choice(label: str, options: Iterable[Any], help: str = "", **arguments: Any) -> Field:
    return Field("choice", label, tuple(options), help, arguments)


def _check(label: str, help: str = "") -> Field:
    return Field("check", label, help=help)


FIELDS = {
    "dataset": _choice("Dataset", [*BUILTIN_DATASETS, UPLOAD_CHOICE], format_func=dataset_choice),
    "architecture": _choice("Architecture", ARCHITECTURES, format_func=architecture_choice),
    "epochs": _number("Epochs", "1 to 1000", step=1),
    "batch_size": _number("Batch size", "at most the training split; the last partial batch is dropped", step=1),
    "optimizer": _choice("Optimiser", OPTIMIZERS),
    "learning_rate": _number("Learning rate", "greater than 0, at most 10", format="%.5f", step=1e-4),
    "seed": _number("Seed", step=1),
    "device": _choice("Device", DEVICES, "auto takes the GPU when a framework sees one"),
    "precision": _choice("Precision", PRECISIONS, "bf16: mixed precision, logits kept in float32"),
    "compile": _choice("Compile", COMPILE_MODES, compile_help()),
    "repeats": _number("Repeats", "runs per framework, alternating which goes first; repeat i uses seed + i, "
                                  "so each figure gets a spread and the verdict an interval", step=1),
    "best_of_each": _check("Best of each", "first try each framework's modes (compile, bf16, channels_last) briefly, "
                                           "then train each in its fastest"),
    "channels_last": _check(CHANNELS_LAST_LABEL, f"NHWC memory order for the images and convolutions of {CHANNELS_LAST}"),
    "data_pipeline": _choice("Input pipeline", DATA_PIPELINES, format_func=PIPELINE_CHOICES.get),
    "momentum": _number("SGD momentum", format="%.3f"),
    "weight_decay": _number("Weight decay (decoupled)", format="%.5f"),
    "same_init": _check("Same initial weights",
                        f"every other framework starts from {REFERENCE_LABEL}'s initial weights, converted layer by layer"),
    "same_seed": _check("Same seed for every repeat", "speed-only repeats: accuracy then has no spread to judge"),
    "validation_fraction": _number("Validation fraction", format="%.2f"),
    "target_accuracy": _number("Target validation accuracy", "for the time-to-target figure", format="%.2f"),
    "pretrained": _check("ImageNet weights", "each library's ImageNet weights, frozen base, new dense head"),
    "unfreeze_blocks": _number("Also train the top blocks", "with ImageNet weights: 0 to 19", step=1),
    "image_size": _number("Image size (0 = as stored)", "resize images explicitly, e.g. 16 for lenet5 on 8x8 digits",
                          step=1),
    "max_images": _number("Max images (0 = all)", step=100),
    "augment": _check("Augment (random shifts; flips for colour)"),
    "threads": _number("CPU threads per framework (0 = all cores)",
                       "every core, as each framework takes on its own; on a small machine the page refreshes rarely "
                       "while a run trains, so watching does not slow it; the same for every framework", step=1),
}


def bounds(policy: PublicPolicy) -> dict[str, int]:
    """The fields a shared instance bounds, and their largest values (core.engine.public_mode.bounded_spec
    refuses more, whatever the widget sends)."""
    return {"epochs": policy.max_epochs, "repeats": policy.max_repeats, "max_images": policy.max_images,
            "image_size": policy.max_image_size}


def widget_arguments(name: str, policy: PublicPolicy) -> tuple[str, dict[str, Any]]:
    """The label of field ``name``'s widget and its arguments: its key (the field's name), where it
    starts (RunSpec's default; 0 for a field that may be unset), its help and, in public mode, its
    largest value, which the help (and the label of a field where 0 means all) then says."""
    spec_field = FIELDS[name]
    default = getattr(DEFAULTS, name)
    arguments: dict[str, Any] = {"key": name, **spec_field.arguments}
    if spec_field.options:
        arguments.update(options=list(spec_field.options), index=spec_field.options.index(default))
    else:
        arguments["value"] = 0 if default is None else default
    label = spec_field.label
    if policy.enabled and name in bounds(policy):
        bound = bounds(policy)[name]
        arguments.update(max_value=bound, help=f"{spec_field.help + '; ' if spec_field.help else ''}at most {bound:,} "
                                               "on this shared instance")
        label = label.replace("(0 = all)", f"(0 = {bound:,})")
    elif spec_field.help:
        arguments["help"] = spec_field.help
    return label, arguments


class SpecForm:
    """The widgets of RunSpec's fields, each with a place for the field's error below it; ``values``
    holds what each widget holds, None for a field left unset."""

    def __init__(self, policy: PublicPolicy, widgets: Mapping[str, Callable[..., Any]], placeholder: Callable[[], Any]) -> None:
        self.policy = policy
        self.widgets = widgets  # the page's widget function for each kind of Field
        self.placeholder = placeholder  # makes the place for one field's error
        self.values: dict[str, Any] = {}
        self.errors: dict[str, Any] = {}  # RunSpec field (or "frameworks"): where its error is shown

    def add(self, *names: str) -> None:
        """The widgets of the fields ``names``, one below the other."""
        for name in names:
            label, arguments = widget_arguments(name, self.policy)
            value = self.widgets[FIELDS[name].widget](label, **arguments)
            self.values[name] = (value or None) if getattr(DEFAULTS, name) is None else value
            self.errors[name] = self.placeholder()

    def place_for(self, error: BadInput, general: Any) -> Any:
        """Where ``error`` is shown: below its field's widget, else in ``general``."""
        return self.errors.get(error.field or "") or general


class Upload(Protocol):
    name: str

    def getvalue(self) -> bytes: ...


def chosen_dataset(store: Store, dataset: str, upload: Upload | None, uploads: set[str], policy: PublicPolicy) -> str:
    """The dataset to train: a built-in's name as it is, or the uploaded .zip, saved and named by its path.

    ``uploads`` holds the digests of this session's uploads, the one just saved added: the same
    file sent again with the form is not another."""
    if dataset != UPLOAD_CHOICE:
        return dataset
    if upload is None:
        raise BadInput("choose a .zip to upload, or pick a built-in dataset", "dataset")
    payload = upload.getvalue()
    digest = hashlib.sha256(payload).hexdigest()
    path = str(store_upload(store, upload.name, payload, len(uploads - {digest}), policy))
    uploads.add(digest)
    return path


def start_comparison(store: Store, values: Mapping[str, Any], upload: Upload | None, uploads: set[str], frameworks: list[str],
                     owner: str, policy: PublicPolicy,
                     preparing: Callable[[], AbstractContextManager[Any]] = contextlib.nullcontext) -> str:
    """Queue the comparison the form holds (``values``, RunSpec's fields) of ``frameworks`` for ``owner``;
    returns its job id, or raises BadInput naming the field at fault. A full queue refuses before an
    upload is stored; ``preparing`` is what to show while the data is prepared."""
    check_queue(store, owner, policy)
    spec = {**values, "dataset": chosen_dataset(store, values["dataset"], upload, uploads, policy)}
    chosen = parse_frameworks(frameworks)
    with preparing():
        return enqueue_public(store, RunSpec.from_dict(spec), chosen, owner, policy)
