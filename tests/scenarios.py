"""Driving the real provider SDKs in tests: the recordings they replay, and scenarios that run alike
with the sync and the async client.

Scenarios are written once as ``async def``: ``resolve()`` awaits only what the async client returns,
``drive()`` runs the scenario in an event loop and closes the client. A test runs with both clients
under ``@MODES`` (its ``is_async`` argument), with content capture off and on under ``@CAPTURE``.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import wrapt

from replay import load_cassette

# --- cassette contents (the oracle) --------------------------------------------------------------


class Recordings:
    """The cassettes of one folder: what their interactions sent and received."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def request(self, name: str, index: int = 0) -> dict[str, Any]:
        """The JSON body the recording sent in interaction `index`."""
        body: dict[str, Any] = load_cassette(self.folder / name).interactions[index].request.json()
        return body

    def response(self, name: str, index: int = 0) -> dict[str, Any]:
        """The (decompressed) JSON body the server answered in interaction `index`."""
        body: dict[str, Any] = load_cassette(self.folder / name).interactions[index].response.json()
        return body

    def sse(self, name: str, index: int = 0) -> list[dict[str, Any]]:
        """The JSON ``data:`` payloads of a recorded event stream, ``[DONE]`` excluded."""
        text = load_cassette(self.folder / name).interactions[index].response.text()
        return [
            json.loads(line[5:])
            for line in text.splitlines()
            if line.startswith("data:") and line[5:].strip() != "[DONE]"
        ]


def streamed_text(payloads: list[dict[str, Any]]) -> dict[int, str]:
    """Choice index -> the text its ``delta.content`` fragments add up to."""
    text: dict[int, str] = {}
    for payload in payloads:
        for choice in payload["choices"]:
            text[choice["index"]] = text.get(choice["index"], "") + (choice["delta"].get("content") or "")
    return text


WEATHER = {"Seattle, WA": "50 degrees and raining", "San Francisco, CA": "70 degrees and sunny"}


def answer_weather_calls(messages: list[Any], tool_calls: list[Any]) -> list[Any]:
    """`messages`, then the assistant's get_current_weather `tool_calls` (openai SDK objects) echoed
    and each answered from ``WEATHER``: the second turn of the openai tool-calls recording."""
    assistant = {
        "role": "assistant",
        "tool_calls": [
            {
                "id": c.id,
                "function": {"arguments": c.function.arguments, "name": c.function.name},
                "type": "function",
            }
            for c in tool_calls
        ],
    }
    answers = []
    for c in tool_calls:
        location = json.loads(c.function.arguments)["location"]
        answers.append({"role": "tool", "content": WEATHER[location], "tool_call_id": c.id})
    return [*messages, assistant, *answers]


# --- driving the SDK -------------------------------------------------------------------------------

MODES = pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
CAPTURE = pytest.mark.parametrize("capture_content", [False, True], ids=["content_off", "content_on"])


async def resolve(value: Any) -> Any:
    """Await what the async client returns; pass sync results through."""
    return await value if inspect.isawaitable(value) else value


async def collect(stream: Any) -> list[Any]:
    """Iterate a sync or async stream to the end."""
    if hasattr(stream, "__aiter__"):
        return [item async for item in stream]
    return list(stream)


def drive(client: Any, scenario: Callable[[], Awaitable[Any]]) -> Any:
    """Run `scenario` (sync or async client alike) and close the client afterwards, if it has a close()
    (mistralai's and google-genai < 3's have none)."""

    async def main() -> Any:
        try:
            return await scenario()
        finally:
            close = getattr(client, "close", None)
            if close is not None:
                await resolve(close())

    return asyncio.run(main())


class Closing:
    """What ``drive()`` closes for a client without a close() of its own (cohere's, ollama < 0.4's): the
    httpx client it sends with."""

    def __init__(self, http: Any) -> None:
        self.http = http

    def close(self) -> Any:
        aclose = getattr(self.http, "aclose", None)  # an httpx.AsyncClient
        return aclose() if aclose is not None else self.http.close()


