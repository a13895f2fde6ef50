"""The differential test's call shapes for Bedrock, Gemini, Mistral, Cohere, Groq and Ollama.

Each client is the one its replay module builds (tests/replay_<provider>.py), answered from the shared
`Answer`; the seeds are the provider's cassettes, or its documented bodies where nothing was recorded
(Groq's non-streamed replies, Ollama's generate). These shapes run `CI_CASES` cases each in the ``ci``
profile (the whole profile in ``fuzz``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from fuzz_bodies import Seed, seed
from fuzz_providers import (
    Answer,
    Request,
    Shape,
    chat_messages,
    httpx_client,
    numbers,
    params,
    stops,
    text,
    tools,
)
from hypothesis import strategies as st

CI_CASES = 35
"""Cases per call shape of this module in the ``ci`` profile."""


def _seeds(*paths: str) -> list[Seed]:
    out = []
    for path in paths:
        name, _, index = path.partition("#")
        out.append(seed(name, int(index or 0)))
    return out


def _documented(name: str, document: Any, status: int = 200) -> Seed:
    return Seed(name, status, "application/json", "json", document)


def _shape(
    name: str, provider: str, seeds: list[Seed], requests: Any, client: Any, call: Any, **kw: Any
) -> Shape:
    return Shape(name, provider, seeds, requests, client, call, cases=CI_CASES, **kw)


# --- Bedrock -----------------------------------------------------------------------------------------


def _bedrock_client(answer: Answer) -> Any:
    from botocore.awsrequest import AWSResponse
    from botocore.config import Config

    from replay_bedrock import make_client, raw_response

    def send(request: Any, **kwargs: Any) -> Any:
        data = request.body.read() if hasattr(request.body, "read") else request.body or b""
        answer.sent.append((request.method, request.url, data.encode() if isinstance(data, str) else data))
        body = answer.body
        assert body is not None
        headers = {
            "content-type": body.content_type,
            "content-length": str(len(body.content)),
            "x-amzn-requestid": "11111111-2222-3333-4444-555555555555",
        }
        raw = raw_response(body.status, list(headers.items()), body.content)
        return AWSResponse(request.url, body.status, headers, raw)

    # one attempt: botocore's retries back off (sleep) on 429 and 5xx
    client = make_client(config=Config(retries={"total_max_attempts": 1}))
    client.meta.events.register("before-send.bedrock-runtime", send)
    return client


def _converse_requests() -> st.SearchStrategy[Request]:
    content = st.lists(st.fixed_dictionaries({"text": text}), min_size=1, max_size=2)
    message = st.fixed_dictionaries({"role": st.sampled_from(("user", "assistant")), "content": content})
    spec = st.fixed_dictionaries({"name": st.just("get_weather"), "inputSchema": st.just({"json": {}})})
    return params(
        {
            "modelId": st.sampled_from(
                ("amazon.titan-text-lite-v1", "anthropic.claude-3-sonnet-20240229-v1:0", "zzz.unknown")
            ),
            "messages": st.lists(message, min_size=1, max_size=3),
        },
        system=st.lists(st.fixed_dictionaries({"text": text}), max_size=2),
        inferenceConfig=st.fixed_dictionaries(
            {},
            optional={
                "maxTokens": st.integers(1, 4096),
                "temperature": st.floats(0, 1),
                "topP": st.floats(0, 1),
                "stopSequences": st.lists(text, max_size=2),
            },
        ),
        toolConfig=st.fixed_dictionaries(
            {"tools": st.lists(st.fixed_dictionaries({"toolSpec": spec}), max_size=2)}
        ),
    )


def _invoke_requests() -> st.SearchStrategy[Request]:
    body = st.fixed_dictionaries(
        {
            "anthropic_version": st.just("bedrock-2023-05-31"),
            "max_tokens": st.integers(1, 4096),
            "messages": chat_messages(("user", "assistant")),
        },
        optional={"temperature": numbers, "system": text, "stop_sequences": st.lists(text, max_size=2)},
    )
    return params(
        {
            "modelId": st.sampled_from(("anthropic.claude-v2", "anthropic.claude-3-5-haiku-20241022-v1:0")),
            "body": body.map(json.dumps),
        },
        contentType=st.just("application/json"),
        accept=st.just("application/json"),
    )


def _bedrock_shapes() -> list[Shape]:
    invoke = _invoke_requests()
    return [
        _shape(
            "bedrock-converse-sync",
            "bedrock",
            _seeds(
                "bedrock/converse_titan-text-lite.yaml",
                "bedrock/converse_tool_use_nova-micro_two_turns.yaml#0",
                "bedrock/converse_tool_use_nova-micro_two_turns.yaml#1",
                "bedrock/converse_error_400_invalid_model.yaml",
            ),
            _converse_requests(),
            _bedrock_client,
            lambda c, kw: c.converse(**kw),
        ),
        _shape(
            "bedrock-converse-stream-sync",
            "bedrock",
            _seeds(
                "bedrock/converse_stream_titan-text-lite.yaml",
                "bedrock/converse_stream_tool_use_claude-3-sonnet.yaml",
            ),
            _converse_requests(),
            _bedrock_client,
            lambda c, kw: c.converse_stream(**kw),
            kind="dict_stream",
        ),
        _shape(
            "bedrock-invoke-model-sync",
            "bedrock",
            _seeds(
                "bedrock/invoke_model_anthropic_claude-v2.yaml",
                "bedrock/invoke_model_prompt_cache_claude-3-5-haiku.yaml#1",
                "bedrock/invoke_model_tool_use_claude-3-5-sonnet_two_turns.yaml",
            ),
            invoke,
            _bedrock_client,
            lambda c, kw: c.invoke_model(**kw),
        ),
        _shape(
            "bedrock-invoke-model-stream-sync",
            "bedrock",
            _seeds("bedrock/invoke_model_stream_anthropic_claude-v2.yaml"),
            invoke,
            _bedrock_client,
            lambda c, kw: c.invoke_model_with_response_stream(**kw),
            kind="dict_stream",
        ),
    ]


# --- Google Gemini -----------------------------------------------------------------------------------


def _genai_client(answer: Answer) -> Any:
    from replay_google_genai import genai_httpx_module, handler_client

    hx = genai_httpx_module()
    return handler_client(lambda request: answer.respond(hx, request))


def _genai_requests() -> st.SearchStrategy[Request]:
    part = st.fixed_dictionaries({"text": text})
    content = st.fixed_dictionaries(
        {"role": st.sampled_from(("user", "model")), "parts": st.lists(part, min_size=1, max_size=2)}
    )
    config = st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.floats(0, 2),
            "top_p": st.floats(0, 1),
            "max_output_tokens": st.integers(1, 8192),
            "stop_sequences": st.lists(text, max_size=2),
            "system_instruction": text,
            "candidate_count": st.integers(1, 2),
        },
    )
    return params(
        {
            "model": st.sampled_from(("gemini-2.5-flash", "models/gemini-2.0-flash", "zzz")),
            "contents": st.one_of(text, st.lists(content, min_size=1, max_size=2)),
        },
        config=config,
    )


def _genai_shapes() -> list[Shape]:
    requests = _genai_requests()
    client = _genai_client
    return [
        _shape(
            "gemini-generate-content-sync",
            "google_genai",
            _seeds(
                "google/genai_gemini-api_generate_content_gemini-2.5-flash_gzip.yaml",
                "google/genai_gemini-api_function_call_gemini-2.0-flash.yaml",
                "google/genai_vertex_generate_content_gemini-2.5-flash.yaml",
                "google/vertexai_sdk_error_400_invalid_temperature.yaml",
            ),
            requests,
            client,
            lambda c, kw: c.models.generate_content(**kw),
            per_request=True,
        ),
        _shape(
            "gemini-generate-content-stream-sync",
            "google_genai",
            _seeds(
                "google/genai_gemini-api_stream_thinking_parallel_function_calls.yaml",
                "google/genai_vertex_stream_generate_content_gemini-2.5-flash.yaml",
            ),
            requests,
            client,
            lambda c, kw: c.models.generate_content_stream(**kw),
            kind="stream",
            per_request=True,
        ),
    ]


# --- Mistral, Groq, Cohere (chat completions) -----------------------------------------------------


def _chat_requests(models: tuple[str, ...], **optional: st.SearchStrategy[Any]) -> st.SearchStrategy[Request]:
    return params({"model": st.sampled_from(models), "messages": chat_messages()}, **optional)


def _mistral_client(answer: Answer) -> Any:
    from replay_mistralai import handler_client, mistral_httpx_module

    hx = mistral_httpx_module()
    return handler_client(lambda request: answer.respond(hx, request))


def _mistral_shapes() -> list[Shape]:
    requests = _chat_requests(
        ("mistral-tiny", "mistral-small-latest"),
        temperature=numbers,
        top_p=numbers,
        max_tokens=st.integers(1, 4096),
        stop=stops,
        random_seed=st.integers(0, 2**31),
        tools=tools,
    )
    client = _mistral_client
    return [
        _shape(
            "mistral-chat-complete-sync",
            "mistralai",
            _seeds("mistral/chat_mistral-tiny_gzip.yaml"),
            requests,
            client,
            lambda c, kw: c.chat.complete(**kw),
        ),
        _shape(
            "mistral-chat-stream-sync",
            "mistralai",
            _seeds(
                "mistral/chat_stream_mistral-tiny.yaml", "mistral/chat_stream_tool_call_mistral-small.yaml"
            ),
            requests,
            client,
            lambda c, kw: c.chat.stream(**kw),
            kind="stream",
        ),
    ]


def _groq_shapes() -> list[Shape]:
    from replay_groq import GROQ_COMPLETION, NOT_FOUND, REASONING_COMPLETION, TOOL_COMPLETION, groq_client

    plain = _chat_requests(
        ("llama-3.3-70b-versatile", "openai/gpt-oss-20b"),
        temperature=numbers,
        top_p=numbers,
        max_tokens=numbers,
        stop=stops,
        seed=st.integers(),
        tools=tools,
    )
    stream = plain.map(lambda r: Request({**r.kwargs, "stream": True}, r.well_typed))
    client = httpx_client(groq_client, False)
    return [
        _shape(
            "groq-chat-sync",
            "groq",
            [
                _documented("groq/completion", GROQ_COMPLETION),
                _documented("groq/tool_completion", TOOL_COMPLETION),
                _documented("groq/reasoning_completion", REASONING_COMPLETION),
                _documented("groq/not_found", NOT_FOUND, status=404),
            ],
            plain,
            client,
            lambda c, kw: c.chat.completions.create(**kw),
        ),
        _shape(
            "groq-chat-stream-sync",
            "groq",
            _seeds("groq/chat_stream_llama3-8b.yaml", "openai/chat_stream_multiple_tool_calls.yaml"),
            stream,
            client,
            lambda c, kw: c.chat.completions.create(**kw),
            kind="stream",
        ),
    ]


def _cohere_client(transport: Any, async_: bool) -> Any:
    from replay_cohere import cohere_client

    return cohere_client(transport, async_)[0]


def _cohere_shapes() -> list[Shape]:
    requests = _chat_requests(
        ("command-r-plus", "command-a-03-2025"),
        temperature=st.floats(0, 1),
        p=st.floats(0, 1),
        k=st.integers(0, 500),
        max_tokens=st.integers(1, 4096),
        stop_sequences=st.lists(text, max_size=2),
        seed=st.integers(0, 2**31),
        tools=tools,
    )
    client = httpx_client(_cohere_client, False)
    return [
        _shape(
            "cohere-chat-v2-sync",
            "cohere",
            _seeds(
                "cohere/chat_v2_command.yaml",
                "cohere/chat_v2_tool_calls_two_turns.yaml#0",
                "cohere/chat_v2_tool_calls_two_turns.yaml#1",
            ),
            requests,
            client,
            lambda c, kw: c.chat(**kw),
            fresh_client=True,
            per_request=True,
        ),
        _shape(
            "cohere-chat-stream-v2-sync",
            "cohere",
            _seeds("cohere/chat_v2_stream.yaml"),
            requests,
            client,
            lambda c, kw: c.chat_stream(**kw),
            kind="stream",
            fresh_client=True,
            per_request=True,
        ),
    ]


# --- Ollama ------------------------------------------------------------------------------------------


def _generated(line: Any) -> Any:
    """An Ollama chat response as the matching ``/api/generate`` response (``response`` and ``thinking``
    in place of ``message``)."""
    out = {k: v for k, v in line.items() if k != "message"}
    message = line.get("message") or {}
    out["response"] = message.get("content", "")
    if message.get("thinking"):
        out["thinking"] = message["thinking"]
    return out


def _as_generate(chat: Seed) -> Seed:
    document = (
        [_generated(line) for line in chat.document]
        if chat.framing == "ndjson"
        else _generated(chat.document)
    )
    return Seed(chat.name + " (as generate)", chat.status, chat.content_type, chat.framing, document)


def _ollama_client(transport: Any, async_: bool) -> Any:
    from replay_ollama import ollama_client

    return ollama_client(transport, async_)


def _ollama_shapes() -> list[Shape]:
    options = st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.floats(0, 2),
            "num_predict": st.integers(-1, 4096),
            "top_p": st.floats(0, 1),
            "stop": st.lists(text, max_size=2),
        },
    )
    common = {"options": options, "keep_alive": st.sampled_from(("5m", 0)), "format": st.just("json")}
    models = st.sampled_from(("llama3", "qwen3.6:latest"))
    chat = params({"model": models, "messages": chat_messages()}, think=st.booleans(), tools=tools, **common)
    generate = params({"model": models, "prompt": text}, system=text, think=st.booleans(), **common)

    def streamed(requests: st.SearchStrategy[Request]) -> st.SearchStrategy[Request]:
        return requests.map(lambda r: Request({**r.kwargs, "stream": True}, r.well_typed))

    plain = _seeds(
        "ollama/chat_nonstream_qwen3_thinking_headers_stripped.yaml",
        "ollama/chat_tool_call_callable_qwen3.yaml",
    )
    ndjson = _seeds("ollama/chat_stream_ndjson_llama3.yaml")
    client = httpx_client(_ollama_client, False)
    call_chat: Callable[[Any, dict[str, Any]], Any] = lambda c, kw: c.chat(**kw)  # noqa: E731
    call_generate: Callable[[Any, dict[str, Any]], Any] = lambda c, kw: c.generate(**kw)  # noqa: E731
    return [
        _shape("ollama-chat-sync", "ollama", plain, chat, client, call_chat),
        _shape("ollama-chat-stream-sync", "ollama", ndjson, streamed(chat), client, call_chat, kind="stream"),
        _shape(
            "ollama-generate-sync",
            "ollama",
            [_as_generate(s) for s in plain],
            generate,
            client,
            call_generate,
        ),
        _shape(
            "ollama-generate-stream-sync",
            "ollama",
            [_as_generate(s) for s in ndjson],
            streamed(generate),
            client,
            call_generate,
            kind="stream",
        ),
    ]


def more_shapes() -> list[Shape]:
    """The call shapes of Bedrock, Gemini, Mistral, Cohere, Groq and Ollama."""
    return [
        *_bedrock_shapes(),
        *_genai_shapes(),
        *_mistral_shapes(),
        *_cohere_shapes(),
        *_groq_shapes(),
        *_ollama_shapes(),
    ]
