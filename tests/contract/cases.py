"""One contract case per provider instrumentor: how to make each scenario's call through the real SDK.

A scenario function takes ``is_async`` and returns what the user got (an error scenario returns the
exception the SDK raised). Every provider must provide every scenario its SDK offers; the contract
(test_every_provider.py) then checks the same invariants on each. A new provider adds a `Case` here.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from replay import anthropic_client, anthropic_httpx_module, openai_client
from scenarios import call, collect, drive, first_then, raised, resolve

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"
Scenario = Callable[[bool], Any]


@dataclass(frozen=True)
class Case:
    """A provider's scenarios and what its spans must say."""

    provider: str
    """The ``gen_ai.provider.name`` its spans carry."""
    sdk: str
    """The module to import to find the SDK (the contract skips nothing: the SDK must be installed)."""
    nonstream: Scenario
    stream: Scenario
    stream_break: Scenario
    tool_call: Scenario
    error: Scenario
    error_type: type[BaseException] | Callable[[], type[BaseException]]
    is_async: tuple[bool, ...] = (False, True)
    extra: dict[str, Scenario] = field(default_factory=dict)
    response_model: bool = True
    """Whether its responses name the model that answered (Cohere's name none)."""


_raises = raised  # tests/privacy's name for it


# --- OpenAI ----------------------------------------------------------------------------------------

_OPENAI = CASSETTES / "openai"
_OPENAI_CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Say this is a test"}]}


def _openai(name: str, is_async: bool, **kwargs: Any) -> Any:
    return openai_client(_OPENAI / name, is_async=is_async, **kwargs)[0]


def _openai_nonstream(is_async: bool) -> Any:
    client = _openai("chat_nonstream_n2_multiple_choices.yaml", is_async)
    return call(client, client.chat.completions.create, **_OPENAI_CHAT, n=2)


def _openai_stream(is_async: bool, leave_early: bool = False) -> Any:
    client = _openai("chat_stream_gpt-4_include_usage.yaml", is_async)
    params = {**_OPENAI_CHAT, "model": "gpt-4", "stream": True, "stream_options": {"include_usage": True}}

    async def scenario() -> Any:
        stream = await resolve(client.chat.completions.create(**params))
        return await (first_then(stream) if leave_early else collect(stream))

    return drive(client, scenario)


def _openai_tools(is_async: bool) -> Any:
    client = _openai("chat_tool_calls_two_turns.yaml", is_async, interactions=[0])
    tool = {"type": "function", "function": {"name": "get_current_weather", "parameters": {}}}
    params = {**_OPENAI_CHAT, "tools": [tool]}
    return call(client, client.chat.completions.create, **params)


def _openai_error(is_async: bool) -> BaseException:
    client = _openai("chat_error_404_model_not_found.yaml", is_async)
    params = {**_OPENAI_CHAT, "model": "this-model-does-not-exist"}
    return raised(lambda: call(client, client.chat.completions.create, **params))


def _openai_not_found() -> type[BaseException]:
    import openai

    return openai.NotFoundError


# --- Anthropic -------------------------------------------------------------------------------------

_ANTHROPIC = CASSETTES / "anthropic"


def _anthropic(name: str, is_async: bool) -> Any:
    return anthropic_client(_ANTHROPIC / name, is_async=is_async)[0]


def _anthropic_nonstream(is_async: bool) -> Any:
    client = _anthropic("messages_nonstream_claude-3-opus_sdk0.21.yaml", is_async)
    params = {
        "model": "claude-3-opus-20240229",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Hi"}],
    }
    return call(client, client.messages.create, **params)


def _anthropic_stream(is_async: bool, leave_early: bool = False) -> Any:
    client = _anthropic("messages_stream_claude-3-haiku_sdk0.36.yaml", is_async)
    params = {"model": "claude-3-haiku-20240307", "max_tokens": 1024, "stream": True,
              "messages": [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]}  # fmt: skip

    async def scenario() -> Any:
        stream = await resolve(client.messages.create(**params))
        return await (first_then(stream) if leave_early else collect(stream))

    return drive(client, scenario)


def _anthropic_tools(is_async: bool) -> Any:
    client = _anthropic("messages_tool_use_claude-3-5-sonnet_sdk0.36.yaml", is_async)
    tool = {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}
    params = {"model": "claude-3-5-sonnet-20240620", "max_tokens": 1024, "tools": [tool],
              "messages": [{"role": "user", "content": "What is the weather in San Francisco?"}]}  # fmt: skip
    return call(client, client.messages.create, **params)


def _anthropic_error(is_async: bool) -> BaseException:
    import anthropic

    httpx = anthropic_httpx_module()
    envelope = {"type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: invalid"}}
    transport = httpx.MockTransport(lambda request: httpx.Response(400, json=envelope))
    kind = anthropic.AsyncAnthropic if is_async else anthropic.Anthropic
    http_client = (httpx.AsyncClient if is_async else httpx.Client)(transport=transport)
    client = kind(api_key="test", max_retries=0, http_client=http_client)
    params = {"model": "claude-sonnet-4-6", "max_tokens": 0, "messages": [{"role": "user", "content": "Hi"}]}
    return raised(lambda: call(client, client.messages.create, **params))


