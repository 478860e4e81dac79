"""What the completion commands share: the request and output options, the
parameters made from them, and the usage error."""

from __future__ import annotations

import argparse
from typing import Any, cast

from .._chat_params import ChatCompletionParams
from .._resources import CompletionParams

DEFAULT_MODEL = "openai/gpt-3.5-turbo-instruct"
DEFAULT_CHAT_MODEL = "openai/gpt-4o-mini"

EPILOG = """\
environment:
  ORQ_API_KEY      the API key (or --api-key-file)
  ORQ_SERVER_URL   the router's base URL (or --server-url)
  NO_COLOR         set (non-empty) to turn colour off

exit codes: 0 ok, 1 API or network error, 2 usage error, 130 interrupted"""


class UsageProblem(Exception):
    """Bad command-line input found after parsing (exit code 2)."""


def add_generation_options(
    parser: argparse.ArgumentParser,
    max_tokens: int | None,
    model: str = DEFAULT_MODEL,
) -> argparse._ArgumentGroup:
    """The request and output options that ``complete``, ``chat`` and ``demo``
    share.

    :param max_tokens: the ``--max-tokens`` default (``None``: the model's).
    :param model: the ``--model`` default.
    :return: the "request" option group (for a command's own request options).
    """
    request = _add_request_options(parser, max_tokens, model)
    _add_output_options(parser)
    return request


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    """``--server-url`` and ``--api-key-file``."""
    connection = parser.add_argument_group("connection")
    connection.add_argument(
        "--server-url",
        metavar="URL",
        help="the router's base URL (default: $ORQ_SERVER_URL, else the Orq API)",
    )
    connection.add_argument(
        "--api-key-file",
        metavar="FILE",
        help="read the API key from FILE (default: $ORQ_API_KEY)",
    )


def _add_request_options(
    parser: argparse.ArgumentParser, max_tokens: int | None, model: str
) -> argparse._ArgumentGroup:
    request = parser.add_argument_group("request")
    request.add_argument(
        "-m",
        "--model",
        default=model,
        metavar="MODEL",
        help="the model, as provider/name (default: %(default)s)",
    )
    request.add_argument(
        "-n",
        "--max-tokens",
        type=int,
        default=max_tokens,
        metavar="N",
        help="the most tokens to generate"
        + (" (default: %(default)s)" if max_tokens else " (default: the model's)"),
    )
    request.add_argument(
        "-t",
        "--temperature",
        type=float,
        metavar="T",
        help="sampling temperature from 0 to 2: higher is more varied",
    )
    request.add_argument(
        "-s",
        "--stop",
        action="append",
        metavar="TEXT",
        help="stop before this text; repeat for up to 4 stop texts",
    )
    request.add_argument(
        "--top-p",
        type=float,
        metavar="P",
        help="nucleus sampling: pick from the most likely tokens whose "
        "probabilities add up to P (0 to 1)",
    )
    request.add_argument(
        "--seed",
        type=int,
        metavar="N",
        help="a seed for repeatable sampling, where the model supports it",
    )
    request.add_argument(
        "--n",
        "--choices",
        dest="choices",
        type=int,
        metavar="N",
        help="how many choices to generate; each is printed under its own label",
    )
    return request


def _add_output_options(parser: argparse.ArgumentParser) -> None:
    output = parser.add_argument_group("output")
    output.add_argument(
        "--no-stream",
        action="store_true",
        help="wait for the whole completion instead of streaming it",
    )
    output.add_argument(
        "--json",
        action="store_true",
        help="print JSON instead of text: one line per chunk, or one line "
        "with --no-stream",
    )
    output.add_argument(
        "--stats",
        action="store_true",
        help="print the stats line (first-token time, tokens, rate, request id) "
        "to stderr even when it is not a terminal",
    )
    output.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no stats line, not even on a terminal",
    )


def _shared_params(args: argparse.Namespace, max_tokens_field: str) -> dict[str, Any]:
    """The body fields both endpoints take from the options (unset ones left out)."""
    given = {
        max_tokens_field: args.max_tokens,
        "temperature": args.temperature,
        "top_p": args.top_p,
        "seed": args.seed,
        "stop": args.stop or None,
        "n": args.choices,
    }
    return {name: value for name, value in given.items() if value is not None}


def completion_params(args: argparse.Namespace) -> CompletionParams:
    """The request parameters the options name (unset options are left out)."""
    return cast("CompletionParams", _shared_params(args, "max_tokens"))


def chat_params(args: argparse.Namespace) -> ChatCompletionParams:
    """The chat request parameters the options name (unset options are left
    out; ``--max-tokens`` is sent as ``max_completion_tokens``)."""
    return cast("ChatCompletionParams", _shared_params(args, "max_completion_tokens"))
