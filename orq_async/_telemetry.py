"""OpenTelemetry for completions and chat, after the GenAI semantic conventions.

One CLIENT span per ``create()`` call, named ``text_completion {model}`` (or
``chat {model}``; ``gen_ai.operation.name`` says which), from
the call's start to its end: the answer read, the stream ended, closed,
dropped or failed. Retries stay inside that span as ``orq.retry`` events (the
conventions have a GenAI span cover the logical operation with all its
retries; per-attempt HTTP spans are the HTTP instrumentation's job). Metrics:
``gen_ai.client.operation.duration``, ``gen_ai.client.token.usage`` and, for
streams, ``gen_ai.client.operation.time_to_first_chunk``. The W3C trace
context of the span goes into the request headers through the configured
propagator.

Contract: ``opentelemetry`` is imported only when a client is built with
telemetry on, so the package works without the ``otel`` extra. A stream calls
in here at its first chunk, at a ``finish_reason`` and at its end, never for
the other chunks; with telemetry off nothing here runs at all.

Conventions: https://opentelemetry.io/docs/specs/semconv/gen-ai/
"""

from __future__ import annotations

import dataclasses
import os
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, cast, final

import msgspec

from ._exceptions import InvalidParameterError, InvalidParameterTypeError
from ._version import __version__

if TYPE_CHECKING:
    from contextvars import Token

    from opentelemetry.context import Context
    from opentelemetry.metrics import Histogram, Meter, MeterProvider
    from opentelemetry.trace import Span, StatusCode, TracerProvider
    from opentelemetry.util.types import AttributeValue

    from ._chat_wire import ChatChoice, ChatCompletion, ChatCompletionChunk
    from ._wire import Completion, CompletionChoice, CompletionChunk, Usage

__all__ = ["CallSpan", "Instrumentation", "Telemetry", "instrument"]

OPERATION: Final = "text_completion"
#: ``gen_ai.provider.name``: the service the client talks to (the router picks
#: the model's provider; ``gen_ai.request.model`` names it).
PROVIDER: Final = "orq"
#: The switch the OpenTelemetry GenAI instrumentations share for recording
#: prompts and completions.
CAPTURE_CONTENT_ENV: Final = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
RETRY_EVENT: Final = "orq.retry"

# Advisory bucket boundaries from the conventions.
_DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48,
    40.96, 81.92,
)  # fmt: skip
_FIRST_CHUNK_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
    5.0, 7.5, 10.0,
)  # fmt: skip
_TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
    16777216, 67108864,
)  # fmt: skip

#: Request body fields recorded as span attributes, by attribute name.
_REQUEST_ATTRIBUTES: Final = (
    ("max_tokens", "gen_ai.request.max_tokens"),
    ("temperature", "gen_ai.request.temperature"),
    ("top_p", "gen_ai.request.top_p"),
    ("seed", "gen_ai.request.seed"),
    ("frequency_penalty", "gen_ai.request.frequency_penalty"),
    ("presence_penalty", "gen_ai.request.presence_penalty"),
)

_ENCODER: Final = msgspec.json.Encoder()


@final
@dataclasses.dataclass(frozen=True, slots=True)
class Telemetry:
    """OpenTelemetry settings for ``AsyncOrq(telemetry=...)``.

    ``AsyncOrq(telemetry=True)`` is ``Telemetry()``: the global tracer and
    meter providers, content not recorded (unless the environment says so),
    trace context propagated.

    :param tracer_provider: where spans go; default the global provider.
    :param meter_provider: where metrics go; default the global provider.
    :param capture_content: record the prompt and the completion text on the
        span (``gen_ai.input.messages``, ``gen_ai.output.messages``). ``None``
        reads ``OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true``.
    :param propagate: inject the span's context (W3C ``traceparent``) into
        the request headers with the global propagator.
    """

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    capture_content: bool | None = None
    propagate: bool = True


