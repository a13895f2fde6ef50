"""Redaction of what llmtrace records: credentials in free text (always), the built-in PII scrubbers and
the application's ``redact`` hook (captured content), and the size caps per attribute and per span.

The hook and scrubbers are checked on every content string of real provider calls (the contract
scenarios, replayed), the decorators and a LangChain tool; the caps on real calls and decorators."""

from __future__ import annotations

import importlib.util
import json
import logging
import platform
import re
from typing import Any

import pytest
from privacy_calls import CASSETTES, contract_calls, decorated_run, run_all
from privacy_capture import Recorder

import llmtrace
from llmtrace import _redact
from llmtrace import _semconv as sc
from llmtrace._redact import JSON_KEYS, REDACTED, content_size, credentials, is_content, luhn
from replay import openai_client
from scenarios import call

TRUNCATED = sc.LLMTRACE_CONTENT_TRUNCATED


def _chat(*messages: dict[str, Any]) -> None:
    """One chat completion through the real openai client (the recorded answer has two choices)."""
    client, _ = openai_client(CASSETTES / "openai" / "chat_nonstream_n2_multiple_choices.yaml")
    call(client, client.chat.completions.create, model="gpt-4o-mini", messages=list(messages))


# --- credentials in free text --------------------------------------------------------------------

SECRET_TEXTS = [
    ("Incorrect API key provided: sk-abc123456789xyz", "sk-abc123456789xyz"),
    ("Incorrect API key provided: sk-proj-abc***************************xyz", "abc****"),
    ("Authorization: Bearer secret-token-value", "secret-token-value"),
    ("{'authorization': 'Basic dXNlcjpodW50ZXIy'}", "dXNlcjpodW50ZXIy"),
    ("POST https://bob:hunter2@api.example.com/v1/chat failed", "hunter2"),
    ("redis://:p4ssw0rd@cache:6379/0", "p4ssw0rd"),
    ('{"x-api-key": "3f9aKq7ZpL2mN8vR4tY6wB1cD5eF0gH3"}', "3f9aKq7ZpL2mN8vR4tY6wB1cD5eF0gH3"),
    ("api-key=abc123def456", "abc123def456"),
    ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ("signed with AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/bedrock", "AKIAIOSFODNN7EXAMPLE"),
    ("temporary ASIAQX7ZP2LM9TR4BN8C", "ASIAQX7ZP2LM9TR4BN8C"),
    ("X-Amz-Security-Token: FwoGZXIvYXdzEEv9Yt3Mn7Bv2Cx8Zq4Lw1Rp6Kh5Dj", "FwoGZXIvYXdzEEv9"),
    ("key AIzaSyPk7Lm2Nq9Zx4Tr8Bn1Wc6Yd3Fe5Gh0JkQ rejected", "AIzaSyPk7Lm2Nq9Zx4Tr8Bn1Wc6Yd3Fe5Gh0JkQ"),
    ("groq gsk_Gq4Rk8Tp2Lm7Zx9Nb3Cv6Yw1Hd5Fj0SaQeRtYu", "gsk_Gq4Rk8Tp2Lm7Zx9Nb3Cv6Yw1Hd5Fj0SaQeRtYu"),
    ("unprefixed Mi7Sx2Tq9Lr4Za8Bn1Wc6Yd3Fk5Gj0Pq key", "Mi7Sx2Tq9Lr4Za8Bn1Wc6Yd3Fk5Gj0Pq"),
    ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3jVmNHl0w5N"),
    ("password: correct-horse", "correct-horse"),
]
PLAIN_TEXTS = [
    "Error code: 404 - {'error': {'message': 'The model `gpt-5` does not exist', 'code': 'model_not_found'}}",
    "max_tokens: must be at least 1; input_tokens=12",
    "GET /v1/projects/test-project/locations/us-central1/publishers/google/models/gemini-2.5-flash",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "request req_01jbd6g2qdfw2adyrt2az8hz4w, id 9d2c1a5e-7f3b-4c8d-a1e6-2b9f0c4d7e81",
    "https://api.openai.com/v1/chat/completions",
]


