"""Replay recorded Bedrock cassettes through a real boto3 ``bedrock-runtime`` client.

botocore does not use httpx, so the transport-level replay of ``replay.py`` cannot serve it. botocore
emits ``before-send.<service>.<operation>`` right before it would send the signed request; a handler
that returns an ``AWSResponse`` there replaces the network send, and everything else runs as on the
wire: signing, retries, status and error parsing, ``StreamingBody`` and the binary eventstream
decoding of ConverseStream / InvokeModelWithResponseStream (the recorded bytes are served through a
real ``urllib3`` response, the object botocore reads on the wire).

Example::

    client, replay = bedrock_client(CASSETTES / "converse_titan-text-lite.yaml")
    client.converse(modelId="amazon.titan-text-lite-v1", messages=[...])
    replay.assert_all_played()
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
from collections.abc import Callable, Sequence
from os import PathLike
from typing import Any
from urllib.parse import unquote, urlsplit

from replay import Cassette, RecordedResponse, load_cassette

# Credentials a test passes to the client: they must never show up in telemetry.
ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEXAMPLE-session-token"
CREDENTIALS = (ACCESS_KEY, SECRET_KEY, SESSION_TOKEN)

REGION = "us-east-1"
ENDPOINT = f"https://bedrock-runtime.{REGION}.amazonaws.com"

# Framing headers that no longer describe the stored body (re-indented JSON, replayed in one piece).
_DROPPED = frozenset({"content-length", "transfer-encoding"})


def raw_response(status: int, headers: Sequence[tuple[str, str]], body: bytes) -> Any:
    """The ``urllib3`` response botocore reads on the wire, over `body`."""
    from urllib3.response import HTTPResponse

    return HTTPResponse(body=io.BytesIO(body), headers=dict(headers), status=status, preload_content=False)


def answer(
    status: int, body: bytes | dict[str, Any], headers: dict[str, str] | None = None
) -> Callable[[Any], Any]:
    """A ``before-send`` answer: `body` (bytes, or a dict sent as JSON) with `status` and `headers`."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    kind = "application/vnd.amazon.eventstream" if isinstance(body, bytes) else "application/json"
    pairs = {
        "content-type": kind,
        "x-amzn-requestid": "11111111-2222-3333-4444-555555555555",
        **(headers or {}),
    }

    def respond(request: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        fields = {"content-length": str(len(data)), **pairs}
        return AWSResponse(request.url, status, fields, raw_response(status, list(fields.items()), data))

    return respond


def frame(event_type: str, payload: dict[str, Any], message_type: str = "event") -> bytes:
    """One AWS eventstream message (prelude, string headers, JSON payload, CRCs), as Bedrock sends it."""
    kind = ":exception-type" if message_type == "exception" else ":event-type"
    headers = b""
    for name, value in (
        (kind, event_type),
        (":content-type", "application/json"),
        (":message-type", message_type),
    ):
        headers += (
            bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(value)) + value.encode()
        )
    data = json.dumps(payload).encode()
    prelude = struct.pack(">II", 12 + len(headers) + len(data) + 4, len(headers))
    message = prelude + struct.pack(">I", binascii.crc32(prelude)) + headers + data
    return message + struct.pack(">I", binascii.crc32(message))


def chunk(event: dict[str, Any]) -> bytes:
    """An InvokeModelWithResponseStream ``chunk`` frame carrying the model's own JSON `event`."""
    return frame("chunk", {"bytes": base64.b64encode(json.dumps(event).encode()).decode()})


def aws_response(url: str, recorded: RecordedResponse) -> Any:
    """An ``AWSResponse`` serving `recorded` (status, headers and body bytes as stored)."""
    from botocore.awsrequest import AWSResponse

    headers = [(k, v) for k, v in recorded.headers if k.lower() not in _DROPPED]
    body = recorded.content()
    headers.append(("content-length", str(len(body))))
    return AWSResponse(
        url, recorded.status_code, dict(headers), raw_response(recorded.status_code, headers, body)
    )


