"""OpenTelemetry: GenAI spans, metrics and trace-context propagation, checked
with the SDK's in-memory span exporter and metric reader."""

from __future__ import annotations

import asyncio
import gc
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import anyio
import pytest
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import HistogramDataPoint, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from orq_async import (
    AsyncOrq,
    BadRequestError,
    IncompleteStreamError,
    InvalidParameterTypeError,
    Orq,
    OrqError,
    StreamAPIError,
    Telemetry,
)
from orq_async.testing import (
    FakeOrqServer,
    FakeResponse,
    chat_chunk,
    completion_chunk,
    sse_frame,
)
from orq_async.types import UserMessage

from ..conftest import API_KEY, FAST_RETRIES
from ..internals import error_type, instrument

PROMPT = "a private prompt"
USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


class OpenSpans(SpanProcessor):
    """Counts spans started and not yet ended."""

    def __init__(self) -> None:
        self.open: set[int] = set()

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.open.add(span.context.span_id)

    def on_end(self, span: ReadableSpan) -> None:
        assert span.context is not None
        self.open.discard(span.context.span_id)


class Telemetered:
    """A tracer and meter provider recording in memory."""

    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.open_spans = OpenSpans()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(self.open_spans)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.reader])

    def settings(self, **kw: Any) -> Telemetry:
        return Telemetry(
            tracer_provider=self.tracer_provider,
            meter_provider=self.meter_provider,
            **kw,
        )

    def span(self) -> ReadableSpan:
        (span,) = self.exporter.get_finished_spans()
        return span

    def points(self, name: str) -> list[HistogramDataPoint]:
        data = self.reader.get_metrics_data()
        found: list[HistogramDataPoint] = []
        if data is None:
            return found
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found.extend(metric.data.data_points)  # type: ignore[arg-type]
        return found


@pytest.fixture
def otel() -> Iterator[Telemetered]:
    recorded = Telemetered()
    yield recorded
    gc.collect()
    assert not recorded.open_spans.open, "a span was left open"
    recorded.tracer_provider.shutdown()
    recorded.meter_provider.shutdown()


@pytest.fixture
async def orq(server: FakeOrqServer, otel: Telemetered) -> AsyncIterator[AsyncOrq]:
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        retries=FAST_RETRIES,
        telemetry=otel.settings(),
    ) as client:
        yield client


def _stream(*texts: str, usage: dict[str, int] | None = USAGE) -> list[bytes]:
    last = len(texts) - 1
    return [
        sse_frame(
            completion_chunk(
                text,
                id="cmpl-s",
                model="openai/gpt-x-0613",
                finish_reason="stop" if i == last else None,
                usage=usage if i == last else None,
            )
        )
        for i, text in enumerate(texts)
    ] + [sse_frame("[DONE]")]


# -- spans --------------------------------------------------------------------


