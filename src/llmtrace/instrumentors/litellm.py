"""LiteLLM: ``completion``/``acompletion`` (streamed too) and ``embedding``/``aembedding``, whichever provider
LiteLLM routes them to.

Only maps LiteLLM's shapes into call records; the core does the rest. LiteLLM normalizes every provider's
answer to OpenAI's shapes (``ModelResponse``, ``ModelResponseStream``, ``EmbeddingResponse``), so one
mapping serves every provider it routes to.

One span per model call: LiteLLM's. The span opened here is current while LiteLLM runs, and the core
adds no span for an instrumented call made inside it, so when LiteLLM calls the openai SDK itself
(openai and OpenAI-compatible providers) llmtrace's openai instrumentation stands aside; for the other
providers LiteLLM speaks HTTP itself. The span takes the response details from LiteLLM's response,
the provider LiteLLM routed to as ``gen_ai.provider.name``, the model it sent as ``gen_ai.request.model``
and, when they differ, the model string the caller gave LiteLLM as ``llmtrace.litellm.model``. Cost
comes from llmtrace's price table, as for every provider; LiteLLM's own figure is kept apart, as
``llmtrace.litellm.response_cost``, for comparison.

What the span can say is what LiteLLM hands back: finish reasons in OpenAI's vocabulary (``stop`` for
Anthropic's ``end_turn``), and the response id the caller got, which for some providers (Anthropic
among them) is one LiteLLM makes up: it does not keep theirs.

The package's functions are patched (``litellm.completion``, ...), so a name imported from litellm
before ``instrument()`` ran (``from litellm import completion``) keeps the untraced function, and the
model is read from the keyword arguments (a positional one is known only from the response).
LiteLLM is never imported by llmtrace (it is slow to import): the patches wait for the application to
import it. llmtrace needs no network for it; LiteLLM itself fetches its model map when imported unless
``LITELLM_LOCAL_MODEL_COST_MAP=True``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from llmtrace import _semconv as sc
from llmtrace._patch import Endpoint, Patch
from llmtrace._records import LLMRequest, LLMResponse, Message, Usage
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors import _openai_content as content

PROVIDER = "litellm"
"""The provider name when LiteLLM's route cannot be told from the call (LiteLLM then fails it)."""

# LiteLLM's provider names whose semconv name differs; any other name is kept as LiteLLM spells it.
_PROVIDERS = {
    "text-completion-openai": "openai",
    "chatgpt": "openai",
    "azure": "azure.ai.openai",
    "azure_text": "azure.ai.openai",
    "azure_ai": "azure.ai.inference",
    "anthropic_text": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "vertex_ai_beta": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "mistral": "mistral_ai",
    "codestral": "mistral_ai",
    "text-completion-codestral": "mistral_ai",
    "cohere_chat": "cohere",
    "ollama_chat": "ollama",
    "xai": "x_ai",
    "watsonx": "ibm.watsonx.ai",
    "watsonx_text": "ibm.watsonx.ai",
    "moonshot": "moonshot_ai",
}
_OPENAI_API = frozenset({"openai", "azure"})  # LiteLLM providers that serve the OpenAI API itself

_names: frozenset[str] | None = None


def _provider_names() -> frozenset[str]:
    """LiteLLM's provider names (the prefixes of its model strings), read once."""
    global _names
    if _names is None:
        providers = getattr(sys.modules.get("litellm"), "provider_list", None) or ()
        _names = frozenset(str(getattr(p, "value", p)) for p in providers)
    return _names


