"""Zero-code conventions: the opentelemetry_instrumentor entry points, opentelemetry-instrument, and the
standard OTEL_* variables (SDK off switch, sampler, exporter choice, OTLP endpoint/headers/compression/
timeout)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.metadata import entry_points

import openai
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from programs import APP, BIN, launch, stored_spans

import llmtrace
from core.test_otlp_export import sink  # noqa: F401 (a fixture: an OTLP/HTTP sink on 127.0.0.1)
from llmtrace import _otel_instrumentors, _setup
from llmtrace import _semconv as sc
from llmtrace.config import load_settings
from llmtrace.instrumentors import REGISTRY
from llmtrace.instrumentors import anthropic as anthropic_instrumentor
from llmtrace.instrumentors import openai as openai_instrumentor
from replay import openai_client
from scenarios import assert_restored, assert_wrapped_once, patch_targets

CHAT = {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": "Hi"}]}
# The official OpenAI instrumentation, when installed, would trace the same call a second time.
NO_OFFICIAL = {"OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai"}


def chat() -> None:
    from chat_app import CASSETTE

    client, transport = openai_client(CASSETTE, interactions=[0])
    client.chat.completions.create(**CHAT)
    transport.assert_all_played()


# --- entry points and opentelemetry-instrument ----------------------------------------------------


def test_every_instrumentor_has_an_entry_point_of_its_own_name():
    group = entry_points(group="opentelemetry_instrumentor")
    ours = {ep.name: ep.value for ep in group if ep.value.startswith("llmtrace.")}
    assert ours == {f"llmtrace_{name}": f"llmtrace._otel_instrumentors:{name}" for name in REGISTRY}
    others = [ep.name for ep in group if not ep.value.startswith("llmtrace.")]
    assert not set(ours) & set(others)
    assert all(ep.load().__name__.startswith("Llmtrace") for ep in group if ep.name in ours)


def test_instrumentor_classes_add_and_remove_providers(telemetry):
    openai_before = patch_targets(openai_instrumentor.PATCHES)
    anthropic_before = patch_targets(anthropic_instrumentor.PATCHES)
    openai_otel, anthropic_otel = _otel_instrumentors.openai(), _otel_instrumentors.anthropic()
    assert openai_otel.instrumentation_dependencies() == ("openai >= 1.66.0",)
    providers = {"tracer_provider": telemetry.tracer_provider, "meter_provider": telemetry.meter_provider}
    try:
        openai_otel.instrument(**providers)
        anthropic_otel.instrument(**providers)  # a second call adds its provider to the same handle
        assert_wrapped_once(openai_before)
        assert_wrapped_once(anthropic_before)
        chat()
        assert [s.name for s in telemetry.spans()] == ["chat gpt-3.5-turbo"]

        openai_otel.uninstrument()
        assert_restored(openai_before)
        assert_wrapped_once(anthropic_before)
        chat()
        assert len(telemetry.spans()) == 1  # openai is no longer traced
    finally:
        openai_otel.uninstrument()
        anthropic_otel.uninstrument()
    assert_restored(anthropic_before)
    assert _setup._handle is None


def console_spans(stdout: str) -> list[dict]:
    """The spans the SDK's ConsoleSpanExporter printed (indented JSON objects, one after another)."""
    decoder, spans, at = json.JSONDecoder(), [], 0
    while (at := stdout.find("{", at)) != -1:
        value, end = decoder.raw_decode(stdout, at)
        if "context" in value:
            spans.append(value)
        at = end
    return spans


