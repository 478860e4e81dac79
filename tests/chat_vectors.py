"""The chat stream vectors: three example byte streams and what each
accumulates to (plain text, two parallel tool calls, text with a trailing
usage-only chunk), shared by the accumulator, stream and relay tests."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from orq_async import ChatCompletion

HEAD = (
    '"id":"01JKQ9ZP3F6V8W2X4Y7B9C1D3E","object":"chat.completion.chunk",'
    '"created":1735689600,"model":"gpt-4o-2024-08-06"'
)
DONE = b"data: [DONE]\n\n"


def event(rest: str) -> bytes:
    return f"data: {{{HEAD},{rest}}}\n\n".encode()


def choice(delta: str, finish: str = "null") -> str:
    return f'"choices":[{{"index":0,"delta":{delta},"finish_reason":{finish}}}]'


def tool(fragment: str) -> str:
    return choice(f'{{"tool_calls":[{fragment}]}}')


S1 = (
    event(choice('{"role":"assistant","content":""}')),
    event(choice('{"content":"Hello"}')),
    event(choice('{"content":"! How can I help?"}')),
    event(choice("{}", '"stop"')),
    DONE,
)
S2 = (
    event(
        choice(
            '{"role":"assistant","content":null,"tool_calls":[{"index":0,'
            '"id":"call_Xa1","type":"function","function":{"name":"get_weather",'
            '"arguments":""}}]}'
        )
    ),
    event(tool(r'{"index":0,"function":{"arguments":"{\"ci"}}')),
    event(tool(r'{"index":0,"function":{"arguments":"ty\": \"Par"}}')),
    event(tool(r'{"index":0,"function":{"arguments":"is\"}"}}')),
    event(
        tool(
            '{"index":1,"id":"call_Yb2","type":"function","function":'
            '{"name":"get_time","arguments":""}}'
        )
    ),
    event(tool(r'{"index":1,"function":{"arguments":"{\"tz\": "}}')),
    event(tool(r'{"index":1,"function":{"arguments":"\"Europe/Paris\"}"}}')),
    event(choice("{}", '"tool_calls"')),
    DONE,
)
USAGE = (
    '{"prompt_tokens":9,"completion_tokens":2,"total_tokens":11,'
    '"prompt_tokens_details":{"cached_tokens":0},'
    '"completion_tokens_details":{"reasoning_tokens":0}}'
)
S3 = (
    event('"usage":null,' + choice('{"role":"assistant","content":""}')),
    event('"usage":null,' + choice('{"content":"Hi"}')),
    event('"usage":null,' + choice('{"content":" there"}')),
    event('"usage":null,' + choice("{}", '"stop"')),
    event(f'"usage":{USAGE},"choices":[]'),
    DONE,
)

TOP = {
    "id": "01JKQ9ZP3F6V8W2X4Y7B9C1D3E",
    "object": "chat.completion",
    "created": 1735689600,
    "model": "gpt-4o-2024-08-06",
}
EXPECTED = {
    "S1": {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello! How can I help?"},
                "finish_reason": "stop",
            }
        ],
        "usage": None,
    },
    "S2": {
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_Xa1",
                            "type": "function",
                            "function": {
                                "name": "get_weather",
                                "arguments": '{"city": "Paris"}',
                            },
                        },
                        {
                            "id": "call_Yb2",
                            "type": "function",
                            "function": {
                                "name": "get_time",
                                "arguments": '{"tz": "Europe/Paris"}',
                            },
                        },
                    ],
                },
                "finish_reason": "tool_calls",
            }
        ],
        "usage": None,
    },
    "S3": {
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hi there"},
                "finish_reason": "stop",
            }
        ],
        "usage": json.loads(USAGE),
    },
}
STREAMS = {"S1": S1, "S2": S2, "S3": S3}


def _prune(value: Any) -> Any:
    """Builtins without the ``None`` values the expected results leave out."""
    if isinstance(value, dict):
        return {k: _prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_prune(v) for v in value]
    return value


def as_json(completion: ChatCompletion) -> dict[str, Any]:
    """The completion as the JSON a server would send, ``None`` fields pruned
    below the top level (``usage: null`` stays, as in the expected results)."""
    data: dict[str, Any] = msgspec.to_builtins(completion)
    return {
        k: (v if k == "usage" and v is None else _prune(v))
        for k, v in data.items()
        if v is not None or k == "usage"
    }


def want(name: str) -> dict[str, Any]:
    expected = EXPECTED[name]
    return {**TOP, "choices": _prune(expected["choices"]), "usage": expected["usage"]}