def route(model: Any, custom_llm_provider: Any = None) -> tuple[str | None, Any]:
    """(LiteLLM's provider name, the model it sends) for a model string: ``"groq/llama3-8b-8192"`` ->
    ``("groq", "llama3-8b-8192")``. Unprefixed names are looked up in LiteLLM's model map, as LiteLLM
    does (litellm 1.106: litellm_core_utils/get_llm_provider_logic.py); its resolver itself is not called
    because it may read secrets (and print) on every call."""
    if not isinstance(model, str):
        return custom_llm_provider, model
    prefix, slash, rest = model.partition("/")
    if isinstance(custom_llm_provider, str) and custom_llm_provider:
        return custom_llm_provider, rest if slash and prefix == custom_llm_provider else model
    if slash and prefix in _provider_names():
        return prefix, rest
    known = getattr(sys.modules.get("litellm"), "model_cost", None)
    entry = known.get(model) if isinstance(known, Mapping) else None
    provider = entry.get("litellm_provider") if isinstance(entry, Mapping) else None
    return (provider if isinstance(provider, str) else None), model


def provider_name(litellm_provider: str | None) -> str:
    """The semconv ``gen_ai.provider.name`` of one of LiteLLM's provider names."""
    if not litellm_provider:
        return PROVIDER
    return _PROVIDERS.get(litellm_provider, litellm_provider)


def _server(url: Any) -> tuple[str | None, int | None]:
    if not isinstance(url, str) or "//" not in url:
        return None, None
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return None, None
    host = parts.hostname
    if host and port is None:
        port = 443 if parts.scheme == "https" else 80
    return host or None, port if host else None


# Where LiteLLM sends a provider's calls when neither the call, ``litellm.api_base`` nor the provider's
# ``<NAME>_API_BASE``/``<NAME>_BASE_URL`` variable says otherwise. LiteLLM reports the URL it called on
# most responses, which then replaces this.
_DEFAULT_URLS = {
    "openai": "https://api.openai.com",
    "anthropic": "https://api.anthropic.com",
    "groq": "https://api.groq.com",
    "mistral": "https://api.mistral.ai",
    "deepseek": "https://api.deepseek.com",
    "xai": "https://api.x.ai",
    "gemini": "https://generativelanguage.googleapis.com",
    "together_ai": "https://api.together.xyz",
    "perplexity": "https://api.perplexity.ai",
    "fireworks_ai": "https://api.fireworks.ai",
    "openrouter": "https://openrouter.ai",
    "ollama": "http://localhost:11434",
    "ollama_chat": "http://localhost:11434",
}


def _base_url(kwargs: Mapping[str, Any], routed: str | None) -> Any:
    url = kwargs.get("api_base") or kwargs.get("base_url")
    if url:
        return url
    url = getattr(sys.modules.get("litellm"), "api_base", None)
    if url or routed is None:
        return url
    name = routed.upper()
    return (
        os.environ.get(f"{name}_API_BASE") or os.environ.get(f"{name}_BASE_URL") or _DEFAULT_URLS.get(routed)
    )


def _request(kwargs: Mapping[str, Any], operation: str) -> LLMRequest:
    routed, model = route(kwargs.get("model"), kwargs.get("custom_llm_provider"))
    host, port = _server(_base_url(kwargs, routed))
    params: dict[str, Any] = {}
    given = kwargs.get("model")
    if isinstance(given, str) and given != model:
        params[sc.LLMTRACE_LITELLM_MODEL] = given
    return LLMRequest(
        operation=operation,
        provider=provider_name(routed),
        model=model if isinstance(model, str) else None,
        server_address=host,
        server_port=port,
        stream=bool(kwargs.get("stream")),
        params=params,
    )


def _hidden(obj: Any) -> Mapping[str, Any]:
    """LiteLLM's ``_hidden_params`` of a response or chunk (the provider, its URL, LiteLLM's cost)."""
    hidden = getattr(obj, "_hidden_params", None)
    return hidden if isinstance(hidden, Mapping) else {}