@pytest.mark.parametrize(("text", "secret"), SECRET_TEXTS)
def test_credentials_are_redacted_from_free_text(text, secret):
    clean = credentials(text)
    assert secret not in clean
    assert REDACTED in clean


@pytest.mark.parametrize("text", PLAIN_TEXTS)
def test_text_without_credentials_is_left_alone(text):
    assert credentials(text) == text


def test_llmtrace_log_lines_are_scrubbed(caplog):
    caplog.set_level(logging.DEBUG, logger="llmtrace")
    log = logging.getLogger("llmtrace")
    try:
        raise RuntimeError("upstream https://svc:hunter2@proxy/v1 said: Incorrect API key sk-abc123456789xyz")
    except RuntimeError:
        log.debug("llmtrace: %s failed for %s", "finish", "Bearer tok-123456789", exc_info=True)
    [record] = [r for r in caplog.records if r.name == "llmtrace"]
    text = logging.Formatter().format(record)

    assert "Traceback" in text and "RuntimeError" in text
    for secret in ("hunter2", "sk-abc123456789xyz", "tok-123456789"):
        assert secret not in text
    assert isinstance(record.exc_info[1], RuntimeError)  # handlers still get the exception itself


# --- scrubbers -----------------------------------------------------------------------------------

SCRUBBED = [
    ("email", "write to jane.doe+news@example.co.uk today", "write to [email] today"),
    ("email", "two: a@b.io, c.d@e-f.org", "two: [email], [email]"),
    ("phone", "call +1 (415) 555-0123 now", "call [phone] now"),
    ("phone", "+14155550123 or 020 7946 0958", "[phone] or [phone]"),
    ("phone", "Paris: +33 1 42 68 53 00.", "Paris: [phone]."),
    ("card", "card 4111 1111 1111 1111 exp 12/29", "card [card] exp 12/29"),
    ("card", "amex 3782-822463-10005", "amex [card]"),
    ("card", "5555555555554444", "[card]"),
    ("secret", "use sk-abc123456789xyz", f"use {REDACTED}"),
]
NOT_SCRUBBED = [
    ("card", "order 4111111111111112 (fails the Luhn check)"),
    ("phone", "on 2024-07-18 at 192.168.100.200, timestamp 1730241104, version 1.2.3, total 1234567.89"),
    ("phone", "ticket #12345, 3 items, 42 %"),
    ("email", "user@localhost is not an address with a domain"),
]


@pytest.mark.parametrize(("name", "text", "expected"), SCRUBBED)
def test_scrubber_replaces_matches_with_a_marker(name, text, expected):
    assert _redact.SCRUBBERS[name](text) == expected


@pytest.mark.parametrize(("name", "text"), NOT_SCRUBBED)
def test_scrubber_leaves_lookalikes_alone(name, text):
    assert _redact.SCRUBBERS[name](text) == text


def test_luhn():
    assert luhn("4111111111111111") and luhn("79927398713")
    assert not luhn("4111111111111112") and not luhn("79927398710")


# --- the hook and scrubbers on every captured content string ---------------------------------------

_WRAPPED = re.compile(r"⟦.*⟧(…\[truncated\])?", re.DOTALL)


def _wrap(text: str) -> str:
    return f"⟦{text}⟧"


def _unwrapped(value: Any, key: str = "") -> list[str]:
    """String leaves of a content document the hook did not see (schema vocabulary excepted)."""
    if isinstance(value, str):
        if key in ("type", "role", "finish_reason", "modality", "mime_type") or _WRAPPED.fullmatch(value):
            return []
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _unwrapped(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in _unwrapped(v, key)]
    return []


def _langchain_tool() -> Any:
    from langchain_core import tools

    @tools.tool
    def lookup(city: str) -> str:
        """Look a city up."""
        return f"{city} is sunny"

    return lookup.invoke({"city": "Lyon"})