def call(client: Any, method: Callable[..., Any], *args: Any, **params: Any) -> Any:
    """``method(*args, **params)`` to completion (``call(client, client.chat.completions.create, ...)``)."""
    return drive(client, lambda: resolve(method(*args, **params)))


def stream_all(client: Any, method: Callable[..., Any], *args: Any, **params: Any) -> list[Any]:
    """Call a streaming `method` and read every chunk."""

    async def scenario() -> list[Any]:
        return await collect(await resolve(method(*args, **params)))

    return drive(client, scenario)


def raised(run: Callable[[], Any]) -> BaseException:
    """The exception `run()` raised (it must raise one)."""
    try:
        run()
    except Exception as exc:
        return exc
    raise AssertionError("the scenario was expected to raise")


async def _next(stream: Any) -> Any:
    if hasattr(stream, "__aiter__"):
        return await stream.__aiter__().__anext__()
    return next(iter(stream))


async def first_then(stream: Any, leave: str = "drop", *, aclose: bool = True) -> Any:
    """Read the first item of a sync or async stream, then leave the stream: ``"drop"`` (or ``"break"``:
    unclosed, as a loop left early does), ``"close"`` (close(); for an async stream aclose(), or close()
    when `aclose` is False) or ``"with"`` (the item is read inside the stream's ``with`` block)."""
    if leave == "with":
        return await within(stream, _next)
    first = await _next(stream)
    if leave == "close":
        is_async = hasattr(stream, "__aiter__")
        await resolve(stream.aclose() if is_async and aclose else stream.close())
    else:
        assert leave in ("drop", "break"), leave
    return first


async def within(manager: Any, use: Callable[[Any], Any]) -> Any:
    """Enter a sync or async context manager and return ``use(what it gave)``, awaited if need be."""
    if hasattr(manager, "__aenter__"):
        async with manager as entered:
            return await resolve(use(entered))
    with manager as entered:
        return await resolve(use(entered))


class Consumed(NamedTuple):
    """What ``consume_helper()`` read, the helper's stream, and what its `final` method returned."""

    read: list[Any]
    stream: Any
    final: Any


async def consume_helper(
    manager: Any, *, stop_after: int | None = None, text_only: bool = False, final: str | None = None
) -> Consumed:
    """Enter a stream() helper's manager, read `stop_after` items (default: all) of its stream (of its
    ``text_stream`` when `text_only`) and exit; when all was read, the stream's `final` method is
    called in the block."""

    async def use(stream: Any) -> Consumed:
        read: list[Any] = []
        items = stream.text_stream if text_only else stream
        if hasattr(items, "__aiter__"):
            async for item in items:
                read.append(item)
                if len(read) == stop_after:
                    break
        else:
            for item in items:
                read.append(item)
                if len(read) == stop_after:
                    break
        result = await resolve(getattr(stream, final)()) if final and stop_after is None else None
        return Consumed(read, stream, result)

    consumed: Consumed = await within(manager, use)
    return consumed


def _sdk_of(obj: Any) -> str:
    """The name and version of the SDK `obj` (a module, or anything defined in one) belongs to."""
    module = getattr(obj, "__module__", None) or obj.__name__
    sdk = sys.modules[module.split(".")[0]]
    return f"{sdk.__name__} {getattr(sdk, '__version__', '')}".strip()


def require_params(method: Callable[..., Any], params: dict[str, Any]) -> dict[str, Any]:
    """`params`, skipping the test when this SDK's `method` does not take one of them (older SDKs)."""
    missing = sorted(set(params) - set(inspect.signature(method).parameters))
    if missing:
        pytest.skip(f"{_sdk_of(method)}: {method.__qualname__} takes no {missing}")
    return params


def sdk_kwargs(method: Callable[..., Any], **params: Any) -> dict[str, Any]:
    """`params` for `method`, those its signature lacks moved into ``extra_body`` (how users of an SDK
    older than a parameter send it)."""
    accepted = inspect.signature(method).parameters
    extra = {k: params.pop(k) for k in list(params) if k not in accepted}
    if extra:
        params["extra_body"] = {**params.get("extra_body", {}), **extra}
    return params


