"""Static checks of ``create()``'s return types, run by mypy and pyright.

Never executed: the type checkers read it. ``assert_type`` fails the check when
the inferred type differs, so the async and sync clients cannot drift apart.
"""

from __future__ import annotations

from typing_extensions import assert_type

from orq_async import (
    AsyncOrq,
    Completion,
    CompletionChunk,
    CompletionCreateParams,
    EventStream,
    Orq,
    Stream,
)


async def async_client(client: AsyncOrq, flag: bool) -> None:
    completions = client.router.completions
    assert_type(await completions.create(model="m", prompt="p"), Completion)
    assert_type(
        await completions.create(model="m", prompt="p", stream=False), Completion
    )
    assert_type(
        await completions.create(model="m", prompt="p", stream=None), Completion
    )
    assert_type(
        await completions.create(model="m", prompt="p", stream=True),
        EventStream[CompletionChunk],
    )
    assert_type(
        await completions.create(model="m", prompt="p", stream=flag),
        Completion | EventStream[CompletionChunk],
    )
    stream = await completions.create(
        model="m", prompt=[1, 2], stream=True, max_tokens=64.0, retries=0
    )
    async for event in stream:
        assert_type(event, CompletionChunk)
        assert_type(event.data, CompletionChunk)
        assert_type(event.data.choices[0].text, str)


def sync_client(client: Orq, flag: bool) -> None:
    completions = client.router.completions
    assert_type(completions.create(model="m", prompt="p"), Completion)
    assert_type(completions.create(model="m", prompt="p", stream=False), Completion)
    assert_type(completions.create(model="m", prompt="p", stream=None), Completion)
    assert_type(
        completions.create(model="m", prompt="p", stream=True),
        Stream[CompletionChunk],
    )
    assert_type(
        completions.create(model="m", prompt="p", stream=flag),
        Completion | Stream[CompletionChunk],
    )
    with completions.create(model="m", prompt=["a"], stream=True, n=2.0) as stream:
        for event in stream:
            assert_type(event.data.choices[0].text, str)


def shared_parameters(client: Orq, params: CompletionCreateParams) -> None:
    """One parameter definition: a dict typed once is accepted by both clients."""
    assert_type(client.router.completions.create(**params), Completion)


async def shared_parameters_async(
    client: AsyncOrq, params: CompletionCreateParams
) -> None:
    assert_type(await client.router.completions.create(**params), Completion)
