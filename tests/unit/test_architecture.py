"""The architecture holds (docs/architecture.md): the import contracts pass, no module of the
product imports inside a function, and no import cycle exists, in-function imports included.

Pure static checks over the source (no database, no Temporal): pytest alone catches a
broken arrow, as `make test` does with `lint-imports`.
"""

from __future__ import annotations

import ast
import configparser
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / ".importlinter"

# The only modules allowed to import inside a function, and why.
IN_FUNCTION_ALLOWED = {
    # The command line: each subcommand imports what it runs, so `backoffice run` (the
    # supervisor, alive as long as the product) and `backoffice stop` do not load the whole
    # product, the demo seed or the worker they never use. No cycle hides there (checked
    # below with these imports counted).
    "core.cli",
}


def _root_packages() -> list[str]:
    config = configparser.ConfigParser()
    config.read(CONTRACTS)
    return config["importlinter"]["root_packages"].split()


def _product_modules() -> dict[str, Path]:
    """Every module of the product by dotted name: the checked packages, app and worker."""
    found: dict[str, Path] = {}
    for package in _root_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    for module in ("app", "worker"):
        found[module] = ROOT / f"{module}.py"
    return found


MODULES = _product_modules()


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str  # a product module
    line: int
    in_function: bool


def _resolve(name: str) -> str | None:
    """The product module `name` is, or is inside (None for third-party names)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _is_type_checking(node: ast.If) -> bool:
    return "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(module: str, path: Path) -> Iterator[Import]:
    """The product imports of one module; those under `if TYPE_CHECKING:` never run."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, in_function: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                for other in child.orelse:
                    yield from walk_one(other, in_function)
                continue
            yield from walk_one(child, in_function)

    def walk_one(child: ast.AST, in_function: bool) -> Iterator[Import]:
        if isinstance(child, ast.Import):
            for alias in child.names:
                target = _resolve(alias.name)
                if target:
                    yield Import(module, target, child.lineno, in_function)
        elif isinstance(child, ast.ImportFrom):
            if child.level:
                base = package.split(".")
                base = base[: len(base) - (child.level - 1)]
                source = ".".join([*base, *([child.module] if child.module else [])])
            else:
                source = child.module or ""
            for alias in child.names:
                target = _resolve(f"{source}.{alias.name}") or _resolve(source)
                if target:
                    yield Import(module, target, child.lineno, in_function)
        inside = in_function or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        yield from walk(child, inside)

    yield from walk(ast.parse(path.read_text(), str(path)), False)


IMPORTS = [found for module, path in MODULES.items() for found in _imports(module, path)]


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(edges.get(target, ())))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def test_the_import_contracts_hold() -> None:
    """The layers, no ORM tables in workflows and pure rules, nobody imports web, workflows
    only from the kernel's start function, demo only from the command line (.importlinter)."""
    # In a process of its own: lint_imports reconfigures logging (dictConfig), which would
    # silence the loggers of the tests that run after it.
    script = (
        "import sys; from importlinter.cli import lint_imports; "
        f"sys.exit(lint_imports(config_filename={str(CONTRACTS)!r}, no_cache=True, no_logo=True))"
    )
    run = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, (
        "an import contract is broken (docs/architecture.md says which part may import "
        "which):\n" + run.stdout + run.stderr
    )


def test_no_product_module_imports_inside_a_function() -> None:
    """An import inside a function hides an arrow (and, often, a cycle) from every check."""
    hidden = [
        f"{i.importer}:{i.line} imports {i.imported}"
        for i in IMPORTS
        if i.in_function and i.importer not in IN_FUNCTION_ALLOWED
    ]
    assert hidden == [], "move these imports to the top of their module:\n" + "\n".join(hidden)


def test_the_in_function_allow_list_is_still_needed() -> None:
    """A module that no longer imports inside a function leaves the allow-list."""
    importing = {i.importer for i in IMPORTS if i.in_function}
    assert sorted(IN_FUNCTION_ALLOWED - importing) == []


def test_no_import_cycle_counting_in_function_imports() -> None:
    edges: dict[str, set[str]] = {module: set() for module in MODULES}
    for i in IMPORTS:
        if i.imported != i.importer:
            edges[i.importer].add(i.imported)
    assert _cycles(edges) == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, []),
        ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, [["a", "b", "c"]]),
        ({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}, [["a", "b"], ["c", "d"]]),
    ],
)
def test_the_cycle_finder_finds_cycles(
    source: dict[str, set[str]], expected: list[list[str]]
) -> None:
    assert sorted(_cycles(source)) == expected


def test_the_import_reader_sees_imports_in_functions_and_skips_type_checking(
    tmp_path: Path,
) -> None:
    """The reader counts an import in a nested function and ignores one only for the type
    checker; a module-level `with workflow.unsafe.imports_passed_through():` is module-level."""
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from temporalio import workflow\n"
        "with workflow.unsafe.imports_passed_through():\n"
        "    from core import settings\n"
        "if TYPE_CHECKING:\n"
        "    from web import app_factory\n"
        "def outer():\n"
        "    def inner():\n"
        "        import casework.tasks\n"
        "    return inner\n"
    )
    found = {(i.imported, i.in_function) for i in _imports("shared.sample", source)}
    assert ("core.settings", False) in found
    assert ("casework.tasks", True) in found
    assert not any(imported.startswith("web") for imported, _ in found)
