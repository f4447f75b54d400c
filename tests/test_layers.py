"""Imports run one way through core's layers (docs/architecture.md): cli and views over engine, engine
over store, analysis, train and data/models, all of them over the contracts; no circles.

Every module's imports are read from its source (function-local ones included), so an arrow that
runs against the layers fails here, naming it, before anyone meets the import error or the circle.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CORE = PROJECT_ROOT / "core"
# Registries that RunSpec reads to check its names: contracts, although they sit in worker packages.
CONTRACTS_IN_PACKAGES = {"core.data.registry", "core.data.raw", "core.models.registry"}
# ``python -m core`` is the command line.
ENTRY_POINTS = {"core.__main__": "cli"}
PACKAGE_LAYERS = {"data": "data/models", "models": "data/models", "train": "train", "store": "store",
                  "analysis": "analysis", "engine": "engine", "views": "views", "cli": "cli"}
# What each layer of core may import from core, besides itself.
ALLOWED = {
    "contracts": {"contracts"},
    "data/models": {"contracts"},
    # analysis is pure arithmetic over figures: a worker may use it too (energy per image is worked out there).
    "train": {"contracts", "data/models", "analysis"},
    "store": {"contracts"},
    "analysis": {"contracts"},
    "engine": {"contracts", "data/models", "train", "store", "analysis"},
    "views": {"contracts", "data/models", "train", "store", "analysis", "engine"},
    "cli": {"contracts", "data/models", "train", "store", "analysis", "engine", "views"},
}
OUTSIDE_CORE = ("pages", "dashboard_state", "streamlit_app", "bench")


def module_name(path: Path) -> str:
    parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    paths = [*CORE.rglob("*.py"), *(PROJECT_ROOT / "pages").glob("*.py"), *(PROJECT_ROOT / "bench").glob("*.py"),
             PROJECT_ROOT / "dashboard_state.py", PROJECT_ROOT / "streamlit_app.py"]
    return {module_name(path): path for path in paths}


MODULES = project_modules()


def layer(module: str) -> str:
    """The layer a project module belongs to; outside core, the folder or file it is in."""
    parts = module.split(".")
    if parts[0] != "core":
        return parts[0]
    if module in ENTRY_POINTS:
        return ENTRY_POINTS[module]
    if module == "core" or module in CONTRACTS_IN_PACKAGES or (len(parts) == 2 and parts[1] not in PACKAGE_LAYERS):
        return "contracts"
    return PACKAGE_LAYERS[parts[1]]


def imported(module: str, path: Path) -> Iterator[str]:
    """Every module ``module`` imports: project modules by their full name (``from core import
    frameworks`` is core.frameworks), anything else by its top-level name (sqlalchemy)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        for name in names:
            yield name if name in MODULES else name.split(".")[0]


IMPORTS = {module: set(imported(module, path)) for module, path in MODULES.items()}
CORE_MODULES = sorted(module for module in MODULES if layer(module) not in OUTSIDE_CORE)


def arrows(where: str, allowed: set[str]) -> list[str]:
    """The imports of core's modules in layer ``where`` into a core layer outside ``allowed``."""
    return [f"{source} ({where}) -> {target} ({layer(target)})"
            for source in CORE_MODULES if layer(source) == where
            for target in sorted(IMPORTS[source])
            if target in MODULES and layer(target) not in OUTSIDE_CORE and layer(target) not in {where, *allowed}]


def test_the_map_knows_every_layer():
    # A new package under core must be given a layer here before its arrows can be checked.
    packages = {path.parent.name for path in CORE.glob("*/*.py")}
    assert packages <= set(PACKAGE_LAYERS)
    assert {layer(module) for module in CORE_MODULES} == set(ALLOWED)


@pytest.mark.parametrize("where", list(ALLOWED))
def test_each_layer_imports_only_itself_and_what_lies_below_it(where):
    # contracts: only contracts; data/models: contracts; train: contracts, data/models; store and
    # analysis: only contracts; engine: neither views nor cli; views: not the cli.
    assert arrows(where, ALLOWED[where]) == []


def test_nothing_in_core_imports_bench_the_pages_or_streamlit():
    found = [f"{source} ({layer(source)}) -> {target}" for source in CORE_MODULES for target in sorted(IMPORTS[source])
             if target == "streamlit" or (target in MODULES and layer(target) in OUTSIDE_CORE)]
    assert found == []


def test_only_the_store_imports_sqlalchemy():
    found = [f"{source} ({layer(source)}) -> sqlalchemy" for source in CORE_MODULES
             if "sqlalchemy" in IMPORTS[source] and layer(source) != "store"]
    assert found == []


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph``, those of more than one node (or a node
    that imports itself): each one an import circle."""
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = lowest[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                lowest[node] = min(lowest[node], lowest[target])
            elif target in on_stack:
                lowest[node] = min(lowest[node], index[target])
        if lowest[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in graph[node]:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def test_strongly_connected_finds_a_circle_and_nothing_else():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


def test_no_import_circle_among_core_modules():
    graph = {module: {target for target in IMPORTS[module] if target in CORE_MODULES and target != module}
             for module in CORE_MODULES}
    assert strongly_connected(graph) == []


def test_every_package_has_an_init():
    folders = {path.parent for path in CORE.rglob("*.py") if "__pycache__" not in path.parts}
    assert sorted(str(folder.relative_to(PROJECT_ROOT)) for folder in folders if not (folder / "__init__.py").exists()) == []
