"""Static checks of the chat ``create()``'s return types, run by mypy and pyright.

Never executed: the type checkers read it. ``assert_type`` fails the check when
the inferred type differs, so the async and sync clients cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from typing_extensions import assert_type

from orq_async import (
    AsyncOrq,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionCreateParams,
    ChatStream,
    Orq,
    SyncChatStream,
)
from orq_async.types import UserMessage

HI = [{"role": "user", "content": "Hi"}]


async def async_client(client: AsyncOrq, flag: bool) -> None:
    chat = client.router.chat.completions
    assert_type(await chat.create(messages=HI, model="m"), ChatCompletion)
    assert_type(await chat.create(messages=HI, model="m", stream=False), ChatCompletion)
    assert_type(await chat.create(messages=HI, model="m", stream=True), ChatStream)
    assert_type(
        await chat.create(messages=HI, model="m", stream=flag),
        ChatCompletion | ChatStream,
    )
    stream = await chat.create(
        messages=[UserMessage(content="Hi")],
        model="m",
        stream=True,
        max_tokens=64.0,
        retries=0,
    )
    async with stream as entered:
        assert_type(entered, ChatStream)
        async for chunk in entered:
            assert_type(chunk, ChatCompletionChunk)
            for choice in chunk.choices:
                assert_type(choice.delta.content, str | None)
        async for text in entered.aiter_text():
            assert_type(text, str)
        final = await entered.final_completion()
        assert_type(final, ChatCompletion)
        for call in final.choices[0].message.tool_calls or []:
            assert_type(call.parse_arguments(), dict[str, Any])


def sync_client(client: Orq, flag: bool) -> None:
    chat = client.router.chat.completions
    assert_type(chat.create(messages=HI, model="m"), ChatCompletion)
    assert_type(chat.create(messages=HI, model="m", stream=True), SyncChatStream)
    assert_type(
        chat.create(messages=HI, model="m", stream=flag),
        ChatCompletion | SyncChatStream,
    )
    with chat.create(messages=HI, model="m", stream=True) as stream:
        assert_type(stream, SyncChatStream)
        for chunk in stream:
            assert_type(chunk, ChatCompletionChunk)
        for text in stream.iter_text():
            assert_type(text, str)
        assert_type(stream.final_completion(), ChatCompletion)


def shared_parameters(client: Orq, params: ChatCompletionCreateParams) -> None:
    """One parameter definition: a dict typed once is accepted by both clients."""
    assert_type(client.router.chat.completions.create(**params), ChatCompletion)


async def shared_parameters_async(
    client: AsyncOrq, params: ChatCompletionCreateParams
) -> None:
    assert_type(await client.router.chat.completions.create(**params), ChatCompletion)