def _anthropic_bad_request() -> type[BaseException]:
    import anthropic

    return anthropic.BadRequestError


# --- Amazon Bedrock (boto3 has no async client) -----------------------------------------------------

_BEDROCK = CASSETTES / "bedrock"
_BEDROCK_ERRORS: list[type[BaseException]] = []


def _bedrock(name: str, **kwargs: Any) -> Any:
    from replay_bedrock import bedrock_client

    return bedrock_client(_BEDROCK / name, **kwargs)[0]


def _bedrock_invoke(name: str, model: str, **kwargs: Any) -> Any:
    from replay import load_cassette

    client = _bedrock(name, **kwargs)
    body = load_cassette(_BEDROCK / name).interactions[0].request.body
    return client, {"modelId": model, "body": body}


def _bedrock_nonstream(is_async: bool) -> Any:
    client, params = _bedrock_invoke("invoke_model_anthropic_claude-v2.yaml", "anthropic.claude-v2")
    return client.invoke_model(**params)


def _bedrock_stream(is_async: bool, leave_early: bool = False) -> Any:
    name = "invoke_model_stream_anthropic_claude-v2.yaml"
    client, params = _bedrock_invoke(name, "anthropic.claude-v2")
    stream = client.invoke_model_with_response_stream(**params)["body"]
    return next(iter(stream)) if leave_early else list(stream)


def _bedrock_tools(is_async: bool) -> Any:
    name = "invoke_model_tool_use_claude-3-5-sonnet_two_turns.yaml"
    client, params = _bedrock_invoke(name, "us.anthropic.claude-3-5-sonnet-20240620-v1:0", interactions=[0])
    return client.invoke_model(**params)


def _bedrock_error(is_async: bool) -> BaseException:
    client = _bedrock("converse_error_400_invalid_model.yaml")
    _BEDROCK_ERRORS.append(client.exceptions.ValidationException)  # botocore makes the class per session
    params = {"modelId": "does-not-exist", "messages": [{"role": "user", "content": [{"text": "Hi"}]}]}
    return raised(lambda: client.converse(**params))


def _from_module(module: str, **case: Any) -> Case:
    """A case whose scenarios are a test module's ``contract_nonstream``, ``contract_stream`` (with
    ``leave_early``), ``contract_tool_call``, ``contract_error`` and ``contract_error_type``."""

    def scenarios() -> Any:
        return importlib.import_module(module)

    return Case(
        nonstream=lambda is_async: scenarios().contract_nonstream(is_async),
        stream=lambda is_async: scenarios().contract_stream(is_async),
        stream_break=lambda is_async: scenarios().contract_stream(is_async, leave_early=True),
        tool_call=lambda is_async: scenarios().contract_tool_call(is_async),
        error=lambda is_async: scenarios().contract_error(is_async),
        error_type=lambda: scenarios().contract_error_type(),
        **case,
    )


CASES: dict[str, Case] = {
    "openai": Case(
        provider="openai",
        sdk="openai",
        nonstream=_openai_nonstream,
        stream=_openai_stream,
        stream_break=lambda is_async: _openai_stream(is_async, leave_early=True),
        tool_call=_openai_tools,
        error=_openai_error,
        error_type=_openai_not_found,
    ),
    "anthropic": Case(
        provider="anthropic",
        sdk="anthropic",
        nonstream=_anthropic_nonstream,
        stream=_anthropic_stream,
        stream_break=lambda is_async: _anthropic_stream(is_async, leave_early=True),
        tool_call=_anthropic_tools,
        error=_anthropic_error,
        error_type=_anthropic_bad_request,
    ),
    "bedrock": Case(
        provider="aws.bedrock",
        sdk="boto3",
        nonstream=_bedrock_nonstream,
        stream=_bedrock_stream,
        stream_break=lambda is_async: _bedrock_stream(is_async, leave_early=True),
        tool_call=_bedrock_tools,
        error=_bedrock_error,
        error_type=lambda: _BEDROCK_ERRORS[-1],
        is_async=(False,),
    ),
    # the scenarios of these are in tests/replay_<module>.py
    "google_genai": _from_module("replay_google_genai", provider="gcp.gemini", sdk="google.genai"),
    "mistralai": _from_module("replay_mistralai", provider="mistral_ai", sdk="mistralai"),
    # LiteLLM routed to Anthropic (which it speaks HTTP to itself)
    "litellm": _from_module("replay_litellm", provider="anthropic", sdk="litellm"),
    "cohere": _from_module("replay_cohere", provider="cohere", sdk="cohere", response_model=False),
    "groq": _from_module("replay_groq", provider="groq", sdk="groq"),
    "ollama": _from_module("replay_ollama", provider="ollama", sdk="ollama"),
}


def installed(case: Case) -> bool:
    """Whether the case's SDK is importable here."""
    return importlib.util.find_spec(case.sdk) is not None
