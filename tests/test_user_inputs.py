"""Whatever a user types, in the CLI or the Train form, is accepted or refused in one line.

Hypothesis generates settings for `compare --dry-run` and `bench --dry-run` (every check a run
makes, with the data prepared, and nothing trained), covering each dataset × --max-images ×
--image-size × architecture input-size rule and the output paths; and the values the Train
form's widgets can hold, through what its Start button calls (the comparison is queued or
refused with the field named, before anything is stored).
"""

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.cli import main
from core.engine.jobs import enqueue
from core.errors import BadInput
from core.frameworks import REGISTRY
from core.models.registry import ARCHITECTURES
from core.spec import COMPILE_MODES, DATA_PIPELINES, DEVICES, OPTIMIZERS, PRECISIONS, RunSpec
from core.store.queries import Store

# Mostly values that work, so that the rules that need the data (sizes, subsets) are reached too.
WHOLE = st.one_of(st.integers(1, 64).map(str), st.integers(-3, 70).map(str),
                  st.sampled_from(["", "abc", "1.5", "1e3", "-0", "None", "99999999999"]))
NUMBER = st.one_of(st.sampled_from(["0.001", "0.01", "0.1", "0.5"]), st.floats(-1, 20).map(str),
                   st.sampled_from(["fast", "", "nan", "inf", "-inf"]))
ARCHITECTURE = st.sampled_from([*ARCHITECTURES, "cnn", "mlp", "alexnet", ""])
FRAMEWORKS = st.sampled_from(["pytorch,tensorflow"] * 4 + ["pytorch", "jax", "pytorch,jax,tensorflow", "pytorch,pytorch",
                              "mxnet", "", ",", "PyTorch, Keras"])
IMAGE_SIZE = st.sampled_from(["", "none", "3", "4", "8", "12", "16", "24", "32", "513", "x"])
MAX_IMAGES = st.sampled_from(["", "19", "20", "21", "50", "300", "100000", "-5", "many"])


def settings_of(required, optional):
    """The required flags, and up to four of the optional ones."""
    chosen = st.lists(st.sampled_from(sorted(optional)).flatmap(lambda flag: st.tuples(st.just(flag), optional[flag])),
                      max_size=4, unique_by=lambda pair: pair[0])
    return st.tuples(st.fixed_dictionaries(required), chosen).map(lambda both: {**both[0], **dict(both[1])})


def flags(pairs):
    arguments = []
    for flag, value in pairs.items():
        arguments.append(f"{flag}={value}")  # the form that lets a value start with "-"
    return arguments


def assert_accepted_or_refused_in_one_line(arguments, capsys, tmp_path):
    try:
        code = main(arguments)
    except SystemExit as exit:  # argparse's own refusals
        code = exit.code
    out, err = capsys.readouterr()
    event(f"exit {code}")  # --hypothesis-show-statistics: how many were accepted
    assert code in (0, 2), (arguments, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), (arguments, err)
    else:
        assert out.startswith("Would "), (arguments, out)
    assert "Traceback" not in out + err
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "runs.sqlite").exists()  # a dry run writes nothing
    assert not (tmp_path / "new").exists()  # nor leaves the folders it checked it could make


COMPARE = settings_of({
    "--dataset": st.sampled_from(["digits"] * 4 + ["shapes"] * 2 + ["imagenet", "/no/such/folder", ""]),
    "--architecture": ARCHITECTURE,
    "--frameworks": FRAMEWORKS,
}, {
    "--epochs": WHOLE,
    "--batch-size": WHOLE,
    "--learning-rate": NUMBER,
    "--momentum": NUMBER,
    "--repeats": WHOLE,
    "--seed": WHOLE,
    "--validation-fraction": NUMBER,
    "--image-size": IMAGE_SIZE,
    "--max-images": MAX_IMAGES,
    "--optimizer": st.sampled_from(["adam", "sgd", "adagrad"]),
    "--compile": st.sampled_from(["off", "on", "max-autotune", "reduce-overhead", "yes"]),
    "--precision": st.sampled_from(["fp32", "bf16", "fp8"]),
    "--data-pipeline": st.sampled_from(["device", "native", "disk"]),
    "--threads": WHOLE,
    "--equivalence": st.sampled_from(["5%", "0.05", "5", "2.5 %", "lots", "0", "100%", "-5%"]),
    "--json": st.sampled_from(["{tmp}/out.json", "{tmp}", "/proc/out.json", "{tmp}/new/deeper/out.json"]),
    "--db": st.sampled_from(["{tmp}/runs.sqlite", "{tmp}", "/proc/runs.sqlite", "{tmp}/new/runs.sqlite"]),
})
SWITCHES = st.lists(st.sampled_from(["--augment", "--pretrained", "--same-init", "--same-seed", "--channels-last",
                                     "--best-of-each"]), unique=True, max_size=3)


