"""The README's set-up block: two commands, the second one the command CI runs."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"## Two commands\n.*?```sh\n(.*?)```", readme, re.S)
    assert block is not None, "README.md has no '## Two commands' sh block"
    lines = [line.strip() for line in block[1].splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_the_readme_has_exactly_two_commands() -> None:
    demo, tests = _commands()
    assert demo.endswith("orq-async demo")
    assert tests.endswith("python -m pytest -q")


def test_ci_runs_the_readme_test_command() -> None:
    tests = _commands()[1]
    invocation = tests.rsplit(".venv/bin/", 1)[1]  # "python -m pytest -q"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert f"\n{invocation} " in ci
