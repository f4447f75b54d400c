"""What the pages say about the frameworks, written from the registry (core.frameworks), so that
a framework added there is named, offered and described on every page without a page changing."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from core.frameworks import DEFAULT_NAMES, LABELS, REFERENCE, REGISTRY, Framework, label


def listed(words: Iterable[str]) -> str:
    """"a", "a and b", "a, b and c"."""
    items = list(words)
    return ", ".join(items[:-1]) + " and " + items[-1] if len(items) > 1 else "".join(items)


def labels_where(has: Callable[[Framework], object]) -> list[str]:
    """The labels of the registered frameworks that have something (an option, a mode)."""
    return [framework.label for framework in REGISTRY.values() if has(framework)]


def framework_choice(name: str) -> str:
    """A framework as the pickers offer it: its label, and whether it can run here."""
    return label(name) + ("" if REGISTRY[name].installed else " (not installed)")


EVERY_FRAMEWORK = listed(LABELS.values())
DEFAULT_FRAMEWORKS = listed(label(name) for name in DEFAULT_NAMES)
CHANNELS_LAST = listed(labels_where(lambda framework: framework.channels_last))
CHANNELS_LAST_LABEL = f"channels_last ({CHANNELS_LAST})"
NATIVE_PIPELINES = [framework.native_pipeline for framework in REGISTRY.values() if framework.native_pipeline]
REFERENCE_LABEL = REFERENCE.label


def compile_help() -> str:
    """What compile on means in each framework."""
    compilers = [f"{framework.compiler} for {framework.label}" for framework in REGISTRY.values() if framework.compiler]
    always = [f"{framework.label} ({framework.plain_mode})" for framework in REGISTRY.values() if not framework.compiler]
    return "on: " + ", ".join(compilers) + (f"; always compiled: {listed(always)}" if always else "")
