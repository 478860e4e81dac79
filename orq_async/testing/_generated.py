"""Generated answers: what the fake router sends when nothing is scripted.

Like the real router: a JSON completion (or chat completion), or an SSE stream
of chunks when the body says ``"stream": true`` (one chunk per token,
``max_tokens`` tokens, 16 by default). The text is a short paragraph of plain
English, one word a token, and there are ``n`` choices when the body asks for
them.
"""

from __future__ import annotations

import itertools
from typing import Any

from ._frames import (
    ENCODER,
    chat_chunk,
    chat_completion_object,
    chat_stream_chunks,
    completion_chunk,
    sse_frame,
)
from ._replies import FakeResponse

#: The most tokens a generated answer has (a larger max_tokens gets a 422).
MAX_FAKE_TOKENS = 1_000_000
#: The most choices (``n``) a generated answer has.
MAX_FAKE_CHOICES = 16
_ids = itertools.count(1)

#: The generated answer: a short paragraph, repeated as often as max_tokens needs.
_FAKE_TEXT = (
    "This is a fake completion from the fake Orq router. It streams one word at"
    " a time, so you can watch the tokens arrive. Every chunk is a real"
    " server-sent event on a loopback socket. Nothing leaves your machine and"
    " no API key is needed. Ask for more tokens with max_tokens to read more."
)
_FAKE_WORDS = _FAKE_TEXT.split(" ")
#: Where each sentence starts in _FAKE_WORDS: choice ``i`` starts at sentence ``i``.
_SENTENCE_STARTS = [0] + [
    i + 1 for i, word in enumerate(_FAKE_WORDS[:-1]) if word.endswith(".")
]
#: The words after the first, each with the space before it.
_SPACED_WORDS = [" " + word for word in _FAKE_WORDS]


def fake_tokens(n: int, choice: int = 0) -> list[str]:
    """``n`` tokens of readable text, one word each with its leading space."""
    start = _SENTENCE_STARTS[choice % len(_SENTENCE_STARTS)]
    size = len(_FAKE_WORDS)
    rest = [_SPACED_WORDS[(start + i) % size] for i in range(1, max(1, n))]
    return [_FAKE_WORDS[start], *rest]


def size_refusal(body: dict[str, Any]) -> FakeResponse | None:
    """The 422 for a ``max_tokens`` or ``n`` the fake router will not make."""
    n = body.get("max_tokens") or 16
    if not isinstance(n, int) or n > MAX_FAKE_TOKENS:
        return FakeResponse.error(
            422, f"the fake router makes at most {MAX_FAKE_TOKENS} tokens"
        )
    choices = body.get("n") or 1
    if not isinstance(choices, int) or not 1 <= choices <= MAX_FAKE_CHOICES:
        return FakeResponse.error(
            422, f"the fake router makes 1 to {MAX_FAKE_CHOICES} choices"
        )
    return None


def generated_texts(body: dict[str, Any]) -> list[list[str]]:
    """The tokens of each choice for a body that passed :func:`size_refusal`."""
    n = body.get("max_tokens") or 16
    return [fake_tokens(n, choice) for choice in range(body.get("n") or 1)]


def usage_of(texts: list[list[str]]) -> dict[str, int]:
    """The ``usage`` object for these choices (a fixed 4-token prompt)."""
    total = sum(len(tokens) for tokens in texts)
    return {"prompt_tokens": 4, "completion_tokens": total, "total_tokens": total + 4}


def generated_completion(body: Any, *, chunk_delay: float = 0.0) -> FakeResponse:
    """The answer to a ``/v2/router/completions`` request nobody scripted.

    :param body: the decoded request body (``None`` if it was not JSON).
    :param chunk_delay: seconds between streamed chunks.
    """
    if not isinstance(body, dict) or "model" not in body or "prompt" not in body:
        return FakeResponse.error(422, "model and prompt are required")
    refusal = size_refusal(body)
    if refusal is not None:
        return refusal
    texts = generated_texts(body)
    cid = f"cmpl-fake-{next(_ids)}"
    model = str(body["model"])
    headers = {"x-request-id": f"req-{cid}"}
    if body.get("stream"):
        return FakeResponse.events_(
            _completion_frames(texts, cid, model),
            event_delay=chunk_delay,
            headers=headers,
        )
    whole = completion_chunk("", id=cid, model=model, usage=usage_of(texts))
    whole["choices"] = [
        {
            "text": "".join(tokens),
            "index": index,
            "logprobs": None,
            "finish_reason": "length",
        }
        for index, tokens in enumerate(texts)
    ]
    whole["system_fingerprint"] = "fp_fake"
    return FakeResponse.json(whole, headers=headers)


