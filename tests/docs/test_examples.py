"""Every ```python block of README.md and docs/*.md runs against the fake router.

Each block is executed on its own, in a fresh namespace, with ``ORQ_API_KEY`` and
``ORQ_SERVER_URL`` pointing at a :class:`~orq_async.testing.FakeOrqServer` on a
thread of its own, so the examples run exactly as a reader would paste them.

A block may use top-level ``await``, as in an asyncio REPL (``python -m asyncio``).
Such a block also finds the names the manual's short examples assume: ``orq``, an
open :class:`~orq_async.AsyncOrq`, and ``m`` and ``p``, a model id and a prompt.

Two markers, on the line right before a fence, change how a block is checked:

* ``<!-- snippet: skip (reason) -->``: compiled only (it needs something the
  project does not install, or shows another library's code); the reason is
  required.
* ``<!-- snippet: pytest -->``: written to a file and run by pytest in a
  subprocess (with ``asyncio_mode=auto``), as a reader's own test module would
  be. A block that defines top-level ``test_*`` functions is run this way
  without the marker.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import CodeType

import pytest

from orq_async import AsyncOrq
from orq_async.testing import FakeOrqServer

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
API_KEY = "sk-docs-example"
MODEL = "openai/gpt-3.5-turbo-instruct"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<info>[^`]*)$")
_MARKER = re.compile(
    r"^\s*<!--\s*snippet:\s*(?P<mode>skip|pytest)\b(?P<rest>.*)-->\s*$"
)


@dataclass(frozen=True)
class Snippet:
    page: Path
    line: int  # 1-based line of the opening fence
    source: str
    mode: str  # "run", "skip" or "pytest"
    reason: str

    @property
    def id(self) -> str:
        where = f"{self.page.relative_to(ROOT)}:{self.line}"
        return where if self.mode == "run" else f"{where}-{self.mode}"


def extract(page: Path) -> list[Snippet]:
    """The fenced code blocks of a Markdown page whose info string is ``python``."""
    lines = page.read_text(encoding="utf-8").splitlines()
    snippets: list[Snippet] = []
    i = 0
    while i < len(lines):
        fence = _FENCE.match(lines[i])
        if fence is None:
            i += 1
            continue
        start, indent = i, fence["indent"]
        end = start + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        if fence["info"].strip() == "python":
            body = [line[len(indent) :] for line in lines[start + 1 : end]]
            previous = lines[start - 1] if start > 0 else ""
            marker = _MARKER.match(previous)
            mode = marker["mode"] if marker else _default_mode(body)
            reason = marker["rest"].strip(" ()") if marker else ""
            snippets.append(
                Snippet(page, start + 1, "\n".join(body) + "\n", mode, reason)
            )
        i = end + 1
    return snippets


def _default_mode(body: list[str]) -> str:
    try:
        tree = ast.parse("\n".join(body))
    except SyntaxError:
        return "run"  # reported by the test, with the page and line
    tests = [
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.name.startswith("test_")
    ]
    return "pytest" if tests else "run"


SNIPPETS = [s for page in PAGES for s in extract(page)]


def _compile(snippet: Snippet) -> CodeType:
    code: CodeType = compile(
        snippet.source,
        snippet.id,
        "exec",
        flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    return code


class _ServerThread:
    """A FakeOrqServer on a daemon thread's event loop."""

    def __init__(self) -> None:
        self.server: FakeOrqServer | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),))

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with FakeOrqServer(api_key=API_KEY) as server:
            self.server = server
            self._ready.set()
            await self._stop.wait()

    def __enter__(self) -> FakeOrqServer:
        self._thread.start()
        assert self._ready.wait(10), "the fake router did not start"
        assert self.server is not None
        return self.server

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)


@pytest.fixture(scope="module")
def router() -> Iterator[FakeOrqServer]:
    with _ServerThread() as server:
        yield server


@pytest.fixture
def router_env(router: FakeOrqServer, monkeypatch: pytest.MonkeyPatch) -> FakeOrqServer:
    monkeypatch.setenv("ORQ_API_KEY", API_KEY)
    monkeypatch.setenv("ORQ_SERVER_URL", router.url)
    router.clear()
    return router


def test_the_pages_have_examples() -> None:
    pages = {s.page.name for s in SNIPPETS if s.mode == "run"}
    assert {"README.md", "quickstart.md", "streaming.md"} <= pages


def test_every_skipped_example_says_why() -> None:
    assert [s.id for s in SNIPPETS if s.mode == "skip" and not s.reason] == []


@pytest.mark.parametrize("snippet", SNIPPETS, ids=lambda s: s.id)
def test_example(snippet: Snippet, router_env: FakeOrqServer, tmp_path: Path) -> None:
    code = _compile(snippet)  # a syntax error fails every mode
    if snippet.mode == "skip":
        return
    if snippet.mode == "pytest":
        test_file = tmp_path / f"test_{snippet.page.stem}_{snippet.line}.py"
        test_file.write_text(snippet.source, encoding="utf-8")
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "-o",
                "asyncio_mode=auto",
                test_file.name,
            ],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return
    if code.co_flags & inspect.CO_COROUTINE:
        asyncio.run(_run_with_client(code))
    else:
        exec(code, {"__name__": "__docs_example__"})


async def _run_with_client(code: CodeType) -> None:
    async with AsyncOrq() as orq:
        names = {"__name__": "__docs_example__", "orq": orq, "m": MODEL, "p": "Hi"}
        await eval(code, names)