def _get(obj: Any, name: str) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def _usage(usage: Any, model: Any) -> Usage | None:
    """LiteLLM's OpenAI-shaped usage in semconv terms. LiteLLM's prompt_tokens already include the
    cache reads and writes (it adds Anthropic's to its input_tokens), as gen_ai.usage.input_tokens does.

    A Claude model's reasoning count is left out: where Anthropic reports none, LiteLLM estimates one
    from the thinking text (litellm 1.106: llms/anthropic/chat/transformation.py,
    _build_completion_token_details), and its usage does not say which it is.
    """
    if usage is None:
        return None
    prompt = _get(usage, "prompt_tokens_details")
    written = _get(usage, "cache_creation_input_tokens")  # Anthropic's shape (Claude on any platform)
    result = Usage(
        input_tokens=_get(usage, "prompt_tokens"),
        output_tokens=_get(usage, "completion_tokens"),
        cache_read_input_tokens=_first(_get(prompt, "cached_tokens"), _get(usage, "cache_read_input_tokens")),
        cache_write_input_tokens=_first(
            written, _get(prompt, "cache_creation_tokens"), _get(prompt, "cache_write_tokens")
        ),
        cache_write_1h_input_tokens=_get(
            _get(prompt, "cache_creation_token_details"), "ephemeral_1h_input_tokens"
        ),
    )
    if written is None and not (isinstance(model, str) and "claude" in model.lower()):
        result.reasoning_output_tokens = _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
    return result


def _first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def _reported(usage: Any) -> bool:
    """Whether a usage on a chunk counts anything: LiteLLM puts an all-zero total on a stream's last
    chunk when the provider reported nothing (litellm 1.106: streaming_handler.calculate_total_usage)."""
    return bool(_get(usage, "prompt_tokens") or _get(usage, "completion_tokens"))


def _response_attributes(out: dict[str, Any], obj: Any, hidden: Mapping[str, Any]) -> None:
    """What LiteLLM knows once it has answered: the provider and URL it called, and its own cost."""
    routed = hidden.get("custom_llm_provider")
    if isinstance(routed, str) and routed:
        out[sc.GEN_AI_PROVIDER_NAME] = provider_name(routed)
        if routed in _OPENAI_API:  # the openai.* refinements, as the openai instrumentation records them
            tier = getattr(obj, "service_tier", None)
            if tier:
                out[sc.OPENAI_RESPONSE_SERVICE_TIER] = tier
            fingerprint = getattr(obj, "system_fingerprint", None)
            if fingerprint:
                out[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] = fingerprint
    host, port = _server(hidden.get("api_base"))
    if host is not None:
        out[sc.SERVER_ADDRESS] = host
        out[sc.SERVER_PORT] = port
    cost = hidden.get("response_cost")
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        out[sc.LLMTRACE_LITELLM_RESPONSE_COST] = float(cost)


def _model(obj: Any, hidden: Mapping[str, Any]) -> Any:
    # Newer LiteLLM puts the requested name on stream chunks and the answering one here.
    return hidden.get("provider_response_model") or getattr(obj, "model", None)


def _cache_hit(response: LLMResponse, hidden: Mapping[str, Any]) -> None:
    """An answer from LiteLLM's cache used no tokens: its usage is the original call's."""
    if hidden.get("cache_hit") is True:
        response.attributes[sc.LLMTRACE_LITELLM_CACHE_HIT] = True
        response.usage = Usage(input_tokens=0, output_tokens=0)


# --- chat ---------------------------------------------------------------------------------------


