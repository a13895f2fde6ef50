"""A local OTLP/HTTP receiver on 127.0.0.1 for tests: records what it is sent, and can misbehave.

``status`` (answer with this code), ``delay`` (seconds before answering) and ``reset`` (drop the
connection with a TCP reset, no answer) can be changed while it runs; ``stop()`` and ``start()`` take it
down and bring it back on the same port. Moved here from tests/core/test_otlp_export.py to be shared.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


class Sink(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int = 0) -> None:
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        """(path, lower-cased headers, body) of every request answered with a 2xx."""
        self.requests = 0
        """Every request that reached the sink, whatever it answered."""
        self.status = 200
        self.delay = 0.0
        self.reset = False
        super().__init__(("127.0.0.1", port), _Handler)

    def start(self) -> Sink:
        """Serve (again, on the same port, after `stop`)."""
        if self.socket.fileno() == -1:
            self.socket = socket.socket(self.address_family, self.socket_type)
            self.server_bind()  # SO_REUSEADDR: the port is free again at once
            self.server_activate()
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Stop listening: connections to the port are refused until `start`."""
        self.shutdown()
        self.server_close()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    def spans(self) -> list[Any]:
        """The spans received on /v1/traces, in arrival order (protobuf Span messages)."""
        return [
            span
            for path, _, body in self.received
            if path == "/v1/traces"
            for rs in ExportTraceServiceRequest.FromString(body).resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]


class _Handler(BaseHTTPRequestHandler):
    server: Sink

    def do_POST(self) -> None:
        sink = self.server
        body = self.rfile.read(int(self.headers["content-length"]))
        sink.requests += 1
        if sink.delay:
            time.sleep(sink.delay)
        if sink.reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()  # linger 0: the client gets a RST
            self.close_connection = True
            return
        status = sink.status
        if 200 <= status < 300:
            sink.received.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(status)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def running(port: int = 0) -> Iterator[Sink]:
    """A started sink, stopped afterwards."""
    sink = Sink(port).start()
    try:
        yield sink
    finally:
        sink.stop()
