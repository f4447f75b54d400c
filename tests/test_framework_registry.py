"""The framework registry is the one place that names frameworks, and everything reads it."""

import dataclasses
import re
from pathlib import Path

import pytest

from core import frameworks
from core.errors import BadInput
from core.frameworks import REGISTRY, parse_frameworks
from core.modes import candidate_modes, run_mode_label
from core.spec import RunSpec

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# A framework's own trainer and models may name it; nothing else may.
ALLOWED = re.compile(r"^core/(frameworks\.py|train/(pytorch|tensorflow|keras_jax)\.py|models/(torch|keras)_\w+\.py)$")


def test_no_framework_name_is_written_outside_the_registry_and_backends():
    names = "|".join(map(re.escape, REGISTRY))
    literal = re.compile(rf"""["']({names})["']""")
    offenders = []
    for path in [*PROJECT_ROOT.glob("core/**/*.py"), *PROJECT_ROOT.glob("pages/*.py"), *PROJECT_ROOT.glob("bench/*.py"),
                 PROJECT_ROOT / "streamlit_app.py", PROJECT_ROOT / "dashboard_state.py"]:
        relative = path.relative_to(PROJECT_ROOT).as_posix()
        if ALLOWED.match(relative):
            continue
        offenders += [f"{relative}:{number}" for number, line in enumerate(path.read_text().splitlines(), 1)
                      if literal.search(line)]
    assert offenders == []


# What the dashboard shows is written by pages/, dashboard_state.py and streamlit_app.py.
DASHBOARD_FILES = ["pages/*.py", "dashboard_state.py", "streamlit_app.py"]


def framework_words() -> re.Pattern:
    """Any registered framework's label, model family, compiler or native pipeline as a word, and
    "both frameworks": what a page would write if it named the frameworks instead of asking the registry."""
    words = {word for framework in REGISTRY.values()
             for word in (framework.label, framework.model_family, framework.compiler, framework.native_pipeline) if word}
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w.])({alternatives})(?![\w])|\bboth frameworks\b", re.IGNORECASE)


def test_no_page_writes_a_framework_label_or_says_both_frameworks():
    pattern = framework_words()
    offenders = [f"{path.relative_to(PROJECT_ROOT).as_posix()}:{number}: {match.group(0)}"
                 for glob in DASHBOARD_FILES for path in sorted(PROJECT_ROOT.glob(glob))
                 for number, line in enumerate(path.read_text().splitlines(), 1) for match in pattern.finditer(line)]
    assert offenders == []


def test_the_page_word_check_finds_what_it_is_for():
    pattern = framework_words()
    for text in ('st.caption("Both frameworks train")', 'help="XLA (jit_compile) for TensorFlow"', '"PyTorch and Keras"',
                 '"tf.data / DataLoader"', '"channels_last (PyTorch)"', 'f"{framework} in JAX"'):
        assert pattern.search(text), text
    for text in ("from core.frameworks import LABELS", "import streamlit as st", "st.plotly_chart(figure)",
                 "core.models.registry", "every framework"):
        assert not pattern.search(text), text


def test_names_and_aliases_parse_in_order_without_repeats():
    assert parse_frameworks("tf, torch,keras-jax,pt") == ["tensorflow", "pytorch", "jax"]
    with pytest.raises(BadInput, match="unknown framework 'mxnet'"):
        parse_frameworks("pytorch,mxnet")
    with pytest.raises(BadInput, match="choose at least one"):
        parse_frameworks(" , ")


def test_a_framework_that_is_not_installed_is_refused_in_one_line(monkeypatch):
    missing = dataclasses.replace(frameworks.JAX, packages=("no_such_package_for_twinbench",))
    monkeypatch.setitem(REGISTRY, "jax", missing)
    assert not missing.installed
    with pytest.raises(BadInput) as refused:
        parse_frameworks("pytorch,jax")
    assert str(refused.value) == ("JAX is not installed (needs no_such_package_for_twinbench); "
                                  "pip install -r requirements.txt")
    assert refused.value.field == "frameworks"


def test_each_framework_labels_its_modes_and_offers_only_modes_it_has():
    spec = RunSpec()
    assert {name: run_mode_label(name, spec) for name in REGISTRY} == {
        "pytorch": "eager", "tensorflow": "tf.function", "jax": "jax.jit"}
    compiled = spec.replace(compile="on", precision="bf16")
    assert run_mode_label("jax", compiled) == "jax.jit, bf16"  # JAX always compiles
    assert [m.label("jax") for m in candidate_modes("jax")] == ["jax.jit", "jax.jit, bf16"]
    assert "torch.compile (reduce-overhead)" in [m.label("pytorch") for m in candidate_modes("pytorch", "cuda")]


def test_every_framework_has_a_trainer_module_and_a_colour():
    for framework in REGISTRY.values():
        module = PROJECT_ROOT / (framework.trainer_module.replace(".", "/") + ".py")
        assert module.exists(), framework.name
        assert re.fullmatch(r"#[0-9A-Fa-f]{6}", framework.colour)
    assert len({f.colour for f in REGISTRY.values()}) == len(REGISTRY)


def test_a_setting_a_chosen_framework_cannot_run_is_refused_before_anything_is_queued():
    from core.engine.compare import check_spec_against_frameworks

    native = RunSpec(data_pipeline="native")
    check_spec_against_frameworks(native, ["pytorch", "tensorflow"])
    with pytest.raises(BadInput, match="JAX has no native input pipeline") as refused:
        check_spec_against_frameworks(native, ["pytorch", "jax"])
    assert refused.value.field == "data_pipeline"
