"""Settings given bad values are rejected by ``instrument()`` with a `ConfigError` naming the setting, and
nothing is left half-configured: no global provider installed, no patch applied, no runtime, and a later
``instrument()`` with good values works."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.util._once import Once

import llmtrace
from llmtrace import _core, _setup
from llmtrace.config import ConfigError
from llmtrace.instrumentors import REGISTRY

PASSWORD = "Pw7Url2Qm9Zx4Lp8Tr"


@pytest.fixture
def unset_globals(monkeypatch: pytest.MonkeyPatch) -> None:
    """No global tracer, meter or logger provider installed (the state of a fresh process), restored
    afterwards."""
    for module, provider, once in (
        (trace, "_TRACER_PROVIDER", "_TRACER_PROVIDER_SET_ONCE"),
        (metrics._internal, "_METER_PROVIDER", "_METER_PROVIDER_SET_ONCE"),
        (_logs._internal, "_LOGGER_PROVIDER", "_LOGGER_PROVIDER_SET_ONCE"),
    ):
        monkeypatch.setattr(module, provider, None)
        monkeypatch.setattr(module, once, Once())
    for name in ("LLMTRACE_EXPORTER", "OTEL_TRACES_EXPORTER", "OTEL_METRICS_EXPORTER", "OTEL_SDK_DISABLED"):
        monkeypatch.delenv(name, raising=False)


def _files(tmp_path: Path) -> dict[str, Path]:
    malformed = tmp_path / "prices.json"
    malformed.write_text('{"gpt-x": {"input": "cheap"', "utf-8")
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"gpt-x": {"input": -1, "output": 2}}', "utf-8")
    return {"malformed": malformed, "wrong": wrong, "directory": tmp_path, "missing": tmp_path / "nope.json"}


# (id, keyword arguments, environment, the setting the message must name)
BAD: list[tuple[str, dict[str, Any], dict[str, str], str]] = [
    ("negative-max-content-length", {"max_content_length": -1}, {}, "max_content_length"),
    ("env-max-content-length", {}, {"LLMTRACE_MAX_CONTENT_LENGTH": "-5"}, "max_content_length"),
    ("zero-span-content-length", {"max_span_content_length": 0}, {}, "max_span_content_length"),
    ("not-a-number", {}, {"LLMTRACE_MAX_SPAN_CONTENT_LENGTH": "lots"}, "max_span_content_length"),
    ("unknown-exporter", {"exporter": "zipkin"}, {}, "exporter"),
    ("env-unknown-exporter", {}, {"LLMTRACE_EXPORTER": "kafka"}, "exporter"),
    ("unknown-metrics-exporter", {"metrics_exporter": "prometheus"}, {}, "metrics_exporter"),
    ("not-a-boolean", {}, {"LLMTRACE_CAPTURE_CONTENT": "maybe"}, "capture_content"),
    ("unknown-provider", {"providers": ["openai", "skynet"]}, {}, "providers"),
    ("env-unknown-provider", {}, {"LLMTRACE_PROVIDERS": "openai,skynet"}, "providers"),
    ("unknown-setting", {"colour": "blue"}, {}, "colour"),
    ("malformed-pricing-file", {"pricing_file": "malformed"}, {}, "pricing_file"),
    ("invalid-pricing-file", {"pricing_file": "wrong"}, {}, "pricing_file"),
    ("unreadable-pricing-file", {"pricing_file": "directory"}, {}, "pricing_file"),
    ("missing-pricing-file", {}, {"LLMTRACE_PRICING_FILE": "missing"}, "pricing_file"),
    ("malformed-pricing", {"pricing": "malformed"}, {}, "pricing"),
    ("invalid-pricing", {"pricing": {"gpt-x": {"input": "free"}}}, {}, "pricing"),
    ("model-aliases-not-json", {}, {"LLMTRACE_MODEL_ALIASES": "{prod: gpt-4o"}, "model_aliases"),
    ("metrics-endpoint-no-scheme", {"metrics_endpoint": "localhost:4318"}, {}, "metrics_endpoint"),
    ("metrics-endpoint-bad-port", {"metrics_endpoint": "http://collector:99999"}, {}, "metrics_endpoint"),
    ("otlp-endpoint", {}, {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ("otlp-traces-endpoint", {}, {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://collector/v1/traces"},
     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
    ("otlp-metrics-endpoint", {}, {"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://:4318/v1/metrics"},
     "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT"),
    ("otlp-logs-endpoint", {}, {"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://[::1/v1/logs"},
     "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"),
    ("redact-not-callable", {"redact": "[REDACTED]"}, {}, "redact"),
    ("unknown-scrubber", {"scrub": ("email", "ssn")}, {}, "scrub"),
    ("env-unknown-scrubber", {}, {"LLMTRACE_SCRUB": "email,fax"}, "scrub"),
]  # fmt: skip


def _nothing_installed() -> None:
    assert trace._TRACER_PROVIDER is None
    assert metrics._internal._METER_PROVIDER is None
    assert _logs._internal._LOGGER_PROVIDER is None
    assert _setup._patcher.applied == []
    assert _setup._handle is None
    assert _core.RUNTIME is None


@pytest.mark.parametrize(("kwargs", "env", "setting"), [pytest.param(*b[1:], id=b[0]) for b in BAD])
def test_bad_setting_is_rejected_and_nothing_is_left_behind(
    unset_globals, monkeypatch, tmp_path, kwargs, env, setting
):
    files = _files(tmp_path)
    for name, value in env.items():
        monkeypatch.setenv(name, str(files.get(value, value)))
    kwargs = {k: files.get(v, v) if isinstance(v, str) else v for k, v in kwargs.items()}

    with pytest.raises(ConfigError) as raised:
        llmtrace.instrument(**kwargs)

    assert f"'{setting}'" in str(raised.value)
    _nothing_installed()
    # the same process can still be instrumented, and patches what it is told to
    for name in env:
        monkeypatch.delenv(name)
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    with llmtrace.instrument(providers=["fake"], exporter="none", metrics_exporter="none") as handle:
        assert handle.patched == ["fakesdk:Client.create", "fakesdk:AsyncClient.create"]
        assert _core.RUNTIME is not None


def test_otlp_endpoint_variable_is_not_checked_without_an_exporter_of_ours(unset_globals, monkeypatch):
    # the application's own pipeline (e.g. a gRPC exporter, which takes "host:port") reads it, not llmtrace
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")
    monkeypatch.setitem(REGISTRY, "fake", "fakesdk")
    app = trace.NoOpTracerProvider()
    with llmtrace.instrument(providers=["fake"], tracer_provider=app, metrics_exporter="none") as handle:
        assert handle.patched


def test_a_rejected_value_does_not_echo_credentials(unset_globals):
    with pytest.raises(ConfigError) as raised:
        llmtrace.instrument(metrics_endpoint=f"https://svc:{PASSWORD}@collector:99999/v1/metrics")

    assert "'metrics_endpoint'" in str(raised.value)
    assert PASSWORD not in str(raised.value)


def test_redact_is_never_read_from_the_environment(unset_globals, monkeypatch):
    monkeypatch.setenv("LLMTRACE_REDACT", "os.system")
    with llmtrace.instrument(exporter="none", metrics_exporter="none") as handle:
        assert handle.settings.redact is None


def test_scrubbers_and_hook_are_taken_from_keywords_and_environment(unset_globals, monkeypatch):
    monkeypatch.setenv("LLMTRACE_SCRUB", "email, card")
    with llmtrace.instrument(exporter="none", metrics_exporter="none", redact=str.lower) as handle:
        assert handle.settings.scrub == ("email", "card")
        assert handle.settings.redact is str.lower
