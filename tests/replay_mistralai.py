"""Real ``Mistral`` clients whose HTTP replays a recorded cassette (or a test's handler), and the
provider-contract scenarios for mistralai (tests/contract/cases.py).

The SDK takes any client implementing its ``HttpClient`` protocol (``client=`` / ``async_client=``); it is
built on ``httpx`` (mistralai 1.x) or ``httpx2`` (>= 2), and the replay uses the same flavour. Its classes
moved from ``mistralai`` to ``mistralai.client`` in 2.0.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from replay import ReplayTransport, load_cassette
from scenarios import call, drive, first_then, raised, resolve, stream_all

MISTRAL = Path(__file__).resolve().parent / "cassettes" / "mistral"

CHAT = "chat_mistral-tiny_gzip.yaml"
STREAM = "chat_stream_mistral-tiny.yaml"
TOOL_STREAM = "chat_stream_tool_call_mistral-small.yaml"


def sdk_module(name: str = "") -> ModuleType:
    """``mistralai.client.<name>`` (mistralai >= 2) or ``mistralai.<name>`` (1.x)."""
    for package in ("mistralai.client", "mistralai"):
        try:
            module = importlib.import_module(f"{package}.{name}" if name else package)
        except ImportError:
            continue
        if name or hasattr(module, "Mistral"):
            return module
    raise ImportError(f"mistralai: no {name or 'Mistral'}")


def mistral_httpx_module() -> ModuleType:
    """The httpx flavour the installed mistralai is built on."""
    httpx: ModuleType = sdk_module("sdk").httpx
    return httpx


def sdk_error(name: str = "SDKError") -> type[BaseException]:
    """An exception class of the SDK: in ``mistralai.client.errors`` (>= 2) or ``mistralai.models`` (1.x)."""
    for module in ("errors", "models"):
        try:
            error = getattr(sdk_module(module), name, None)
        except ImportError:
            continue
        if error is not None:
            exception: type[BaseException] = error
            return exception
    raise ImportError(f"mistralai: no {name}")


def _client(transport: Any) -> Any:
    hx = mistral_httpx_module()
    mistral = sdk_module().Mistral
    return mistral(
        api_key="test",
        client=hx.Client(transport=transport),
        async_client=hx.AsyncClient(transport=transport),
    )


def mistral_client(name: str, *, interactions: Sequence[int] | None = None) -> tuple[Any, ReplayTransport]:
    """A real client replaying ``cassettes/mistral/<name>``; one transport serves the sync and async calls."""
    transport = load_cassette(MISTRAL / name).transport(mistral_httpx_module(), interactions=interactions)
    return _client(transport), transport


def handler_client(handler: Callable[[Any], Any]) -> Any:
    """A real client whose HTTP is answered by `handler` (for what no recording has)."""
    return _client(mistral_httpx_module().MockTransport(handler))


def run(scenario: Callable[[], Any]) -> Any:
    """``scenarios.drive`` for a Mistral client, which has nothing to close (for tests/privacy)."""
    return drive(None, scenario)


def complete(client: Any, is_async: bool) -> Callable[..., Any]:
    """``chat.complete`` or ``chat.complete_async``."""
    return client.chat.complete_async if is_async else client.chat.complete


def stream(client: Any, is_async: bool) -> Callable[..., Any]:
    """``chat.stream`` or ``chat.stream_async``."""
    return client.chat.stream_async if is_async else client.chat.stream


# --- the provider contract -------------------------------------------------------------------------

JOKE = [{"role": "user", "content": "Tell me a joke about OpenTelemetry"}]
WEATHER = [{"role": "user", "content": "What's the weather like in San Francisco?"}]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "finds the weather for a given city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city to find the weather for"}},
            "required": ["city"],
        },
    },
}
ERROR_BODY = {
    "object": "error",
    "message": "Invalid model: mistral-nonexistent",
    "type": "invalid_model",
    "param": None,
    "code": "1500",
}
"""Mistral's error envelope."""


def contract_nonstream(is_async: bool) -> Any:
    client, _ = mistral_client(CHAT)
    return call(client, complete(client, is_async), model="mistral-tiny", messages=JOKE)


def contract_stream(is_async: bool, leave_early: bool = False) -> Any:
    client, _ = mistral_client(STREAM)
    if leave_early:

        async def scenario() -> Any:
            return await first_then(
                await resolve(stream(client, is_async)(model="mistral-tiny", messages=JOKE))
            )

        return drive(client, scenario)
    return stream_all(client, stream(client, is_async), model="mistral-tiny", messages=JOKE)


def contract_tool_call(is_async: bool) -> Any:
    client, _ = mistral_client(TOOL_STREAM)
    params = {
        "model": "mistral-small-latest",
        "messages": WEATHER,
        "tools": [WEATHER_TOOL],
        "tool_choice": "any",
    }
    return stream_all(client, stream(client, is_async), **params)


def contract_error(is_async: bool) -> BaseException:
    hx = mistral_httpx_module()
    client = handler_client(lambda request: hx.Response(400, json=ERROR_BODY))
    return raised(
        lambda: call(client, complete(client, is_async), model="mistral-nonexistent", messages=JOKE)
    )


contract_error_type = sdk_error
