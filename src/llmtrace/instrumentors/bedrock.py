"""Amazon Bedrock through boto3/botocore ``bedrock-runtime``: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream.

Only maps Bedrock's shapes into call records; the core does the rest. Works with botocore 1.34.x and
later (the first with Converse; older clients have no converse methods, and their InvokeModel calls are
traced all the same).

Where it hooks in. botocore builds each client class at run time from the service model (botocore
1.44.5: client.py, ``ClientCreator._create_client_class`` and ``_create_api_method``), so there is no
``BedrockRuntime.converse`` to patch, and patching the classes on the ``creating-client-class`` event
would miss the clients created before ``instrument()`` and need a handler on every botocore session.
Every API method of every client calls ``BaseClient._make_api_call(operation_name, api_params)`` once
per user call, around signing, sending and botocore's retries (endpoint.py,
``Endpoint._send_request`` loops over the attempts inside it). That one method is wrapped: a call of
any other service or operation goes straight through after a dict lookup; a call of one of the four
Bedrock operations is one span that covers every retry. aiobotocore (and so aioboto3) overrides
``_make_api_call`` with a coroutine of its own: its async clients are not traced.

What the user gets is the dict botocore returned, with one entry swapped:

* ConverseStream's ``stream`` and InvokeModelWithResponseStream's ``body`` (an ``EventStream``) become a
  proxy of it that is traced as it is iterated; ``close()`` and ``isinstance`` work as before.
* InvokeModel's ``body`` (a ``StreamingBody``) is read for the response's usage, id and content, and
  replaced by a ``StreamingBody`` over the same bytes, so ``read()``, ``iter_lines()``, ``iter_chunks()``
  and ``close()`` behave as before. Chosen over a lazy proxy because every caller reads the whole JSON
  body anyway, the replacement is the SDK's own class, and the span ends when the call returns, not
  when (or whether) the body is read. Should the read fail (a connection broken mid-body), the user's
  body raises that same error when read, where the user would have met it. With no recording span and
  no metrics the body is not touched.
"""

from __future__ import annotations

import io
import json
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from llmtrace import _semconv as sc
from llmtrace._core import Call
from llmtrace._patch import Endpoint, Finisher, Patch, finish, start, traced
from llmtrace._records import LLMRequest, LLMResponse
from llmtrace._safety import internal_error, log
from llmtrace._stream import StreamProxy
from llmtrace.instrumentors import _bedrock_models as models
from llmtrace.instrumentors import _kept as kept
from llmtrace.instrumentors._bedrock_content import (
    CONVERSE_PARAMS,
    ConverseFold,
    converse_messages,
    converse_output,
    converse_system,
    converse_tools,
    converse_usage,
    first,
    header_usage,
    set_params,
)

PROVIDER = "aws.bedrock"
SERVICE = "bedrock-runtime"

_servers: dict[str, tuple[str | None, int | None]] = {}


def _server(client: Any) -> tuple[str | None, int | None]:
    """The host and port of a client's endpoint (cached per URL, bounded: URLs come from user code)."""
    url = str(client.meta.endpoint_url)
    cached = _servers.get(url)
    if cached is None:
        parts = urlsplit(url)
        host = parts.hostname
        cached = (host, (parts.port or (443 if parts.scheme == "https" else 80)) if host else None)
        if len(_servers) < 256:
            _servers[url] = cached
    return cached


def _request(client: Any, params: Mapping[str, Any], operation: str, stream: bool) -> LLMRequest:
    host, port = _server(client)
    request = LLMRequest(
        operation=operation,
        provider=PROVIDER,
        model=params.get("modelId"),
        server_address=host,
        server_port=port,
        stream=stream,
    )
    # Converse takes guardrailConfig; InvokeModel takes guardrailIdentifier beside the body.
    guardrail = first(params.get("guardrailConfig"), "guardrailIdentifier") or params.get(
        "guardrailIdentifier"
    )
    if guardrail:
        request.params[sc.AWS_BEDROCK_GUARDRAIL_ID] = str(guardrail)
    return request


def _note(response: LLMResponse, metadata: Any) -> LLMResponse:
    """The AWS request id (``x-amzn-RequestId``) as ``aws.request_id``: Converse has no response id."""
    request_id = first(metadata, "RequestId")
    if request_id:
        response.attributes[sc.AWS_REQUEST_ID] = str(request_id)
    return response


# --- Converse, ConverseStream ---------------------------------------------------------------------


