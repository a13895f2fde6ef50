"""Real ``google.genai.Client`` objects whose HTTP replays a recorded cassette (or a test's handler), and
the provider-contract scenarios for google-genai (tests/contract/cases.py).

The SDK takes the transport through ``http_options.client_args`` / ``async_client_args`` (google-genai
>= 1.11; older releases send requests through ``requests``). It is built on ``httpx2`` when that is
installed (google-genai 3.x) and on ``httpx`` otherwise; the replay uses the same flavour.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from replay import ReplayTransport, load_cassette
from scenarios import call, drive, first_then, raised, resolve, stream_all

GOOGLE = Path(__file__).resolve().parent / "cassettes" / "google"

NONSTREAM = "genai_gemini-api_generate_content_gemini-2.5-flash_gzip.yaml"
FUNCTION_CALL = "genai_gemini-api_function_call_gemini-2.0-flash.yaml"
THINKING_STREAM = "genai_gemini-api_stream_thinking_parallel_function_calls.yaml"
VERTEX = "genai_vertex_generate_content_gemini-2.5-flash.yaml"
VERTEX_STREAM = "genai_vertex_stream_generate_content_gemini-2.5-flash.yaml"
VERTEX_ERROR = "vertexai_sdk_error_400_invalid_temperature.yaml"

VERTEX_PROJECT = {"project": "test-project", "location": "test-location"}
"""Where the google-genai Vertex recordings were made (api version v1beta1)."""
VERTEX_ERROR_PROJECT = {"project": "fake-project", "location": "us-central1"}
"""Where the Vertex error was recorded (by the Vertex AI SDK, at api version v1)."""


def genai_httpx_module() -> ModuleType:
    """The httpx flavour the installed google-genai builds its clients on."""
    api_client = importlib.import_module("google.genai._api_client")
    for name in ("httpx2", "httpx"):
        module = getattr(api_client, name, None)
        if isinstance(module, ModuleType):
            return module
    raise ImportError("google-genai: neither httpx2 nor httpx is importable")


def _client(transport: Any, vertex: dict[str, str] | None, api_version: str) -> Any:
    from google import genai

    options = {
        "api_version": api_version,
        "client_args": {"transport": transport},
        "async_client_args": {"transport": transport},
    }
    if vertex is None:
        return genai.Client(api_key="test", http_options=options)
    from google.oauth2.credentials import Credentials

    return genai.Client(vertexai=True, credentials=Credentials(token="test"), http_options=options, **vertex)


def genai_client(
    name: str,
    *,
    vertex: dict[str, str] | None = None,
    api_version: str | None = None,
    interactions: Sequence[int] | None = None,
    match_query: bool = True,
) -> tuple[Any, ReplayTransport]:
    """A real client replaying ``cassettes/google/<name>``: the Gemini API at v1beta, or Vertex AI for
    `vertex` (project and location) at v1beta1. One transport serves the sync and the async client."""
    transport = load_cassette(GOOGLE / name).transport(
        genai_httpx_module(), interactions=interactions, match_query=match_query
    )
    version = api_version or ("v1beta" if vertex is None else "v1beta1")
    return _client(transport, vertex, version), transport


def handler_client(handler: Callable[[Any], Any], *, vertex: dict[str, str] | None = None) -> Any:
    """A real client whose HTTP is answered by `handler` (for what no recording has)."""
    hx = genai_httpx_module()
    return _client(hx.MockTransport(handler), vertex, "v1beta" if vertex is None else "v1beta1")


def models_of(client: Any, is_async: bool) -> Any:
    """``client.models`` or ``client.aio.models``."""
    return client.aio.models if is_async else client.models


# --- the provider contract (all on the Gemini Developer API: the case has one provider name) ----------

ERROR_BODY = {
    "error": {
        "code": 400,
        "message": "* GenerateContentRequest.generation_config.temperature: must be in [0, 2]",
        "status": "INVALID_ARGUMENT",
    }
}
"""The Gemini API's error envelope (the shape of the recorded Vertex 400)."""


def contract_nonstream(is_async: bool) -> Any:
    client, _ = genai_client(NONSTREAM)
    models = models_of(client, is_async)
    return call(client, models.generate_content, model="gemini-2.5-flash", contents="What is ai?")


def contract_stream(is_async: bool, leave_early: bool = False) -> Any:
    client, _ = genai_client(THINKING_STREAM)
    models = models_of(client, is_async)
    params = {"model": "gemini-3.5-flash", "contents": "What is the weather like in Boston & new Delhi?"}
    if not leave_early:
        return stream_all(client, models.generate_content_stream, **params)

    async def scenario() -> Any:
        return await first_then(await resolve(models.generate_content_stream(**params)))

    return drive(client, scenario)


def contract_tool_call(is_async: bool) -> Any:
    client, _ = genai_client(FUNCTION_CALL)
    models = models_of(client, is_async)
    declaration = {"name": "get_weather", "description": "Get current weather information"}
    config = {"tools": [{"function_declarations": [declaration]}]}
    question = "What's the weather like in San Francisco?"
    return call(client, models.generate_content, model="gemini-2.0-flash", contents=question, config=config)


def contract_error(is_async: bool) -> BaseException:
    hx = genai_httpx_module()
    client = handler_client(lambda request: hx.Response(400, json=ERROR_BODY))
    models = models_of(client, is_async)
    params = {
        "model": "gemini-2.5-flash",
        "contents": "Say this is a test",
        "config": {"temperature": 1000.0},
    }
    return raised(lambda: call(client, models.generate_content, **params))


def contract_error_type() -> type[BaseException]:
    from google.genai import errors

    return errors.ClientError