def test_hook_sees_every_captured_content_string():
    calls = [c for c in contract_calls() if c[0].endswith("-sync")]
    recorder = Recorder(capture_content=True, redact=_wrap)
    try:
        # a framework instrumentor's content too, where LangChain is installed (the `tests` session)
        frameworks = [("langchain", _langchain_tool)] if importlib.util.find_spec("langchain_core") else []
        run_all([*calls, ("decorators", decorated_run), *frameworks])
    finally:
        emitted = recorder.finish()

    seen = 0
    for span in emitted.spans:
        for key, value in span.attributes.items():
            if not is_content(key):
                continue
            seen += 1
            document = json.loads(value) if key in JSON_KEYS else value
            assert _unwrapped(document) == [], (span.name, key)
    keys = {k for s in emitted.spans for k in s.attributes if is_content(k)}
    assert {
        sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_TOOL_DEFINITIONS,
        sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.GEN_AI_TOOL_CALL_RESULT, sc.GEN_AI_RETRIEVAL_QUERY_TEXT,
        sc.GEN_AI_RETRIEVAL_DOCUMENTS, sc.GEN_AI_PROMPT_VARIABLE_PREFIX + "name",
    } <= keys  # fmt: skip
    assert seen > len(calls)  # every call captured its input at least


def test_scrubbers_on_captured_content():
    pii = "Reach me at jane.doe@example.com or +1 (415) 555-0123, card 4111 1111 1111 1111."

    @llmtrace.tool
    def book(note: str) -> str:
        return f"booked for {pii}"

    @llmtrace.retriever
    def search(query: str) -> list[Any]:
        return []

    recorder = Recorder(capture_content=True, scrub=("email", "phone", "card"))
    try:
        book(pii)
        search(pii)
        _chat({"role": "user", "content": pii})
    finally:
        emitted = recorder.finish()

    scrubbed = "Reach me at [email] or [phone], card [card]."
    values = [str(v) for s in emitted.spans for k, v in s.attributes.items() if is_content(k)]
    assert len(values) >= 4
    assert emitted.find(["jane.doe", "555-0123", "4111"]) == []
    assert sum(scrubbed in v for v in values) >= 4  # arguments, result, query, the user message


