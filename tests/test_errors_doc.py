"""docs/errors.md stays the list of what a user can meet."""

import ast
import re

from core import cli
from core.errors import FAILURE_KINDS
from tests.conftest import PROJECT_ROOT

DOC = (PROJECT_ROOT / "docs" / "errors.md").read_text()
# The store's calls that fail runs, with the kind as their second argument.
FAILING_CALLS = {"fail_run", "fail_unfinished_runs"}


def test_every_exit_code_is_documented():
    codes = {value for name, value in vars(cli).items() if name.startswith("EXIT_")}
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", DOC, flags=re.MULTILINE)}
    assert codes == documented


def test_every_kind_a_run_can_fail_with_is_documented():
    documented = set(re.findall(r"^\| `(\w+)` \|", DOC, flags=re.MULTILINE))
    assert set(FAILURE_KINDS) == documented


def _texts(node: ast.AST) -> set[str]:
    """The strings an expression can be, as far as it is written out: "a", "a" if c else "b",
    x or "a", and the default of x.get("kind", "a"); nothing for a value read from elsewhere."""
    if isinstance(node, ast.Constant):
        return {node.value} if isinstance(node.value, str) else set()
    if isinstance(node, ast.IfExp):
        return _texts(node.body) | _texts(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*map(_texts, node.values))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
        return set().union(*map(_texts, node.args[1:]))
    return set()


def failure_kinds_written(tree: ast.AST) -> set[str]:
    """Every kind a module fails a run with: an exception class's ``kind``, the kind of a
    ``failed`` event, of an error ({"kind": ..., "message": ...}) and of the store's calls that fail runs."""
    kinds: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for statement in node.body:
                if isinstance(statement, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "kind"
                                                             for t in statement.targets):
                    kinds |= _texts(statement.value)
        elif isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name == "emit" and node.args and _texts(node.args[0]) == {"failed"}:
                kinds |= {text for keyword in node.keywords if keyword.arg == "kind" for text in _texts(keyword.value)}
            if name in FAILING_CALLS and len(node.args) > 1:
                kinds |= _texts(node.args[1])
        elif isinstance(node, ast.Dict):
            keys = {key.value for key in node.keys if isinstance(key, ast.Constant)}
            if {"kind", "message"} <= keys:
                kinds |= {text for key, value in zip(node.keys, node.values, strict=True)
                          if isinstance(key, ast.Constant) and key.value == "kind" for text in _texts(value)}
    return kinds


def test_the_code_fails_runs_only_with_the_documented_kinds():
    written: dict[str, set[str]] = {}
    for path in sorted((PROJECT_ROOT / "core").rglob("*.py")):
        kinds = failure_kinds_written(ast.parse(path.read_text()))
        if kinds:
            written[path.relative_to(PROJECT_ROOT).as_posix()] = kinds
    unknown = {module: kinds - set(FAILURE_KINDS) for module, kinds in written.items() if kinds - set(FAILURE_KINDS)}
    assert unknown == {}
    assert set().union(*written.values()) == set(FAILURE_KINDS)  # and none of them is never used