class BedrockReplay:
    """A ``before-send`` handler serving a cassette's interactions in order, matched on method and path."""

    def __init__(self, cassette: Cassette, indices: Sequence[int]) -> None:
        self.cassette = cassette
        self.indices = list(indices)
        #: The requests botocore would have sent (signed ``AWSPreparedRequest``), in order.
        self.requests: list[Any] = []
        #: Recorded indices served so far.
        self.played: list[int] = []
        #: Extra answers tried before the cassette: callables ``(request) -> AWSResponse | None``.
        self.before: list[Callable[[Any], Any]] = []

    def __call__(self, request: Any, **kwargs: Any) -> Any:
        self.requests.append(request)
        while self.before:
            answer = self.before.pop(0)(request)
            if answer is not None:
                return answer
        name = self.cassette.path.name
        position = len(self.played)
        if position >= len(self.indices):
            raise AssertionError(f"{name}: exhausted; unexpected request {request.method} {request.url}")
        index = self.indices[position]
        recorded = self.cassette.interactions[index]
        path = unquote(urlsplit(request.url).path)
        if request.method.upper() != recorded.request.method or path != recorded.request.path:
            raise AssertionError(
                f"{name}: request {position + 1} does not match interaction #{index}:\n"
                f"  expected {recorded.request.method} {recorded.request.uri}\n"
                f"  got      {request.method} {request.url}"
            )
        self.played.append(index)
        return aws_response(request.url, recorded.response)

    def request_json(self, index: int = -1) -> Any:
        """The JSON body of a sent request (default: the last one)."""
        body = self.requests[index].body
        return json.loads(body.read() if hasattr(body, "read") else body)

    def assert_all_played(self) -> None:
        """Every selected interaction was requested."""
        unplayed = self.indices[len(self.played) :]
        assert not unplayed, f"{self.cassette.path.name}: interactions {unplayed} were never requested"


_SESSION: list[Any] = []


def make_client(service: str = "bedrock-runtime", **client_kwargs: Any) -> Any:
    """A real ``boto3`` client with explicit test credentials (``CREDENTIALS``) and region, so nothing
    from the environment or ``~/.aws`` is used; `client_kwargs` go to ``Session.client``. Clients share
    one session (it caches the service models they load); each has its own event handlers."""
    import boto3

    if not _SESSION:
        _SESSION.append(
            boto3.session.Session(
                aws_access_key_id=ACCESS_KEY,
                aws_secret_access_key=SECRET_KEY,
                aws_session_token=SESSION_TOKEN,
                region_name=REGION,
            )
        )
    if service == "bedrock-runtime":  # an AWS_ENDPOINT_URL* in the environment cannot redirect it
        client_kwargs.setdefault("endpoint_url", ENDPOINT)
    return _SESSION[0].client(service, **client_kwargs)


def bedrock_client(
    cassette_path: str | PathLike[str], *, interactions: Sequence[int] | None = None, **client_kwargs: Any
) -> tuple[Any, BedrockReplay]:
    """A real ``bedrock-runtime`` client (``make_client``) whose sends are answered from a cassette."""
    cassette = load_cassette(cassette_path)
    indices = range(len(cassette.interactions)) if interactions is None else interactions
    replay = BedrockReplay(cassette, indices)
    client = make_client(**client_kwargs)
    client.meta.events.register("before-send.bedrock-runtime", replay)
    return client, replay


def answering_client(*answers: Callable[[Any], Any], **client_kwargs: Any) -> tuple[Any, list[Any]]:
    """A real ``bedrock-runtime`` client whose sends get `answers` in turn; also the requests sent."""
    sent: list[Any] = []
    pending = list(answers)

    def respond(request: Any, **kwargs: Any) -> Any:
        sent.append(request)
        assert pending, f"unexpected request {request.method} {request.url}"
        return pending.pop(0)(request)

    client = make_client(**client_kwargs)
    client.meta.events.register("before-send.bedrock-runtime", respond)
    return client, sent
