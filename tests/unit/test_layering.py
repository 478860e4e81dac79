"""Import layering, checked on the AST (house style §1, §6).

The sans-IO core (``_sse``, ``_wire``, ``_codec``, ``_retry``, ``_config``,
``_exceptions``, ``_types``) imports no asyncio, anyio or aiohttp, and only
``_transport`` (the I/O seam) and ``testing`` (the fake server) import aiohttp at
run time. Imports under ``if TYPE_CHECKING:`` are for annotations only and are
not counted for the aiohttp rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import orq_async

PACKAGE = Path(orq_async.__file__).parent
PURE = ("_sse", "_wire", "_codec", "_retry", "_config", "_exceptions", "_types")
IO_LIBRARIES = frozenset({"asyncio", "anyio", "aiohttp"})
AIOHTTP_ALLOWED = frozenset({"_transport", "testing"})


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
