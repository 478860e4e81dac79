"""The ``orq-async`` command line (also ``python -m orq_async``).

argparse in, text on stdout, stats and errors on stderr. Exit codes: 0 ok, 1 API
or network error (one line, no traceback), 2 usage error, 130 interrupted.

Colour and the live stats line appear only on a terminal; colour never when
``NO_COLOR`` is set (https://no-color.org) or ``TERM=dumb``. The event loop is
uvloop when it is installed.

Each subcommand is a module with ``add_parser(commands)``, which adds its
parser and sets ``run`` (``args -> exit code``) as its default; ``_SUBCOMMANDS``
lists them in the order ``--help`` shows. The completion commands share their
options (``_options``), the call and its printing (``_completion``, ``_output``)
and the terminal handling (``_terminal``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from .._exceptions import InvalidParameterError, OrqError
from .._version import __version__
from . import _chat, _complete, _demo, _fake_server
from ._options import EPILOG, UsageProblem
from ._terminal import style, wants_colour

__all__ = ["main"]

_SUBCOMMANDS: tuple[Callable[[argparse._SubParsersAction[Any]], None], ...] = (
    _complete.add_parser,
    _chat.add_parser,
    _demo.add_parser,
    _fake_server.add_parser,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="orq-async",
        description="Completions and chat completions from the Orq AI router, "
        "streamed to your terminal.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "-V",
        "--version",
        action="version",
        version=f"orq-async {__version__}",
        help="print the version and exit",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in _SUBCOMMANDS:
        add_parser(commands)
    return parser


def _error(message: str) -> None:
    prefix = style("orq-async:", "31", wants_colour(sys.stderr))
    sys.stderr.write(f"{prefix} {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    :param argv: the arguments (default: ``sys.argv[1:]``).
    :return: the exit code.
    """
    args = _parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args.run
    try:
        return run(args)
    except (UsageProblem, InvalidParameterError) as exc:
        _error(str(exc))
        return 2
    except OrqError as exc:
        _error(f"{type(exc).__name__}: {exc}")
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`orq-async complete ... | head`): stop quietly,
        # and keep Python from complaining again while flushing stdout at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
