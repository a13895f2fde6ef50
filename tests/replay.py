"""Replay recorded vcrpy cassettes through an httpx-style ``MockTransport``.

A small, dependency-free stand-in for vcrpy's ``record_mode="none"``: the
cassette is parsed with PyYAML and served by the ``MockTransport`` of whichever
httpx flavour the SDK under test uses (``httpx`` for openai 1.x/2.x and anthropic
< 2, ``httpx2`` for openai >= 3 and anthropic >= 2), so the real SDK code runs end
to end without a network.

Example::

    client, transport = openai_client(CASSETTES / "chat_stream_gpt-4_include_usage.yaml")
    for chunk in client.chat.completions.create(model="gpt-4", messages=[...], stream=True):
        ...
    assert transport.all_played
    assert transport.request_json()["stream"] is True
"""

from __future__ import annotations

import functools
import gzip
import importlib
import json
import zlib
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar, overload
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml

if TYPE_CHECKING:
    import anthropic
    import openai

__all__ = [
    "Cassette",
    "Interaction",
    "RecordedRequest",
    "RecordedResponse",
    "ReplayTransport",
    "anthropic_client",
    "anthropic_httpx_module",
    "load_cassette",
    "openai_client",
    "openai_httpx_module",
]

# Hop-by-hop / framing headers that no longer describe the stored body: the
# otel-contrib cassettes re-indent JSON bodies, and replay re-frames the body.
_DROPPED_RESPONSE_HEADERS = frozenset({"content-length", "transfer-encoding"})


def _as_bytes(value: object) -> bytes:
    """Return a recorded body (``str``, ``!!binary`` bytes or ``None``) as bytes."""
    if value is None:
        return b""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    raise TypeError(f"unsupported recorded body type: {type(value).__name__}")


def _as_str(value: object) -> str:
    """Return a header value (``str`` or ``!!binary`` bytes) as a string."""
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return str(value)


def _header_pairs(raw: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...]:
    """Flatten vcrpy headers (values are lists, or occasionally bare strings)."""
    pairs: list[tuple[str, str]] = []
    for name, values in (raw or {}).items():
        items = values if isinstance(values, list) else [values]
        pairs.extend((str(name), _as_str(v)) for v in items)
    return tuple(pairs)


def _decode_content(body: bytes, headers: Sequence[tuple[str, str]]) -> bytes:
    """Undo ``Content-Encoding: gzip``/``deflate`` for reading a body by hand."""
    encodings = [v.strip().lower() for k, v in headers if k.lower() == "content-encoding"]
    for encoding in reversed(encodings):
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "deflate":
            body = zlib.decompress(body)
        elif encoding not in ("", "identity"):
            raise ValueError(f"unsupported content-encoding: {encoding}")
    return body


def _query_items(query: str) -> list[tuple[str, str]]:
    return sorted(parse_qsl(query, keep_blank_values=True))


@dataclass(frozen=True)
class RecordedRequest:
    """The request side of one recorded interaction."""

    method: str
    uri: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def path(self) -> str:
        """URL path, percent-decoded (the fragment is ignored)."""
        return unquote(urlsplit(self.uri).path)

    @property
    def query(self) -> list[tuple[str, str]]:
        """Sorted query parameters."""
        return _query_items(urlsplit(self.uri).query)

    def json(self) -> Any:
        """The recorded request body parsed as JSON."""
        return json.loads(self.body)


@dataclass(frozen=True)
class RecordedResponse:
    """The response side of one recorded interaction (body as stored, maybe gzip)."""

    status_code: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """First value of a header, case-insensitively, or ``None``."""
        lname = name.lower()
        return next((v for k, v in self.headers if k.lower() == lname), None)

    def content(self) -> bytes:
        """The body with any ``Content-Encoding`` removed."""
        return _decode_content(self.body, self.headers)

    def text(self) -> str:
        """The decoded body as UTF-8 text."""
        return self.content().decode("utf-8")

    def json(self) -> Any:
        """The decoded body parsed as JSON."""
        return json.loads(self.content())