def chat_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``completion``/``acompletion`` arguments (OpenAI's, whatever the provider)."""
    request = _request(kwargs, sc.OP_CHAT)
    params = request.params
    for key, attr in (
        ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", sc.GEN_AI_REQUEST_TOP_P),
        ("top_k", sc.GEN_AI_REQUEST_TOP_K),
        ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
        ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
        ("seed", sc.GEN_AI_REQUEST_SEED),
        ("reasoning_effort", sc.GEN_AI_REQUEST_REASONING_LEVEL),
    ):
        value = kwargs.get(key)
        if value is not None:
            params[attr] = value
    max_tokens = kwargs.get("max_completion_tokens") or kwargs.get("max_tokens")
    if max_tokens is not None:
        params[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    stop = kwargs.get("stop")
    if stop:
        params[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else list(stop)
    n = kwargs.get("n")
    if n is not None and n != 1:
        params[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
    output_type = _output_type(kwargs.get("response_format"))
    if output_type is not None:
        params[sc.GEN_AI_OUTPUT_TYPE] = output_type
    if request.provider in ("openai", "azure.ai.openai"):
        params[sc.OPENAI_API_TYPE] = "chat_completions"
    messages = kwargs.get("messages")
    request.prompt_texts = lambda: content.message_texts(messages)
    if request.stream:
        options = kwargs.get("stream_options")
        request.expects_usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
    if capture:
        request.input_messages = content.chat_input_messages(messages)
        tools = content.tool_definitions(kwargs.get("tools"), kwargs.get("functions"))
        request.tool_definitions = tools or None
    return request


def _output_type(response_format: Any) -> str | None:
    if isinstance(response_format, type):  # a pydantic class, which LiteLLM turns into a JSON schema
        return "json"
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if kind in ("json_object", "json_schema"):
        return "json"
    return "text" if kind == "text" else None


def _output_message(message: Any, finish_reason: str | None) -> Message:
    output = content.chat_output_message(message, finish_reason)
    reasoning = _get(message, "reasoning_content")  # thinking, whichever provider produced it
    if reasoning:
        output["parts"].insert(0, {"type": "reasoning", "content": reasoning})
    return output


def chat_response(result: Any, capture: bool) -> LLMResponse:
    """Map a ModelResponse."""
    hidden = _hidden(result)
    choices = getattr(result, "choices", None) or []
    model = _model(result, hidden)
    response = LLMResponse(
        response_id=getattr(result, "id", None),
        model=model,
        finish_reasons=[c.finish_reason or "" for c in choices] or None,
        usage=_usage(getattr(result, "usage", None), model),
    )
    _response_attributes(response.attributes, result, hidden)
    _cache_hit(response, hidden)
    if capture:
        response.output_messages = [_output_message(c.message, c.finish_reason) for c in choices]
    if response.usage is None:
        response.output_texts = [content.message_texts([c.message])[0] for c in choices]
    return response


class ChatAccumulator:
    """Folds ModelResponseStream chunks (OpenAI's chunk shape): ids, usage and finish reasons always; the
    text and tool-call fragments with capture on (each up to `LLMRequest.keep_chars`), or all of them
    when the stream will carry no usage (no include_usage), to count its tokens."""

    __slots__ = ("_capture", "_choices", "_first", "_fold", "_hidden", "_keep", "_last", "_usage")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._capture = capture
        self._fold = capture or not request.expects_usage
        self._keep = kept.keep(request, capture)
        self._first: Any = None
        self._last: Any = None
        self._hidden: Mapping[str, Any] = {}
        self._usage: Any = None
        self._choices: dict[int, dict[str, Any]] = {}

    def add(self, chunk: Any) -> None:
        if self._first is None:
            self._first = chunk
            self._hidden = _hidden(chunk)
        self._last = chunk
        # The usage LiteLLM reports is on the chunk (include_usage) or in its hidden params (read now:
        # LiteLLM replaces it with its own estimate once the stream is exhausted).
        usage = getattr(chunk, "usage", None)
        if usage is None:
            usage = _hidden(chunk).get("usage")
        if usage is not None and _reported(usage):
            self._usage = usage
        for choice in chunk.choices:
            index = choice.index
            state = self._choices.get(index)
            if state is None:
                content = kept.pieces(self._keep)
                state = self._choices[index] = {"finish_reason": None, "content": content, "tools": {}}
            reason = choice.finish_reason
            if reason is not None:
                state["finish_reason"] = reason
            if self._fold:
                _fold_delta(state, choice.delta, self._keep)

    def result(self) -> LLMResponse:
        first = self._first
        if first is None:  # nothing arrived: nothing to report
            return LLMResponse()
        states = [self._choices[i] for i in sorted(self._choices)]
        model = _model(first, self._hidden)
        response = LLMResponse(
            response_id=getattr(first, "id", None),
            model=model,
            finish_reasons=[s["finish_reason"] or "" for s in states] or None,
            usage=_usage(self._usage, model),
        )
        if response.usage is not None and not response.usage.input_tokens:
            # older LiteLLM drops the input count of Anthropic's message_start: the core counts it
            response.usage.input_tokens = None
        _response_attributes(response.attributes, self._last, self._hidden)
        _cache_hit(response, self._hidden)
        if self._capture:
            response.output_messages = [_streamed_message(s) for s in states]
        if response.usage is None and self._fold:
            response.output_texts = [_streamed_text(s) for s in states]
        return response


def _fold_delta(state: dict[str, Any], delta: Any, keep: int | None) -> None:
    if delta is None:
        return
    text = delta.content
    if text:
        state["content"].append(text)
    reasoning = _get(delta, "reasoning_content")
    if reasoning:
        if "reasoning" not in state:
            state["reasoning"] = kept.pieces(keep)
        state["reasoning"].append(reasoning)
    for fragment in delta.tool_calls or ():
        index = _get(fragment, "index") or 0
        call = state["tools"].get(index)
        if call is None:
            call = state["tools"][index] = {"id": None, "name": "", "arguments": kept.pieces(keep)}
        call_id = _get(fragment, "id")
        if call_id:
            call["id"] = call_id
        function = _get(fragment, "function")
        if function is not None:
            call["name"] += _get(function, "name") or ""
            call["arguments"].append(_get(function, "arguments") or "")


def _streamed_calls(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": "".join(c["arguments"])},
        }
        for _, c in sorted(state["tools"].items())
    ]


def _streamed_message(state: dict[str, Any]) -> Message:
    message = {
        "role": "assistant",
        "content": "".join(state["content"]) or None,
        "tool_calls": _streamed_calls(state),
        "reasoning_content": "".join(state.get("reasoning", ())) or None,
    }
    return _output_message(message, state["finish_reason"])


def _streamed_text(state: dict[str, Any]) -> str:
    calls = [c["function"]["name"] + c["function"]["arguments"] for c in _streamed_calls(state)]
    return "".join(state["content"]) + "".join(calls)


def is_stream(result: Any) -> bool:
    """LiteLLM's CustomStreamWrapper (an iterator and an async iterator both)."""
    cls = type(result)
    return hasattr(cls, "__next__") or hasattr(cls, "__anext__")


# --- embeddings ---------------------------------------------------------------------------------


def embeddings_request(instance: Any, kwargs: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``embedding``/``aembedding`` arguments (embeddings carry no content attributes)."""
    request = _request(kwargs, sc.OP_EMBEDDINGS)
    encoding = kwargs.get("encoding_format")
    if encoding is not None:
        request.params[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [encoding]
    return request


def embeddings_response(result: Any, capture: bool) -> LLMResponse:
    """Map an EmbeddingResponse."""
    hidden = _hidden(result)
    model = _model(result, hidden)
    response = LLMResponse(model=model, usage=_usage(getattr(result, "usage", None), model))
    if response.usage is not None:
        response.usage.output_tokens = None
    _response_attributes(response.attributes, result, hidden)
    _cache_hit(response, hidden)
    data = getattr(result, "data", None)
    if data:
        vector = _get(data[0], "embedding")
        if isinstance(vector, str):  # base64: packed float32s, 4 bytes per dimension
            response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = (
                len(vector) * 3 // 4 - vector.count("=")
            ) // 4
        elif vector is not None:
            response.attributes[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = len(vector)
    return response


# --- the patch table ----------------------------------------------------------------------------

CHAT = Endpoint(chat_request, chat_response, ChatAccumulator, is_stream)
EMBEDDINGS = Endpoint(embeddings_request, embeddings_response)

# The package's names, which users call (litellm.completion) and import, and LiteLLM's Router calls.
# acompletion/aembedding run the sync functions of litellm.main, which stay unpatched (a nested call
# would add no span anyway).
PATCHES = (
    Patch("litellm", "completion", CHAT),
    Patch("litellm", "acompletion", CHAT),
    Patch("litellm", "embedding", EMBEDDINGS),
    Patch("litellm", "aembedding", EMBEDDINGS),
)