async def test_completion_span_follows_the_genai_conventions(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(
        FakeResponse.json(
            completion_chunk(
                "hi there",
                id="cmpl-1",
                model="openai/gpt-x-0613",
                finish_reason="stop",
                usage=USAGE,
            )
        )
    )
    await orq.router.completions.create(
        model="openai/gpt-x",
        prompt=PROMPT,
        max_tokens=12,
        temperature=0.5,
        top_p=0.9,
        seed=42,
        stop=["\n", "END"],
        frequency_penalty=0.1,
        presence_penalty=0.2,
        n=2,
    )

    span = otel.span()
    assert span.name == "text_completion openai/gpt-x"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    assert dict(span.attributes or {}) == {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.provider.name": "orq",
        "gen_ai.system": "orq",
        "gen_ai.request.model": "openai/gpt-x",
        "gen_ai.request.max_tokens": 12,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.seed": 42,
        "gen_ai.request.stop_sequences": ("\n", "END"),
        "gen_ai.request.frequency_penalty": 0.1,
        "gen_ai.request.presence_penalty": 0.2,
        "gen_ai.request.choice.count": 2,
        "gen_ai.response.id": "cmpl-1",
        "gen_ai.response.model": "openai/gpt-x-0613",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.usage.input_tokens": 7,
        "gen_ai.usage.output_tokens": 3,
        "server.address": "127.0.0.1",
        "server.port": server.port,
    }
    assert not span.events


async def test_stream_span_ends_when_the_stream_ends(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.events_(_stream("a", "b", "c")))
    stream = await orq.router.completions.create(
        model="openai/gpt-x", prompt=PROMPT, stream=True, stop="\n"
    )
    await stream.__anext__()
    assert not otel.exporter.get_finished_spans()
    async for _ in stream:
        pass

    span = otel.span()
    attributes = span.attributes or {}
    assert span.name == "text_completion openai/gpt-x"
    assert attributes["gen_ai.request.stop_sequences"] == ("\n",)
    assert attributes["gen_ai.response.id"] == "cmpl-s"
    assert attributes["gen_ai.response.model"] == "openai/gpt-x-0613"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 7
    assert attributes["gen_ai.usage.output_tokens"] == 3
    assert "error.type" not in attributes
    assert span.status.status_code is StatusCode.UNSET


async def test_stream_without_done_ends_its_span_at_the_end_of_the_body(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.events_(_stream("a", "b")[:-1]))
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    assert await stream.text() == "ab"

    assert (otel.span().attributes or {})["gen_ai.response.finish_reasons"] == ("stop",)


async def test_stream_of_several_choices_records_each_finish_reason(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(
        FakeResponse.events_(
            [
                sse_frame(completion_chunk("x", index=0, finish_reason="stop")),
                sse_frame(completion_chunk("y", index=1, finish_reason="length")),
                sse_frame("[DONE]"),
            ]
        )
    )
    stream = await orq.router.completions.create(
        model="m", prompt=PROMPT, stream=True, n=2
    )
    await stream.text()

    attributes = otel.span().attributes or {}
    assert attributes["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert attributes["gen_ai.request.choice.count"] == 2


async def test_http_error_ends_the_span_with_error_type(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.error(400, "bad prompt"))
    with pytest.raises(BadRequestError):
        await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)

    span = otel.span()
    assert (span.attributes or {})["error.type"] == "orq_async.BadRequestError"
    assert span.status.status_code is StatusCode.ERROR
    assert "bad prompt" in (span.status.description or "")
    (point,) = otel.points("gen_ai.client.operation.duration")
    assert (point.attributes or {})["error.type"] == "orq_async.BadRequestError"


async def test_in_band_stream_error_ends_the_span_with_error_type(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    error = {"error": {"message": "overloaded", "type": "server_error"}}
    server.enqueue(
        FakeResponse.events_(
            [_stream("a", "b")[0], sse_frame(error, event="error")], then="hang"
        )
    )
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    with pytest.raises(StreamAPIError):
        async for _ in stream:
            pass

    span = otel.span()
    attributes = span.attributes or {}
    assert attributes["error.type"] == "orq_async.StreamAPIError"
    assert attributes["gen_ai.response.id"] == "cmpl-s"
    assert span.status.status_code is StatusCode.ERROR
    assert not otel.points("gen_ai.client.token.usage")


async def test_retries_are_events_of_the_one_span(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(
        FakeResponse.error(429, "slow down", headers={"retry-after-ms": "10"}),
        FakeResponse.error(503, "busy", headers={"retry-after-ms": "10"}),
        FakeResponse.events_(_stream("ok")),
    )
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    assert await stream.text() == "ok"

    span = otel.span()
    assert [e.name for e in span.events] == ["orq.retry", "orq.retry"]
    first, second = (dict(e.attributes or {}) for e in span.events)
    assert first == {
        "orq.retry.attempt": 2,
        "orq.retry.delay": pytest.approx(0.01),
        "error.type": "orq_async.RateLimitError",
    }
    assert second["orq.retry.attempt"] == 3
    assert second["error.type"] == "orq_async.InternalServerError"
    assert "error.type" not in (span.attributes or {})
    # Every attempt carried the one span's trace context.
    parents = {r.headers["traceparent"] for r in server.requests}
    assert len(parents) == 1


async def test_stream_retried_before_its_first_chunk_keeps_one_span(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(
        FakeResponse.events_([], then="abort"),
        FakeResponse.events_(_stream("ok")),
    )
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    assert await stream.text() == "ok"

    (event,) = otel.span().events
    assert event.name == "orq.retry"
    assert str((event.attributes or {})["error.type"]).startswith("orq_async.")


async def test_closing_a_stream_early_ends_its_span_without_error(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.events_(_stream("a", "b"), then="hang"))
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    async with stream:
        await stream.__anext__()

    span = otel.span()
    attributes = span.attributes or {}
    assert "error.type" not in attributes
    assert attributes["gen_ai.response.id"] == "cmpl-s"
    assert span.status.status_code is StatusCode.UNSET


async def test_a_dropped_stream_ends_its_span(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.events_(_stream("a", "b"), then="hang"))
    async for _ in await orq.router.completions.create(
        model="m", prompt=PROMPT, stream=True
    ):
        break
    gc.collect()

    assert otel.span().end_time is not None


async def test_closing_the_client_ends_an_open_stream_span(
    server: FakeOrqServer, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.events_(_stream("a", "b"), then="hang"))
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, telemetry=otel.settings()
    ) as client:
        stream = await client.router.completions.create(
            model="m", prompt=PROMPT, stream=True
        )
        await stream.__anext__()

    assert otel.span().end_time is not None


async def test_cancelling_a_stream_read_ends_the_span_with_error_type(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.events_(_stream("a", "b")[:1], then="hang"))
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.2):
            async for _ in stream:
                pass

    attributes = otel.span().attributes or {}
    assert attributes["error.type"] == "asyncio.exceptions.CancelledError"


async def test_cancelling_a_call_before_its_response_ends_the_span(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.completion("late", delay=5))
    with pytest.raises(TimeoutError):
        with anyio.fail_after(0.2):
            await orq.router.completions.create(model="m", prompt=PROMPT)

    attributes = otel.span().attributes or {}
    assert attributes["error.type"] == "asyncio.exceptions.CancelledError"


# -- metrics --------------------------------------------------------------------


async def test_metrics_record_duration_tokens_and_time_to_first_chunk(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(
        FakeResponse.events_(_stream("a", "b"), event_delay=0.05),
        FakeResponse.json(
            completion_chunk("x", model="openai/gpt-x-0613", usage=USAGE)
        ),
    )
    stream = await orq.router.completions.create(
        model="openai/gpt-x", prompt=PROMPT, stream=True
    )
    await stream.text()
    await orq.router.completions.create(model="openai/gpt-x", prompt=PROMPT)

    expected = {
        "gen_ai.operation.name": "text_completion",
        "gen_ai.provider.name": "orq",
        "gen_ai.request.model": "openai/gpt-x",
        "gen_ai.response.model": "openai/gpt-x-0613",
        "server.address": "127.0.0.1",
        "server.port": server.port,
    }
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert dict(duration.attributes or {}) == expected
    assert duration.count == 2
    assert 0.05 <= duration.sum < 5
    (first_chunk,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert dict(first_chunk.attributes or {}) == expected
    assert first_chunk.count == 1  # streams only
    assert first_chunk.sum < duration.sum
    tokens = {
        (p.attributes or {})["gen_ai.token.type"]: (p.count, p.sum)
        for p in otel.points("gen_ai.client.token.usage")
    }
    assert tokens == {"input": (2, 14), "output": (2, 6)}


# -- propagation -----------------------------------------------------------------


async def test_traceparent_names_the_call_span_under_the_current_span(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler") as parent:
        await orq.router.completions.create(model="m", prompt=PROMPT)

    call = next(
        s for s in otel.exporter.get_finished_spans() if s.name.startswith("text_")
    )
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.context is not None
    version, trace_id, span_id, _flags = server.last_request.headers[
        "traceparent"
    ].split("-")
    assert version == "00"
    assert int(trace_id, 16) == call.context.trace_id
    assert int(span_id, 16) == call.context.span_id


async def test_propagation_can_be_turned_off(
    server: FakeOrqServer, otel: Telemetered
) -> None:
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        telemetry=otel.settings(propagate=False),
    ) as client:
        await client.router.completions.create(model="m", prompt=PROMPT)

    assert "traceparent" not in server.last_request.headers
    assert otel.span().name == "text_completion m"


async def test_no_telemetry_no_span_and_no_traceparent(
    server: FakeOrqServer, client: AsyncOrq, otel: Telemetered
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with tracer.start_as_current_span("handler"):
        await client.router.completions.create(model="m", prompt=PROMPT)

    assert "traceparent" not in server.last_request.headers
    assert [s.name for s in otel.exporter.get_finished_spans()] == ["handler"]


# -- content ---------------------------------------------------------------------


async def test_prompt_and_completion_are_not_recorded_by_default(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(FakeResponse.events_(_stream("secret ", "answer")))
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    await stream.text()

    span = otel.span()
    recorded = json.dumps(dict(span.attributes or {})) + repr(span.events)
    assert PROMPT not in recorded
    assert "answer" not in recorded


async def test_content_is_recorded_when_opted_in(
    server: FakeOrqServer, otel: Telemetered
) -> None:
    server.enqueue(
        FakeResponse.events_(_stream("secret ", "answer")),
        FakeResponse.json(completion_chunk("whole", finish_reason="length")),
    )
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        telemetry=otel.settings(capture_content=True),
    ) as client:
        stream = await client.router.completions.create(
            model="m", prompt=PROMPT, stream=True
        )
        await stream.text()
        await client.router.completions.create(model="m", prompt=["one", "two"])

    streamed, whole = otel.exporter.get_finished_spans()
    attributes = streamed.attributes or {}
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "secret answer"}],
            "finish_reason": "stop",
        }
    ]
    attributes = whole.attributes or {}
    inputs = json.loads(str(attributes["gen_ai.input.messages"]))
    assert [m["parts"][0]["content"] for m in inputs] == ["one", "two"]
    (output,) = json.loads(str(attributes["gen_ai.output.messages"]))
    assert output["parts"] == [{"type": "text", "content": "whole"}]
    assert output["finish_reason"] == "length"


async def test_content_capture_follows_the_genai_environment_switch(
    server: FakeOrqServer, otel: Telemetered, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true")
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, telemetry=otel.settings()
    ) as client:
        await client.router.completions.create(model="m", prompt=[[1, 2, 3]])
        await client.router.completions.create(model="m", prompt=PROMPT)

    tokens, text = otel.exporter.get_finished_spans()
    # Token-id prompts are not text: not recorded.
    assert "gen_ai.input.messages" not in (tokens.attributes or {})
    assert PROMPT in str((text.attributes or {})["gen_ai.input.messages"])


# -- the option --------------------------------------------------------------------


async def test_blocking_client_takes_the_telemetry_option(
    threaded_server: FakeOrqServer, otel: Telemetered
) -> None:
    with Orq(
        api_key=API_KEY, server_url=threaded_server.url, telemetry=otel.settings()
    ) as client:
        client.router.completions.create(model="m", prompt=PROMPT)

    assert otel.span().name == "text_completion m"


def test_telemetry_option_is_checked() -> None:
    with pytest.raises(InvalidParameterTypeError, match="telemetry"):
        AsyncOrq(api_key=API_KEY, telemetry="yes")  # type: ignore[arg-type]


def test_works_without_opentelemetry_installed() -> None:
    script = """
import sys
import orq_async
orq_async.AsyncOrq(api_key="k")
assert not [m for m in sys.modules if m.startswith("opentelemetry")]
sys.modules["opentelemetry"] = None  # as if not installed
try:
    orq_async.AsyncOrq(api_key="k", telemetry=True)
except orq_async.InvalidParameterError as exc:
    print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "pip install 'orq-async[otel]'" in result.stdout


async def test_the_call_span_is_current_while_the_request_is_sent(
    server: FakeOrqServer, otel: Telemetered
) -> None:
    seen: list[int] = []

    async def on_request_start(*_: object) -> None:
        seen.append(trace.get_current_span().get_span_context().span_id)

    http_layer = aiohttp.TraceConfig()
    http_layer.on_request_start.append(on_request_start)
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        telemetry=otel.settings(),
        trace_configs=[http_layer],
    ) as client:
        await client.router.completions.create(model="m", prompt=PROMPT)

    call = otel.span()
    assert call.context is not None
    assert seen == [call.context.span_id]
    assert not trace.get_current_span().get_span_context().is_valid


async def test_cancelling_while_a_body_is_read_ends_the_span(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(
        FakeResponse.events_(
            [b'{"id": "cmpl-1", '], content_type="application/json", then="hang"
        )
    )
    with pytest.raises(TimeoutError), anyio.fail_after(0.2):
        await orq.router.completions.create(model="m", prompt=PROMPT)

    attributes = otel.span().attributes or {}
    assert attributes["error.type"] == "asyncio.exceptions.CancelledError"


def test_blocking_client_spans_join_the_callers_trace(
    threaded_server: FakeOrqServer, otel: Telemetered
) -> None:
    tracer = otel.tracer_provider.get_tracer("app")
    with (
        Orq(
            api_key=API_KEY, server_url=threaded_server.url, telemetry=otel.settings()
        ) as client,
        tracer.start_as_current_span("handler") as parent,
    ):
        client.router.completions.create(model="m", prompt=PROMPT)

    call = next(
        s for s in otel.exporter.get_finished_spans() if s.name.startswith("text_")
    )
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id


def test_a_call_span_dropped_before_it_ended_is_ended_as_abandoned(
    otel: Telemetered,
) -> None:
    instrumentation = instrument(otel.settings(), "https://api.orq.ai")
    assert instrumentation is not None
    headers: dict[str, str] = {}
    call_span = instrumentation.start({"model": "m", "prompt": PROMPT}, headers)
    assert headers["traceparent"].startswith("00-")

    del call_span
    gc.collect()

    attributes = otel.span().attributes or {}
    assert attributes["error.type"] == "abandoned"
    assert attributes["server.address"] == "api.orq.ai"
    assert attributes["server.port"] == 443


async def test_a_stream_failing_before_its_first_chunk_ends_its_span_once(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue(*[FakeResponse.events_([], then="abort") for _ in range(3)])
    stream = await orq.router.completions.create(model="m", prompt=PROMPT, stream=True)
    with pytest.raises(OrqError) as caught:
        await stream.text()

    span = otel.span()
    assert [e.name for e in span.events] == ["orq.retry", "orq.retry"]
    assert (span.attributes or {})["error.type"] == error_type(caught.value)
    assert span.status.status_code is StatusCode.ERROR


async def test_telemetry_with_only_the_api_installed_sends_nothing(
    server: FakeOrqServer,
) -> None:
    # No SDK configured: the global providers are the API's no-op ones.
    async with AsyncOrq(
        api_key=API_KEY, server_url=server.url, telemetry=True
    ) as client:
        stream = await client.router.completions.create(
            model="m", prompt=PROMPT, stream=True
        )
        assert await stream.text()

    assert "traceparent" not in server.last_request.headers


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(ValueError("x"), "ValueError", id="builtin"),
        pytest.param(
            asyncio.CancelledError(), "asyncio.exceptions.CancelledError", id="asyncio"
        ),
        pytest.param(
            StreamAPIError("boom"), "orq_async.StreamAPIError", id="orq_async"
        ),
    ],
)
def test_error_type_is_the_qualified_class_name(
    error: BaseException, expected: str
) -> None:
    assert error_type(error) == expected


# -- chat completions ------------------------------------------------------------

CHAT_MESSAGES: list[dict[str, Any]] = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": [{"type": "text", "text": PROMPT}]},
]


async def test_a_chat_span_is_named_for_the_chat_operation(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue_chat(
        FakeResponse.json(
            {
                "id": "chat-1",
                "model": "openai/gpt-x-0613",
                "choices": [
                    {"index": 0, "message": {"content": "hi"}, "finish_reason": "stop"}
                ],
                "usage": USAGE,
            }
        )
    )
    await orq.router.chat.completions.create(
        messages=CHAT_MESSAGES, model="openai/gpt-x", max_tokens=12, temperature=0.5
    )

    span = otel.span()
    attributes = dict(span.attributes or {})
    assert span.name == "chat openai/gpt-x"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.max_tokens"] == 12
    assert attributes["gen_ai.request.temperature"] == 0.5
    assert attributes["gen_ai.response.id"] == "chat-1"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.usage.input_tokens"] == 7
    assert "gen_ai.input.messages" not in attributes
    (duration,) = otel.points("gen_ai.client.operation.duration")
    assert (duration.attributes or {})["gen_ai.operation.name"] == "chat"


async def test_a_chat_stream_span_records_finish_reasons_and_usage(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue_chat(
        FakeResponse.events_(
            [
                sse_frame(chat_chunk("a", index=0, model="openai/gpt-x-0613")),
                sse_frame(chat_chunk("b", index=1, finish_reason="length")),
                sse_frame(chat_chunk(index=0, finish_reason="stop")),
                sse_frame(chat_chunk(choices=[], usage=USAGE)),
                sse_frame("[DONE]"),
            ]
        )
    )
    stream = await orq.router.chat.completions.create(
        messages=CHAT_MESSAGES, model="openai/gpt-x", stream=True, n=2
    )
    await stream.final_completion()

    span = otel.span()
    attributes = span.attributes or {}
    assert span.name == "chat openai/gpt-x"
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.response.model"] == "openai/gpt-x-0613"
    assert attributes["gen_ai.response.finish_reasons"] == ("stop", "length")
    assert attributes["gen_ai.usage.output_tokens"] == 3
    (first_chunk,) = otel.points("gen_ai.client.operation.time_to_first_chunk")
    assert (first_chunk.attributes or {})["gen_ai.operation.name"] == "chat"


async def test_chat_content_is_recorded_when_opted_in(
    server: FakeOrqServer, otel: Telemetered
) -> None:
    server.enqueue_chat(
        FakeResponse.chat_stream(["secret ", "answer"]),
        FakeResponse.chat_completion("whole"),
    )
    async with AsyncOrq(
        api_key=API_KEY,
        server_url=server.url,
        telemetry=otel.settings(capture_content=True),
    ) as client:
        stream = await client.router.chat.completions.create(
            messages=CHAT_MESSAGES, model="m", stream=True
        )
        await stream.final_completion()
        await client.router.chat.completions.create(
            messages=[UserMessage(content=PROMPT)], model="m"
        )

    streamed, whole = otel.exporter.get_finished_spans()
    attributes = streamed.attributes or {}
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]},
    ]
    assert json.loads(str(attributes["gen_ai.output.messages"])) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "secret answer"}],
            "finish_reason": "stop",
        }
    ]
    attributes = whole.attributes or {}
    assert json.loads(str(attributes["gen_ai.input.messages"])) == [
        {"role": "user", "parts": [{"type": "text", "content": PROMPT}]}
    ]
    (output,) = json.loads(str(attributes["gen_ai.output.messages"]))
    assert output["parts"] == [{"type": "text", "content": "whole"}]


async def test_a_failed_chat_stream_ends_its_span_with_the_error(
    server: FakeOrqServer, orq: AsyncOrq, otel: Telemetered
) -> None:
    server.enqueue_chat(
        FakeResponse.chat_stream(["a", "b"], finish_reason=None, done=False)
    )
    stream = await orq.router.chat.completions.create(
        messages=CHAT_MESSAGES, model="m", stream=True
    )
    with pytest.raises(IncompleteStreamError):
        await stream.final_completion()

    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert (span.attributes or {})["error.type"] == "orq_async.IncompleteStreamError"
