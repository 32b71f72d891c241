"""The package's shape: no import cycles, and no stage importing a later one.

Built from the source with ast (every import counts, the ones inside
functions too: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "kagglekit"

# The stages in the order data flows, after the foundation everything may use. A module
# listed here may import only modules listed before it.
ORDER = [
    # foundation
    "kagglekit", "competitions", "errors", "remote", "atomic", "progress", "config", "metrics", "archive", "run_folder",
    # stages
    "competition", "catalog", "competition_toml", "infer_labels", "infer_competition", "augment", "pipeline", "models", "inference",
    "budget", "schedules", "devices", "finetune", "training", "crossval", "predict", "ensemble", "submission",
    "kaggle_io", "run_dataset", "kernel", "kernel_entry", "kernel_remote", "kernel_logs", "code_submission",
]
# Beside the stages (they may import any stage, no stage imports them): tools, views, the CLI.
BESIDE_PREFIXES = ("sandbox", "cli", "report", "preview", "explain", "runs", "bench", "bench_report", "demo",
                   "__main__")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts) or "kagglekit"


def imports_of(path: Path) -> set[str]:
    """The kagglekit modules PATH imports (relative to the package, e.g. 'catalog' or 'sandbox.store')."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "kagglekit":
            base = node.module.split(".", 1)[1] if "." in node.module else "kagglekit"
            found.add(base)
            for alias in node.names:  # `from kagglekit import x` and `from kagglekit.cli import core`
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
    # A package's __init__ is imported with any of its modules: count `sandbox` -> `sandbox.server` etc. as real edges.
    return {m: {i for i in deps if i != m} for m, deps in graph.items()}


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


def test_the_graph_is_read_from_the_source():
    graph = import_graph()
    assert "crossval" in graph["training"] or "training" in graph["crossval"]
    assert "run_folder" in graph["predict"] and "inference" in graph["training"]


def test_no_import_cycle():
    assert find_cycle(import_graph()) is None, f"import cycle: {' -> '.join(find_cycle(import_graph()))}"


def test_a_cycle_would_be_found():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_every_module_has_a_place():
    placed = set(ORDER)
    loose = [m for m in import_graph() if m not in placed and not m.startswith(BESIDE_PREFIXES)]
    assert not loose, f"add these modules to ORDER or BESIDE_PREFIXES in tests/test_layers.py: {loose}"


def test_no_stage_imports_a_later_stage_or_a_tool():
    graph = import_graph()
    rank = {m: i for i, m in enumerate(ORDER)}
    wrong = []
    for module in ORDER:
        for dep in graph.get(module, ()):
            if dep not in rank:
                wrong.append(f"{module} imports {dep}, which no stage may import")
            elif rank[dep] >= rank[module]:
                wrong.append(f"{module} imports the later {dep}")
    assert not wrong, "; ".join(wrong)