def test_opentelemetry_instrument_with_the_sdk_it_configures():
    done = launch(
        BIN / "opentelemetry-instrument", "--traces_exporter", "console", "--metrics_exporter", "none",
        "--logs_exporter", "none", BIN / "python", APP, **NO_OFFICIAL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [span] = console_spans(done.stdout)
    assert span["name"] == "chat gpt-3.5-turbo"
    assert span["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 15
    assert span["attributes"][sc.GEN_AI_PROVIDER_NAME] == "openai"


def test_opentelemetry_instrument_without_a_configurator_uses_llmtraces_exporter(tmp_path):
    traces = tmp_path / "t.jsonl"
    done = launch(
        BIN / "opentelemetry-instrument", BIN / "python", APP,
        OTEL_PYTHON_DISTRO="none", OTEL_PYTHON_CONFIGURATOR="none", LLMTRACE_EXPORTER=f"file:{traces}",
        **NO_OFFICIAL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert [s["name"] for s in stored_spans(traces)] == ["chat gpt-3.5-turbo"]


# --- OTEL_* variables ----------------------------------------------------------------------------------


def test_sdk_disabled_patches_nothing(telemetry, monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    before = patch_targets(openai_instrumentor.PATCHES)
    handle = llmtrace.instrument(tracer_provider=telemetry.tracer_provider, raise_internal_errors=True)
    assert handle.patched == [] and _setup._handle is None
    assert_restored(before)
    chat()
    assert telemetry.spans() == []
    handle.uninstrument()  # harmless
    assert openai.OpenAI  # the SDK is untouched and usable


def test_traces_sampler_and_its_argument_are_read_from_the_environment(tmp_path):
    kept, dropped = tmp_path / "kept.jsonl", tmp_path / "dropped.jsonl"
    for path, ratio in ((kept, "1"), (dropped, "0")):
        done = launch(
            BIN / "python", "-m", "llmtrace", "run", APP,
            LLMTRACE_EXPORTER=f"file:{path}",
            OTEL_TRACES_SAMPLER="traceidratio", OTEL_TRACES_SAMPLER_ARG=ratio,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
    assert len(stored_spans(kept)) == 1
    assert stored_spans(dropped) == []


@pytest.mark.parametrize(
    ("env", "exporter"),
    [
        ({"OTEL_TRACES_EXPORTER": "console"}, "console"),
        ({"OTEL_TRACES_EXPORTER": "none"}, "none"),
        ({"OTEL_TRACES_EXPORTER": "otlp_proto_http,console"}, "otlp"),
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "otlp"),  # one llmtrace cannot create: the default
        ({"OTEL_TRACES_EXPORTER": "none", "LLMTRACE_EXPORTER": "console"}, "console"),
    ],
)
def test_traces_exporter_variable_when_llmtrace_exporter_is_unset(env, exporter):
    assert load_settings({}, env).exporter == exporter
    assert load_settings({"exporter": "file"}, env).exporter == "file"  # the keyword wins


def test_traces_exporter_console_prints_the_tree():
    done = launch(BIN / "python", "-m", "llmtrace", "run", APP, OTEL_TRACES_EXPORTER="console")
    assert done.returncode == 0, done.stderr
    assert "└─ chat gpt-3.5-turbo" in done.stderr and "tokens in=15 out=19" in done.stderr


def test_otlp_traces_endpoint_headers_and_compression(sink):  # noqa: F811
    base = f"http://127.0.0.1:{sink.server_port}"
    done = launch(
        BIN / "python", "-m", "llmtrace", "run", APP,
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"{base}/custom/traces",
        OTEL_EXPORTER_OTLP_TRACES_HEADERS="x-team=ml,authorization=Bearer%20t0ken",
        OTEL_EXPORTER_OTLP_TRACES_COMPRESSION="gzip",
        OTEL_EXPORTER_OTLP_LOGS_ENDPOINT=f"{base}/v1/logs",
        LLMTRACE_METRICS_EXPORTER="none",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    [(path, headers, body)] = [r for r in sink.received if r[0] != "/v1/logs"]
    assert path == "/custom/traces"
    assert (headers["x-team"], headers["authorization"]) == ("ml", "Bearer t0ken")
    assert headers["content-encoding"] == "gzip"
    request = ExportTraceServiceRequest.FromString(gzip.decompress(body))
    assert [s.name for r in request.resource_spans for ss in r.scope_spans for s in ss.spans] == [
        "chat gpt-3.5-turbo"
    ]


class HangingSink(ThreadingHTTPServer):
    """Takes a request and answers only when released: a backend that stopped responding."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        self.release = threading.Event()
        self.arrivals: list[float] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers["content-length"]))
                server.arrivals.append(time.monotonic())
                server.release.wait(30)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def test_otlp_traces_timeout_bounds_the_wait_for_a_stuck_backend():
    server = HangingSink()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        done = launch(
            BIN / "python", "-m", "llmtrace", "run", APP,
            OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=f"http://127.0.0.1:{server.server_port}/v1/traces",
            OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1", LLMTRACE_METRICS_EXPORTER="none",
        )  # fmt: skip
        ended = time.monotonic()
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, done.stderr
    assert server.arrivals  # the export reached the backend and waited on it
    # From the stuck request to the program's exit: about the 1 s timeout (the SDK's default is 10 s).
    assert ended - server.arrivals[0] < 6
