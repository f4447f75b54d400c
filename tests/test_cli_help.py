"""The CLI's help speaks of the frameworks from the registry, so another framework changes no text."""

import pytest

from core.cli import build_parser
from core.frameworks import REFERENCE, REGISTRY


def help_of(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    with pytest.raises(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return " ".join(capsys.readouterr().out.split())  # argparse wraps lines at the terminal's width


def test_every_registered_framework_is_named_and_none_is_left_out(capsys):
    described = help_of(capsys)
    assert all(framework.label in described for framework in REGISTRY.values())
    for command in ("compare", "sweep", "bench", "parity"):
        text = help_of(capsys, command)
        assert "both" not in text, command
    compare = help_of(capsys, "compare")
    assert f"from {REFERENCE.label}'s initial weights" in compare
    for framework in REGISTRY.values():
        if framework.compiler:
            assert f"{framework.compiler} for {framework.label}" in compare
        if framework.native_pipeline:
            assert framework.native_pipeline in compare
