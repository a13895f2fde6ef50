"""Token counting when the provider reports no usage: tiktoken when known, an estimate otherwise."""

from __future__ import annotations

import time

import pytest
import tiktoken

import fakesdk
from helpers import metric_points
from llmtrace import _counting, tokens
from llmtrace.instrumentors import REGISTRY


@pytest.fixture
def fake(instrument, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    return instrument(providers=["fake"])


@pytest.mark.parametrize(
    ("model", "encoding"),
    [
        ("gpt-4o-mini", "o200k_base"),
        ("gpt-4o-2024-08-06", "o200k_base"),
        ("gpt-4.1-nano", "o200k_base"),
        ("gpt-5", "o200k_base"),
        ("o3-mini", "o200k_base"),
        ("gpt-4", "cl100k_base"),
        ("gpt-4-turbo", "cl100k_base"),
        ("gpt-3.5-turbo-0125", "cl100k_base"),
        ("text-embedding-3-small", "cl100k_base"),
        ("openai/gpt-4o", "o200k_base"),
        ("claude-sonnet-4-5", None),
        ("llama3-8b-8192", None),
        ("gpt-4oops", None),
        (None, None),
    ],
)
def test_encoding_for_model(model, encoding):
    assert tokens.encoding_name(model) == encoding


def test_known_model_is_counted_with_its_tiktoken_encoding():
    text = "Tokenizers split text into pieces; ünïcödé and emoji 🎉 included."
    count, tokenizer = tokens.count_tokens([text, text], "gpt-4o-mini")
    assert tokenizer == "o200k_base"
    assert count == 2 * len(tiktoken.get_encoding("o200k_base").encode(text))


def test_chat_framing_adds_openai_message_overhead():
    messages = ["You are terse.", "Say this is a test"]
    count, _ = tokens.count_chat(messages, "gpt-4")
    enc = tiktoken.get_encoding("cl100k_base")
    assert count == sum(len(enc.encode(m)) for m in messages) + 4 * 2 + 3


def test_unknown_model_gets_the_documented_estimate():
    assert tokens.count_tokens(["x" * 10, "y" * 4], "claude-3-haiku") == (3 + 1, tokens.ESTIMATE)


def test_missing_encoding_file_degrades_to_estimate_without_network(monkeypatch, tmp_path):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: no encoding files
    monkeypatch.setattr(tokens, "_loaded", {})
    monkeypatch.setattr(tokens, "_failed", set())
    monkeypatch.setattr(tokens, "allow_download", False)
    assert tokens.count_tokens(["abcdefgh"], "gpt-4o") == (2, tokens.ESTIMATE)
    assert "o200k_base" in tokens._failed  # given up once, never retried per call


def test_call_without_usage_is_counted_off_thread_and_flagged(fake):
    fakesdk.Client().create(model="gpt-4o-mini", prompt="What is the capital of France?", usage=False)
    returned = time.time_ns()
    span = fake.span()
    enc = tiktoken.get_encoding("o200k_base")
    assert (
        span.attributes["gen_ai.usage.input_tokens"] == len(enc.encode("What is the capital of France?")) + 7
    )
    assert span.attributes["gen_ai.usage.output_tokens"] == len(enc.encode("abc"))
    assert span.attributes["llmtrace.usage.estimated"] is True
    assert span.attributes["llmtrace.usage.tokenizer"] == "o200k_base"
    assert span.attributes["gen_ai.usage.cost.amount"] > 0
    assert span.end_time <= returned  # ended at the call's end, not when the worker got to it
    # semconv: offline counts do not feed the token-usage metric by default
    assert "gen_ai.client.token.usage" not in metric_points(fake.reader)


def test_full_counting_queue_ends_span_at_once_without_counts(fake, monkeypatch):
    monkeypatch.setattr(_counting, "submit", lambda job: False)
    fakesdk.Client().create(model="gpt-4o-mini", usage=False)
    span = fake.span()
    assert "gen_ai.usage.input_tokens" not in span.attributes
    assert span.attributes["gen_ai.response.id"] == "r-1"


def test_counting_failure_still_ends_the_span(instrument, monkeypatch):
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    t = instrument(providers=["fake"], raise_internal_errors=False)
    monkeypatch.setattr(tokens, "count_chat", lambda *a: 1 / 0)
    fakesdk.Client().create(model="gpt-4o-mini", usage=False)
    assert t.span().attributes["gen_ai.response.id"] == "r-1"