def needs(obj: Any, *path: str) -> Any:
    """``obj.<path>``, skipping the test when this SDK has no such API."""
    sdk = _sdk_of(obj)
    for name in path:
        if not hasattr(obj, name):
            pytest.skip(f"{sdk} has no {'.'.join(path)}")
        obj = getattr(obj, name)
    return obj


def json_answer(hx: Any, body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    """A transport handler (for `hx`, the httpx flavour of the SDK) answering every request with the JSON
    `body`; the requests are kept on it (``.seen``)."""
    seen: list[Any] = []

    def handler(request: Any) -> Any:
        seen.append(request)
        return hx.Response(status, headers={"content-type": "application/json", **(headers or {})}, json=body)

    handler.seen = seen  # type: ignore[attr-defined]
    return handler


# --- patching and processes ------------------------------------------------------------------------


def patch_targets(patches: Iterable[Any]) -> dict[str, tuple[Any, str, Any]]:
    """Every one of `patches` this SDK has: ``module:path`` -> (owner, attribute, current value)."""
    targets = {}
    for patch in patches:
        try:
            module = importlib.import_module(patch.module)
        except ImportError:  # e.g. a module a newer SDK no longer has
            continue
        owner: Any = module
        *owner_path, attribute = patch.path.split(".")
        for part in owner_path:
            owner = getattr(owner, part, None)
        value = inspect.getattr_static(owner, attribute, None) if owner is not None else None
        if value is not None:
            targets[f"{patch.module}:{patch.path}"] = (owner, attribute, value)
    return targets


def assert_wrapped_once(targets: dict[str, tuple[Any, str, Any]]) -> None:
    """Each of `targets` (from ``patch_targets()``) is now a wrapt wrapper of its original, wrapped once."""
    for key, (owner, attribute, original) in targets.items():
        wrapped = inspect.getattr_static(owner, attribute)
        assert isinstance(wrapped, wrapt.FunctionWrapper), key
        assert wrapped.__wrapped__ is original, key


def assert_restored(targets: dict[str, tuple[Any, str, Any]]) -> None:
    """Each of `targets` (from ``patch_targets()``) is its original again."""
    for key, (owner, attribute, original) in targets.items():
        assert inspect.getattr_static(owner, attribute) is original, key


SCRIPT = """
import json, sys
tests_dir, *args = sys.argv[1:]
sys.path.insert(0, tests_dir)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
"""
"""The start of a script for ``run_script(script, tests_dir, *args)``: the tests folder importable, the
other arguments in ``args``, and a tracer ``provider`` whose spans go to ``exporter``."""

_SCOPES = """
from opentelemetry import trace
trace.set_tracer_provider(provider)  # the application's global provider: the SDK's spans go there too
import llmtrace
[cassette] = args

def one_call():
CALL
    scopes = [s.instrumentation_scope.name for s in exporter.get_finished_spans()]
    exporter.clear()
    return scopes

before = one_call()
handle = llmtrace.instrument(exporter="none", raise_internal_errors=True)
during = one_call()
handle.uninstrument()
after = one_call()
print(json.dumps({"before": before, "during": during, "after": after}))
"""


def scopes_script(call: str) -> str:
    """A script for ``run_script(script, tests_dir, cassette)`` printing the instrumentation scopes of the
    spans the application's global tracer provider gets from one SDK call (`call`: Python lines that
    make it, from the recording ``cassette``), before, during and after instrument()."""
    lines = "\n".join(f"    {line}" for line in call.strip().splitlines())
    return SCRIPT + _SCOPES.replace("CALL", lines)


def run_script(script: str, *args: str, drop_env: tuple[str, ...], **env: str) -> Any:
    """Run `script` in a new interpreter, in this environment less the variables starting with `drop_env`
    plus `env`; the JSON of its last output line."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith(drop_env)}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        env={**environ, **env},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])
