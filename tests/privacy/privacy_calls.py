"""Every call the privacy tests make: the provider contract's scenarios (tests/contract/cases.py), each
recording replayed with the arguments it was recorded with, failing calls (401, 500, connection errors)
for every provider, and the decorators around a model call.

Each call is ``(name, run)``; `run()` returns what the user got (a failing call returns its exception).
"""

from __future__ import annotations

import asyncio
import functools
import gc
import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import llmtrace
from replay import anthropic_client, anthropic_httpx_module, load_cassette, openai_client, openai_httpx_module
from scenarios import collect, drive, resolve

TESTS = Path(__file__).resolve().parent.parent
CASSETTES = TESTS / "cassettes"
if str(TESTS / "contract") not in sys.path:  # the contract's cases, when its folder is not collected
    sys.path.append(str(TESTS / "contract"))

from cases import CASES, installed  # noqa: E402
from cases import _raises as _raised  # noqa: E402

SCENARIOS = ("nonstream", "stream", "stream_break", "tool_call", "error")

Call = tuple[str, Callable[[], Any]]


def available() -> list[str]:
    """The providers whose SDK is installed here (the contract's cases)."""
    return [name for name, case in CASES.items() if installed(case)]


def contract_calls() -> list[Call]:
    """Every contract scenario of every installed provider, sync and async."""
    calls: list[Call] = []
    for name in available():
        case = CASES[name]
        for scenario in SCENARIOS:
            for is_async in case.is_async:
                label = f"{name}-{scenario}-{'async' if is_async else 'sync'}"
                calls.append((label, functools.partial(getattr(case, scenario), is_async)))
    return calls


# --- every recording, replayed with its own arguments ----------------------------------------------


def _recorded(path: Path) -> dict[str, Any]:
    body: dict[str, Any] = load_cassette(path).interactions[0].request.json()
    return body


def _stainless(client: Any, method: Callable[..., Any], params: dict[str, Any]) -> Any:
    async def scenario() -> Any:
        result = await resolve(method(**params))
        return await collect(result) if params.get("stream") else result

    return drive(client, scenario)


def _openai(path: Path, base_url: str = "https://api.openai.com/v1") -> Any:
    client, _ = openai_client(path, interactions=[0], base_url=base_url)
    params = _recorded(path)
    endpoint = load_cassette(path).interactions[0].request.path.rsplit("/v1/", 1)[1]
    method = {
        "chat/completions": client.chat.completions.create,
        "completions": client.completions.create,
        "embeddings": client.embeddings.create,
        "responses": client.responses.create,
    }[endpoint]
    if endpoint == "chat/completions" and "error" in path.name:
        return _raised(lambda: _stainless(client, method, params))
    return _stainless(client, method, params)


def _anthropic(path: Path) -> Any:
    client, _ = anthropic_client(path, interactions=[0])
    return _stainless(client, client.messages.create, _recorded(path))


def _cohere(path: Path) -> Any:
    import replay_cohere

    client, closing, _ = replay_cohere.replay(path.name, interactions=[0])
    params = replay_cohere.recorded_request(path.name)
    if "embed" in path.name:
        return replay_cohere.run(closing, client.embed, **params)
    if "stream" in path.name:
        return replay_cohere.read_stream(closing, client.chat_stream, **params)
    return replay_cohere.run(closing, client.chat, **params)


def _mistral(path: Path) -> Any:
    import replay_mistralai

    client, _ = replay_mistralai.mistral_client(path.name)
    params = _recorded(path)
    if params.pop("stream", False):
        return replay_mistralai.run(lambda: collect(client.chat.stream(**params)))
    return replay_mistralai.run(lambda: resolve(client.chat.complete(**params)))


def _ollama(path: Path) -> Any:
    import replay_ollama

    client, closing, _ = replay_ollama.replay(path.name)
    params = _recorded(path)
    return replay_ollama.run(closing, client.chat, **params)


def _bedrock(path: Path) -> Any:
    from replay_bedrock import bedrock_client

    client, _ = bedrock_client(path, interactions=[0])
    request = load_cassette(path).interactions[0].request
    _, model, operation = request.path.rsplit("/", 2)
    if operation.startswith("converse"):
        params = {"modelId": model, **request.json()}
        if operation == "converse-stream":
            return list(client.converse_stream(**params)["stream"])
        if "error" in path.name:
            return _raised(lambda: client.converse(**params))
        return client.converse(**params)
    params = {"modelId": model, "body": request.body}
    if operation == "invoke":
        return client.invoke_model(**params)["body"].read()
    return list(client.invoke_model_with_response_stream(**params)["body"])


