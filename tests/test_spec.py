import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.errors import BadInput
from core.spec import RunSpec


def test_defaults_are_valid_and_round_trip_through_json():
    spec = RunSpec()
    spec.validate_names()
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert hash(spec) == hash(RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))))


def test_cli_strings_are_coerced_to_field_types():
    spec = RunSpec.from_dict({"epochs": "3", "batch_size": "16", "learning_rate": "0.01", "augment": "yes", "image_size": ""})
    assert (spec.epochs, spec.batch_size, spec.learning_rate, spec.augment, spec.image_size) == (3, 16, 0.01, True, None)


@pytest.mark.parametrize(
    "values, field, words",
    [
        ({"epochs": 0}, "epochs", "between 1 and"),
        ({"batch_size": -4}, "batch_size", "between 1 and"),
        ({"batch_size": "many"}, "batch_size", "whole number"),
        ({"batch_size": 2.5}, "batch_size", "whole number"),
        ({"learning_rate": "fast"}, "learning_rate", "a number"),
        ({"learning_rate": -0.1}, "learning_rate", "(0.0, 10.0]"),
        ({"learning_rate": "nan"}, "learning_rate", "finite"),
        ({"validation_fraction": 0.9}, "validation_fraction", "[0.0, 0.5]"),
        ({"optimizer": "adagrad"}, "optimizer", "adam, sgd"),
        ({"device": "tpu"}, "device", "auto, cpu, cuda"),
        ({"precision": "fp8"}, "precision", "fp32, bf16"),
        ({"image_size": 2}, "image_size", "between 4 and"),
    ],
)
def test_impossible_values_name_the_field_and_the_allowed_range(values, field, words):
    with pytest.raises(BadInput) as caught:
        RunSpec.from_dict(values)
    assert field in str(caught.value)
    assert words in str(caught.value)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(BadInput, match="digits, shapes, mnist"):
        RunSpec.from_dict({"dataset": "imagenet"})
    with pytest.raises(BadInput, match="mlp, cnn, lenet5"):
        RunSpec.from_dict({"architecture": "alexnet"})
    with pytest.raises(BadInput, match="unknown setting"):
        RunSpec.from_dict({"epoch": 3})


def test_missing_dataset_path_is_refused(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        RunSpec.from_dict({"dataset": str(tmp_path / "nowhere.zip")})
    text_file = tmp_path / "labels.txt"
    text_file.write_text("x")
    with pytest.raises(BadInput, match="folder or a .zip"):
        RunSpec.from_dict({"dataset": str(text_file)})


ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(allow_nan=True),
                      st.text(max_size=12), st.sampled_from(["3", "0.5", "yes", "none", "native", "adam", "cuda", "bf16"]),
                      st.lists(st.text(max_size=5), max_size=2))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*RunSpec.model_fields, "epoch", "lr"]), ANY_VALUE, max_size=6))
def test_any_settings_either_make_a_spec_or_are_refused_naming_a_field(values):
    # Dataset and architecture names are drawn from the registries' own lists elsewhere; here
    # they stay valid so that every other field gets exercised.
    values.pop("dataset", None)
    values.pop("architecture", None)
    try:
        spec = RunSpec.from_dict(values)
    except BadInput as error:
        assert error.field in values, str(error)
        assert error.field in str(error) and "\n" not in str(error)
        return
    assert RunSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