@dataclass(frozen=True)
class Interaction:
    """One recorded request/response pair."""

    request: RecordedRequest
    response: RecordedResponse


def _parse_interaction(raw: Mapping[str, Any]) -> Interaction:
    req, resp = raw["request"], raw["response"]
    req_body = req.get("body")
    if isinstance(req_body, Mapping):  # some vcrpy serialisers nest it like responses
        req_body = req_body.get("string")
    resp_body = resp.get("body")
    if isinstance(resp_body, Mapping):
        resp_body = resp_body.get("string")
    status = resp.get("status") or {}
    return Interaction(
        request=RecordedRequest(
            method=str(req["method"]).upper(),
            uri=str(req["uri"]),
            headers=_header_pairs(req.get("headers")),
            body=_as_bytes(req_body),
        ),
        response=RecordedResponse(
            status_code=int(status.get("code", 200)),
            reason=str(status.get("message") or ""),
            headers=_header_pairs(resp.get("headers")),
            body=_as_bytes(resp_body),
        ),
    )


@dataclass(frozen=True)
class Cassette:
    """A parsed vcrpy cassette."""

    path: Path
    interactions: tuple[Interaction, ...]

    def transport(
        self,
        httpx_module: ModuleType,
        *,
        interactions: Sequence[int] | None = None,
        is_async: bool = False,
        chunk_size: int | None = None,
        match_query: bool = True,
    ) -> ReplayTransport:
        """Build a ``httpx_module.MockTransport`` serving this cassette.

        ``interactions`` selects recorded indices to serve, in the given order
        (default: all). ``chunk_size`` serves each body as an iterator of
        ``chunk_size``-byte pieces (async iterator when ``is_async``) instead of
        one piece. ``match_query=False`` ignores the query string when matching.
        """
        indices = list(range(len(self.interactions))) if interactions is None else list(interactions)
        for index in indices:
            if not 0 <= index < len(self.interactions):
                count = len(self.interactions)
                raise IndexError(f"{self.path.name}: no interaction #{index} ({count} recorded)")
        if chunk_size is not None and chunk_size < 1:
            raise ValueError("chunk_size must be a positive number of bytes")
        cls = _transport_class(httpx_module)
        return cls(
            self,
            httpx_module,
            indices,
            is_async=is_async,
            chunk_size=chunk_size,
            match_query=match_query,
        )


def load_cassette(path: str | PathLike[str]) -> Cassette:
    """Parse a vcrpy YAML cassette (``!!binary`` bodies included) with ``yaml.safe_load``."""
    cassette_path = Path(path)
    with cassette_path.open(encoding="utf-8") as fh:
        data = yaml.safe_load(fh)
    if not isinstance(data, Mapping) or not isinstance(data.get("interactions"), list):
        raise ValueError(f"{cassette_path}: not a vcrpy cassette (no 'interactions' list)")
    return Cassette(
        path=cassette_path,
        interactions=tuple(_parse_interaction(item) for item in data["interactions"]),
    )