_RECORDINGS: dict[str, tuple[str, Callable[[Path], Any], tuple[str, ...]]] = {
    # provider: (folder, driver, recordings left out: the contract or a fixture drives them differently)
    "openai": ("openai", _openai, ()),
    "anthropic": ("anthropic", _anthropic, ("messages_beta_structured_output_claude-sonnet-4-5_sdk0.74",)),
    "bedrock": ("bedrock", _bedrock, ()),
    "cohere": ("cohere", _cohere, ("chat_v1_command_httpx-ua",)),
    "mistralai": ("mistral", _mistral, ()),
    "ollama": ("ollama", _ollama, ()),
}


def recorded_calls() -> list[Call]:
    """Every recording of the providers above replayed once with the request it recorded (the first
    interaction), and the Together recording through the openai client."""
    calls: list[Call] = []
    for provider, (folder, driver, left_out) in _RECORDINGS.items():
        if provider not in available():
            continue
        for path in sorted((CASSETTES / folder).glob("*.yaml")):
            if path.stem not in left_out:
                calls.append((f"{folder}/{path.stem}", functools.partial(driver, path)))
    if "openai" in available():
        together = CASSETTES / "together" / "chat_stream_llama-3.3-70b_headers_stripped.yaml"
        calls.append(("together", lambda: _openai(together, "https://api.together.ai/v1")))
    return calls


# --- failing calls ---------------------------------------------------------------------------------

FAILURES = (401, 500, "connect")
"""What the failing calls get: an HTTP 401, an HTTP 500, or an error raised by the transport."""
SENT: list[str] = []
"""The URL and headers of every request the failing calls sent (the credentials did reach the SDKs)."""


def _sent(url: Any, headers: Any) -> None:
    SENT.append(" ".join([str(url), *(f"{k}: {v}" for k, v in headers.items())]))


def _httpx_answer(httpx: Any, failure: int | str, body: dict[str, Any]) -> Any:
    """A MockTransport answering every request with `failure` (a status with `body`, or a connect
    error whose message carries the body's text, as proxies and resolvers put URLs in theirs)."""

    def handler(request: Any) -> Any:
        _sent(request.url, request.headers)
        if failure == "connect":
            raise httpx.ConnectError(f"cannot reach upstream: {json.dumps(body)}", request=request)
        return httpx.Response(int(failure), json=body, request=request)

    return httpx.MockTransport(handler)


def _stainless_failure(sdk: str, kind: str, httpx: Any, failure: int | str, body: dict[str, Any]) -> Any:
    module = importlib.import_module(sdk)
    transport = _httpx_answer(httpx, failure, body)
    client = getattr(module, kind)(
        api_key="test", max_retries=0, http_client=httpx.Client(transport=transport)
    )
    return client


def failing_calls(body: dict[str, Any]) -> list[Call]:
    """One call per installed provider and failure in `FAILURES`, each answered with `body`."""
    calls: list[Call] = []
    for provider in available():
        fail = _FAILING[provider]
        for failure in FAILURES:
            calls.append(
                (f"{provider}-{failure}", functools.partial(_raised, functools.partial(fail, failure, body)))
            )
    return calls


def _openai_fail(failure: int | str, body: dict[str, Any]) -> Any:
    client = _stainless_failure("openai", "OpenAI", openai_httpx_module(), failure, body)
    return client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])


def _anthropic_fail(failure: int | str, body: dict[str, Any]) -> Any:
    client = _stainless_failure("anthropic", "Anthropic", anthropic_httpx_module(), failure, body)
    return client.messages.create(
        model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "Hi"}]
    )


def _groq_fail(failure: int | str, body: dict[str, Any]) -> Any:
    import httpx

    import replay_groq

    client = replay_groq.groq_client(_httpx_answer(httpx, failure, body))
    return client.chat.completions.create(model="llama-3.3-70b-versatile", messages=replay_groq.QUESTION)


def _cohere_fail(failure: int | str, body: dict[str, Any]) -> Any:
    import httpx

    import replay_cohere

    client, _ = replay_cohere.cohere_client(_httpx_answer(httpx, failure, body), max_retries=0)
    return client.chat(model="command-r", messages=[{"role": "user", "content": "Hi"}])


def _mistral_fail(failure: int | str, body: dict[str, Any]) -> Any:
    import replay_mistralai

    hx = replay_mistralai.mistral_httpx_module()
    client = replay_mistralai.handler_client(_httpx_answer(hx, failure, body).handler)
    return client.chat.complete(model="mistral-small-latest", messages=replay_mistralai.JOKE)


def _genai_fail(failure: int | str, body: dict[str, Any]) -> Any:
    import replay_google_genai

    hx = replay_google_genai.genai_httpx_module()
    client = replay_google_genai.handler_client(_httpx_answer(hx, failure, body).handler)
    return client.models.generate_content(model="gemini-2.5-flash", contents="Hi")


