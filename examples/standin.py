"""A local, deterministic, OpenAI-compatible stand-in server for the llmtrace demo.

Standard library only; binds to 127.0.0.1 exclusively. It speaks enough of the OpenAI wire
format for the official ``openai`` client (sync, async, streaming) to work against it:

* ``POST /v1/chat/completions``: text, ``n`` choices, tool calls and tool-result follow-ups,
  ``response_format`` JSON schemas, SSE streaming with ``stream_options.include_usage``.
* ``POST /v1/embeddings``: deterministic unit vectors. ``POST /v1/completions``: legacy text.
* Model ``"missing-model"`` and unknown routes give OpenAI-style 404 errors.

Any Authorization header is accepted and nothing is ever logged. Usage::

    with serve() as s:
        client = openai.OpenAI(base_url=s.base_url, api_key="none")

or in the foreground: ``python examples/standin.py --port 8000``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import math
import re
import struct
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

JSON = dict[str, Any]
HOST = "127.0.0.1"
MISSING_MODEL = "missing-model"
REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
SCALARS: JSON = {"integer": 42, "number": 4.2, "boolean": True, "null": None}
GENERIC_WORDS = {"get", "set", "fetch", "lookup", "find", "search", "call", "run", "tool"}


def _tokens(text: str) -> int:
    """Deterministic token approximation: about four characters per token."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, list):
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return content if isinstance(content, str) else ""


def _error(message: str, code: str) -> JSON:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}


def _usage(prompt: int, completion: int, model: str) -> JSON:
    reasoning = 2 * completion if model.startswith(REASONING_PREFIXES) else 0
    cached = prompt // 128 * 128 if prompt >= 1024 else 0
    details = {"audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion + reasoning,
        "total_tokens": prompt + completion + reasoning,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, **details},
    }


def _canned(prompt: str, index: int) -> str:
    words = prompt.split()
    snippet = " ".join(words[:8]) + (" ..." if len(words) > 8 else "")
    prefix = f"[{index + 1}] " if index else ""
    return f'{prefix}Stand-in reply to "{snippet}": a deterministic answer from the local server.'


def _dummy(schema: JSON, defs: JSON, hint: str, text: str = "") -> Any:
    """Build a value satisfying a (strict, pydantic-generated) JSON schema; strings use ``text``."""
    if "$ref" in schema:
        return _dummy(defs.get(schema["$ref"].rsplit("/", 1)[-1], {}), defs, hint, text)
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return _dummy(schema[key][0], defs, hint, text)
    if "enum" in schema or "const" in schema:
        return schema.get("enum", [schema.get("const")])[0]
    kind = schema.get("type", "string")
    kind = next((k for k in kind if k != "null"), "null") if isinstance(kind, list) else kind
    if kind == "object":
        props: JSON = schema.get("properties", {})
        return {name: _dummy(sub, defs, name, text) for name, sub in props.items()}
    if kind == "array":
        return [_dummy(schema.get("items", {}), defs, hint, text)]
    return SCALARS.get(kind, text or f"example {hint}")


def _tool_call(tool: JSON, user_text: str, call_id: str) -> JSON:
    """A call to ``tool``; string parameters get the prompt's last capitalised word."""
    function: JSON = tool["function"]
    params: JSON = function.get("parameters") or {}
    words = [w.strip(".,!?;:'\"") for w in user_text.split()]
    subject = ([w for w in words[1:] if w[:1].isupper()] or words or ["unknown"])[-1]
    args = _dummy(params, params.get("$defs", {}), "value", subject)
    if not params.get("properties"):
        args = {"query": user_text}
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": function["name"], "arguments": json.dumps(args)},
    }


def _pick_tools(tools: list[JSON], user_text: str) -> list[JSON]:
    """Tools whose name shares a meaningful word with the prompt (at least the first tool)."""
    lowered = user_text.lower()
    relevant: list[JSON] = []
    for tool in tools:
        name = str(tool["function"].get("name", ""))
        parts = {p for p in re.split(r"[_\W]+|(?<=[a-z])(?=[A-Z])", name.lower()) if len(p) > 2}
        if any(p in lowered for p in parts - GENERIC_WORDS):
            relevant.append(tool)
    return relevant or tools[:1]


