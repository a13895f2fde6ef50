"""Content capture holds no more than its limits per streamed call, however long the response (issue 7).

Each provider's recorded stream (real SDK objects, HTTP replayed) is made long by repeating one of its
middle chunks, then folded by the provider's accumulator: with the core's bound (`LLMRequest.keep_chars`)
the characters it holds stay within a few times that bound, while without one they grow with the
stream (so the check can fail); and what reaches the span (the output messages through the one content
path, clipped to ``max_content_length``) is the same either way, flagged as truncated when over it.
"""

from __future__ import annotations

import gc
import json
import tracemalloc
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from contract.cases import CASES, installed
from llmtrace import _redact
from llmtrace._records import LLMRequest, LLMResponse
from llmtrace.config import Settings
from llmtrace.instrumentors import anthropic, bedrock, cohere, google_genai, groq, litellm, mistralai, ollama
from llmtrace.instrumentors import openai as openai_instrumentor

LIMIT = 64  # the smallest max_content_length: short recorded streams already go over it
KEEP = LIMIT + 4096  # what the core sets with content captured (_core.start_call)
UNBOUNDED = 10**9
# Bedrock's InvokeModel chunks are kept decoded, each with its JSON names: the bound is on their text,
# so one-character deltas hold more than their text (still bounded: at most `KEEP` such chunks per part).
HELD_PER_CHAR = {"bedrock": 40}
SETTINGS = Settings(capture_content=True, max_content_length=LIMIT)
OUTPUT = "gen_ai.output.messages"
CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"

ACCUMULATORS: dict[str, Callable[[LLMRequest, bool], Any]] = {
    "openai": openai_instrumentor.ChatAccumulator,
    "anthropic": anthropic.MessageAccumulator,
    "bedrock": bedrock.InvokeAccumulator,
    "google_genai": google_genai.GenerateAccumulator,
    "mistralai": mistralai.ChatAccumulator,
    "litellm": litellm.ChatAccumulator,
    "cohere": cohere.V2ChatAccumulator,
    "groq": groq.ChatAccumulator,
    "ollama": ollama.ChatAccumulator,
}


def _converse_stream() -> list[Any]:
    from replay import load_cassette
    from replay_bedrock import bedrock_client

    path = (
        Path(__file__).resolve().parent.parent
        / "cassettes"
        / "bedrock"
        / "converse_stream_titan-text-lite.yaml"
    )
    params = json.loads(load_cassette(path).interactions[0].request.body)
    client = bedrock_client(path)[0]
    return list(client.converse_stream(modelId="amazon.titan-text-lite-v1", **params)["stream"])


def _recorded(name: str) -> list[Any]:
    if name == "bedrock_converse":
        return _converse_stream()
    case = CASES[name]
    if not installed(case):
        pytest.skip(f"{case.sdk} is not installed here")
    return list(case.stream(False))


STREAMS = [*ACCUMULATORS, "bedrock_converse"]
ACCUMULATORS["bedrock_converse"] = bedrock.ConverseAccumulator


def _fold(name: str, items: list[Any], keep: int) -> tuple[Any, LLMResponse]:
    request = LLMRequest("chat", name, stream=True, keep_chars=keep)
    acc = ACCUMULATORS[name](request, True)
    for item in items:
        acc.add(item)
    return acc, acc.result()


def _long(name: str, items: list[Any], size: int) -> list[Any]:
    """`items` with the chunk adding the most text (folded without a bound) repeated until the fold
    holds over `size` characters."""
    base = held(_fold(name, items, UNBOUNDED)[0])

    def growth(index: int) -> int:
        trial = [*items[:index], *[items[index]] * 10, *items[index:]]
        return held(_fold(name, trial, UNBOUNDED)[0]) - base

    best = max(range(1, len(items) - 1), key=growth)
    repeat = size // max(1, growth(best) // 10) + 1
    return [*items[:best], *[items[best]] * repeat, *items[best:]]


def held(obj: Any, depth: int = 0) -> int:
    """Characters (and bytes) of text reachable from `obj`: what an accumulator holds."""
    if isinstance(obj, (str, bytes)):
        return len(obj)
    if depth > 12 or obj is None or isinstance(obj, (int, float, bool)):
        return 0
    if isinstance(obj, dict):
        return sum(held(v, depth + 1) for v in obj.values())
    if isinstance(obj, (list, tuple, set, frozenset)) or type(obj).__name__ == "deque":
        return sum(held(v, depth + 1) for v in obj)
    slots = [s for cls in type(obj).__mro__ for s in getattr(cls, "__slots__", ())]
    values = [getattr(obj, s, None) for s in slots if s != "__weakref__"]
    values += list(getattr(obj, "__dict__", {}).values())
    return sum(held(v, depth + 1) for v in values)