def _ollama_fail(failure: int | str, body: dict[str, Any]) -> Any:
    import httpx

    import replay_ollama

    client = replay_ollama.ollama_client(_httpx_answer(httpx, failure, body))
    return client.chat("llama3", [{"role": "user", "content": "Hi"}])


def _bedrock_fail(failure: int | str, body: dict[str, Any]) -> Any:
    from replay_bedrock import answering_client

    if failure == "connect":

        def answer(request: Any) -> Any:
            from botocore.exceptions import EndpointConnectionError

            raise EndpointConnectionError(endpoint_url=f"{request.url} {json.dumps(body)}")

    else:
        from replay_bedrock import answer as respond

        error = {"__type": "UnrecognizedClientException" if failure == 401 else "InternalServerException"}
        answer = respond(int(failure), {**error, "message": json.dumps(body)})

    def sent(request: Any) -> Any:
        _sent(request.url, request.headers)
        return answer(request)

    client, _ = answering_client(sent)
    return client.converse(
        modelId="amazon.nova-micro-v1:0", messages=[{"role": "user", "content": [{"text": "Hi"}]}]
    )


def _litellm_fail(failure: int | str, body: dict[str, Any]) -> Any:
    import httpx

    import replay_litellm

    route = {
        "client": replay_litellm._handler(httpx, _httpx_answer(httpx, failure, body), False),
        "api_key": "test",
    }
    messages = [{"role": "user", "content": "Hi"}]
    return replay_litellm.run(
        False, "completion", model="anthropic/claude-sonnet-4-6", max_tokens=8, messages=messages, **route
    )


_FAILING: dict[str, Callable[[int | str, dict[str, Any]], Any]] = {
    "openai": _openai_fail,
    "anthropic": _anthropic_fail,
    "bedrock": _bedrock_fail,
    "google_genai": _genai_fail,
    "mistralai": _mistral_fail,
    "cohere": _cohere_fail,
    "groq": _groq_fail,
    "ollama": _ollama_fail,
    "litellm": _litellm_fail,
}


# --- the decorators -------------------------------------------------------------------------------

DECORATED = {
    "question": "Which plan suits a team of four? (decorated workflow question)",
    "variable": "Ms. Example from the decorated prompt variable",
    "query": "pricing for small teams (decorated retrieval query)",
    "document": "doc-decorated-pricing-page",
    "argument": "seats=4 (decorated tool argument)",
    "result": "The team plan costs 40 dollars (decorated tool result)",
    "output": "Take the team plan (decorated step output)",
}
"""The content the decorated run handles (each must stay off spans with content capture off)."""


def decorated_run() -> Any:
    """A workflow -> agent -> retriever, tool, step, and a model call under a prompt template."""

    @llmtrace.retriever(data_source="kb")
    def search(query: str, k: int = 2) -> list[dict[str, Any]]:
        return [{"id": DECORATED["document"], "score": 0.9, "text": DECORATED["result"]}]

    @llmtrace.tool
    def price(arguments: str) -> str:
        """Price a plan."""
        return json.dumps({"answer": DECORATED["result"]})

    @llmtrace.step
    async def answer(text: str) -> str:
        return DECORATED["output"]

    @llmtrace.agent(name="advisor")
    def advise(question: str) -> str:
        search(DECORATED["query"], k=2)
        price(DECORATED["argument"])
        greeting = llmtrace.Prompt("greet", "Hello {name}, you asked: {question}")
        text = greeting.format(name=DECORATED["variable"], question=question)
        client, _ = openai_client(CASSETTES / "openai" / "chat_nonstream_n2_multiple_choices.yaml")
        drive(
            client,
            lambda: resolve(
                client.chat.completions.create(
                    model="gpt-4o-mini", messages=[{"role": "user", "content": text}], n=2
                )
            ),
        )
        return asyncio.run(answer(question))

    @llmtrace.workflow
    def support(question: str) -> str:
        with llmtrace.attributes(user_id="u-1", tenant_id="acme"):
            return advise(question)

    return support(DECORATED["question"])


def every_call(failure_body: dict[str, Any]) -> list[Call]:
    """The contract scenarios, every recording, the failing calls and the decorated run."""
    return [*contract_calls(), *recorded_calls(), *failing_calls(failure_body), ("decorators", decorated_run)]


def run_all(calls: list[Call]) -> dict[str, Any]:
    """Run each call; name -> what it returned. Dropped streams are collected so their spans end."""
    results = {name: run() for name, run in calls}
    gc.collect()
    return results
