"""The arrows run one way (docs/architecture.md): no import cycle between the package's subpackages
or between its modules, and only the wiring reads the fast-path switch.

Every import statement counts, ``TYPE_CHECKING`` and function-level ones too: a cycle hidden in a
lazy import is still a cycle in the design. Read with the ast module, nothing imported.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import ROOT

PACKAGE = ROOT / "hello_async"

# The modules at the top that build the parts and connect them; they may import anything, and
# nothing below imports them (Django and the entry points do).
WIRING = {"settings", "urls", "asgi", "wsgi", "cli", "apps", "admin", "management", "migrations"}
WIRING |= {"__init__", "__main__"}
# The only modules that read HELLO_ASYNC_FASTPATH or import the fast path (docs/architecture.md).
SWITCH_READERS = {"hello_async.asgi", "hello_async.apps", "hello_async.settings", "hello_async.cli"}
SWITCH_NAMES = {"HELLO_ASYNC_FASTPATH", "HELLO_ASYNC_FASTPATH_OFF"}


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def package_modules(root: Path) -> dict[str, Path]:
    return {
        module_name(path, root): path
        for path in sorted(root.rglob("*.py"))
        if "migrations" not in path.relative_to(root).parts
    }


def imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every dotted name an import statement anywhere in ``tree`` brings in, made absolute."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = module.split(".") if is_package else module.split(".")[:-1]
                here = here[: len(here) - (node.level - 1)]
                base = ".".join([*here, base] if base else here)
            for alias in node.names:
                # ``from pkg import name``: the module pkg.name if there is one, else pkg itself.
                yield f"{base}.{alias.name}"


def import_graph(root: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (the nearest existing module of each name)."""
    modules = package_modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        for target in imported_names(tree, name, path.name == "__init__.py"):
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan's, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in graph:
        if start in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in graph:
                    continue
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(sorted(graph[successor]))))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
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
    return sorted(found)


def subpackage(module: str) -> str:
    """hello_async.upstream.client -> upstream; hello_async.errors -> errors."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def subpackage_cycles(graph: dict[str, set[str]]) -> list[str]:
    """Cycles between the subpackages (and top-level modules), the wiring left out, each with
    one import that makes each of its arrows."""
    arrows: dict[str, set[str]] = {}
    why: dict[tuple[str, str], str] = {}
    for module, targets in graph.items():
        source = subpackage(module)
        if source in WIRING or "." not in module:
            continue
        for target in sorted(targets):
            dest = subpackage(target)
            if dest != source and dest not in WIRING and "." in target:
                arrows.setdefault(source, set()).add(dest)
                why.setdefault((source, dest), f"{module} -> {target}")
    return [
        " <-> ".join(cycle)
        + ": "
        + "; ".join(why[(a, b)] for a in cycle for b in cycle if (a, b) in why)
        for cycle in cycles(arrows)
    ]


def module_cycles(graph: dict[str, set[str]]) -> list[str]:
    return [" <-> ".join(cycle) for cycle in cycles(graph)]


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(PACKAGE)


def test_no_cycle_between_subpackages(graph: dict[str, set[str]]) -> None:
    assert subpackage_cycles(graph) == []


def test_no_cycle_between_modules(graph: dict[str, set[str]]) -> None:
    assert module_cycles(graph) == []


def test_only_the_wiring_imports_the_fast_path(graph: dict[str, set[str]]) -> None:
    importers = {
        module
        for module, targets in graph.items()
        if any(within(target, "hello_async.fastpath") for target in targets)
        and not within(module, "hello_async.fastpath")
        # The bench starts servers with the switch set in their environment and names the forks
        # to turn off; it never reads the switch in a serving process.
        and not within(module, "hello_async.bench")
    }
    assert importers <= SWITCH_READERS, sorted(importers - SWITCH_READERS)


def test_only_the_wiring_reads_the_switch() -> None:
    readers = set()
    for module, path in package_modules(PACKAGE).items():
        if within(module, "hello_async.fastpath") or within(module, "hello_async.bench"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            name = (
                node.id
                if isinstance(node, ast.Name)
                else node.attr
                if isinstance(node, ast.Attribute)
                else node.value
                if isinstance(node, ast.Constant) and isinstance(node.value, str)
                else None
            )
            if name in SWITCH_NAMES:
                readers.add(module)
    assert readers <= SWITCH_READERS, sorted(readers - SWITCH_READERS)


# --- the checker itself, on a package planted with the cycles the project once had ------------


def plant(root: Path, files: dict[str, str]) -> Path:
    package = root / "pkg"
    for name, text in {"__init__.py": "", **files}.items():
        path = package / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return package


def test_a_lazy_or_type_checking_import_still_makes_a_cycle(tmp_path: Path) -> None:
    package = plant(
        tmp_path,
        {
            "web/__init__.py": "",
            "web/responses.py": "def text():\n    from pkg.fastpath import responses\n",
            "fastpath/__init__.py": "",
            "fastpath/responses.py": "",
            "fastpath/chain.py": "from ..web import lean\n",
            "web/lean.py": "",
            "up/__init__.py": "",
            "up/connection.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from pkg.up.transport import Pool\n"
            ),
            "up/transport.py": "from pkg.up.connection import Connection\n",
        },
    )
    graph = import_graph(package)
    assert subpackage_cycles(graph) == [
        "fastpath <-> web: pkg.fastpath.chain -> pkg.web.lean; "
        "pkg.web.responses -> pkg.fastpath.responses"
    ]
    assert module_cycles(graph) == ["pkg.up.connection <-> pkg.up.transport"]


def test_one_way_arrows_make_no_cycle(tmp_path: Path) -> None:
    package = plant(
        tmp_path,
        {
            "jobs/__init__.py": "",
            "jobs/background.py": "",
            "article/__init__.py": "",
            "article/views.py": "from pkg.jobs import background\n",
            "work/__init__.py": "",
            "work/tasks.py": "from pkg.article import kitchen\n",
            "article/kitchen.py": "",
            "apps.py": "from pkg.work import tasks\nfrom pkg.article import views\n",
        },
    )
    graph = import_graph(package)
    assert subpackage_cycles(graph) == []
    assert module_cycles(graph) == []