def _recorded_view(response: LLMResponse) -> tuple[LLMResponse, dict[str, Any]]:
    """The response without its output messages, and the content attributes they become on a span."""
    content = _redact.content_attributes({OUTPUT: response.output_messages}, SETTINGS)
    return replace(response, output_messages=None), content


@pytest.mark.parametrize("name", STREAMS)
def test_a_short_stream_is_folded_as_before(name: str) -> None:
    items = _recorded(name)
    bounded = _fold(name, items, KEEP)[1]
    assert bounded == _fold(name, items, UNBOUNDED)[1]
    assert bounded.output_messages


GAPS = {
    # the recorded stream is whole function-call parts: non-text parts are kept whole, and not counted
    "google_genai": pytest.mark.xfail(reason="many non-text parts are not bounded yet", strict=True),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=GAPS.get(n, ())) for n in STREAMS])
def test_a_long_stream_holds_at_most_the_content_limits(name: str) -> None:
    recorded = _recorded(name)
    bound = HELD_PER_CHAR.get(name, 3) * KEEP + held(_fold(name, recorded, KEEP)[0])
    items = _long(name, recorded, 10 * bound)
    everything, unbounded = _fold(name, items, UNBOUNDED)
    assert held(everything) > 10 * bound  # what keeping everything would hold: the check can fail
    acc, bounded = _fold(name, items, KEEP)
    assert held(acc) < bound
    # what reaches the span is the same, clipped and flagged
    assert _recorded_view(bounded) == _recorded_view(unbounded)
    content = _recorded_view(bounded)[1]
    assert content[OUTPUT] and content["llmtrace.content.truncated"] is True


def test_without_usage_in_the_stream_the_whole_text_is_kept_to_count_it() -> None:
    items = _long("openai", _recorded("openai"), 10 * KEEP)
    request = LLMRequest("chat", "openai", stream=True, keep_chars=KEEP, expects_usage=False)
    acc = openai_instrumentor.ChatAccumulator(request, True)
    for item in items:
        acc.add(item)
    assert held(acc) > 10 * KEEP
    message = acc.result().output_messages
    assert message and message[0]["parts"][0]["content"] == "".join(
        c.choices[0].delta.content or "" for c in items if c.choices
    )


def test_an_openai_stream_of_200k_characters_peaks_below_its_size(instrument: Any) -> None:
    """The measured case of issue 7: 500 chunks carrying 198,602 characters through the real SDK, content
    captured; before the bound the fold kept all of it (the peak was 2.7x the text, default limits)."""
    import openai

    from replay import openai_httpx_module

    hx = openai_httpx_module()
    common = {"id": "chatcmpl-1", "created": 1, "model": "gpt-4o-mini", "object": "chat.completion.chunk"}
    piece = ("lorem ipsum dolor sit amet " * 15)[:398]
    deltas = [{"role": "assistant", "content": ""}, *({"content": piece} for _ in range(499)), {}]
    events = [
        {**common, "choices": [{"index": 0, "delta": d, "finish_reason": None if d else "stop"}]}
        for d in deltas
    ]
    events.append({**common, "choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 500}})
    body = b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + b"data: [DONE]\n\n"
    headers = {"content-type": "text/event-stream"}
    transport = hx.MockTransport(lambda request: hx.Response(200, headers=headers, content=body))
    client = openai.OpenAI(
        api_key="k", base_url="http://127.0.0.1/v1", http_client=hx.Client(transport=transport)
    )
    telemetry = instrument(capture_content=True, max_content_length=1024)

    def call() -> None:
        stream = client.chat.completions.create(
            model="gpt-4o-mini",
            messages=[{"role": "user", "content": "hi"}],
            stream=True,
            stream_options={"include_usage": True},
        )
        for _ in stream:
            pass

    call()  # warm-up: imports, caches
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        call()
        peak = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    text = len(piece) * 499
    assert peak < text / 2, f"peak {peak} bytes for a {text}-character stream"
    span = telemetry.spans()[-1]
    output = json.loads(span.attributes[OUTPUT])
    assert output[0]["parts"][0]["content"].startswith(piece[:1000])
    assert span.attributes["llmtrace.content.truncated"] is True