def _completion_frames(texts: list[list[str]], cid: str, model: str) -> list[bytes]:
    """One chunk per token and choice, the choices interleaved as the router
    sends them; usage rides on the very last chunk; then ``[DONE]``."""
    n, choices = len(texts[0]), len(texts)
    last = (n - 1, choices - 1)
    usage = usage_of(texts)
    frames = [
        sse_frame(
            completion_chunk(
                tokens[i],
                id=cid,
                model=model,
                index=index,
                finish_reason="length" if i == n - 1 else None,
                usage=usage if (i, index) == last else None,
            )
        )
        for i in range(n)
        for index, tokens in enumerate(texts)
    ]
    frames.append(sse_frame("[DONE]"))
    return frames


def generated_chat_completion(body: Any, *, chunk_delay: float = 0.0) -> FakeResponse:
    """The answer to a ``/v2/router/chat/completions`` request nobody scripted.

    Text as for completions (``max_completion_tokens`` or ``max_tokens``
    tokens, ``n`` choices). With ``tool_choice`` ``"required"`` or naming a
    function, one call of that function (or of the first tool) instead, its
    arguments giving each property of the tool's ``parameters`` the value
    ``"fake"``. Streams end with the usage-only chunk when
    ``stream_options.include_usage`` is set.

    :param body: the decoded request body (``None`` if it was not JSON).
    :param chunk_delay: seconds between streamed chunks.
    """
    if not isinstance(body, dict) or "model" not in body or "messages" not in body:
        return FakeResponse.error(422, "model and messages are required")
    sizes = dict(body)
    sizes["max_tokens"] = body.get("max_completion_tokens") or body.get("max_tokens")
    refusal = size_refusal(sizes)
    if refusal is not None:
        return refusal
    texts = generated_texts(sizes)
    cid = f"chatcmpl-fake-{next(_ids)}"
    model = str(body["model"])
    headers = {"x-request-id": f"req-{cid}"}
    call = _forced_call(body)
    usage = usage_of(texts)
    if call is not None:
        texts = [[] for _ in texts]
        usage = {"prompt_tokens": 4, "completion_tokens": 8, "total_tokens": 12}
    if body.get("stream"):
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage")
        frames = [
            sse_frame(chunk)
            for chunk in _chat_chunks(
                texts, call, cid, model, usage if with_usage else None
            )
        ]
        frames.append(sse_frame("[DONE]"))
        return FakeResponse.events_(frames, event_delay=chunk_delay, headers=headers)
    whole = chat_completion_object(
        None if call is not None else "".join(texts[0]),
        tool_calls=None if call is None else [call],
        finish_reason=None if call is not None else "length",
        id=cid,
        model=model,
        usage=usage,
    )
    if call is None:
        whole["choices"] = [
            {
                "index": index,
                "message": {"role": "assistant", "content": "".join(tokens)},
                "logprobs": None,
                "finish_reason": "length",
            }
            for index, tokens in enumerate(texts)
        ]
    whole["system_fingerprint"] = "fp_fake"
    return FakeResponse.json(whole, headers=headers)


def _forced_call(body: dict[str, Any]) -> dict[str, str] | None:
    """The tool call a generated answer makes, if ``tool_choice`` forces one."""
    tools = body.get("tools")
    choice = body.get("tool_choice")
    if not isinstance(tools, list) or not tools:
        return None
    functions = [t.get("function") or {} for t in tools if isinstance(t, dict)]
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        function = next((f for f in functions if f.get("name") == name), None)
    elif choice == "required":
        function = functions[0] if functions else None
    else:
        return None
    if not function or not isinstance(function.get("name"), str):
        return None
    parameters = function.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, dict) else None
    arguments = (
        dict.fromkeys(properties, "fake") if isinstance(properties, dict) else {}
    )
    return {
        "id": f"call_fake_{next(_ids)}",
        "name": function["name"],
        "arguments": ENCODER.encode(arguments).decode(),
    }


def _chat_chunks(
    texts: list[list[str]],
    call: dict[str, str] | None,
    cid: str,
    model: str,
    usage: dict[str, int] | None,
) -> list[dict[str, Any]]:
    """A streamed generated answer's chunks: every choice's role chunk, the
    tokens interleaved across choices (or the forced tool call), every
    choice's finish chunk, then the usage-only chunk if asked for."""
    if call is not None:
        return chat_stream_chunks(
            tool_calls=[call], argument_chunks=8, usage=usage, id=cid, model=model
        )
    chunks = [
        chat_chunk("", role="assistant", index=index, id=cid, model=model)
        for index in range(len(texts))
    ]
    chunks.extend(
        chat_chunk(tokens[i], index=index, id=cid, model=model)
        for i in range(len(texts[0]))
        for index, tokens in enumerate(texts)
    )
    chunks.extend(
        chat_chunk(finish_reason="length", index=index, id=cid, model=model)
        for index in range(len(texts))
    )
    if usage is not None:
        chunks.append(chat_chunk(choices=[], usage=usage, id=cid, model=model))
    return chunks