def _chat_choice(body: JSON, index: int) -> tuple[JSON, str]:
    """Return the assistant message and the finish reason for one choice."""
    messages: list[JSON] = body.get("messages") or []
    last = messages[-1] if messages else {}
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    message: JSON = {"role": "assistant", "content": None, "refusal": None, "annotations": []}
    if tools and last.get("role") == "user" and body.get("tool_choice") != "none":
        text = _text_of(last.get("content"))
        message["tool_calls"] = [
            _tool_call(t, text, "call_" + hashlib.sha256(f"{index}:{i}:{text}".encode()).hexdigest()[:24])
            for i, t in enumerate(_pick_tools(tools, text))
        ]
        return message, "tool_calls"
    if last.get("role") == "tool":
        tail = itertools.takewhile(lambda m: m.get("role") == "tool", reversed(messages))
        results = [_text_of(m.get("content"))[:200] for m in tail][::-1]
        message["content"] = "Based on the tool results: " + "; ".join(results) + "."
        return message, "stop"
    users = [_text_of(m.get("content")) for m in messages if m.get("role") == "user"]
    prompt = users[-1] if users else ""
    fmt: JSON = body.get("response_format") or {}
    schema: JSON = (fmt.get("json_schema") or {}).get("schema") or {}
    if fmt.get("type") == "json_schema":
        message["content"] = json.dumps(_dummy(schema, schema.get("$defs", {}), "value"))
    elif fmt.get("type") == "json_object":
        message["content"] = json.dumps({"answer": _canned(prompt, index)})
    else:
        message["content"] = _canned(prompt, index)
    return message, "stop"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "llmtrace-standin/1.0"
    server: _Server

    def log_message(self, *args: Any) -> None:
        """Stay quiet (and so never log headers such as Authorization)."""

    def _send_json(self, status: int, payload: JSON) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", "req_" + uuid.uuid4().hex[:24])
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send_json(404, _error(f"Unknown request URL: GET {self.path}.", "unknown_url"))

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = json.loads(raw or b"{}")
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError:
            message = "We could not parse the JSON body of your request."
            self._send_json(400, _error(message, "invalid_json"))
            return
        routes = {
            "/v1/chat/completions": self._chat,
            "/v1/embeddings": self._embeddings,
            "/v1/completions": self._completions,
        }
        if path not in routes:
            self._send_json(404, _error(f"Unknown request URL: POST {path}.", "unknown_url"))
        elif body.get("model") == MISSING_MODEL:
            message = f"The model `{MISSING_MODEL}` does not exist or you do not have access to it."
            self._send_json(404, _error(message, "model_not_found"))
        else:
            routes[path](body)

    def _chat(self, body: JSON) -> None:
        model = str(body.get("model", ""))
        prompt = sum(_tokens(_text_of(m.get("content"))) + 4 for m in body.get("messages") or [])
        prompt += _tokens(json.dumps(body["tools"])) if body.get("tools") else 0
        results = [_chat_choice(body, i) for i in range(max(1, int(body.get("n") or 1)))]
        completion = sum(_tokens(m["content"] or json.dumps(m["tool_calls"])) for m, _ in results)
        usage = _usage(prompt, completion, model)
        base: JSON = {
            "id": "chatcmpl-" + uuid.uuid4().hex[:29],
            "created": int(time.time()),
            "model": model,
            "service_tier": "default",
            "system_fingerprint": "fp_standin01",
        }
        if not body.get("stream"):
            choices = [
                {"index": i, "message": m, "logprobs": None, "finish_reason": f}
                for i, (m, f) in enumerate(results)
            ]
            self._send_json(200, {**base, "object": "chat.completion", "choices": choices, "usage": usage})
            return
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        base |= {"object": "chat.completion.chunk", **({"usage": None} if include_usage else {})}

        def chunk(index: int, delta: JSON, finish: str | None = None) -> JSON:
            choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
            return {**base, "choices": [choice]}

        events: list[JSON] = []
        for i, (message, finish) in enumerate(results):
            events.append(chunk(i, {"role": "assistant", "content": "", "refusal": None}))
            pieces = re.findall(r"\S+\s*", message["content"] or "")
            events.extend(chunk(i, {"content": piece}) for piece in pieces)
            for n, call in enumerate(message.get("tool_calls", [])):
                fn = call["function"]
                head = {"index": n, "id": call["id"], "type": "function"}
                events.append(chunk(i, {"tool_calls": [head | {"function": fn | {"arguments": ""}}]}))
                for start in range(0, len(fn["arguments"]), 8):
                    frag = {
                        "index": n,
                        "function": {"arguments": fn["arguments"][start : start + 8]},
                    }
                    events.append(chunk(i, {"tool_calls": [frag]}))
            events.append(chunk(i, {}, finish))
        if include_usage:
            events.append({**base, "choices": [], "usage": usage})
        self._stream(events)

    def _stream(self, events: list[JSON]) -> None:
        """Send ``events`` as SSE over chunked transfer encoding, then ``[DONE]``."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for payload in [json.dumps(e) for e in events] + ["[DONE]"]:
            data = f"data: {payload}\n\n".encode()
            self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            if self.server.delay > 0:
                time.sleep(self.server.delay)
        self.wfile.write(b"0\r\n\r\n")

    def _embeddings(self, body: JSON) -> None:
        raw = body.get("input", "")
        inputs = [raw] if isinstance(raw, str) or (raw and isinstance(raw[0], int)) else list(raw)
        dims = int(body.get("dimensions") or 8)
        data: list[JSON] = []
        prompt = 0
        for i, item in enumerate(inputs):
            text = item if isinstance(item, str) else " ".join(map(str, item))
            prompt += _tokens(text) if isinstance(item, str) else len(item)
            vec = [hashlib.sha256(f"{d}:{text}".encode()).digest()[0] / 127.5 - 1 for d in range(dims)]
            norm = math.sqrt(sum(v * v for v in vec)) or 1.0
            embedding: Any = [round(v / norm, 6) for v in vec]
            if body.get("encoding_format") == "base64":
                embedding = base64.b64encode(struct.pack(f"<{dims}f", *embedding)).decode()
            data.append({"object": "embedding", "index": i, "embedding": embedding})
        usage = {"prompt_tokens": prompt, "total_tokens": prompt}
        model = body.get("model", "")
        self._send_json(200, {"object": "list", "data": data, "model": model, "usage": usage})

    def _completions(self, body: JSON) -> None:
        raw = body.get("prompt", "")
        prompts: list[str] = [raw] if isinstance(raw, str) else [str(p) for p in raw] or [""]
        n = max(1, int(body.get("n") or 1))
        texts = [" " + _canned(prompt, i) for prompt in prompts for i in range(n)]
        usage = _usage(sum(_tokens(p) for p in prompts), sum(_tokens(t) for t in texts), "")
        choices = [
            {"text": t, "index": i, "logprobs": None, "finish_reason": "stop"} for i, t in enumerate(texts)
        ]
        payload: JSON = {"id": "cmpl-" + uuid.uuid4().hex[:29], "object": "text_completion"}
        payload |= {"created": int(time.time()), "model": body.get("model", "")}
        payload |= {"system_fingerprint": "fp_standin01", "choices": choices, "usage": usage}
        self._send_json(200, payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not block close()

    def __init__(self, port: int, delay: float) -> None:
        super().__init__((HOST, port), _Handler)
        self.delay = delay

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up mid-stream are normal; only report real errors."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class StandIn:
    """A running stand-in server; use it as a context manager or call close()."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self.port: int = server.server_address[1]
        self.base_url = f"http://{HOST}:{self.port}/v1"
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.05,), name="llmtrace-standin", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        """Stop serving and release the port (idempotent)."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join()
        self._server.server_close()

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def serve(port: int = 0, delay: float = 0.01) -> StandIn:
    """Start the stand-in on 127.0.0.1:``port`` (0 = any free port) in a daemon thread.

    ``delay`` is the pause in seconds between streamed chunks.
    """
    return StandIn(_Server(port, delay))


def main() -> None:
    parser = argparse.ArgumentParser(description="OpenAI-compatible stand-in on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=8000, help="port to bind (0 = any free port)")
    parser.add_argument("--delay", type=float, default=0.01, help="seconds between SSE chunks")
    args = parser.parse_args()
    server = _Server(args.port, args.delay)
    print(f"llmtrace stand-in at http://{HOST}:{server.server_address[1]}/v1 (Ctrl+C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
