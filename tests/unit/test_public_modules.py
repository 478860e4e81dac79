"""The public modules: ``orq_async.types`` exports the wire structs, and every
public class and function reports the public module it is imported from."""

from __future__ import annotations
import __future__

import enum
import importlib
import pickle
import re
import types
import typing
from pathlib import Path

import msgspec
import pytest

import orq_async
import orq_async.testing
import orq_async.types
from orq_async import _wire

PUBLIC_MODULES = (orq_async, orq_async.types, orq_async.testing)
REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"
#: Wire structs the package root exported before ``orq_async.types`` existed.
ROOT_WIRE_NAMES = frozenset(
    {
        "AgenticRagConfig",
        "Cache",
        "Completion",
        "CompletionChoice",
        "CompletionChunk",
        "CompletionRequest",
        "CompletionTokensDetails",
        "ErrorBody",
        "ErrorDetail",
        "Fallback",
        "Identity",
        "KnowledgeBase",
        "LoadBalancer",
        "LoadBalancerModel",
        "OrqConfig",
        "PiiRedactionPlugin",
        "PromptReference",
        "PromptTokensDetails",
        "RerankConfig",
        "Retry",
        "SearchOptions",
        "ThinkingAdaptive",
        "ThinkingDisabled",
        "ThinkingEnabled",
        "Thread",
        "Timeout",
        "Usage",
    }
)
#: Classes whose annotations name optional dependencies imported only for type
#: checking (aiohttp's connector, OpenTelemetry's provider): no module can
#: resolve them at run time.
TYPE_CHECKING_ONLY = frozenset({"ClientOptions", "Telemetry"})


def public_names(module: types.ModuleType) -> set[str]:
    return {
        name
        for name, value in vars(module).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, __future__._Feature)
    }


def home(module: types.ModuleType, name: str) -> str:
    """The module a public name should report."""
    if name in orq_async.types.__all__:
        return "orq_async.types"
    return module.__name__


def exported() -> list[tuple[types.ModuleType, str, object]]:
    return [
        (module, name, getattr(module, name))
        for module in PUBLIC_MODULES
        for name in module.__all__
    ]


CLASSES = [
    pytest.param(module, name, value, id=f"{module.__name__}.{name}")
    for module, name, value in exported()
    if isinstance(value, type)
]
FUNCTIONS = [
    pytest.param(module, name, value, id=f"{module.__name__}.{name}")
    for module, name, value in exported()
    if isinstance(value, types.FunctionType)
]


# -- orq_async.types ----------------------------------------------------------


def test_types_all_is_a_sorted_tuple_without_duplicates() -> None:
    names = orq_async.types.__all__

    assert isinstance(names, tuple)
    assert list(names) == sorted(set(names))


def test_types_all_covers_every_public_name() -> None:
    assert public_names(orq_async.types) == set(orq_async.types.__all__)


def test_types_star_import_gives_exactly_all() -> None:
    namespace: dict[str, object] = {}
    exec("from orq_async.types import *", namespace)

    assert set(namespace) - {"__builtins__"} == set(orq_async.types.__all__)


def test_types_exports_every_wire_struct() -> None:
    bases = {_wire.RequestStruct, _wire.ResponseStruct}
    structs = {
        name
        for name, value in vars(_wire).items()
        if isinstance(value, type)
        and issubclass(value, msgspec.Struct)
        and value not in bases
        and not name.startswith("_")
        and value.__name__ == name
    }

    assert structs - set(orq_async.types.__all__) == set()


def test_the_root_keeps_its_wire_names_as_the_same_objects() -> None:
    assert ROOT_WIRE_NAMES <= set(orq_async.__all__)
    for name in ROOT_WIRE_NAMES:
        assert getattr(orq_async, name) is getattr(orq_async.types, name), name


def test_the_reference_lists_every_types_name() -> None:
    entries = set(
        re.findall(r"^::: orq_async\.(?:types\.)?(\w+)", REFERENCE.read_text(), re.M)
    )

    assert sorted(set(orq_async.types.__all__) - entries) == []


# -- where public names say they live ------------------------------------------


@pytest.mark.parametrize(("module", "name", "cls"), CLASSES)
def test_classes_report_their_public_module(
    module: types.ModuleType, name: str, cls: type
) -> None:
    expected = home(module, name)

    assert cls.__module__ == expected
    assert cls.__qualname__ == name
    if not issubclass(cls, enum.Enum):  # an enum's repr names no module
        assert repr(cls) == f"<class '{expected}.{name}'>"
    assert getattr(importlib.import_module(cls.__module__), cls.__qualname__) is cls


@pytest.mark.parametrize(("module", "name", "func"), FUNCTIONS)
def test_functions_report_their_public_module(
    module: types.ModuleType, name: str, func: types.FunctionType
) -> None:
    assert func.__module__ == module.__name__
    assert getattr(importlib.import_module(func.__module__), func.__name__) is func


def test_the_generic_stream_repr_names_public_modules() -> None:
    alias = orq_async.EventStream[orq_async.CompletionChunk]

    assert repr(alias) == ("orq_async.EventStream[orq_async.types.CompletionChunk]")


@pytest.mark.parametrize(("module", "name", "cls"), CLASSES)
def test_class_annotations_still_resolve(
    module: types.ModuleType, name: str, cls: type
) -> None:
    if name in TYPE_CHECKING_ONLY:
        with pytest.raises(NameError):
            typing.get_type_hints(cls)
        return

    hints = typing.get_type_hints(cls, include_extras=True)

    assert all(not isinstance(hint, str) for hint in hints.values())
    if issubclass(cls, msgspec.Struct):
        assert [f.name for f in msgspec.structs.fields(cls)] == list(
            cls.__struct_fields__
        )
        assert msgspec.json.schema(cls)


def test_wire_structs_and_errors_pickle_by_their_public_path() -> None:
    retry = orq_async.types.Retry(count=2, on_codes=[429])
    error = orq_async.OrqError("boom")

    assert b"orq_async.types" in pickle.dumps(retry)
    assert pickle.loads(pickle.dumps(retry)) == retry
    assert b"orq_async._" not in pickle.dumps(error)
    assert type(pickle.loads(pickle.dumps(error))) is orq_async.OrqError
