"""Public names report the public module users import them from.

Classes and functions are defined in private modules (``orq_async._wire``) and
re-exported from public ones (``orq_async``, ``orq_async.types``,
``orq_async.testing``). :func:`publish` sets their ``__module__`` to the public
module, so reprs, ``help()``, pickles and tracebacks name the import path users
know.

Tools such as :func:`typing.get_type_hints` and msgspec resolve a class's string
annotations (``from __future__ import annotations``) in the module its
``__module__`` names. The public module does not hold every name an annotation
uses, so :func:`publish` first resolves each class's own annotations where they
were written, and the class then carries the resolved types.

Pure: no I/O, runs once at import.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable

__all__ = ["publish"]


def publish(public_module: str, objects: Iterable[object]) -> None:
    """Make each class and function among ``objects`` that still reports a
    private module report ``public_module`` instead.

    The first public module to publish a name keeps it: ``orq_async`` re-exports
    names from ``orq_async.types``, which has already claimed them.

    :param public_module: the dotted name of the public module.
    :param objects: the module's exported values; other kinds are skipped.
    """
    for obj in objects:
        if not isinstance(obj, (type, types.FunctionType)):
            continue
        if not _is_private(obj.__module__):
            continue
        if isinstance(obj, type):
            _resolve_own_annotations(obj)
        obj.__module__ = public_module


def _is_private(module: str) -> bool:
    return any(part.startswith("_") for part in module.split("."))


def _resolve_own_annotations(cls: type) -> None:
    """Replace the class's own string annotations by the types they name."""
    own = cls.__dict__.get("__annotations__")
    if not own:
        return
    try:
        hints = typing.get_type_hints(cls, include_extras=True)
    except NameError:
        # A name imported only for type checking: nothing can resolve it at run
        # time, in the private module or the public one. Leave it as written.
        return
    cls.__annotations__ = {name: hints.get(name, value) for name, value in own.items()}
