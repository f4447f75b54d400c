"""Whatever a user types, the CLI either accepts it or refuses it in one line with exit 2.

Hypothesis generates settings for `compare --dry-run` and `bench --dry-run` (every check a run
makes, with the data prepared, and nothing trained), covering each dataset × --max-images ×
--image-size × architecture input-size rule and the output paths.
"""

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from core.cli import main
from core.models.registry import ARCHITECTURES

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
    assert not (tmp_path / "out.json").exists()  # a dry run writes nothing


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
    "--json": st.sampled_from(["{tmp}/out.json", "{tmp}", "/proc/out.json", "{tmp}/new/deeper/out.json"]),
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
