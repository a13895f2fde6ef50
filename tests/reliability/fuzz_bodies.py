"""Hypothesis strategies for provider HTTP response bodies: a recorded body, then perturbed.

A `Seed` is a response body taken from a recording (tests/cassettes), decoded into a document: the JSON
tree of a plain response, or the list of events of a stream (SSE, NDJSON, or AWS eventstream frames).
`bodies(seeds)` draws one seed and applies a few mutations to its document (drop a key, null, a value of
the wrong type, a huge or odd unicode string, an unknown enum value, an empty container; for streams
also drop, repeat or add events of unknown types), re-serializes it, and may cut the bytes short or
answer with an error status. No mutation at all is the well-formed case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from replay import load_cassette
from replay_bedrock import frame

CASSETTES = Path(__file__).resolve().parent.parent / "cassettes"

# Strings that have broken parsers and telemetry before: empty, NUL, a lone surrogate, emoji, RTL, huge.
ODD_TEXT = (
    "",
    "\x00",
    "\ud800",
    "😀" * 3,
    "مرحبا",
    "null",
    "x" * 70_000,
    "é" * 20_000,
    "zzz_unknown_value",
)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(ODD_TEXT),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


@dataclass(frozen=True)
class Seed:
    """A recorded response: status, content type, framing and the decoded document."""

    name: str
    status: int
    content_type: str
    framing: str
    """``json``, ``sse``, ``ndjson`` or ``eventstream``."""
    document: Any


def _decode_sse(text: str) -> list[dict[str, Any]]:
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event: dict[str, Any] = {"event": None, "data": None}
        for line in block.split("\n"):
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                event["event"] = value
            elif field == "data":
                try:
                    event["data"] = json.loads(value)
                except ValueError:
                    event["raw"] = value  # e.g. [DONE]
        events.append(event)
    return events


def _decode_eventstream(body: bytes) -> list[dict[str, Any]]:
    from botocore.eventstream import EventStreamBuffer

    decoder = EventStreamBuffer()
    decoder.add_data(body)
    events = []
    for message in decoder:
        headers = message.headers
        kind = headers.get(":message-type", "event")
        name = headers.get(":exception-type" if kind == "exception" else ":event-type")
        events.append({"event": name, "kind": kind, "data": json.loads(message.payload)})
    return events


def seed(path: str, interaction: int = 0) -> Seed:
    """The response of `interaction` in ``cassettes/<path>``, decoded by its content type."""
    response = load_cassette(CASSETTES / path).interactions[interaction].response
    body = response.content()
    sniffed = "text/event-stream" if body.startswith((b"data:", b"event:")) else "application/json"
    content_type = response.header("content-type") or sniffed
    if "event-stream" in content_type:
        framing, document = "sse", _decode_sse(body.decode("utf-8"))
    elif "ndjson" in content_type:
        framing = "ndjson"
        document = [json.loads(line) for line in body.decode("utf-8").splitlines() if line.strip()]
    elif "eventstream" in content_type:
        framing, document = "eventstream", _decode_eventstream(body)
    else:
        framing, document = "json", json.loads(body)
    return Seed(path, response.status_code, content_type, framing, document)


def _encode(seed: Seed, document: Any, ascii_only: bool) -> bytes:
    def dumps(value: Any) -> str:
        return json.dumps(value, ensure_ascii=ascii_only)

    if seed.framing == "json":
        text = dumps(document)
    elif seed.framing == "ndjson":
        text = "".join(dumps(line) + "\n" for line in document)
    elif seed.framing == "sse":
        parts = []
        for item in document:
            # an event replaced by a value of the wrong type is sent as its data
            event = item if isinstance(item, dict) else {"data": item}
            head = f"event: {event['event']}\n" if event.get("event") is not None else ""
            data = event["raw"] if "raw" in event else dumps(event.get("data"))
            parts.append(f"{head}data: {data}\n\n")
        text = "".join(parts)
    else:
        events = [e if isinstance(e, dict) else {"data": e} for e in document]
        return b"".join(
            frame(_header(e.get("event")), e.get("data"), _header(e.get("kind", "event"))) for e in events
        )
    return text.encode("utf-8", "surrogatepass")


def _header(value: Any) -> str:
    """An eventstream header value: UTF-8 encodable and within the frame's 65,535-byte limit (a lone
    surrogate or a huge string cannot be framed at all)."""
    return str(value).encode("utf-8", "replace")[:1000].decode("utf-8", "ignore")


def _slots(node: Any, out: list[tuple[Any, Any]], limit: int = 400) -> None:
    """Every (container, key) under `node`, depth first, at most `limit` of them."""
    if isinstance(node, dict):
        items: Any = list(node.items())
    elif isinstance(node, list):
        items = list(enumerate(node))
    else:
        return
    for key, child in items:
        if len(out) >= limit:
            return
        out.append((node, key))
        _slots(child, out, limit)


_OPS = ("keep", "drop", "null", "wrong_type", "odd_text", "empty", "unknown", "number")


def _same_kind(old: Any, new: Any) -> bool:
    """Whether `new` keeps the JSON type of `old` (ints and floats are both numbers)."""
    if new is None or old is None:
        return new is old
    if isinstance(old, bool) or isinstance(new, bool):
        return type(old) is type(new)
    if isinstance(old, (int, float)):
        return isinstance(new, (int, float))
    return type(old) is type(new)


# Fields the APIs document as optional or nullable: dropping one or making it null keeps the response
# valid (null usage, no finish reason yet, no content, ...). Anything else dropped or nulled does not.
OPTIONAL = frozenset(
    {
        "usage", "finish_reason", "stop_reason", "stop_sequence", "content", "refusal", "tool_calls",
        "function_call", "logprobs", "system_fingerprint", "service_tier", "prompt_tokens_details",
        "completion_tokens_details", "input_tokens_details", "output_tokens_details",
        "cache_creation_input_tokens", "cache_read_input_tokens", "cache_creation", "server_tool_use",
        "incomplete_details", "reasoning", "instructions", "usageMetadata", "finishReason", "metadata",
        "model", "id", "created", "object", "annotations", "audio", "name", "role", "index",
    }
)  # fmt: skip


@st.composite
def _mutate_tree(draw: st.DrawFn, document: Any, retyped: list[bool]) -> Any:
    """`document` with up to four mutations; `retyped` gets True when one left the API's schema (a value
    of another type, or a required field dropped or null)."""
    slots: list[tuple[Any, Any]] = []
    _slots(document, slots)
    if not slots:
        return document
    for _ in range(draw(st.integers(0, 4))):
        container, key = slots[draw(st.integers(0, len(slots) - 1))]
        try:
            current = container[key]
        except (KeyError, IndexError):  # dropped by an earlier mutation
            continue
        op = draw(st.sampled_from(_OPS))
        if op == "drop":
            del container[key]
        elif op == "null":
            container[key] = None
        elif op == "wrong_type":
            container[key] = draw(json_values)
        elif op == "odd_text":
            container[key] = draw(st.sampled_from(ODD_TEXT))
        elif op == "empty":
            container[key] = type(current)() if isinstance(current, (list, dict, str)) else []
        elif op == "unknown":
            container[key] = "zzz_" + draw(st.text(max_size=6))
        elif op == "number":
            container[key] = draw(st.sampled_from((-1, 0, 2**63, 2**70, 1.5, -0.0, float("inf"))))
        if op in ("drop", "null") or (op == "empty" and isinstance(current, dict)):
            if key not in OPTIONAL:  # a required field gone (an emptied object loses its fields)
                retyped.append(True)
        elif not _same_kind(current, container[key]):
            retyped.append(True)
    return document


@st.composite
def _mutate_events(draw: st.DrawFn, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for _ in range(draw(st.integers(0, 2))):
        if not events:
            break
        op = draw(st.sampled_from(("drop", "repeat", "unknown_event", "swap")))
        i = draw(st.integers(0, len(events) - 1))
        if op == "drop":
            events.pop(i)
        elif op == "repeat":
            events.insert(i, json.loads(json.dumps(events[i])))
        elif op == "swap":
            j = draw(st.integers(0, len(events) - 1))
            events[i], events[j] = events[j], events[i]
        else:
            name = "zzz_" + draw(st.text(alphabet="abcdefgh_.", max_size=8))
            data = {"type": name, **draw(st.dictionaries(st.text(max_size=5), json_scalars, max_size=2))}
            events.insert(i, {"event": name if events[i].get("event") else None, "data": data})
    return events


ERROR_STATUSES = (400, 401, 404, 413, 422, 429, 500, 503, 529)


@dataclass(frozen=True)
class Body:
    """One generated HTTP answer."""

    seed: str
    status: int
    content_type: str
    content: bytes
    well_typed: bool
    """Within the API's schema: no value of another type, no required field missing (values may be
    unknown, odd, huge, empty, or optional ones null)."""


@st.composite
def bodies(draw: st.DrawFn, seeds: list[Seed]) -> Body:
    """A body from one of `seeds`: as recorded, perturbed, cut short, or under an error status."""
    chosen = draw(st.sampled_from(seeds))
    document = json.loads(json.dumps(chosen.document))  # a private copy to mutate
    if chosen.framing != "json":
        document = draw(_mutate_events(document))
    retyped: list[bool] = []
    document = draw(_mutate_tree(document, retyped))
    content = _encode(chosen, document, ascii_only=draw(st.booleans()))
    # about one in 20 each (hypothesis favours the ends of a range, so the middle value is the rare one)
    if draw(st.integers(0, 20)) == 10:  # truncated on the wire
        content = content[: draw(st.integers(0, max(len(content) - 1, 0)))]
    status = chosen.status
    if draw(st.integers(0, 20)) == 10:
        status = draw(st.sampled_from(ERROR_STATUSES))
    return Body(chosen.name, status, chosen.content_type, content, not retyped)


def recorded_body(recorded: Seed, *, drop_usage: bool = False) -> Body:
    """`recorded` as it was answered (less its ``usage`` with `drop_usage`)."""
    document = json.loads(json.dumps(recorded.document))
    if drop_usage:
        document.pop("usage", None)
    content = _encode(recorded, document, ascii_only=False)
    return Body(recorded.name, recorded.status, recorded.content_type, content, True)