def test_a_failing_hook_records_a_marker_never_the_text(caplog):
    caplog.set_level(logging.DEBUG, logger="llmtrace")

    def broken(text: str) -> str:
        raise ValueError("hook bug")

    def not_text(text: str) -> Any:
        return None

    for hook in (broken, not_text):
        recorder = Recorder(capture_content=True, redact=hook, raise_internal_errors=False)
        try:
            _chat({"role": "user", "content": "top secret plan"})
        finally:
            emitted = recorder.finish()
        [span] = emitted.spans
        assert (
            json.loads(span.attributes[sc.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"]
            == "[redaction failed]"
        )
        assert emitted.find(["top secret plan"]) == []
    assert [r.getMessage() for r in caplog.records].count("llmtrace: redact failed") >= 2


def test_with_content_off_no_redaction_code_runs(monkeypatch):
    seen: list[str] = []

    def hook(text: str) -> str:
        seen.append(text)
        return text

    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("content code ran with capture off")

    monkeypatch.setattr(_redact, "content_attributes", forbidden)
    monkeypatch.setattr(_redact.Policy, "__init__", forbidden)
    recorder = Recorder(redact=hook, scrub=("email",))
    try:
        run_all([*contract_calls()[:10], ("decorators", decorated_run)])
    finally:
        emitted = recorder.finish()

    assert len(emitted.spans) > 10
    assert seen == []


# --- size caps -----------------------------------------------------------------------------------


def test_content_is_clipped_string_by_string_to_valid_json():
    settings = llmtrace.Settings(capture_content=True, max_content_length=100)
    message = [{"role": "user", "parts": [{"type": "text", "content": "x" * 500}]}]
    out = _redact.content_attributes({sc.GEN_AI_INPUT_MESSAGES: message}, settings)
    assert out[TRUNCATED] is True
    text = json.loads(out[sc.GEN_AI_INPUT_MESSAGES])[0]["parts"][0]["content"]
    assert text == "x" * 100 + "…[truncated]"

    many = [{"role": "user", "parts": [{"type": "text", "content": "y" * 90}]} for _ in range(50)]
    out = _redact.content_attributes({sc.GEN_AI_INPUT_MESSAGES: many}, settings)
    document = out[sc.GEN_AI_INPUT_MESSAGES]
    assert len(document) <= 400  # 4x max_content_length per attribute: the oldest messages went first
    marker = json.loads(document)[0]
    assert marker["role"] == "llmtrace" and marker["parts"][0]["content"].endswith(" earlier omitted]")


def test_one_message_with_many_parts_is_still_within_the_attribute_cap():
    settings = llmtrace.Settings(capture_content=True, max_content_length=100)
    parts = [{"type": "text", "content": "z" * 100} for _ in range(40)]
    out = _redact.content_attributes({sc.GEN_AI_INPUT_MESSAGES: [{"role": "user", "parts": parts}]}, settings)
    assert len(out[sc.GEN_AI_INPUT_MESSAGES]) <= 400
    assert json.loads(out[sc.GEN_AI_INPUT_MESSAGES])
    assert out[TRUNCATED] is True


def test_span_content_total_is_capped_across_request_and_response():
    long = "word " * 3000
    recorder = Recorder(capture_content=True, max_content_length=4000, max_span_content_length=6000)
    try:
        _chat({"role": "system", "content": long}, {"role": "user", "content": long})
    finally:
        emitted = recorder.finish()

    [span] = emitted.spans
    attributes = span.attributes
    assert content_size(attributes) <= 6000
    assert attributes[TRUNCATED] is True
    output = json.loads(attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert output[0]["parts"][0]["content"] == "This is a test. How can I assist you further?"  # fits: whole
    # the two 4,000-character messages do not fit together: the older went, the marker says so
    marker, user = json.loads(attributes[sc.GEN_AI_INPUT_MESSAGES])
    assert marker["parts"][0]["content"] == "[1 earlier omitted]"
    assert user["role"] == "user" and user["parts"][0]["content"].endswith("…[truncated]")


def test_response_content_gets_only_what_the_request_content_left():
    long = "word " * 3000
    recorder = Recorder(capture_content=True, max_content_length=4000, max_span_content_length=4100)
    try:
        _chat({"role": "user", "content": long})
    finally:
        emitted = recorder.finish()

    [span] = emitted.spans
    attributes = span.attributes
    used = content_size({sc.GEN_AI_INPUT_MESSAGES: attributes[sc.GEN_AI_INPUT_MESSAGES]})
    assert 4000 < used <= 4100  # the request's one clipped message takes nearly all of the budget
    assert content_size(attributes) <= 4100  # so the response's content was shortened or left out
    assert attributes[TRUNCATED] is True


def test_caps_apply_to_decorator_and_prompt_content():
    big = "q" * 5000

    @llmtrace.tool
    def tool(argument: str) -> str:
        return big

    @llmtrace.retriever
    def search(query: str) -> list[Any]:
        return [{"id": big, "score": 1.0}]

    recorder = Recorder(capture_content=True, max_content_length=200, max_span_content_length=1000)
    try:
        tool(big)
        search(big)
        with llmtrace.prompt("p", version="1", variables={"v": big, "w": big}):
            _chat({"role": "user", "content": "hi"})
    finally:
        emitted = recorder.finish()

    for span in emitted.spans:
        content = {k: v for k, v in span.attributes.items() if is_content(k)}
        assert content and content_size(content) <= 1000, span.name
        assert all(len(str(v)) <= 4 * 200 + 20 for v in content.values()), span.name
        assert span.attributes[TRUNCATED] is True


class _Opaque:
    def __str__(self) -> str:
        return "opaque ü"


@pytest.mark.parametrize("limit", [64, 200, 1000])
def test_documents_within_the_limit_come_out_as_the_clipping_path_makes_them(limit):
    """With no scrubber or hook, a document shorter than one string's limit skips the string-by-string
    pass, and a longer one whose strings all fit is not dumped again after it: what they record must be
    exactly what that pass records (a no-op hook forces the pass and the second dump)."""
    from llmtrace._redact import content_attributes
    from llmtrace.config import load_settings

    plain = load_settings({"max_content_length": limit})
    forced = load_settings({"max_content_length": limit, "redact": lambda text: text})
    documents = [
        [{"role": "user", "parts": [{"type": "text", "content": "hi " * n}]}]
        for n in (1, 10, 19, 20, 21, 60, 300)
    ]
    documents += [
        [{"role": "assistant", "parts": [{"type": "tool_call", "id": 1, "arguments": (1.5, None, True)}]}],
        [{"role": "user", "parts": [{"type": "text", "content": _Opaque()}], "extra": {"k": ["ü" * 30]}}],
        '[{"role":"user","parts":[{"type":"text","content":"given as JSON text"}]}]',
        [{"role": "user", "parts": [{"type": "text", "content": "x" * (limit - 60)}]}],
        [{"role": "user", "parts": [{"type": "text", "content": "x" * (limit + 1)}]}],
        [{"role": "user", "parts": [{"type": "text", "content": f"message {i}"}]} for i in range(40)],
        [{"role": "user", "parts": [{"type": "text", "content": "y" * (limit - i)}]} for i in range(3)],
    ]
    for document in documents:
        for budget_used in (None, {"gen_ai.input.messages": "y" * (plain.max_span_content_length - 100)}):
            content = {"gen_ai.output.messages": document}
            assert content_attributes(content, plain, budget_used) == content_attributes(
                content, forced, budget_used
            )


def test_content_json_is_what_json_dumps_makes():
    """Content documents are encoded by a C encoder built once: byte for byte what ``json.dumps`` with
    the same options makes, for every JSON type, non-ASCII and escaped text, keys that are not strings
    and objects recorded as their ``str``."""
    documents: list[Any] = [
        [{"role": "user", "parts": [{"type": "text", "content": 'héllo\n\t"quoted" \\ \x00 \u2028 🌍'}]}],
        {"a": [1, -2.5, 1e300, float("inf"), float("-inf"), float("nan"), True, False, None, (3, "x")]},
        {7: "int key", 2.5: "float key", True: "bool key", None: "null key"},
        [_Opaque(), {"nested": [[[{"deep": _Opaque()}]]]}, {}, [], ""],
        "a bare string ü",
        12345678901234567890,
    ]
    for document in documents:
        assert _redact._dumps(document) == json.dumps(
            document, ensure_ascii=False, default=str, separators=(",", ":")
        )
    if platform.python_implementation() == "CPython":  # the C encoder is there: it must be the one used
        assert _redact._dumps.__qualname__ == "_encoder.<locals>.dumps"
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(RecursionError):  # no circular-reference check: it fails as deep recursion
        _redact._dumps(loop)


def test_schema_words_come_from_the_cache_as_the_pattern_answers():
    """Values under schema keys ("type", "role"...) are left to the hook only when they are schema words;
    the answers are cached (bounded, short exact strings only) and must be the pattern's."""
    values = ["text", "user", "image/png", "Text", "tool_call", "two words", "", "a" * 40 + "/" + "b" * 60]
    values += ["a" * 40 + "/" + "b" * 61, "a" * 41, "x@y.com", "[REDACTED]", _Str("text"), 3, None]
    for _ in range(2):  # computed, then cached
        for value in values:
            expected = isinstance(value, str) and _redact._WORD.fullmatch(value) is not None
            assert _redact._vocabulary(value) is expected, value
    for n in range(3000):
        _redact._vocabulary(f"word_{n}")
    assert len(_redact._WORDS) <= 1024
    assert all(type(word) is str and len(word) <= 101 for word in _redact._WORDS)


class _Str(str):
    pass
