"""Canned OpenAI responses in the real wire format, served to a real ``openai.OpenAI`` without a network.

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


def httpx_module() -> ModuleType:
    """The httpx flavour the installed openai SDK is built on: ``httpx2`` (openai >= 3) or ``httpx``."""
    import openai._base_client as base_client

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


def client(body: bytes, content_type: str) -> openai.OpenAI:
    """A real OpenAI client whose every request is answered 200 with `body`."""
    httpx = httpx_module()
    headers = {"content-type": content_type, "x-request-id": "req_bench"}

    def handler(request: Any) -> Any:
        return httpx.Response(200, headers=headers, content=body)

    http_client = httpx.Client(transport=httpx.MockTransport(handler))
    return openai.OpenAI(
        api_key="sk-bench", base_url="https://api.openai.com/v1", max_retries=0, http_client=http_client
    )
