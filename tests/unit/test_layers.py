"""The package's shape: one subpackage per stage, no import cycles, and no stage importing a later one.

Built from the source with ast (every import counts, the ones inside
functions too: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "kagglekit"

# The stages in the order data flows. A stage may import itself and the stages listed before it.
# runs/ comes before training/: training writes into the run folder that runs/ defines.
STAGES = ["core", "competition", "data", "models", "runs", "training", "prediction", "kaggle", "kernels"]
# Beside the stages: they may import any stage, and no stage imports them.
BESIDE = ["bench", "sandbox", "cli"]
# The package root and its public API for notebooks (api.py), and `python -m kagglekit`, sit on top of everything.
TOP = ["kagglekit", "api", "__main__"]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) or "kagglekit"


def imports_of(path: Path) -> set[str]:
    """The kagglekit modules PATH imports (relative to the package, e.g. 'data.catalog' or 'kagglekit')."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path.relative_to(PACKAGE)}: relative import; write kagglekit.<stage>.<module>")
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kagglekit":
            base = node.module.split(".", 1)[1] if "." in node.module else "kagglekit"
            found.add(base)
            for alias in node.names:  # `from kagglekit.cli import core` imports the module cli.core
                candidate = alias.name if base == "kagglekit" else f"{base}.{alias.name}"
                if (PACKAGE / Path(*candidate.split("."))).with_suffix(".py").is_file():
                    found.add(candidate)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "kagglekit":
                    found.add(alias.name.split(".", 1)[1] if "." in alias.name else "kagglekit")
    return found


def import_graph() -> dict[str, set[str]]:
    graph = {module_name(p): imports_of(p) for p in PACKAGE.rglob("*.py")}
    return {m: {i for i in deps if i != m} for m, deps in graph.items()}


def package_of(module: str) -> str:
    """The stage, tool or top-level name a module belongs to ('data.catalog' -> 'data')."""
    return module.split(".")[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, deps in graph.items():
        packages.setdefault(package_of(module), set()).update(package_of(d) for d in deps)
    return {p: deps - {p} for p, deps in packages.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def layer_violations(packages: dict[str, set[str]]) -> list[str]:
    """Every import of a stage that runs back up the order, or into a tool beside the stages."""
    rank = {p: i for i, p in enumerate(STAGES)}
    wrong = []
    for package in STAGES:
        for dep in sorted(packages.get(package, ())):
            if dep not in rank:
                wrong.append(f"{package}/ imports {dep}, which no stage may import")
            elif rank[dep] > rank[package]:
                wrong.append(f"{package}/ imports the later {dep}/")
    return wrong


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "runs.folder" in graph["training.fold"] and "models.inference" in graph["training.fold"]
    assert "training" in package_graph(graph)["kernels"]


def test_every_stage_is_a_folder_and_no_module_is_loose():
    packages = {package_of(m) for m in import_graph()}
    assert set(STAGES + BESIDE) <= packages, f"missing stage folders: {set(STAGES + BESIDE) - packages}"
    loose = sorted(packages - set(STAGES + BESIDE + TOP))
    assert not loose, f"put these modules into a stage folder (or add them to tests/unit/test_layers.py): {loose}"


def test_no_import_cycle_between_modules_or_stages():
    graph = import_graph()
    assert find_cycle(graph) is None, f"import cycle: {' -> '.join(find_cycle(graph))}"
    packages = package_graph(graph)
    assert find_cycle(packages) is None, f"stage cycle: {' -> '.join(find_cycle(packages))}"


def test_a_cycle_would_be_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_no_stage_imports_a_later_stage_or_a_tool():
    assert layer_violations(package_graph(import_graph())) == []


def test_an_import_back_up_the_order_would_be_found():
    assert layer_violations({"data": {"core", "training"}, "training": {"sandbox"}}) == [
        "data/ imports the later training/", "training/ imports sandbox, which no stage may import"]
