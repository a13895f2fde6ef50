"""Canned OpenAI and Anthropic responses in the real wire format, served to real SDK clients offline.

Each scenario gets its own client whose ``MockTransport`` answers every request with one fixed body, so
the SDK does all of its usual work (request building, JSON/SSE parsing, pydantic models) and nothing
else varies between contenders.
"""

from __future__ import annotations

import base64
import importlib
import json
import struct
from types import ModuleType
from typing import Any

import openai

CHAT_MODEL = "gpt-4o-mini"
ANTHROPIC_MODEL = "claude-haiku-4-5"
EMBEDDING_MODEL = "text-embedding-3-small"
EMBEDDING_DIMENSIONS = 1536
MESSAGES: list[dict[str, str]] = [
    {"role": "system", "content": "You are a terse assistant that answers questions about astronomy."},
    {"role": "user", "content": "Explain in two short paragraphs why the sky is blue during the day."},
]
_ANSWER = (
    "Sunlight contains every visible wavelength. Air molecules scatter short (blue) wavelengths far "
    "more strongly than long (red) ones - Rayleigh scattering goes as one over the fourth power of the "
    "wavelength - so blue light reaches your eyes from every direction of the sky.\n\nViolet is scattered "
    "even more, but the Sun emits less of it and our eyes are less sensitive to it, so the sky looks blue."
)
_USAGE = {
    "prompt_tokens": 38,
    "completion_tokens": 92,
    "total_tokens": 130,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}
_COMMON = {
    "id": "chatcmpl-BENCH0000000000000000000000000",
    "created": 1735689600,
    "model": "gpt-4o-mini-2024-07-18",
    "service_tier": "default",
    "system_fingerprint": "fp_0123456789",
}


def httpx_module(sdk: str = "openai") -> ModuleType:
    """The httpx flavour an installed SDK is built on: ``httpx2`` (openai >= 3) or ``httpx``."""
    base_client = importlib.import_module(f"{sdk}._base_client")

    for name in ("httpx2", "httpx"):
        module = getattr(base_client, name, None)
        if isinstance(module, ModuleType):
            return module
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError("neither httpx2 nor httpx is importable")


def chat_body() -> bytes:
    """A ChatCompletion with one choice and full usage details."""
    choice = {
        "index": 0,
        "message": {"role": "assistant", "content": _ANSWER, "refusal": None, "annotations": []},
        "logprobs": None,
        "finish_reason": "stop",
    }
    return json.dumps({**_COMMON, "object": "chat.completion", "choices": [choice], "usage": _USAGE}).encode()


def chat_stream_body(chunks: int) -> bytes:
    """An SSE body of exactly `chunks` ChatCompletionChunks (role, text pieces, finish, usage) + [DONE]."""
    words = _ANSWER.split(" ")
    pieces = chunks - 3  # the others: role, finish and usage chunks
    cuts = [len(words) * i // pieces for i in range(pieces + 1)]
    texts = [" " * (i > 0) + " ".join(words[cuts[i] : cuts[i + 1]]) for i in range(pieces)]

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, usage: Any = None) -> str:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        choices = [] if delta is None else [choice]
        body = {**_COMMON, "object": "chat.completion.chunk", "choices": choices, "usage": usage}
        return f"data: {json.dumps(body)}\n\n"

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": text}) for text in texts]
    events += [chunk({}, "stop"), chunk(None, usage=_USAGE), "data: [DONE]\n\n"]
    return "".join(events).encode()


def embeddings_body(encoding_format: str) -> bytes:
    """A CreateEmbeddingResponse with one vector, as floats or as base64 float32s (the SDK's default)."""
    vector = [((i * 7919) % 2000 - 1000) / 1000.0 for i in range(EMBEDDING_DIMENSIONS)]
    embedding: Any = vector
    if encoding_format == "base64":
        embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    item = {"object": "embedding", "index": 0, "embedding": embedding}
    usage = {"prompt_tokens": 9, "total_tokens": 9}
    return json.dumps({"object": "list", "data": [item], "model": EMBEDDING_MODEL, "usage": usage}).encode()


_ANTHROPIC_USAGE = {
    "input_tokens": 38,
    "output_tokens": 92,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "service_tier": "standard",
}
_ANTHROPIC_MESSAGE = {
    "id": "msg_BENCH000000000000000000",
    "type": "message",
    "role": "assistant",
    "model": "claude-haiku-4-5-20251001",
    "stop_sequence": None,
}


def anthropic_body() -> bytes:
    """A Message with one text block and usage."""
    content = [{"type": "text", "text": _ANSWER}]
    message = {**_ANTHROPIC_MESSAGE, "content": content, "stop_reason": "end_turn", "usage": _ANTHROPIC_USAGE}
    return json.dumps(message).encode()


def anthropic_stream_body(events: int) -> bytes:
    """An SSE body of exactly `events` stream events: message_start, content_block_start, text deltas,
    content_block_stop, message_delta and message_stop (the SDK yields each of them)."""
    pieces = events - 5
    words = _ANSWER.split(" ")
    cuts = [len(words) * i // pieces for i in range(pieces + 1)]
    texts = [" " * (i > 0) + " ".join(words[cuts[i] : cuts[i + 1]]) for i in range(pieces)]
    start_usage = {**_ANTHROPIC_USAGE, "output_tokens": 1}
    start = {**_ANTHROPIC_MESSAGE, "content": [], "stop_reason": None, "usage": start_usage}
    payloads: list[dict[str, Any]] = [
        {"type": "message_start", "message": start},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}}
            for t in texts
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": _ANTHROPIC_USAGE["output_tokens"]},
        },
        {"type": "message_stop"},
    ]
    return "".join(f"event: {p['type']}\ndata: {json.dumps(p)}\n\n" for p in payloads).encode()


def _http_client(body: bytes, content_type: str, sdk: str = "openai") -> Any:
    """An httpx(2) client whose every request is answered 200 with `body`, without a network."""
    httpx = httpx_module(sdk)
    headers = {"content-type": content_type, "x-request-id": "req_bench", "request-id": "req_bench"}

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers=headers, content=body)

    return httpx.Client(transport=httpx.MockTransport(handler))


def client(body: bytes, content_type: str) -> openai.OpenAI:
    """A real OpenAI client whose every request is answered 200 with `body`."""
    return openai.OpenAI(
        api_key="sk-bench",
        base_url="https://api.openai.com/v1",
        max_retries=0,
        http_client=_http_client(body, content_type),
    )


def anthropic_client(body: bytes, content_type: str) -> Any:
    """A real Anthropic client whose every request is answered 200 with `body`."""
    import anthropic

    return anthropic.Anthropic(
        api_key="sk-ant-bench",
        base_url="https://api.anthropic.com",
        max_retries=0,
        http_client=_http_client(body, content_type, "anthropic"),
    )
