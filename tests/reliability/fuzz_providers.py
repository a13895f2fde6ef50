"""The call shapes of the differential test: for each, a real SDK client whose HTTP answers whatever
body the test generated, the recorded bodies to start from, the requests to make and how to read them.

Each client is built once and answers from a shared `Answer`, so a test example only swaps the body.
`run()` makes the call (sync or async alike) and returns what the user observes as plain comparable
data: the result's repr, every chunk of a stream, or the exception's type and message (with the chunks
that came before it).
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fuzz_bodies import Body, Seed, json_values, seed
from hypothesis import strategies as st

from replay import anthropic_httpx_module, openai_httpx_module


class Answer:
    """What the transport serves next, and the requests it received (method, url, body)."""

    def __init__(self) -> None:
        self.body: Body | None = None
        self.sent: list[tuple[str, str, bytes]] = []

    def respond(self, hx: Any, request: Any) -> Any:
        self.sent.append((request.method, str(request.url), bytes(request.read())))
        body = self.body
        assert body is not None
        return hx.Response(body.status, content=body.content, headers={"content-type": body.content_type})


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+|0x[0-9a-fA-F]{6,}")


def shown(value: Any) -> str:
    """A value as the user could observe it: its type and repr (object addresses left out)."""
    kind = type(value)
    read = getattr(value, "read", None)
    if kind.__name__ == "StreamingBody" and read is not None:  # botocore's body: its bytes
        value = read()
    elif isinstance(value, dict):
        return repr({k: shown(v) for k, v in value.items()})
    return _ADDRESS.sub("", f"{kind.__module__}.{kind.__qualname__}:{value!r}")


def raised(exc: BaseException) -> tuple[str, str]:
    return type(exc).__qualname__, _ADDRESS.sub("", str(exc))


async def _resolve(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


async def _drain(stream: Any, out: list[str]) -> None:
    if hasattr(stream, "__aiter__"):
        async for item in stream:
            out.append(shown(item))
    else:
        for item in stream:
            out.append(shown(item))


Call = Callable[[Any, dict[str, Any]], Any]


@dataclass
class Shape:
    """One provider call shape."""

    name: str
    provider: str
    """The llmtrace instrumentor to turn on."""
    seeds: list[Seed]
    requests: st.SearchStrategy[Request]
    client: Callable[[Answer], Any]
    call: Call
    kind: str = "plain"
    """``plain`` (one result), ``stream`` (iterate the result), ``dict_stream`` (Bedrock: iterate
    ``result["stream"]``), ``helper`` (anthropic's messages.stream() manager)."""
    per_request: bool = False
    """Traced on a method the SDK calls after checking the arguments (google-genai's per-request
    methods, cohere's methods under its per-client validators): a call rejected before sending has no
    span."""
    cases: int | None = None
    """Cases in the ``ci`` profile, when fewer than the profile's."""
    fresh_client: bool = False
    """A client per call: cohere binds its methods when a client is built, so one built before
    ``instrument()`` is never traced (a documented limit)."""
    answer: Answer = field(default_factory=Answer)
    _client: Any = None

    def get_client(self) -> Any:
        if self.fresh_client:
            return self.client(self.answer)
        if self._client is None:
            self._client = self.client(self.answer)
        return self._client


async def _observe(shape: Shape, kwargs: dict[str, Any], lazy: bool) -> tuple[Any, ...]:
    chunks: list[str] = []
    try:
        result = await _resolve(shape.call(shape.get_client(), lazily(kwargs) if lazy else dict(kwargs)))
        if shape.kind == "stream":
            await _drain(result, chunks)
            return ("stream", chunks)
        if shape.kind == "dict_stream":
            rest = {k: shown(v) for k, v in result.items() if k != "stream"}
            await _drain(result["stream"], chunks)
            return ("stream", rest, chunks)
        if shape.kind == "helper":
            if hasattr(result, "__aenter__"):
                async with result as stream:
                    await _drain(stream, chunks)
                    final = await stream.get_final_message()
            else:
                with result as stream:
                    await _drain(stream, chunks)
                    final = stream.get_final_message()
            return ("stream", chunks, shown(final))
        return ("returned", shown(result))
    except Exception as exc:
        return ("raised", chunks, *raised(exc))


_loop = asyncio.new_event_loop()


def run(shape: Shape, kwargs: dict[str, Any], lazy: bool = False) -> tuple[Any, ...]:
    """Make the call and read it as the user would; what they observed. With `lazy`, list arguments
    are passed as generators."""
    return _loop.run_until_complete(_observe(shape, kwargs, lazy))


# --- requests ------------------------------------------------------------------------------------

text = st.one_of(st.text(max_size=40), st.sampled_from(("", "😀 hi", "\x00", "x" * 5000)))


class _Wrong:
    """A request value of a type the API does not take."""

    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass(frozen=True)
class Request:
    """Generated call arguments; `well_typed` unless a value of a wrong type was put in."""

    kwargs: dict[str, Any]
    well_typed: bool


def _request(kwargs: dict[str, Any]) -> Request:
    wrong = {k for k, v in kwargs.items() if isinstance(v, _Wrong)}
    return Request({k: v.value if k in wrong else v for k, v in kwargs.items()}, not wrong)


def params(required: dict[str, Any], **optional: st.SearchStrategy[Any]) -> st.SearchStrategy[Request]:
    """Request kwargs: `required` strategies, plus any of `optional`: all valid, or (in about half the
    requests) each valid or of a wrong type."""
    valid = st.fixed_dictionaries(required, optional=optional)
    mixed = st.fixed_dictionaries(
        required, optional={k: st.one_of(v, json_values.map(_Wrong)) for k, v in optional.items()}
    )
    return st.one_of(valid, mixed).map(_request)


# Arguments a user may pass as any iterable: given as a generator, the SDK must still get every item.
_ITERABLE = ("messages", "input", "tools", "prompt", "contents")


def lazily(kwargs: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` with its list arguments turned into one-shot iterators."""
    return {k: iter(v) if k in _ITERABLE and isinstance(v, list) else v for k, v in kwargs.items()}


def chat_messages(roles: tuple[str, ...] = ("user", "system", "assistant")) -> st.SearchStrategy[Any]:
    message = st.fixed_dictionaries({"role": st.sampled_from(roles), "content": text})
    return st.lists(message, min_size=1, max_size=3)


numbers = st.one_of(st.floats(0, 2), st.integers(-1, 5000))
stops = st.one_of(text, st.lists(text, max_size=3))
tools = st.lists(
    st.fixed_dictionaries(
        {
            "type": st.just("function"),
            "function": st.fixed_dictionaries({"name": text, "parameters": st.just({})}),
        }
    ),
    max_size=2,
)


def _sdk_client(sdk: str, async_: bool) -> Callable[[Answer], Any]:
    """A real openai or anthropic client whose HTTP `answer` replies to."""
    http_module, name, base_url = _SDKS[sdk]

    def make(answer: Answer) -> Any:
        hx = http_module()
        transport = hx.MockTransport(lambda request: answer.respond(hx, request))
        http = (hx.AsyncClient if async_ else hx.Client)(transport=transport)
        cls = getattr(importlib.import_module(sdk), ("Async" if async_ else "") + name)
        return cls(api_key="test", base_url=base_url, max_retries=0, http_client=http)

    return make


_SDKS: dict[str, tuple[Callable[[], Any], str, str]] = {
    "openai": (openai_httpx_module, "OpenAI", "https://api.openai.com/v1"),
    "anthropic": (anthropic_httpx_module, "Anthropic", "https://api.anthropic.com"),
}


def httpx_client(factory: Callable[[Any, bool], Any], async_: bool) -> Callable[[Answer], Any]:
    """A client of an SDK built on plain httpx, from `factory(transport, is_async)`."""

    def make(answer: Answer) -> Any:
        import httpx

        return factory(httpx.MockTransport(lambda request: answer.respond(httpx, request)), async_)

    return make


def _openai_chat_requests(stream: bool) -> st.SearchStrategy[Request]:
    fixed: dict[str, Any] = {
        "model": st.sampled_from(("gpt-4o-mini", "gpt-4", "zzz-unknown")),
        "messages": chat_messages(),
    }
    if stream:
        fixed["stream"] = st.just(True)
    return params(
        fixed,
        temperature=numbers,
        top_p=numbers,
        max_tokens=numbers,
        max_completion_tokens=numbers,
        n=st.integers(1, 3),
        stop=stops,
        seed=st.integers(),
        tools=tools,
        response_format=st.sampled_from(({"type": "json_object"}, {"type": "text"})),
        service_tier=st.sampled_from(("auto", "default", "flex")),
        reasoning_effort=st.sampled_from(("low", "high")),
        **({"stream_options": st.just({"include_usage": True})} if stream else {}),
    )


_OPENAI_CHAT = [
    "openai/chat_nonstream_n2_multiple_choices.yaml",
    "openai/chat_nonstream_gpt-3.5_sdk1.12-and-1.99_gzip.yaml",
    "openai/chat_tool_calls_two_turns.yaml",
    "openai/chat_prompt_caching_cached_tokens.yaml",
    "openai/chat_reasoning_gpt-5-nano.yaml",
    "openai/chat_legacy_functions_function_call.yaml",
    "openai/chat_error_404_model_not_found.yaml",
]
_OPENAI_CHAT_STREAM = [
    "openai/chat_stream_gpt-4_include_usage.yaml",
    "openai/chat_stream_multiple_tool_calls.yaml",
    "openai/chat_stream_n2_multiple_choices.yaml",
    "openai/chat_stream_async_gpt-3.5_sdk1.14-and-1.99.yaml",
    "together/chat_stream_llama-3.3-70b_headers_stripped.yaml",
]
_ANTHROPIC = [
    "anthropic/messages_nonstream_claude-3-opus_sdk0.21.yaml",
    "anthropic/messages_nonstream_claude-sonnet-4-6_headers_stripped.yaml",
    "anthropic/messages_tool_use_claude-3-5-sonnet_sdk0.36.yaml",
    "anthropic/messages_thinking_claude-3-7-sonnet.yaml",
    "anthropic/messages_prompt_caching_write_then_read.yaml",
    "anthropic/messages_beta_structured_output_claude-sonnet-4-5_sdk0.74.yaml",
]
_ANTHROPIC_STREAM = [
    "anthropic/messages_stream_claude-3-haiku_sdk0.36.yaml",
    "anthropic/messages_stream_thinking_claude-3-7-sonnet.yaml",
    "anthropic/messages_stream_tool_use_sdk0.57.yaml",
]


def _seeds(paths: list[str]) -> list[Seed]:
    return [seed(p) for p in paths]


def _anthropic_requests(stream: bool, helper: bool = False) -> st.SearchStrategy[Request]:
    fixed: dict[str, Any] = {
        "model": st.sampled_from(("claude-3-haiku-20240307", "claude-haiku-4-5", "zzz")),
        "max_tokens": st.integers(1, 4096),
        "messages": chat_messages(("user", "assistant")),
    }
    if stream:
        fixed["stream"] = st.just(True)
    # messages.stream() takes no sampling parameters in anthropic 2.x
    sampling = {} if helper else {"temperature": numbers, "top_p": numbers, "top_k": st.integers(0, 100)}
    return params(
        fixed,
        **sampling,
        stop_sequences=st.lists(text, max_size=2),
        system=text,
        tools=st.lists(
            st.fixed_dictionaries({"name": text, "input_schema": st.just({"type": "object"})}), max_size=2
        ),
        output_config=st.fixed_dictionaries({}, optional={"effort": st.sampled_from(("low", "high"))}),
    )


def _helper_requests() -> st.SearchStrategy[Request]:
    return _anthropic_requests(stream=False, helper=True)


def _openai_shapes() -> list[Shape]:
    chat = _seeds(_OPENAI_CHAT)
    chat_stream = _seeds(_OPENAI_CHAT_STREAM)
    shapes = []
    for async_ in (False, True):
        suffix = "async" if async_ else "sync"
        shapes += [
            Shape(
                f"openai-chat-{suffix}",
                "openai",
                chat,
                _openai_chat_requests(False),
                _sdk_client("openai", async_),
                lambda c, kw: c.chat.completions.create(**kw),
            ),
            Shape(
                f"openai-chat-stream-{suffix}",
                "openai",
                chat_stream,
                _openai_chat_requests(True),
                _sdk_client("openai", async_),
                lambda c, kw: c.chat.completions.create(**kw),
                kind="stream",
            ),
        ]
    responses_requests = params(
        {"model": st.sampled_from(("gpt-4o-mini", "gpt-5.4")), "input": st.one_of(text, chat_messages())},
        instructions=text,
        max_output_tokens=numbers,
        temperature=numbers,
        reasoning=st.fixed_dictionaries({"effort": st.sampled_from(("low", "medium"))}),
        previous_response_id=text,
        conversation=text,
        text=st.just({"format": {"type": "text"}}),
    )
    shapes += [
        Shape(
            "openai-responses-sync",
            "openai",
            _seeds(
                [
                    "openai/responses_nonstream_basic.yaml",
                    "openai/responses_reasoning_tokens_gpt-5.4.yaml",
                    "openai/responses_tool_call.yaml",
                ]
            ),
            responses_requests,
            _sdk_client("openai", False),
            lambda c, kw: c.responses.create(**kw),
        ),
        Shape(
            "openai-responses-stream-sync",
            "openai",
            _seeds(["openai/responses_stream.yaml"]),
            responses_requests.map(lambda r: Request({**r.kwargs, "stream": True}, r.well_typed)),
            _sdk_client("openai", False),
            lambda c, kw: c.responses.create(**kw),
            kind="stream",
        ),
        Shape(
            "openai-embeddings-sync",
            "openai",
            _seeds(["openai/embeddings_dimensions.yaml", "openai/embeddings_encoding_format_base64.yaml"]),
            params(
                {
                    "model": st.just("text-embedding-3-small"),
                    "input": st.one_of(text, st.lists(text, max_size=3)),
                },
                dimensions=st.integers(1, 3072),
                encoding_format=st.sampled_from(("float", "base64")),
            ),
            _sdk_client("openai", False),
            lambda c, kw: c.embeddings.create(**kw),
        ),
        Shape(
            "openai-completions-sync",
            "openai",
            _seeds(["openai/completions_legacy_davinci-002.yaml"]),
            params(
                {"model": st.just("davinci-002"), "prompt": st.one_of(text, st.lists(text, max_size=2))},
                max_tokens=numbers,
                stop=stops,
            ),
            _sdk_client("openai", False),
            lambda c, kw: c.completions.create(**kw),
        ),
    ]
    return shapes


def _anthropic_shapes() -> list[Shape]:
    plain = _seeds(_ANTHROPIC)
    stream = _seeds(_ANTHROPIC_STREAM)
    shapes = []
    for async_ in (False, True):
        suffix = "async" if async_ else "sync"
        shapes += [
            Shape(
                f"anthropic-messages-{suffix}",
                "anthropic",
                plain,
                _anthropic_requests(False),
                _sdk_client("anthropic", async_),
                lambda c, kw: c.messages.create(**kw),
            ),
            Shape(
                f"anthropic-messages-stream-{suffix}",
                "anthropic",
                stream,
                _anthropic_requests(True),
                _sdk_client("anthropic", async_),
                lambda c, kw: c.messages.create(**kw),
                kind="stream",
            ),
            Shape(
                f"anthropic-stream-helper-{suffix}",
                "anthropic",
                stream,
                _helper_requests(),
                _sdk_client("anthropic", async_),
                lambda c, kw: c.messages.stream(**kw),
                kind="helper",
            ),
        ]
    return shapes


def shapes() -> list[Shape]:
    """Every call shape of every provider whose SDK is installed."""
    return [*_openai_shapes(), *_anthropic_shapes()]