def converse_request(client: Any, params: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``converse(...)`` parameters."""
    return _converse_request(client, params, capture, stream=False)


def converse_stream_request(client: Any, params: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``converse_stream(...)`` parameters."""
    return _converse_request(client, params, capture, stream=True)


def _converse_request(client: Any, params: Mapping[str, Any], capture: bool, stream: bool) -> LLMRequest:
    request = _request(client, params, sc.OP_CHAT, stream)
    set_params(request.params, params.get("inferenceConfig"), CONVERSE_PARAMS)
    # Model-specific fields: Anthropic's top_k, Nova's inferenceConfig.topK and reasoning effort.
    extra = params.get("additionalModelRequestFields")
    top_k = first(extra, "top_k", "topK") or first(first(extra, "inferenceConfig"), "topK")
    set_params(request.params, {"top_k": top_k}, ((sc.GEN_AI_REQUEST_TOP_K, ("top_k",)),))
    effort = first(extra, "reasoning_effort") or first(first(extra, "reasoningConfig"), "maxReasoningEffort")
    if isinstance(effort, str):
        request.params[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    if capture:
        request.input_messages = converse_messages(params.get("messages"))
        request.system_instructions = converse_system(params.get("system"))
        request.tool_definitions = converse_tools(params.get("toolConfig"))
    return request


def converse_response(result: Any, capture: bool) -> LLMResponse:
    """Map a Converse response: stop reason, usage (cache reads and writes included), the reply."""
    stop = result.get("stopReason")
    response = LLMResponse(finish_reasons=[stop] if stop else None, usage=converse_usage(result.get("usage")))
    if capture:
        response.output_messages = [converse_output(first(result.get("output"), "message"), stop)]
    return _note(response, result.get("ResponseMetadata"))


class ConverseAccumulator(ConverseFold):
    """Folds ConverseStream events (``messageStart`` ... ``metadata`` with the usage)."""

    __slots__ = ("metadata",)

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        super().__init__(capture, kept.keep(request, capture))
        self.metadata: Any = None

    def result(self) -> LLMResponse:
        return _note(super().result(), self.metadata)


# --- InvokeModel, InvokeModelWithResponseStream ------------------------------------------------------


def _json(value: Any) -> Any:
    """A JSON request or response body, decoded; None for a file object or anything not JSON."""
    if not isinstance(value, (bytes, bytearray, memoryview, str)):
        return None  # a file object: reading it here would consume the user's stream
    try:
        body = json.loads(bytes(value) if isinstance(value, memoryview) else value)
    except ValueError:
        return None
    return body if isinstance(body, Mapping) else None


def invoke_request(client: Any, params: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``invoke_model(...)`` parameters: the body's, by model family."""
    return _invoke_request(client, params, capture, stream=False)


def invoke_stream_request(client: Any, params: Mapping[str, Any], capture: bool) -> LLMRequest:
    """Map ``invoke_model_with_response_stream(...)`` parameters."""
    return _invoke_request(client, params, capture, stream=True)


def _invoke_request(client: Any, params: Mapping[str, Any], capture: bool, stream: bool) -> LLMRequest:
    request = _request(client, params, sc.OP_CHAT, stream)
    body = _json(params.get("body"))
    if body is not None:
        models.invoke_request(request, body, capture)
    return request


class _Failed(io.RawIOBase):
    """A body whose read failed: reading it raises that failure again."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self._error = error

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        raise self._error

    def readinto(self, buffer: Any) -> int:
        raise self._error


def _read_body(result: Any) -> bytes | None:
    """Read InvokeModel's StreamingBody and give the user an equivalent one over the same bytes."""
    body = result.get("body")
    read = getattr(body, "read", None)
    if read is None:
        return None
    from botocore.response import StreamingBody  # type: ignore[import-not-found, import-untyped, unused-ignore]

    try:
        data = read()  # as users read it: all of it, then the content length is checked
    except Exception as exc:  # the SDK's error: the user meets it where they would have, reading the body
        result["body"] = StreamingBody(_Failed(exc), None)
        log.debug("llmtrace: reading an InvokeModel body failed", exc_info=True)
        return None
    result["body"] = StreamingBody(io.BytesIO(data), len(data))
    return bytes(data)


def invoke_response(result: Any, capture: bool) -> LLMResponse:
    """Map an InvokeModel response: its body by shape; usage from the body, else Bedrock's headers."""
    data = _read_body(result)
    body = _json(data) if data is not None else None
    response = models.response_of(body, capture) if body is not None else LLMResponse()
    metadata = result.get("ResponseMetadata")
    if response.usage is None:
        response.usage = header_usage(first(metadata, "HTTPHeaders"))
        if response.usage is not None and sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT in response.attributes:
            response.usage.output_tokens = None  # embeddings produce no output tokens
    return _note(response, metadata)


class InvokeAccumulator:
    """Keeps the chunks of an InvokeModelWithResponseStream (their ``bytes``: the model's own JSON
    events), decoded at the end. Always kept: the first and the last few (ids and input usage come
    first; stop reason, output usage and invocation metrics last). With capture on, those between too,
    decoded as they leave the last few, each kept while the text of its part (a content block, the
    generated text) is within `LLMRequest.keep_chars`."""

    __slots__ = ("_between", "_capture", "_first", "_keep", "_last", "_used", "metadata")

    def __init__(self, request: LLMRequest, capture: bool) -> None:
        self._capture = capture
        self._keep = kept.keep(request, capture) or 0
        self._first: Any = None
        self._last: deque[Any] = deque(maxlen=_LAST)
        self._between: list[dict[str, Any]] = []
        self._used: dict[Any, int] = {}
        self.metadata: Any = None

    def add(self, event: Any) -> None:
        chunk = event.get("chunk")
        if chunk is None:
            return
        if self._first is None:
            self._first = chunk.get("bytes")
            return
        last = self._last
        if self._capture and len(last) == _LAST:
            self._keep_between(last[0])
        last.append(chunk.get("bytes"))

    def _keep_between(self, data: Any) -> None:
        event = _event(data)
        if event is None:
            return
        text = models.stream_text(event)
        if text is not None:
            part, size = text
            used = self._used.get(part, 0)
            if used >= self._keep:
                return
            self._used[part] = used + size
        self._between.append(event)

    def result(self) -> LLMResponse:
        head = _event(self._first) if self._first is not None else None
        events: list[Mapping[str, Any]] = [head] if head is not None else []
        events += self._between
        events += [event for event in map(_event, self._last) if event is not None]
        return _note(models.stream_response(events, self._capture), self.metadata)


_LAST = 4


def _event(data: Any) -> dict[str, Any] | None:
    """A chunk's JSON event, decoded (None: not a JSON object)."""
    try:  # UTF-8 JSON: decoded first, json.loads would sniff the encoding of bytes
        event = json.loads(data.decode() if isinstance(data, bytes) else data)
    except (ValueError, TypeError, AttributeError):
        return None
    return event if type(event) is dict else None


# --- the patch ----------------------------------------------------------------------------------


Accumulate = Callable[[LLMRequest, bool], "ConverseAccumulator | InvokeAccumulator"]


def _streamed(key: str, accumulator: Accumulate) -> Finisher:
    """Finish a streaming call: its result's `key` entry becomes a traced stream (the span ends with it)."""

    def then(call: Call, result: Any, is_async: bool) -> Any:
        try:
            fold = accumulator(call.request, call.runtime.settings.capture_content)
            fold.metadata = result.get("ResponseMetadata")
            # botocore's EventStream is iterable, not an iterator: the proxy iterates it, and close()
            # and isinstance() stay the EventStream's (botocore 1.44.5: eventstream.py, EventStream).
            result[key] = StreamProxy(result[key], call, fold)
        except Exception:
            internal_error("finish")
            call.finish(None)
        return result

    return then


def _nothing(result: Any, capture: bool) -> None:
    return None  # a streamed call's response is folded from its events


def _traced_operation(endpoint: Endpoint, then: Finisher | None = None) -> Any:
    """The traced wrapper of one operation, called as ``_make_api_call(operation_name, api_params)``:
    its request mapper gets the client and `api_params` (the operation's keyword arguments)."""

    def open_call(client: Any, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Call | None:
        return start(endpoint, client, args[1])

    def end(call: Call, result: Any, is_async: bool) -> Any:
        return finish(call, endpoint, result, is_async)

    return traced(open_call, then or end)[0]


_OPERATIONS = {
    "Converse": _traced_operation(Endpoint(converse_request, converse_response)),
    "ConverseStream": _traced_operation(
        Endpoint(converse_stream_request, _nothing), _streamed("stream", ConverseAccumulator)
    ),
    "InvokeModel": _traced_operation(Endpoint(invoke_request, invoke_response)),
    "InvokeModelWithResponseStream": _traced_operation(
        Endpoint(invoke_stream_request, _nothing), _streamed("body", InvokeAccumulator)
    ),
}


def make_api_call(wrapped: Any, instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Raw wrapper of ``BaseClient._make_api_call(operation_name, api_params)``: the four Bedrock
    runtime operations are traced, every other call passes straight through."""
    operation = _OPERATIONS.get(args[0]) if len(args) == 2 else None
    if operation is None or instance.meta.service_model.service_name != SERVICE:
        return wrapped(*args, **kwargs)
    return operation(wrapped, instance, args, kwargs)


PATCHES = (Patch("botocore.client", "BaseClient._make_api_call", wrapper=make_api_call),)