def instrument(setting: object, server_url: str) -> Instrumentation | None:
    """The client's instrumentation for its ``telemetry`` option, or None.

    :raises InvalidParameterTypeError: ``setting`` is not a bool, None or
        :class:`Telemetry`.
    :raises InvalidParameterError: OpenTelemetry is not installed.
    """
    if setting is None or setting is False:
        return None
    if setting is True:
        setting = Telemetry()
    if not isinstance(setting, Telemetry):
        raise InvalidParameterTypeError(
            "telemetry", "expected orq_async.Telemetry, True or None"
        )
    return Instrumentation(setting, server_url)


class Instrumentation:
    """A client's tracer, meters and fixed attributes; starts call spans.

    :raises InvalidParameterError: OpenTelemetry is not installed.
    """

    __slots__ = (
        "_base",
        "_client_kind",
        "_tracer",
        "attach",
        "capture_content",
        "detach",
        "duration",
        "error_status",
        "first_chunk",
        "inject",
        "set_in_context",
        "tokens",
    )

    def __init__(self, settings: Telemetry, server_url: str) -> None:
        try:
            from opentelemetry import context, metrics, propagate, trace
        except ImportError:
            raise InvalidParameterError(
                "telemetry",
                "OpenTelemetry is not installed: pip install 'orq-async[otel]'",
            ) from None
        self._tracer = trace.get_tracer(
            "orq_async", __version__, tracer_provider=settings.tracer_provider
        )
        meter = metrics.get_meter(
            "orq_async", __version__, meter_provider=settings.meter_provider
        )
        self.duration: Histogram = _histogram(
            meter,
            "gen_ai.client.operation.duration",
            "s",
            "GenAI operation duration.",
            _DURATION_BUCKETS,
        )
        self.tokens: Histogram = _histogram(
            meter,
            "gen_ai.client.token.usage",
            "{token}",
            "Number of input and output tokens used.",
            _TOKEN_BUCKETS,
        )
        self.first_chunk: Histogram = _histogram(
            meter,
            "gen_ai.client.operation.time_to_first_chunk",
            "s",
            "Time from the request to the first chunk of the response stream.",
            _FIRST_CHUNK_BUCKETS,
        )
        capture = settings.capture_content
        if capture is None:
            capture = os.environ.get(CAPTURE_CONTENT_ENV, "").strip().lower() == "true"
        self.capture_content: bool = capture
        self.inject: Callable[..., None] | None = (
            propagate.inject if settings.propagate else None
        )
        self.set_in_context: Callable[[Span], Context] = trace.set_span_in_context
        self.attach: Callable[[Context], Token[Context]] = context.attach
        self.detach: Callable[[Token[Context]], None] = context.detach
        self.error_status: StatusCode = trace.StatusCode.ERROR
        self._client_kind = trace.SpanKind.CLIENT
        parts = urllib.parse.urlsplit(server_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self._base: dict[str, AttributeValue] = {
            "gen_ai.operation.name": OPERATION,
            "gen_ai.provider.name": PROVIDER,
            "server.address": parts.hostname or "",
            "server.port": port,
        }

    def start(
        self,
        body: Mapping[str, object],
        headers: dict[str, str],
        *,
        operation: str = OPERATION,
    ) -> CallSpan:
        """Start the span of a call whose (validated) body fields are ``body``;
        inject its context into ``headers``.

        :param operation: ``gen_ai.operation.name``: ``text_completion`` or ``chat``.
        """
        model = str(body["model"])
        metric_attributes = {
            **self._base,
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": model,
        }
        attributes: dict[str, AttributeValue] = {
            **metric_attributes,
            # The attribute the conventions used before gen_ai.provider.name.
            "gen_ai.system": PROVIDER,
        }
        for field, name in _REQUEST_ATTRIBUTES:
            value = body.get(field)
            if isinstance(value, int | float):
                attributes[name] = value
        stop = body.get("stop")
        if stop is not None:
            attributes["gen_ai.request.stop_sequences"] = (
                [stop] if isinstance(stop, str) else list(stop)  # type: ignore[call-overload]
            )
        n = body.get("n")
        if isinstance(n, int | float) and n != 1:
            attributes["gen_ai.request.choice.count"] = n
        if self.capture_content:
            messages = (
                _input_messages(body.get("prompt"))
                if operation == OPERATION
                else _chat_input_messages(body.get("messages"))
            )
            if messages is not None:
                attributes["gen_ai.input.messages"] = messages
        span = self._tracer.start_span(
            f"{operation} {model}", kind=self._client_kind, attributes=attributes
        )
        if self.inject is not None:
            self.inject(headers, context=self.set_in_context(span))
        return CallSpan(self, span, metric_attributes)


class CallSpan:
    """The span and the numbers of one call; every ``end_*`` ends it once."""

    __slots__ = (
        "_inst",
        "_metric_attributes",
        "_span",
        "_started",
        "ended",
        "finish_reasons",
        "response_id",
        "response_model",
    )

    def __init__(
        self,
        inst: Instrumentation,
        span: Span,
        metric_attributes: dict[str, AttributeValue],
    ) -> None:
        self._inst = inst
        self._span = span
        self._metric_attributes = metric_attributes
        self._started = time.monotonic()
        self.ended: bool = False
        #: Each choice's finish reason, by choice index (a stream's last wins).
        self.finish_reasons: dict[int, str] = {}
        self.response_id: str | None = None
        self.response_model: str | None = None

    def activate(self) -> Token[Context]:
        """Make the span current; :meth:`deactivate` with the token undoes it."""
        inst = self._inst
        return inst.attach(inst.set_in_context(self._span))

    def deactivate(self, token: Token[Context]) -> None:
        self._inst.detach(token)

    def retry(self, attempt: int, delay: float, error: BaseException) -> None:
        """Attempt ``attempt`` follows in ``delay`` seconds, after ``error``."""
        self._span.add_event(
            RETRY_EVENT,
            {
                "orq.retry.attempt": attempt,
                "orq.retry.delay": delay,
                "error.type": error_type(error),
            },
        )

    def first_chunk(self, chunk: CompletionChunk | ChatCompletionChunk) -> None:
        """The first chunk of a stream is about to reach the caller."""
        self.response_id = chunk.id
        self.response_model = chunk.model or None
        self._inst.first_chunk.record(
            time.monotonic() - self._started, self._response_attributes()
        )

    def end_completion(self, completion: Completion | ChatCompletion) -> None:
        """A non-streamed call returned ``completion``."""
        self.response_id = completion.id
        self.response_model = completion.model or None
        self.finish_reasons = {
            int(c.index): c.finish_reason
            for c in completion.choices
            if c.finish_reason is not None
        }
        output = None
        if self._inst.capture_content:
            output = _output_messages(
                [(_choice_text(c), c.finish_reason) for c in completion.choices]
            )
        self._end(completion.usage, output, None)

    def end_stream(
        self, usage: Usage | None, text: list[str], error: BaseException | None
    ) -> None:
        """A stream ended, was closed or dropped (``error`` None), or failed.

        :param text: the first choice's text pieces received.
        """
        if self.ended:
            return
        output = None
        if self._inst.capture_content:
            reason = self.finish_reasons.get(0)
            output = _output_messages([("".join(text), reason)])
        self._end(usage, output, None if error is None else _failure(error))

    def fail(self, error: BaseException) -> None:
        """The call failed (or was cancelled) with ``error``."""
        if not self.ended:
            self._end(None, None, _failure(error))

    def _response_attributes(self) -> dict[str, AttributeValue]:
        if self.response_model is None:
            return self._metric_attributes
        return {**self._metric_attributes, "gen_ai.response.model": self.response_model}

    def _end(
        self,
        usage: Usage | None,
        output: str | None,
        failure: tuple[str, str] | None,
    ) -> None:
        """End the span and record the metrics; ``failure``: (error.type, message)."""
        self.ended = True
        span = self._span
        inst = self._inst
        attributes: dict[str, AttributeValue] = {}
        if self.response_id:
            attributes["gen_ai.response.id"] = self.response_id
        if self.response_model is not None:
            attributes["gen_ai.response.model"] = self.response_model
        if self.finish_reasons:
            reasons = self.finish_reasons
            attributes["gen_ai.response.finish_reasons"] = [
                reasons[i] for i in sorted(reasons)
            ]
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if output is not None:
            attributes["gen_ai.output.messages"] = output
        metric_attributes = self._response_attributes()
        if failure is not None:
            kind, message = failure
            attributes["error.type"] = kind
            metric_attributes = {**metric_attributes, "error.type": kind}
            span.set_status(inst.error_status, message)
        span.set_attributes(attributes)
        span.end()
        inst.duration.record(time.monotonic() - self._started, metric_attributes)
        if usage is not None:
            record = inst.tokens.record
            record(
                usage.prompt_tokens, {**metric_attributes, "gen_ai.token.type": "input"}
            )
            record(
                usage.completion_tokens,
                {**metric_attributes, "gen_ai.token.type": "output"},
            )

    def __del__(self) -> None:
        # A backstop: a call dropped on a path that reported nothing still
        # ends its span rather than leaving it open.
        if not getattr(self, "ended", True):
            self._end(None, None, ("abandoned", "the call was dropped before it ended"))


def _failure(error: BaseException) -> tuple[str, str]:
    """``error.type`` and the status description for ``error``."""
    kind = error_type(error)
    return kind, f"{kind}: {error}" if str(error) else kind


def error_type(error: BaseException) -> str:
    """``error.type``: the exception's fully qualified class name."""
    cls = type(error)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    if module.startswith("orq_async."):
        module = "orq_async"
    return f"{module}.{cls.__qualname__}"


def _input_messages(prompt: object) -> str | None:
    """``gen_ai.input.messages`` for a text prompt (token-id prompts: None)."""
    if isinstance(prompt, str):
        prompts: Sequence[object] = [prompt]
    elif isinstance(prompt, Sequence) and all(isinstance(p, str) for p in prompt):
        prompts = prompt
    else:
        return None
    return _ENCODER.encode(
        [{"role": "user", "parts": [{"type": "text", "content": p}]} for p in prompts]
    ).decode()


def _chat_input_messages(messages: object) -> str | None:
    """``gen_ai.input.messages`` for chat messages (dicts or structs): each
    message's role and its text (a string, or its text parts)."""
    if not isinstance(messages, Sequence):
        return None
    out = []
    for message in messages:
        plain = (
            message if isinstance(message, Mapping) else msgspec.to_builtins(message)
        )
        if not isinstance(plain, Mapping):
            return None
        content = plain.get("content")
        if isinstance(content, str):
            texts = [content]
        elif isinstance(content, Sequence):
            texts = [
                p["text"]
                for p in content
                if isinstance(p, Mapping) and isinstance(p.get("text"), str)
            ]
        else:
            texts = []
        out.append(
            {
                "role": plain.get("role"),
                "parts": [{"type": "text", "content": t} for t in texts],
            }
        )
    return _ENCODER.encode(out).decode()


def _choice_text(choice: CompletionChoice | ChatChoice) -> str:
    """A completion choice's text, or a chat choice's message content."""
    message = getattr(choice, "message", None)
    if message is None:
        return cast("CompletionChoice", choice).text
    text: str = message.content or ""
    return text


def _output_messages(choices: Sequence[tuple[str, str | None]]) -> str:
    """``gen_ai.output.messages``: one message per choice."""
    return _ENCODER.encode(
        [
            {
                "role": "assistant",
                "parts": [{"type": "text", "content": text}],
                "finish_reason": reason,
            }
            for text, reason in choices
        ]
    ).decode()


def _histogram(
    meter: Meter,
    name: str,
    unit: str,
    description: str,
    buckets: Sequence[float],
) -> Histogram:
    try:
        return meter.create_histogram(
            name,
            unit=unit,
            description=description,
            explicit_bucket_boundaries_advisory=buckets,
        )
    except (
        TypeError
    ):  # pragma: no cover - opentelemetry-api < 1.23: no advisory buckets
        return meter.create_histogram(name, unit=unit, description=description)
