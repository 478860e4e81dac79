"""Import layering, checked on the AST.

No module imports another in a cycle, and no module of the request path reads
the private members of a class defined in another module. The sans-IO core
(``_sse``, ``_wire``, ``_codec``, ``_retry``, ``_config``, ``_exceptions``,
``_types``) imports no asyncio, anyio or aiohttp, and only the aiohttp seam
(``_transport``, ``_transport_errors``, ``_response``) and ``testing`` (the
fake server) import aiohttp at run time. Imports under ``if TYPE_CHECKING:``
are for annotations only and are not counted for the aiohttp rule.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

import orq_async

PACKAGE = Path(orq_async.__file__).parent
PURE = (
    "_sse",
    "_wire",
    "_codec",
    "_chat_wire",
    "_chat_codec",
    "_chat_params",
    "_retry",
    "_config",
    "_exceptions",
    "_types",
)
IO_LIBRARIES = frozenset({"asyncio", "anyio", "aiohttp"})
#: The request path: the client, its requests and streams, and the transport.
IO_SIDE = (
    "_attempts",
    "_chat_resources",
    "_chat_stream",
    "_client",
    "_headers",
    "_hooks",
    "_http_errors",
    "_pool",
    "_request",
    "_resources",
    "_response",
    "_stream_errors",
    "_stream_views",
    "_streaming",
    "_sync",
    "_telemetry",
    "_timers",
    "_transport",
    "_transport_errors",
)
AIOHTTP_ALLOWED = frozenset({"_transport", "_transport_errors", "_response", "testing"})


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(node: ast.AST, *, runtime_only: bool) -> set[str]:
    """Top-level package names imported anywhere below ``node``."""
    found: set[str] = set()
    for child in ast.iter_child_nodes(node):
        if runtime_only and isinstance(child, ast.If) and _is_type_checking(child.test):
            found |= {
                n for stmt in child.orelse for n in _imports_of(stmt, runtime_only)
            }
            continue
        found |= _imports_of(child, runtime_only)
    return found


def _imports_of(node: ast.AST, runtime_only: bool) -> set[str]:
    found: set[str] = set()
    if isinstance(node, ast.Import):
        found |= {alias.name.split(".")[0] for alias in node.names}
    elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        found.add(node.module.split(".")[0])
    return found | _imports(node, runtime_only=runtime_only)


def module_imports(name: str, *, runtime_only: bool = False) -> set[str]:
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    return _imports(tree, runtime_only=runtime_only)


def all_modules() -> list[str]:
    return sorted(p.stem for p in PACKAGE.glob("*.py"))


def test_the_walker_sees_imports() -> None:
    assert "aiohttp" in module_imports("_transport")
    assert "msgspec" in module_imports("_codec")
    assert set(PURE) <= set(all_modules())


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_no_io(name: str) -> None:
    # Even type-only imports of I/O libraries are banned in the pure core.
    assert module_imports(name) & IO_LIBRARIES == set()


@pytest.mark.parametrize("name", all_modules())
def test_only_the_transport_and_testing_import_aiohttp(name: str) -> None:
    imports = module_imports(name, runtime_only=True)

    if name not in AIOHTTP_ALLOWED:
        assert "aiohttp" not in imports
        assert "multidict" not in imports
        assert "yarl" not in imports


def test_type_checking_imports_are_skipped_only_under_the_guard() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import aiohttp\nelse:\n    import anyio\n"
        "def f():\n    import asyncio\n"
    )

    assert _imports(tree, runtime_only=True) == {"typing", "anyio", "asyncio"}
    assert _imports(tree, runtime_only=False) == {
        "typing",
        "aiohttp",
        "anyio",
        "asyncio",
    }


def relative_imports(name: str) -> set[str]:
    """The package modules ``name`` imports at run time (``from .x import``)."""
    tree = ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.orelse:
                    visit(stmt)
                continue
            if isinstance(child, ast.ImportFrom) and child.level == 1:
                if child.module:
                    found.add(child.module)
                else:
                    found.update(alias.name for alias in child.names)
            visit(child)

    visit(tree)
    return found


def _cycle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    path: list[str] = []
    done: set[str] = set()

    def walk(name: str) -> list[str] | None:
        if name in path:
            return [*path[path.index(name) :], name]
        if name in done:
            return None
        path.append(name)
        for target in sorted(graph.get(name, ())):
            cycle = walk(target)
            if cycle is not None:
                return cycle
        path.pop()
        done.add(name)
        return None

    return walk(start)


def test_package_modules_import_no_cycle() -> None:
    graph = {name: relative_imports(name) for name in all_modules()}
    assert "_transport" in graph["_request"]  # the walker sees imports

    cycles = [c for name in graph if (c := _cycle_from(name, graph)) is not None]

    assert cycles == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycle_from("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [
        "a",
        "b",
        "c",
        "a",
    ]
    assert _cycle_from("a", {"a": {"b"}, "b": set()}) is None


def _private_names_defined(tree: ast.AST) -> set[str]:
    """Private (single-underscore) members a module defines on its classes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for item in ast.walk(node):
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(item.name)
                elif isinstance(item, ast.Constant) and isinstance(item.value, str):
                    names.add(item.value)  # __slots__ entries
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
            and isinstance(node.ctx, ast.Store)
        ):
            names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


def _private_reads(tree: ast.AST) -> set[str]:
    """``obj._name`` reads in a module, on anything but ``self`` / ``cls``."""
    return {
        node.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    }


def _trees() -> dict[str, ast.AST]:
    return {
        name: ast.parse((PACKAGE / f"{name}.py").read_text(encoding="utf-8"))
        for name in all_modules()
    }


def foreign_private_reads(trees: Mapping[str, ast.AST]) -> dict[str, set[str]]:
    """Per module: private members of another module's classes it reads, and
    private names it imports from another module."""
    defined = {name: _private_names_defined(tree) for name, tree in trees.items()}
    found: dict[str, set[str]] = {}
    for name, tree in trees.items():
        elsewhere = set().union(*(d for m, d in defined.items() if m != name))
        reads = (_private_reads(tree) - defined[name]) & elsewhere
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                reads |= {
                    a.name
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                }
        if reads:
            found[name] = reads
    return found


def test_the_io_side_reads_no_other_modules_private_members() -> None:
    found = foreign_private_reads(_trees())

    assert {name: found[name] for name in IO_SIDE if name in found} == {}


def test_the_private_read_check_sees_reads() -> None:
    trees = {
        "a": ast.parse("class A:\n    def __init__(self):\n        self._x = 1\n"),
        "b": ast.parse("from .a import _helper\ndef f(a):\n    return a._x\n"),
    }

    assert foreign_private_reads(trees) == {"b": {"_x", "_helper"}}
