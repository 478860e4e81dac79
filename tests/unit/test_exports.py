"""The public namespace: ``orq_async.__all__`` is complete, sorted and resolvable."""

from __future__ import annotations
import __future__

import importlib
import types

import orq_async


def public_names() -> set[str]:
    """Names a user can see in ``orq_async``: no modules, no ``_`` names, no
    ``from __future__`` feature objects."""
    return {
        name
        for name, value in vars(orq_async).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)
    }


def test_all_is_a_tuple_of_str() -> None:
    assert isinstance(orq_async.__all__, tuple)
    assert all(isinstance(name, str) for name in orq_async.__all__)


def test_all_is_sorted() -> None:
    # Plain code-point order (upper case before lower case, so "SSEDecoder" sorts
    # before "ServerSentEvent" and "__version__" comes last).
    assert list(orq_async.__all__) == sorted(orq_async.__all__)


def test_all_has_no_duplicates() -> None:
    assert len(set(orq_async.__all__)) == len(orq_async.__all__)


def test_all_covers_every_public_name() -> None:
    assert public_names() - set(orq_async.__all__) == set()


def test_every_name_in_all_resolves() -> None:
    missing = [name for name in orq_async.__all__ if not hasattr(orq_async, name)]

    assert missing == []


def test_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from orq_async import *", namespace)

    assert set(namespace) - {"__builtins__"} == set(orq_async.__all__)


def test_all_has_no_private_names_but_version() -> None:
    assert [n for n in orq_async.__all__ if n.startswith("_")] == ["__version__"]


def test_version_matches_the_private_module() -> None:
    version = importlib.import_module("orq_async._version").__version__

    assert orq_async.__version__ == version
    assert version.count(".") >= 2


def test_testing_module_is_importable_but_not_exported() -> None:
    testing = importlib.import_module("orq_async.testing")

    assert "testing" not in orq_async.__all__
    assert {"FakeOrqServer", "FakeResponse"} <= set(testing.__all__)
