"""docs/errors.md stays the list of what a user can meet."""

import re

from core import cli
from core.errors import FAILURE_KINDS, BadInput, DataUnavailable, FrameworkUnavailable, TwinbenchError
from tests.conftest import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "errors.md").read_text()


def test_every_exit_code_is_documented():
    codes = {value for name, value in vars(cli).items() if name.startswith("EXIT_")}
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", DOC, flags=re.MULTILINE)}
    assert codes == documented


def test_every_kind_a_run_can_fail_with_is_documented():
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC, flags=re.MULTILINE))
    assert set(FAILURE_KINDS) == documented
    # out_of_memory and cancelled are set by the worker and the runner, not by an exception class.
    assert {error.kind for error in (TwinbenchError, BadInput, DataUnavailable, FrameworkUnavailable)} < documented