def _sync_chunks(body: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


async def _async_chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


class ReplayTransport:
    """Replay logic mixed into the httpx module's ``MockTransport``.

    Instances are created by :meth:`Cassette.transport`; they are real
    ``MockTransport`` (hence ``BaseTransport``/``AsyncBaseTransport``) objects.
    """

    def __init__(
        self,
        cassette: Cassette,
        httpx_module: ModuleType,
        indices: list[int],
        *,
        is_async: bool,
        chunk_size: int | None,
        match_query: bool,
    ) -> None:
        self.cassette = cassette
        self.httpx = httpx_module
        self.indices = indices
        self.is_async = is_async
        self.chunk_size = chunk_size
        self.match_query = match_query
        #: Requests received, in order (bodies already read), matched or not.
        self.requests: list[Any] = []
        #: Recorded indices served so far.
        self.played: list[int] = []
        #: Messages of mismatch/exhaustion errors (SDKs may wrap the AssertionError).
        self.errors: list[str] = []
        httpx_module.MockTransport.__init__(self, self._handle)

    @property
    def all_played(self) -> bool:
        """True when every selected interaction was served and nothing went wrong."""
        return len(self.played) == len(self.indices) and not self.errors

    def request_json(self, index: int = -1) -> Any:
        """JSON body of a received request (default: the last one)."""
        return json.loads(self.requests[index].content)

    def assert_all_played(self) -> None:
        """Raise an AssertionError describing what is unplayed or mismatched."""
        problems = list(self.errors)
        unplayed = self.indices[len(self.played) :]
        if unplayed:
            problems.append(f"{self.cassette.path.name}: interactions {unplayed} were never requested")
        if problems:
            raise AssertionError("\n".join(problems))

    def _fail(self, message: str) -> AssertionError:
        self.errors.append(message)
        return AssertionError(message)

    def _handle(self, request: Any) -> Any:
        self.requests.append(request)
        name = self.cassette.path.name
        got = f"{request.method} {request.url}"
        position = len(self.played)
        if position >= len(self.indices):
            raise self._fail(f"{name}: exhausted after {position} interaction(s); unexpected request {got}")
        index = self.indices[position]
        recorded = self.cassette.interactions[index].request
        query = request.url.query
        got_query = _query_items(query.decode("ascii") if isinstance(query, bytes) else query)
        if (
            request.method.upper() != recorded.method
            or unquote(request.url.path) != recorded.path
            or (self.match_query and got_query != recorded.query)
        ):
            raise self._fail(
                f"{name}: request {position + 1} does not match interaction #{index}:\n"
                f"  expected {recorded.method} {recorded.uri}\n"
                f"  got      {got}"
            )
        self.played.append(index)
        return self._build_response(self.cassette.interactions[index].response, request)

    def _build_response(self, recorded: RecordedResponse, request: Any) -> Any:
        module = self.httpx
        headers = [(k, v) for k, v in recorded.headers if k.lower() not in _DROPPED_RESPONSE_HEADERS]
        reason = recorded.reason.encode("ascii", "replace")
        extensions = {"reason_phrase": reason, "http_version": b"HTTP/1.1"}
        body = recorded.body
        if self.chunk_size is None:
            # Unread stream: the client decodes Content-Encoding while reading, as on the wire.
            headers.append(("content-length", str(len(body))))
            stream = module.ByteStream(body)
            return module.Response(
                recorded.status_code, headers=headers, stream=stream, request=request, extensions=extensions
            )
        content: Iterator[bytes] | AsyncIterator[bytes] = (
            _async_chunks(body, self.chunk_size) if self.is_async else _sync_chunks(body, self.chunk_size)
        )
        # ``content=<iterator>`` stays unread and adds ``Transfer-Encoding: chunked``.
        return module.Response(
            recorded.status_code, headers=headers, content=content, request=request, extensions=extensions
        )


@functools.cache
def _transport_class(httpx_module: ModuleType) -> type[ReplayTransport]:
    """``ReplayTransport`` combined with ``httpx_module.MockTransport``."""
    return type(
        "ReplayTransport",
        (ReplayTransport, httpx_module.MockTransport),
        {"__module__": __name__, "__qualname__": f"ReplayTransport[{httpx_module.__name__}]"},
    )


def openai_httpx_module() -> ModuleType:
    """The httpx flavour the installed openai SDK is built on (``httpx2`` or ``httpx``)."""
    import openai._base_client as base_client

    return _sdk_httpx_module(base_client)


def anthropic_httpx_module() -> ModuleType:
    """The httpx flavour the installed anthropic SDK is built on (``httpx2`` for anthropic >= 2)."""
    import anthropic._base_client as base_client

    return _sdk_httpx_module(base_client)


def _sdk_httpx_module(base_client: ModuleType) -> ModuleType:
    for attr in ("httpx2", "httpx"):
        module = getattr(base_client, attr, None)
        if isinstance(module, ModuleType):
            return module
    for name in ("httpx2", "httpx"):
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise ImportError(f"{base_client.__name__}: neither httpx2 nor httpx is importable")


SyncClient = TypeVar("SyncClient")
AsyncClient = TypeVar("AsyncClient")


class _ReplayClient(Generic[SyncClient, AsyncClient]):
    """Makes a real client of one SDK whose HTTP client replays a cassette (``openai_client``,
    ``anthropic_client``)."""

    def __init__(
        self, sdk: str, classes: tuple[str, str], base_url: str, httpx_module: Callable[[], ModuleType]
    ) -> None:
        self.sdk = sdk
        self.classes = classes
        self.base_url = base_url
        self.httpx_module = httpx_module

    @overload
    def __call__(
        self,
        cassette_path: str | PathLike[str],
        *,
        is_async: Literal[False] = ...,
        interactions: Sequence[int] | None = ...,
        chunk_size: int | None = ...,
        match_query: bool = ...,
        **client_kwargs: Any,
    ) -> tuple[SyncClient, ReplayTransport]: ...

    @overload
    def __call__(
        self,
        cassette_path: str | PathLike[str],
        *,
        is_async: Literal[True],
        interactions: Sequence[int] | None = ...,
        chunk_size: int | None = ...,
        match_query: bool = ...,
        **client_kwargs: Any,
    ) -> tuple[AsyncClient, ReplayTransport]: ...

    @overload
    def __call__(
        self,
        cassette_path: str | PathLike[str],
        *,
        is_async: bool,
        interactions: Sequence[int] | None = ...,
        chunk_size: int | None = ...,
        match_query: bool = ...,
        **client_kwargs: Any,
    ) -> tuple[SyncClient | AsyncClient, ReplayTransport]: ...

    def __call__(
        self,
        cassette_path: str | PathLike[str],
        *,
        is_async: bool = False,
        interactions: Sequence[int] | None = None,
        chunk_size: int | None = None,
        match_query: bool = True,
        **client_kwargs: Any,
    ) -> tuple[SyncClient | AsyncClient, ReplayTransport]:
        """A real sync (or, with `is_async`, async) client whose HTTP client replays a cassette.

        Defaults: ``api_key="test"``, ``max_retries=0`` and the public base URL (so an
        ``OPENAI_BASE_URL`` or ``ANTHROPIC_BASE_URL`` in the environment cannot redirect it); any
        of these can be overridden through ``client_kwargs``. ``match_query=False`` serves
        recordings made at ``/v1/messages?beta=true`` to SDKs that no longer send the query.
        """
        sync_class, async_class = self.classes
        cls = getattr(importlib.import_module(self.sdk), async_class if is_async else sync_class)
        module = self.httpx_module()
        transport = load_cassette(cassette_path).transport(
            module,
            interactions=interactions,
            is_async=is_async,
            chunk_size=chunk_size,
            match_query=match_query,
        )
        kwargs: dict[str, Any] = {"api_key": "test", "max_retries": 0, "base_url": self.base_url}
        kwargs.update(client_kwargs)
        http_client = (module.AsyncClient if is_async else module.Client)(transport=transport)
        client: SyncClient | AsyncClient = cls(http_client=http_client, **kwargs)
        return client, transport


openai_client: _ReplayClient[openai.OpenAI, openai.AsyncOpenAI] = _ReplayClient(
    "openai", ("OpenAI", "AsyncOpenAI"), "https://api.openai.com/v1", openai_httpx_module
)
"""A real ``openai.OpenAI``/``AsyncOpenAI`` whose HTTP client replays a cassette."""

anthropic_client: _ReplayClient[anthropic.Anthropic, anthropic.AsyncAnthropic] = _ReplayClient(
    "anthropic", ("Anthropic", "AsyncAnthropic"), "https://api.anthropic.com", anthropic_httpx_module
)
"""A real ``anthropic.Anthropic``/``AsyncAnthropic`` whose HTTP client replays a cassette."""