@pytest.mark.usefixtures("home")
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(COMPARE, SWITCHES)
def test_compare_settings_run_or_are_refused_in_one_line(capsys, tmp_path, values, switches):
    values = {flag: value.format(tmp=tmp_path) for flag, value in values.items()}
    assert_accepted_or_refused_in_one_line(["compare", "--dry-run", *flags(values), *switches], capsys, tmp_path)


BENCH = settings_of({
    "--architecture": ARCHITECTURE,
    "--frameworks": FRAMEWORKS,
    "--input-shape": st.sampled_from(["32x32x3", "8x8x1", "12x12x1", "224x224x3", "32x32", "0x0x3", "big", "32×32×3"]),
}, {
    "--classes": WHOLE,
    "--batch-size": WHOLE,
    "--steps": WHOLE,
    "--warmup": WHOLE,
    "--repeats": WHOLE,
    "--learning-rate": NUMBER,
    "--compile": st.sampled_from(["off", "on", "sometimes"]),
})


@pytest.mark.usefixtures("home")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(BENCH)
def test_bench_settings_run_or_are_refused_in_one_line(capsys, tmp_path, values):
    assert_accepted_or_refused_in_one_line(["bench", "--dry-run", *flags(values)], capsys, tmp_path)


# What the Train form's widgets can hold: numbers within the widgets' reach, choices from their lists.
FORM = st.fixed_dictionaries({
    "dataset": st.sampled_from(["digits", "shapes"]),
    "architecture": st.sampled_from(["cnn", "mlp", *ARCHITECTURES]),
    # Each mostly within range, sometimes at or past an edge the widget lets through.
    "epochs": st.sampled_from([1, 1, 2, 2, 3, 0]),
    "batch_size": st.sampled_from([8, 16, 32, 32, 64, 1, 0, 2000]),
    "learning_rate": st.sampled_from([1e-3, 1e-3, 0.01, 0.1, 10.0, 0.0, 11.0]),
    "momentum": st.sampled_from([0.9, 0.9, 0.0, 0.999, 1.0]),
    "weight_decay": st.sampled_from([0.0, 0.0, 1e-4, 1.0, 1.5]),
    "seed": st.sampled_from([0, 0, 7, 2**31 - 2, 2**31]),
    "repeats": st.sampled_from([1, 1, 2, 3, 0, 51]),
    "validation_fraction": st.sampled_from([0.1, 0.1, 0.0, 0.5, 0.6]),
"optimizer": st.sampled_from(OPTIMIZERS),
    "device": st.sampled_from(DEVICES),
    "precision": st.sampled_from(PRECISIONS),
    "compile": st.sampled_from(COMPILE_MODES),
    "data_pipeline": st.sampled_from(DATA_PIPELINES),
    "image_size": st.sampled_from([None, None, None, 2, 4, 12, 32, 600]),
    "max_images": st.sampled_from([None, None, None, 5, 20, 60, 5000]),
    "threads": st.sampled_from([None, None, 1, 2, 2000]),
    **{switch: st.sampled_from([False, False, False, True])
       for switch in ("augment", "pretrained", "same_init", "same_seed", "channels_last")},
})


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(FORM, st.lists(st.sampled_from(list(REGISTRY)), unique=True, max_size=3))
def test_train_form_values_are_queued_or_refused_naming_their_field(home, values, frameworks):
    store = Store(home / "form.sqlite")
    try:
        before = len(store.list_comparisons())
        try:
            job_id = enqueue(store, RunSpec.from_dict(values), frameworks)
        except BadInput as error:
            event(f"refused: {error.field}")
            assert error.field in (*values, "frameworks", None), str(error)
            assert "\n" not in str(error)
            assert len(store.list_comparisons()) == before  # nothing stored for a refusal
            return
        event("queued")
        assert job_id and len(store.list_comparisons()) == before + 1
    finally:
        store.close()
