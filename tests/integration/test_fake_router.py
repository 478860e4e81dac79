"""The public fake router's generated answers and its thread runner."""

from __future__ import annotations

import re

import pytest

from orq_async import AsyncOrq, Orq, UnprocessableEntityError
from orq_async.testing import FakeOrqServer, FakeResponse, serve_in_thread

from ..conftest import API_KEY


async def test_long_generated_text_reads_like_text(client: AsyncOrq) -> None:
    res = await client.router.completions.create(model="m", prompt="p", max_tokens=200)
    text = res.choices[0].text

    assert text.startswith("This is a fake completion from the fake Orq router. It")
    assert len(text.split(" ")) == 200
    assert re.search(r"[.,]\S", text) is None  # a space after every stop and comma
    assert "  " not in text
    assert text.count("This is a fake completion") > 1  # repeated, with a space


async def test_generated_choices_stream_interleaved(
    client: AsyncOrq, server: FakeOrqServer
) -> None:
    stream = await client.router.completions.create(
        model="m", prompt="p", max_tokens=3, n=2, stream=True
    )
    async with stream:
        chunks = [chunk async for chunk in stream]

    assert [(c.choices[0].index, c.choices[0].text) for c in chunks] == [
        (0, "This"),
        (1, "It"),
        (0, " is"),
        (1, " streams"),
        (0, " a"),
        (1, " one"),
    ]
    assert [c.choices[0].finish_reason for c in chunks[-2:]] == ["length"] * 2
    assert [c.usage is not None for c in chunks] == [False] * 5 + [True]
    assert stream.usage is not None and stream.usage.completion_tokens == 6


async def test_generated_choices_whole(client: AsyncOrq) -> None:
    res = await client.router.completions.create(
        model="m", prompt="p", max_tokens=2, n=3
    )

    assert [(c.index, c.text, c.finish_reason) for c in res.choices] == [
        (0, "This is", "length"),
        (1, "It streams", "length"),
        (2, "Every chunk", "length"),
    ]
    assert res.usage is not None and res.usage.completion_tokens == 6


def test_serve_in_thread_serves_a_blocking_client() -> None:
    with serve_in_thread(FakeOrqServer(api_key=API_KEY)) as server:
        server.enqueue(FakeResponse.completion("scripted"))
        with Orq(api_key=API_KEY, server_url=server.url) as orq:
            first = orq.router.completions.create(model="m", prompt="a")
            second = orq.router.completions.create(model="m", prompt="b", max_tokens=1)

    assert (first.choices[0].text, second.choices[0].text) == ("scripted", "This")
    assert [r.json["prompt"] for r in server.requests] == ["a", "b"]
    assert not server.url.endswith(":0")


def test_serve_in_thread_reports_a_taken_port() -> None:
    with serve_in_thread() as first:
        taken = FakeOrqServer(port=first.port)
        with pytest.raises(OSError), serve_in_thread(taken):
            pass


async def test_the_fake_router_refuses_absurd_token_counts(
    client: AsyncOrq,
) -> None:
    with pytest.raises(UnprocessableEntityError):
        await client.router.completions.create(model="m", prompt="p", max_tokens=2**40)
